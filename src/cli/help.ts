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
  cdc-apply status [options]     the watermark of every table: Source, TableName, FullLoad, LPF, files, rows
  cdc-apply help <command>       help for one command

Exit codes: 0 ok, 1 internal error, 2 usage or config, 3 bad input data, 4 store or state unavailable,
            5 a SQL step failed, 6 landing behind the watermark, 7 state file locked by another process.
Docs: docs/config.md, docs/semantics.md, docs/errors.md, docs/operations.md
`,
  run: `Usage: cdc-apply run [options]

Processes every configured table once: new DMS files are read, RAW date partitions rewritten, curated
snapshots written for every date, and the watermark moved in the state file.

Options:
${COMMON}      --table <S.T>     only this table (Source.TableName); repeatable
`,
  status: `Usage: cdc-apply status [options]

Prints, per table: Source, TableName, FullLoad, LPF (last processed file), files and rows processed, live rows,
the last run and its error if any.

Options:
${COMMON}`,
}
