// Help text per subcommand.

const COMMON = `  -c, --config <file>   config file (default ./cdc-apply.json); its paths resolve against its folder
      --json            print one JSON document on stdout instead of a table
      --log-level <l>   trace, debug, info (default), warn, error or silent; logs go to stderr
      --log-format <f>  json (NDJSON, the default when stderr is not a terminal) or pretty (readable lines,
                        the default on a terminal); also CDC_APPLY_LOG_FORMAT
  -h, --help            this text
`

export const HELP: Record<string, string> = {
  init: `Usage: cdc-apply init --landing <folder | s3://bucket/prefix> [options]

Finds every table folder (<landing>/<schema>/<table>/, date folders allowed) and writes a config for all of them.
Parquet: columns and types from the files. CSV with a header: from the header. Header-less CSV (the DMS default):
columns, types and primary keys from the source DDL or an information_schema.columns export. A sample of each
table's files is parsed to check the field count and to find IncludeOpForFullLoad and the timestamp column; a
table that does not match is left out and reported (exit 3). Prints the DMS endpoint settings it assumes.

Options:
      --landing <loc>         the S3 endpoint's bucket and BucketFolder, or a local copy of it
      --format csv|parquet    only accept tables of this DataFormat
      --ddl <schema.sql>      CREATE TABLE statements (pg_dump -s, mysqldump -d, SSMS, Oracle)
      --columns <file.csv>    an information_schema.columns export (CSV with a header)
      --table-mapping <json>  the task's table mapping: add-column and add-before-image-columns rules
  -o, --out <file>            the config to write (default ./cdc-apply.json); refuses to overwrite without --force
      --source <name>         the config's source for every table (default: each table's schema folder)
      --timestamp-name <n>    name of the TimestampColumnName column in header-less CSV (default dms_timestamp)
      --raw, --curated <loc>  output locations (default out/raw, out/curated next to the config)
      --state <file>          state file (default out/cdc-apply.sqlite next to the config)
      --s3-endpoint <url>     an S3-compatible endpoint (MinIO); also written to the config's s3 block
      --s3-region <region>
      --force                 overwrite --out
      --json                  print the findings as one JSON document
  -h, --help                  this text
`,
  main: `cdc-apply: AWS DMS S3 change files -> RAW and curated Parquet date partitions, with a SQLite watermark

Usage:
  cdc-apply [run] [options]      process every configured table once (the default command)
  cdc-apply --watch [options]    keep polling the landing and applying new files (a daemon)
  cdc-apply status [options]     the watermark of every table: Source, TableName, FullLoad, LPF, files, rows
  cdc-apply reset --table S.T --yes   forget a table (outputs, watermark, ledger) so the next run reprocesses it
  cdc-apply transform <pipeline.json>  run a SQL step pipeline on DuckDB (--emit pyspark prints it for Spark)
  cdc-apply verify [--table S.T]       recompute curated from RAW (or compare with --against <extract>)
  cdc-apply snapshot --table S.T --as-of <file|time> --out <location>   the table as it was, from RAW
  cdc-apply compact [--table S.T]   compact the curated Iceberg tables now (and expire, remove orphans)
  cdc-apply catalog --emit athena|spark|glue-json [--table S.T]   print the catalog DDL of the tables
  cdc-apply spark --out job.py [--table S.T]   write the apply as a PySpark job (Glue, EMR)
  cdc-apply state export|import --table S.T [<location>]   hand a table over to or from the Spark job
  cdc-apply init --landing <loc>  write a config for every table folder of a DMS landing (docs/init.md)
  cdc-apply help <command>       help for one command
  cdc-apply --version [--json]   the versions of cdc-apply, Node, DuckDB and parquet-wasm

Exit codes: 0 ok, 1 internal error, 2 usage or config, 3 bad input data, 4 store or state unavailable,
            5 a SQL step failed, 6 landing behind the watermark, 7 state file locked by another process,
            8 verify found a difference, 130 a second signal.
Docs: docs/config.md, docs/semantics.md, docs/errors.md, docs/operations.md, docs/steps.md, docs/verify.md,
      docs/catalog.md
`,
  run: `Usage: cdc-apply run [options]

Processes every configured table once: new DMS files are read, RAW date partitions rewritten, curated
snapshots written for every date, and the watermark moved in the state file.

With --watch it keeps running: every table is polled every --interval seconds (default: the config's
pollSeconds, 5), its state stays in memory between polls, transient errors are retried with backoff, and a table
that hits a terminal error stops while the others go on. Configured pipelines run after a poll (or a run) in which
one of their "after" tables advanced. SIGINT/SIGTERM finish or roll back the work in flight
and exit 0 (or the code of a table that failed); a second signal exits at once with 130.

Options:
${COMMON}      --table <S.T>     only this table (Source.TableName) or glob ('OP.*', '*.orders'); repeatable
  -w, --watch           run as a daemon (cdc-apply --watch is the same)
      --interval <s>    seconds between polls of a table in watch mode
      --metrics-port <p>  serve Prometheus /metrics and /healthz on this port (watch mode)
      --metrics-host <h>  address to bind the metrics server (default 127.0.0.1)
      --progress / --no-progress  force the progress bar (bytes read, files, rows, ETA) on or off
                        (default: on when stderr is a terminal)
`,
  reset: `Usage: cdc-apply reset --table <Source.TableName> --yes [options]

Deletes the table's RAW and curated partitions and its rows in the state file (watermark, processed files,
tombstones), so that the next run reprocesses it from its full load. Takes the state lock: stop a running
watcher first.

Options:
${COMMON}      --table <S.T>     the table to reset, or a glob ('OP.*'): every table it matches is listed and reset
      --yes             confirm (required, with a glob too)
`,
  status: `Usage: cdc-apply status [options]

Prints, per table: Source, TableName, FullLoad, LPF (last processed file), files and rows processed, live rows,
the last run and its error if any; then the last verify of each table and the last run of each pipeline.

Options:
${COMMON}      --table <S.T>     only these tables (labels or globs such as 'OP.*'); repeatable
      --lagging         only tables whose watermark trails the newest landed file (LAG S > 0)
      --failed          only tables whose last run ended with an error
      --sort <key>      name (default), lag (largest first), failed (failed first, newest first), rows, live,
                        last-success (oldest first)
`,
  transform: `Usage: cdc-apply transform <pipeline.json> [options]

Runs a JSON step pipeline (sql / view / write, or the design's spark_sql / crt_table / wrt) on DuckDB over the
curated snapshots (<source>.<table>, with partition_0 = YYYYMMDD) and RAW partitions (raw_<source>.<table>).
The whole plan is checked before the first step runs. Prints one result per step (Success, Error or NotExecuted,
rows, ms); exits 5 when the plan is invalid or a step failed. See docs/steps.md.

Options:
${COMMON}      --param <name=value>  a pipeline parameter, used in SQL as {name} (a quoted string literal); repeatable
      --emit pyspark    print the pipeline as a PySpark script instead of running it; its locations are
                        the script's arguments (--curated, --raw, --target-N; python script.py --help)
`,
  verify: `Usage: cdc-apply verify [--table S.T] [--date YYYYMMDD] [--against <extract>] [options]

Recomputes each table's state from its RAW partitions (DuckDB, row_number() over the documented ordering) and
compares it with the curated snapshot: counts, missing, extra and differing keys. With --against, compares the
curated snapshot with an extract of the source table (CSV or Parquet file or folder, local or s3://).
Exit 0 when equal, 8 when not. See docs/verify.md.

Options:
${COMMON}      --table <S.T>     only this table, or the tables a glob matches ('OP.*'; default: every table)
      --date <YYYYMMDD> only this date's snapshot (default: every date)
      --against <loc>   compare with this extract instead of RAW
      --limit <n>       keys shown per kind of difference (default 10)
`,
  snapshot: `Usage: cdc-apply snapshot --table <S.T> --as-of <DMS file name | timestamp> --out <location> [options]

Writes the table as it was right after a DMS file (e.g. 20220927-135523276 or LOAD00000001) or at a commit time
(e.g. "2022-09-27 13:55:23"), rebuilt from RAW date by date with the same semantics, as Parquet under --out.
See docs/verify.md.

Options:
${COMMON}      --table <S.T>     the table
      --as-of <x>       a DMS file name or a timestamp (UTC)
      --out <location>  a folder or s3:// prefix outside landing, RAW and curated
`,
  catalog: `Usage: cdc-apply catalog --emit athena|spark|glue-json [--table S.T] [options]

Prints the catalog definitions of the RAW and curated tables, built from the outputs (the columns of the curated
partition of the watermark's date, the load date) for registering them with your own tooling:
  athena     CREATE EXTERNAL TABLE with partition projection (partition_0, yyyyMMdd, load date to NOW)
  spark      Spark SQL CREATE TABLE ... USING parquet and one ALTER TABLE ... ADD PARTITION per date folder
  glue-json  a JSON array of Glue CreateTable inputs ({ DatabaseName, TableInput })
For a tableFormat "iceberg" table, curated is the existing Iceberg table at its newest metadata file: glue-json gives
table_type=ICEBERG with metadata_location, spark a CALL spark_catalog.system.register_table(...), and athena comments
with the aws glue create-table call (Athena DDL cannot adopt an existing Iceberg table). RAW is as above.
With a "catalog" block in the config, run and --watch register the tables in Glue themselves. See docs/catalog.md.

Options:
${COMMON}      --emit <format>   athena, spark or glue-json
      --table <S.T>     only this table (default: every table)
      --database <name> the database (default: catalog.database)
      --table-prefix <p> put in front of every table name (default: catalog.tablePrefix, else none)
`,
  spark: `Usage: cdc-apply spark --out <job.py> [--table S.T ...] [options]

Writes one self-contained PySpark 3.5 script (Glue 5, EMR 7, spark-submit) that applies the tables as
cdc-apply run does: the same RAW and curated Parquet layout, watermark state machine and ordering chain. Its
state (watermark, ledger, tombstones) lives in the lake under --state; hand a table over with cdc-apply state.
The job's arguments default to this config's locations; no credentials are written. See docs/scale-out.md.

Options:
${COMMON}      --out <file>      the script to write
      --table <S.T>     a table of the job (repeatable; default: every table)
      --state <loc>     the job's default --state (default: cdc-apply-state beside the curated root)
      --s3-scheme <s>   the job's default --s3-scheme: s3a (plain Spark) or s3 (EMR, Glue); default: as written
`,
  state: `Usage: cdc-apply state export|import --table S.T [<location>] [options]

Hands a table's watermark, ledger and tombstones over between the state file and the Spark job's state
location (default: cdc-apply-state beside the curated root; give the job's --state):
  export   state file -> <location>/<Source>/<TableName>/ (the job continues from the watermark)
  import   <location>/<Source>/<TableName>/ -> state file (cdc-apply continues from the job's watermark)
Takes the state lock. See docs/scale-out.md.

Options:
${COMMON}      --table <S.T>     the table
`,
  compact: `Usage: cdc-apply compact [--table S.T ...] [options]

Compacts the curated Iceberg tables now, as a commit past iceberg.compactDeleteShare or
iceberg.compactDataFiles does: the live table's rows are rewritten into fresh data files as a replace snapshot
of the same rows (the tags of the snapshot it compacts move to it), unless the table has no delete files and
no more data files than its rows need. Then snapshots expire (iceberg.keepSnapshots) and files that no kept
snapshot or metadata version references and that are older than iceberg.orphanMinAgeSeconds are deleted (the
leftovers of a crash). Tables with the plain layout are listed and left alone. Takes the state lock: stop a
running watcher first. See docs/iceberg.md.

Options:
${COMMON}      --table <S.T>     only this table or glob ('OP.*'); repeatable (default: every table)
`,
}
