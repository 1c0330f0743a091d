#!/usr/bin/env bash
# Runs the README's test command (npm test) with another node binary: the clone's node_modules is swapped for a copy
# built for that node's ABI (scripts/node-modules-for.sh) for the length of the run and put back on exit, even when
# the tests fail or the run is interrupted. Usage: bash scripts/test-on-node.sh /path/to/bin/node [run-tests args]
set -euo pipefail
NODE="${1:?usage: test-on-node.sh /path/to/bin/node}"
shift
cd "$(dirname "$0")/.."
# a run killed before its trap could restore leaves node_modules.own behind: put it back first
if [ -d node_modules.own ] && [ -L node_modules ]; then rm node_modules && mv node_modules.own node_modules; fi
MODULES="$(bash scripts/node-modules-for.sh "$NODE")"
mv node_modules node_modules.own
restore() { rm -f node_modules; mv node_modules.own node_modules; }
trap restore EXIT
trap 'exit 130' INT TERM
ln -s "$MODULES" node_modules
echo "test-on-node: $("$NODE" --version) with $MODULES" >&2
PATH="$(dirname "$NODE"):$PATH"
export PATH
if [ "$#" -gt 0 ]; then
  npx tsc -p tsconfig.json && npx tsc -p tsconfig.test.json && node scripts/run-tests.mjs "$@"
else
  npm test
fi
