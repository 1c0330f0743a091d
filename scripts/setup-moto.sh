#!/usr/bin/env bash
# Installs the pinned moto (an AWS API emulator) with its server mode into a virtualenv cached outside the clone, for
# the Glue catalog tests (test/catalog-glue.test.ts start `moto_server` on 127.0.0.1 on a free port). Prints the path
# of the virtualenv's moto_server on stdout; reuses the cache when it is there. Needs python3 with venv.
set -euo pipefail
MOTO_VERSION="5.2.5"
VENV="${CDC_APPLY_CACHE:-$HOME/.cache/cdc-apply}/moto-$MOTO_VERSION"
BIN="$VENV/bin/moto_server"
if [ -x "$BIN" ] && "$VENV/bin/python" -c 'import moto.server, flask' >/dev/null 2>&1; then echo "$BIN"; exit 0; fi
command -v python3 >/dev/null 2>&1 || { echo "setup-moto: python3 is not installed" >&2; exit 1; }
start=$(date +%s)
rm -rf "$VENV"
python3 -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir "moto[server,glue]==$MOTO_VERSION" >&2
echo "setup-moto: installed in $(( $(date +%s) - start )) s" >&2
echo "$BIN"
