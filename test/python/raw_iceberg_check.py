"""Reads cdc-apply's RAW Iceberg tables with pyiceberg and compares them with the plain RAW layout of the same input.

Usage: raw_iceberg_check.py <jobs.json> [spark <iceberg-spark-runtime.jar>]
jobs.json: [{"name", "table", "plain"}]: table is the RAW Iceberg table's folder (<raw>/<Source>/<TableName>), plain the
plain layout's table folder (one <YYYYMMDD>/ folder of Parquet parts per date).
For each date folder, the table scanned with the row filter partition_0 = '<date>' must hold the folder's rows (with
partition_0 = the date in every row), the table's partitions must be the dates, and a scan without a filter must hold
every date's rows. Parts of one date may differ in columns (schema drift): their NULLs are left out of the
comparison. With spark, Spark 3.5 reads the table from a HadoopCatalog (warehouse <raw>) with
WHERE partition_0 = '<date>' instead of pyiceberg. Prints one JSON line per job: {"name", "dates", "errors"}; exits 0 when no job has errors.
"""
import glob
import json
import os
import sys


def canon(rows):
    """Rows without their NULL values, as a sorted list of reprs (types kept)."""
    return sorted(repr(sorted((k, v) for k, v in r.items() if v is not None)) for r in rows)


def main(path):
    import pyarrow.parquet as pq
    from pyiceberg.expressions import EqualTo
    from pyiceberg.table import StaticTable

    ok = True
    for job in json.load(open(path)):
        versions = glob.glob(os.path.join(job["table"], "metadata", "v*.metadata.json"))
        newest = max(versions, key=lambda p: int(os.path.basename(p)[1:].split(".")[0]))
        table = StaticTable.from_metadata(newest)
        errors = []
        dates = sorted(d for d in os.listdir(job["plain"]) if os.path.isdir(os.path.join(job["plain"], d)))
        spec = table.spec()
        if [(f.name, str(f.transform)) for f in spec.fields] != [("partition_0", "identity")]:
            errors.append(f"partition spec {spec}")
        everything = []
        for d in dates:
            want = []
            for f in sorted(glob.glob(os.path.join(job["plain"], d, "*.parquet"))):
                want.extend(pq.read_table(f).to_pylist())
            everything.extend(want)
            got = table.scan(row_filter=EqualTo("partition_0", d)).to_arrow().to_pylist()
            if any(r.get("partition_0") != d for r in got):
                errors.append(f"{d}: rows with another partition_0")
            got = [{k: v for k, v in r.items() if k != "partition_0"} for r in got]
            if canon(got) != canon(want):
                errors.append(f"partition {d}: {len(got)} rows differ from the plain folder's {len(want)}")
        got = table.scan().to_arrow().to_pylist()
        if sorted({r["partition_0"] for r in got}) != dates:
            errors.append(f"partitions {sorted({r['partition_0'] for r in got})} != dates {dates}")
        got = [{k: v for k, v in r.items() if k != "partition_0"} for r in got]
        if canon(got) != canon(everything):
            errors.append(f"whole table: {len(got)} rows differ from the plain layout's {len(everything)}")
        ok = ok and not errors
        print(json.dumps({"name": job["name"], "dates": len(dates), "errors": errors}), flush=True)
    return ok




def spark_main(path, jar):
    from pyspark.sql import SparkSession

    jobs = json.load(open(path))
    warehouses = sorted({os.path.dirname(os.path.dirname(j["table"])) for j in jobs})
    builder = (
        SparkSession.builder.master("local[1]")
        .appName("cdc-apply-raw-iceberg-check")
        .config("spark.jars", jar)
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
    )
    for i, wh in enumerate(warehouses):
        builder = builder.config(f"spark.sql.catalog.wh{i}", "org.apache.iceberg.spark.SparkCatalog")
        builder = builder.config(f"spark.sql.catalog.wh{i}.type", "hadoop")
        builder = builder.config(f"spark.sql.catalog.wh{i}.warehouse", "file://" + wh)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    ok = True
    for job in jobs:
        wh = os.path.dirname(os.path.dirname(job["table"]))
        ns, name = os.path.basename(os.path.dirname(job["table"])), os.path.basename(job["table"])
        ident = f"wh{warehouses.index(wh)}.`{ns}`.`{name}`"
        errors = []
        dates = sorted(d for d in os.listdir(job["plain"]) if os.path.isdir(os.path.join(job["plain"], d)))
        for d in dates:
            # Spark's own Parquet reader (the PySpark environment has no pyarrow), schemas merged over the parts
            folder = os.path.join(job["plain"], d)
            want = [r.asDict() for r in spark.read.option("mergeSchema", "true").parquet(folder).collect()]
            got = [r.asDict() for r in spark.sql(f"SELECT * FROM {ident} WHERE partition_0 = '{d}'").collect()]
            if any(r.get("partition_0") != d for r in got):
                errors.append(f"{d}: rows with another partition_0")
            got = [{k: v for k, v in r.items() if k != "partition_0"} for r in got]
            if canon(got) != canon(want):
                errors.append(f"partition {d}: {len(got)} rows differ from the plain folder's {len(want)}")
        ok = ok and not errors
        print(json.dumps({"name": job["name"], "dates": len(dates), "errors": errors}), flush=True)
    spark.stop()
    return ok


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "spark":
        sys.exit(0 if spark_main(sys.argv[1], sys.argv[3]) else 1)
    sys.exit(0 if main(sys.argv[1]) else 1)
