// Help text per subcommand.

const COMMON = `  -c, --config <file>   config file (default ./cdc-apply.json); its paths resolve against its folder
      --json            print one JSON document on stdout instead of a table
      --log-level <l>   trace, debug, info (default), warn, error or silent; logs are NDJSON on stderr
  -h, --help            this text
`

export const HELP: Record<string, string> = {
  main: `cdc-apply: AWS DMS S3 change files -> RAW and curated Parquet date partitions, with a SQLite watermark

Usage:
  cdc-apply [run] [options]      process every configured table once (the default command)
  cdc-apply --watch [options]    keep polling the landing and applying new files (a daemon)
  cdc-apply status [options]     the watermark of every table: Source, TableName, FullLoad, LPF, files, rows
  cdc-apply reset --table S.T --yes   forget a table (outputs, watermark, ledger) so the next run reprocesses it
  cdc-apply help <command>       help for one command

Exit codes: 0 ok, 1 internal error, 2 usage or config, 3 bad input data, 4 store or state unavailable,
            5 a SQL step failed, 6 landing behind the watermark, 7 state file locked by another process.
Docs: docs/config.md, docs/semantics.md, docs/errors.md, docs/operations.md
`,
  run: `Usage: cdc-apply run [options]

Processes every configured table once: new DMS files are read, RAW date partitions rewritten, curated
snapshots written for every date, and the watermark moved in the state file.

With --watch it keeps running: every table is polled every --interval seconds (default: the config's
pollSeconds, 5), its state stays in memory between polls, transient errors are retried with backoff, and a table
that hits a terminal error stops while the others go on. SIGINT/SIGTERM finish or roll back the work in flight
and exit 0 (or the code of a table that failed); a second signal exits at once with 130.

Options:
${COMMON}      --table <S.T>     only this table (Source.TableName); repeatable
  -w, --watch           run as a daemon (cdc-apply --watch is the same)
      --interval <s>    seconds between polls of a table in watch mode
      --metrics-port <p>  serve Prometheus /metrics and /healthz on this port (watch mode)
      --metrics-host <h>  address to bind the metrics server (default 127.0.0.1)
      --progress / --no-progress  force the progress bar on or off (default: on when stderr is a terminal)
`,
  reset: `Usage: cdc-apply reset --table <Source.TableName> --yes [options]

Deletes the table's RAW and curated partitions and its rows in the state file (watermark, processed files,
tombstones), so that the next run reprocesses it from its full load. Takes the state lock: stop a running
watcher first.

Options:
${COMMON}      --table <S.T>     the table to reset
      --yes             confirm
`,
  status: `Usage: cdc-apply status [options]

Prints, per table: Source, TableName, FullLoad, LPF (last processed file), files and rows processed, live rows,
the last run and its error if any.

Options:
${COMMON}`,
}
