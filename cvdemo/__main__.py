import sys

from cvdemo.settings import SettingError

try:
    from cvdemo.cli import main
except SettingError as exc:  # a bad CVDEMO_* variable read when the modules load
    print(f"cvdemo: error: {exc}", file=sys.stderr)
    sys.exit(2)

sys.exit(main())
