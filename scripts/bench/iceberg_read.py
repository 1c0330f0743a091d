"""Times full reads of snapshots of a cdc-apply curated Iceberg table (the bench's iceberg-storage case).

Usage: iceberg_read.py pyiceberg|spark <job.json> [<iceberg-spark-runtime.jar>]
job.json: {"warehouse", "namespace", "table", "column", "rounds", "snapshots": [{"name", "id"}]}
Each read is count(*) and sum(<column>) over every row of the snapshot (deletes applied), so every data file and
delete file is read. One untimed warm-up read per snapshot, then `rounds` rounds, the snapshots interleaved.
Prints one JSON line: {"engine", "reads": {name: {"ms": [..], "rows": n, "sum": s}}}.
"""
import glob
import json
import os
import sys
import time


def pyiceberg_reader(job):
    import pyarrow.compute as pc
    from pyiceberg.table import StaticTable

    folder = os.path.join(job["warehouse"], job["namespace"], job["table"])
    versions = glob.glob(os.path.join(folder, "metadata", "v*.metadata.json"))
    newest = max(versions, key=lambda p: int(os.path.basename(p)[1:].split(".")[0]))
    table = StaticTable.from_metadata(newest)
    col = job["column"]

    def read(snapshot_id):
        t = table.scan(snapshot_id=snapshot_id, selected_fields=(col,)).to_arrow()
        return t.num_rows, pc.sum(t.column(col)).as_py()

    return read, lambda: None


def spark_reader(job, jar):
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("cdc-apply-bench-iceberg-read")
        .config("spark.jars", jar)
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        # count(*) could be answered from manifest statistics: make Spark read the rows
        .config("spark.sql.iceberg.aggregate-push-down.enabled", "false")
        .config("spark.sql.catalog.bench", "org.apache.iceberg.spark.SparkCatalog")
        .config("spark.sql.catalog.bench.type", "hadoop")
        .config("spark.sql.catalog.bench.warehouse", "file://" + job["warehouse"])
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    ident = f"bench.`{job['namespace']}`.`{job['table']}`"
    col = job["column"]

    def read(snapshot_id):
        r = spark.sql(f"SELECT count(*) AS n, sum(`{col}`) AS s FROM {ident} VERSION AS OF {snapshot_id}").collect()[0]
        return r["n"], r["s"]

    return read, spark.stop


def main():
    engine, job_file = sys.argv[1], sys.argv[2]
    with open(job_file) as f:
        job = json.load(f)
    read, stop = pyiceberg_reader(job) if engine == "pyiceberg" else spark_reader(job, sys.argv[3])
    reads = {}
    for s in job["snapshots"]:
        n, total = read(s["id"])
        reads[s["name"]] = {"ms": [], "rows": n, "sum": str(total)}
    for _ in range(job["rounds"]):
        for s in job["snapshots"]:
            t0 = time.perf_counter()
            read(s["id"])
            reads[s["name"]]["ms"].append(round((time.perf_counter() - t0) * 1000))
    stop()
    print(json.dumps({"engine": engine, "reads": reads}), flush=True)


if __name__ == "__main__":
    main()
