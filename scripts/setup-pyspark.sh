#!/usr/bin/env bash
# Installs the pinned PySpark into a virtualenv cached outside the clone, for the test that runs the emitted PySpark
# script (test/steps.test.ts). Prints the virtualenv's python on stdout; reuses the cache when it is there.
# Needs python3 (with venv) and a Java 17 runtime on the machine; pip downloads about 320 MB the first time.
set -euo pipefail
PYSPARK_VERSION="3.5.6" # the Spark line of AWS Glue 5 (3.5.x); runs on Java 17
VENV="${CDC_APPLY_CACHE:-$HOME/.cache/cdc-apply}/pyspark-$PYSPARK_VERSION"
PY="$VENV/bin/python"
if [ -x "$PY" ] && "$PY" -c 'import pyspark' >/dev/null 2>&1; then echo "$PY"; exit 0; fi
command -v python3 >/dev/null 2>&1 || { echo "setup-pyspark: python3 is not installed" >&2; exit 1; }
command -v java >/dev/null 2>&1 || { echo "setup-pyspark: no java on PATH; Spark needs a Java 17 runtime" >&2; exit 1; }
start=$(date +%s)
rm -rf "$VENV"
python3 -m venv "$VENV" >&2
"$PY" -m pip install --quiet --disable-pip-version-check --no-cache-dir "pyspark==$PYSPARK_VERSION" >&2
echo "setup-pyspark: installed in $(( $(date +%s) - start )) s" >&2
echo "$PY"
