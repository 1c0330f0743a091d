"""Runs the Spark SQL that `cdc-apply catalog --emit spark` printed for a tableFormat "iceberg" table on local Spark
with the Iceberg runtime, spark_catalog being Iceberg's SparkSessionCatalog over an embedded Derby Hive metastore in
a temp folder (Iceberg tables and the RAW Parquet table alike), then reads the registered table back.
Used by test/catalog-iceberg-spark.test.ts.
  argv[1]: the emitted SQL; argv[2]: the Iceberg Spark runtime jar; argv[3]: the Iceberg table (db.name);
  argv[4]: a scratch folder for the metastore
  stdout: one JSON line {"live": [row, ...], "tags": {tag: [row, ...]}, "raw": {partition_0: [row, ...]}}
"""
import json
import os
import sys

from pyspark.sql import SparkSession

sql_file, jar, table, work = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
spark = (
    SparkSession.builder.master("local[1]")
    .appName("cdc-apply-iceberg-register")
    .config("spark.jars", jar)
    .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
    .config("spark.sql.catalog.spark_catalog", "org.apache.iceberg.spark.SparkSessionCatalog")
    .config("spark.sql.catalog.spark_catalog.type", "hive")
    .config("spark.hadoop.iceberg.engine.hive.lock-enabled", "false")  # the embedded metastore has no lock tables
    .config("spark.sql.warehouse.dir", os.path.join(work, "warehouse"))
    .config("spark.driver.extraJavaOptions", "-Dderby.system.home=" + work)
    .config("spark.hadoop.javax.jdo.option.ConnectionURL", "jdbc:derby:;databaseName=" + os.path.join(work, "metastore_db") + ";create=true")
    .enableHiveSupport()
    .config("spark.ui.enabled", "false")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.sql.shuffle.partitions", "1")
    .config("spark.sql.session.timeZone", "UTC")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")

text = open(sql_file).read()
lines = [l for l in text.split("\n") if not l.startswith("--")]
for stmt in "\n".join(lines).split(";\n"):
    if stmt.strip():
        spark.sql(stmt.strip().rstrip(";"))


def canonical(table, version=""):
    """The table's rows in the canonical form of test/helpers/outputs.ts (as test/python/spark_catalog.py reads)."""
    cols = []
    for f in spark.table(table).schema.fields:
        t = f.dataType.typeName()
        q = "`%s`" % f.name.replace("`", "``")
        if t in ("long", "decimal"):
            cols.append("CAST(%s AS STRING) AS %s" % (q, q))
        elif t in ("timestamp", "timestamp_ntz"):
            cols.append("CAST(unix_micros(CAST(%s AS TIMESTAMP)) AS STRING) AS %s" % (q, q))
        elif t == "date":
            cols.append("unix_date(%s) AS %s" % (q, q))
        else:
            cols.append(q)
    return [r.asDict() for r in spark.sql("SELECT %s FROM %s %s" % (", ".join(cols), table, version)).collect()]


ice = "spark_catalog." + table
refs = spark.sql("SELECT name, type FROM %s.refs" % ice).collect()
tags = {r["name"]: canonical(ice, "VERSION AS OF '%s'" % r["name"]) for r in refs if r["type"] == "TAG"}
raw = {}
for r in canonical(table + "_raw"):
    raw.setdefault(r.pop("partition_0"), []).append(r)
print(json.dumps({"live": canonical(ice), "tags": tags, "raw": raw}), flush=True)
spark.stop()
