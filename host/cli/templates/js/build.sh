#!/bin/sh
# Build plugin.wasm from plugin.js with componentize-qjs (QuickJS).
#
# Installs the pinned devDependencies into node_modules on first use (needs
# node 18 or newer with npm, and the npm registry once: about 13 MB). Run from
# anywhere: `sh build.sh`.
set -eu

cd "$(dirname "$0")"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "build.sh: node and npm not found: install Node.js 18 or newer (with npm)" >&2
    exit 1
fi

if [ ! -d wit ]; then
    echo "build.sh: no wit/ directory: copy gavel's wit/ here (gavel new does this)" >&2
    exit 1
fi

# Checks for the tool, not just the directory, so an interrupted install is
# retried.
if [ ! -x node_modules/.bin/componentize-qjs ]; then
    echo "build.sh: installing devDependencies into node_modules" >&2
    npm install --no-audit --no-fund
fi

# `npm run build` runs: componentize-qjs --wit wit --world plugin --sync
#   --js plugin.js -o plugin.wasm
# --sync: gavel's runtime does not enable the component model's async ABI;
#   without it the component fails to load ("`task.cancel` requires the
#   component model async feature").
# No --stub-wasi: the component then imports WASI, which gavel links locked
#   down (no files, no network, fixed clocks), and the message and stack of an
#   uncaught exception reach gavel's log instead of a bare "unreachable" trap.
npm run --silent build
echo "build.sh: wrote plugin.wasm" >&2
