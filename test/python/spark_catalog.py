# Runs the Spark SQL that `cdc-apply catalog --emit spark` printed on a local Spark session with an embedded Derby
# Hive metastore in a temp folder (Spark's in-memory catalog when the pyspark wheel has no Hive support), then reads
# every table back one partition_0 date at a time. Used by test/catalog-spark.test.ts.
#   argv[1]: a JSON file {"work": dir, "statements": [sql, ...], "queries": [{"key": k, "table": "db.t", "date": d}]}
#   stdout: one JSON document {"catalog": "hive" | "in-memory", "dates": {table: [d, ...]}, "rows": {key: [row, ...]}}
# Values come back in the canonical form of test/helpers/outputs.ts: bigint and decimals as strings (decimals with
# their scale), timestamps as microseconds since the epoch as strings, dates as day numbers, NULL as null.
import json
import os
import sys

from pyspark.sql import SparkSession

spec = json.load(open(sys.argv[1]))
work = spec["work"]


def session(hive):
    b = (
        SparkSession.builder.master("local[1]")
        .appName("cdc-apply catalog ddl")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", os.path.join(work, "warehouse"))
        .config("spark.driver.extraJavaOptions", "-Dderby.system.home=" + work)
        .config("spark.hadoop.javax.jdo.option.ConnectionURL", "jdbc:derby:;databaseName=" + os.path.join(work, "metastore_db") + ";create=true")
    )
    if hive:
        b = b.enableHiveSupport()
    return b.getOrCreate()


try:
    spark = session(True)
    spark.sql("SHOW DATABASES").collect()  # starts the metastore: fails here when the wheel lacks Hive classes
except Exception as e:  # noqa: BLE001 - any failure to start Hive means: use the in-memory catalog
    print("Hive support unavailable, using the in-memory catalog: %s" % e, file=sys.stderr)
    SparkSession.builder.getOrCreate().stop()
    spark = session(False)
catalog = spark.conf.get("spark.sql.catalogImplementation")

for sql in spec["statements"]:
    spark.sql(sql)


def projection(table):
    cols = []
    for f in spark.table(table).schema.fields:
        if f.name == "partition_0":
            continue
        t = f.dataType.typeName()
        q = "`%s`" % f.name.replace("`", "``")
        if t in ("long", "decimal"):
            cols.append("CAST(%s AS STRING) AS %s" % (q, q))
        elif t == "timestamp" or t == "timestamp_ntz":
            cols.append("CAST(unix_micros(CAST(%s AS TIMESTAMP)) AS STRING) AS %s" % (q, q))
        elif t == "date":
            cols.append("unix_date(%s) AS %s" % (q, q))
        else:
            cols.append(q)
    return ", ".join(cols)


dates = {}
rows = {}
by_table = {}
for q in spec["queries"]:
    by_table.setdefault(q["table"], {})[q["date"]] = q["key"]
for table, keys in by_table.items():
    dates[table] = sorted(r[0].split("=", 1)[1] for r in spark.sql("SHOW PARTITIONS %s" % table).collect())
    # one scan per table; each row goes to its partition_0 date
    for k in keys.values():
        rows[k] = []
    for r in spark.sql("SELECT %s, partition_0 AS `__date` FROM %s" % (projection(table), table)).collect():
        d = r.asDict()
        date = d.pop("__date")
        rows.setdefault(keys.get(date, "%s:unexpected:%s" % (table, date)), []).append(d)

print(json.dumps({"catalog": catalog, "dates": dates, "rows": rows}))
spark.stop()
