#!/usr/bin/env bash
# Installs the pinned Checkov (static security scan of deploy/terraform) into a virtualenv cached outside the clone.
# Prints the checkov executable's path on stdout; reuses the cache when it is there. Needs python3 (>= 3.9) with venv.
set -euo pipefail
CHECKOV_VERSION="3.3.30" # newest on PyPI on 2026-12-01
VENV="${CDC_APPLY_CACHE:-$HOME/.cache/cdc-apply}/checkov-$CHECKOV_VERSION"
BIN="$VENV/bin/checkov"
if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then echo "$BIN"; exit 0; fi
command -v python3 >/dev/null 2>&1 || { echo "setup-checkov: python3 is not installed" >&2; exit 1; }
start=$(date +%s)
rm -rf "$VENV"
python3 -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir "checkov==$CHECKOV_VERSION" >&2
"$BIN" --version >/dev/null
echo "setup-checkov: installed in $(( $(date +%s) - start )) s" >&2
echo "$BIN"
