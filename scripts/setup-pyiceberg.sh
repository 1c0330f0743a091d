#!/usr/bin/env bash
# Installs the pinned pyiceberg (with pyarrow) into a virtualenv cached outside the clone, for the tests that open the
# Iceberg tables cdc-apply writes (test/iceberg-readers.test.ts). Prints the virtualenv's python on stdout; reuses the
# cache when it is there. Needs python3 (with venv).
set -euo pipefail
PYICEBERG_VERSION="0.10.0"
PYARROW_VERSION="21.0.0"
VENV="${CDC_APPLY_CACHE:-$HOME/.cache/cdc-apply}/pyiceberg-$PYICEBERG_VERSION"
PY="$VENV/bin/python"
if [ -x "$PY" ] && "$PY" -c 'import pyiceberg, pyarrow' >/dev/null 2>&1; then echo "$PY"; exit 0; fi
command -v python3 >/dev/null 2>&1 || { echo "setup-pyiceberg: python3 is not installed" >&2; exit 1; }
start=$(date +%s)
rm -rf "$VENV"
python3 -m venv "$VENV" >&2
"$PY" -m pip install --quiet --disable-pip-version-check --no-cache-dir "pyiceberg[pyarrow]==$PYICEBERG_VERSION" "pyarrow==$PYARROW_VERSION" >&2
echo "setup-pyiceberg: installed in $(( $(date +%s) - start )) s" >&2
echo "$PY"
