"""Reads cdc-apply's curated Iceberg tables with an independent engine and compares them with the plain layout.

Usage: iceberg_check.py pyiceberg|spark <jobs.json> [<iceberg-spark-runtime.jar>]
jobs.json: [{"name", "warehouse", "namespace", "table", "plain"}], where plain is the plain layout's table folder
(<plain curated>/<Source>/<TableName>, one <YYYYMMDD>/ folder of Parquet parts per date).
For each job, every date folder must equal the table's tag d<YYYYMMDD>, the set of tags must equal the set of dates
and the live table (the current snapshot) must equal the newest date. Prints one JSON line per job:
{"name", "checked": [refs], "errors": [...]}; exits 0 when every job has no errors.
"""
import glob
import json
import os
import sys


def dates(plain):
    return sorted(d for d in os.listdir(plain) if os.path.isdir(os.path.join(plain, d)))


def canon(rows):
    """Rows (dicts) as a sorted list of reprs: order-free comparison that keeps types (Decimal, datetime, int)."""
    return sorted(repr(sorted(r.items())) for r in rows)


def check_pyiceberg(jobs):
    import pyarrow.parquet as pq
    from pyiceberg.table import StaticTable

    ok = True
    for job in jobs:
        folder = os.path.join(job["warehouse"], job["namespace"], job["table"])
        versions = glob.glob(os.path.join(folder, "metadata", "v*.metadata.json"))
        newest = max(versions, key=lambda p: int(os.path.basename(p)[1:].split(".")[0]))
        table = StaticTable.from_metadata(newest)
        errors, checked = [], []
        refs = {name: ref.snapshot_id for name, ref in table.metadata.refs.items()}
        ds = dates(job["plain"])
        tags = sorted(r for r in refs if r != "main")
        if tags != ["d" + d for d in ds]:
            errors.append(f"tags {tags} != dates {ds}")
        for d in ds:
            want = pq.read_table(os.path.join(job["plain"], d)).to_pylist()
            if "d" + d not in refs:
                continue
            got = table.scan(snapshot_id=refs["d" + d]).to_arrow().to_pylist()
            checked.append("d" + d)
            if canon(got) != canon(want):
                errors.append(f"tag d{d}: {len(got)} rows differ from the plain folder's {len(want)}")
        if ds:
            want = pq.read_table(os.path.join(job["plain"], ds[-1])).to_pylist()
            got = table.scan().to_arrow().to_pylist()
            checked.append("live")
            if canon(got) != canon(want):
                errors.append(f"live table: {len(got)} rows differ from the newest date {ds[-1]}'s {len(want)}")
        ok = ok and not errors
        print(json.dumps({"name": job["name"], "checked": checked, "errors": errors}), flush=True)
    return ok


def check_spark(jobs, jar):
    from pyspark.sql import SparkSession

    by_wh = {}
    for job in jobs:
        by_wh.setdefault(job["warehouse"], []).append(job)
    builder = (
        SparkSession.builder.master("local[1]")
        .appName("cdc-apply-iceberg-check")
        .config("spark.jars", jar)
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
    )
    catalogs = {}
    for i, wh in enumerate(sorted(by_wh)):
        name = f"wh{i}"
        catalogs[wh] = name
        builder = builder.config(f"spark.sql.catalog.{name}", "org.apache.iceberg.spark.SparkCatalog")
        builder = builder.config(f"spark.sql.catalog.{name}.type", "hadoop")
        builder = builder.config(f"spark.sql.catalog.{name}.warehouse", "file://" + wh)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")

    def same(a, b):
        # small tables: one action each, compared in Python with their types kept
        cols = a.columns
        return canon([r.asDict() for r in a.collect()]) == canon([r.asDict() for r in b.select(*cols).collect()])

    ok = True
    for job in jobs:
        ident = f"{catalogs[job['warehouse']]}.`{job['namespace']}`.`{job['table']}`"
        errors, checked = [], []
        ds = dates(job["plain"])
        refs = spark.sql(f"SELECT name, type FROM {ident}.refs").collect()
        tags = sorted(r["name"] for r in refs if r["type"] == "TAG")
        if tags != ["d" + d for d in ds]:
            errors.append(f"tags {tags} != dates {ds}")
        for d in ds:
            want = spark.read.parquet(os.path.join(job["plain"], d))
            got = spark.sql(f"SELECT * FROM {ident} VERSION AS OF 'd{d}'")
            checked.append("d" + d)
            if not same(want, got):
                errors.append(f"VERSION AS OF 'd{d}' differs from the plain folder {d}/")
        if ds:
            want = spark.read.parquet(os.path.join(job["plain"], ds[-1]))
            got = spark.sql(f"SELECT * FROM {ident}")
            checked.append("live")
            if not same(want, got):
                errors.append(f"the live table differs from the newest date {ds[-1]}")
        ok = ok and not errors
        print(json.dumps({"name": job["name"], "checked": checked, "errors": errors}), flush=True)
    spark.stop()
    return ok


if __name__ == "__main__":
    engine, jobs_file = sys.argv[1], sys.argv[2]
    with open(jobs_file) as f:
        jobs = json.load(f)
    ok = check_pyiceberg(jobs) if engine == "pyiceberg" else check_spark(jobs, sys.argv[3])
    sys.exit(0 if ok else 1)
