import sys

from cvdemo.cli import main

sys.exit(main())
