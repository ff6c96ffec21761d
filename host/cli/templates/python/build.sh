#!/bin/sh
# Build plugin.wasm from app.py with componentize-py.
#
# Uses componentize-py from PATH when there is one; otherwise installs the
# pinned version into .venv here (needs python3 with venv and pip, and PyPI
# once: one 17 MB wheel). Run from anywhere: `sh build.sh`.
set -eu

COMPONENTIZE_PY_VERSION=0.25.1

cd "$(dirname "$0")"

if command -v componentize-py >/dev/null 2>&1; then
    componentize_py=componentize-py
    found=$(componentize-py --version 2>/dev/null || true)
    if [ "$found" != "componentize-py $COMPONENTIZE_PY_VERSION" ]; then
        echo "build.sh: note: using ${found:-componentize-py of unknown version} from PATH; this project was tested with $COMPONENTIZE_PY_VERSION" >&2
    fi
else
    componentize_py=.venv/bin/componentize-py
    if [ ! -x "$componentize_py" ]; then
        if ! command -v python3 >/dev/null 2>&1; then
            echo "build.sh: python3 not found: install Python 3.9 or newer (with venv and pip), or put componentize-py $COMPONENTIZE_PY_VERSION on PATH" >&2
            exit 1
        fi
        echo "build.sh: installing componentize-py $COMPONENTIZE_PY_VERSION into .venv" >&2
        python3 -m venv .venv || {
            echo "build.sh: python3 -m venv failed: install the venv module (Debian/Ubuntu: apt-get install python3-venv)" >&2
            exit 1
        }
        .venv/bin/python -m pip install --quiet --disable-pip-version-check \
            "componentize-py==$COMPONENTIZE_PY_VERSION"
    fi
fi

if [ ! -d wit ]; then
    echo "build.sh: no wit/ directory: copy gavel's wit/ here (gavel new does this)" >&2
    exit 1
fi

# Without -s the component imports WASI, which gavel links locked down (no
# files, no network, fixed clocks): print() output and the traceback of an
# uncaught exception then reach gavel's log. With -s (WASI replaced by
# trapping stubs) a print() or an uncaught exception traps with nothing but
# "unreachable" to go on.
"$componentize_py" -d wit -w plugin componentize app -o plugin.wasm
echo "build.sh: wrote plugin.wasm" >&2
