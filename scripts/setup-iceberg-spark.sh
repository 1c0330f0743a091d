#!/usr/bin/env bash
# Fetches the pinned Iceberg runtime for Spark 3.5 (a single jar) with Maven into a folder cached outside the clone,
# for the test that reads cdc-apply's Iceberg tables with Spark (test/iceberg-readers.test.ts). Prints the jar's path
# on stdout; reuses the cache when it is there. Needs mvn and a Java 17 runtime.
set -euo pipefail
ICEBERG_VERSION="1.9.2"
ARTIFACT="iceberg-spark-runtime-3.5_2.12"
DIR="${CDC_APPLY_CACHE:-$HOME/.cache/cdc-apply}/iceberg-spark-$ICEBERG_VERSION"
JAR="$DIR/$ARTIFACT-$ICEBERG_VERSION.jar"
if [ -s "$JAR" ]; then echo "$JAR"; exit 0; fi
command -v mvn >/dev/null 2>&1 || { echo "setup-iceberg-spark: mvn is not installed" >&2; exit 1; }
mkdir -p "$DIR"
mvn -q -B -Dmaven.repo.local="$DIR/m2" dependency:copy \
  -Dartifact="org.apache.iceberg:$ARTIFACT:$ICEBERG_VERSION" -DoutputDirectory="$DIR" -Dtransitive=false >&2
[ -s "$JAR" ] || { echo "setup-iceberg-spark: $JAR was not fetched" >&2; exit 1; }
echo "$JAR"
