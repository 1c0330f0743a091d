// Every error cdc-apply raises on purpose. Codes are public API: each has a section in docs/errors.md.

export type ErrorCode =
  | 'CDC_USAGE'
  | 'CDC_CONFIG_NOT_FOUND'
  | 'CDC_CONFIG_INVALID'
  | 'CDC_TABLE_CHANGED'
  | 'CDC_RAW_LAYOUT_CHANGED'
  | 'CDC_SOURCE_UNAVAILABLE'
  | 'CDC_SOURCE_NOT_FOUND'
  | 'CDC_SOURCE_ACCESS_DENIED'
  | 'CDC_FILE_NAME_INVALID'
  | 'CDC_FILE_EMPTY'
  | 'CDC_GZIP_INVALID'
  | 'CDC_CSV_INVALID_UTF8'
  | 'CDC_CSV_UNTERMINATED_QUOTE'
  | 'CDC_CSV_MALFORMED'
  | 'CDC_CSV_FIELD_COUNT'
  | 'CDC_ROW_INVALID_OP'
  | 'CDC_PK_MISSING'
  | 'CDC_VALUE_INVALID'
  | 'CDC_PARQUET_INVALID'
  | 'CDC_PARQUET_COLUMN_MISSING'
  | 'CDC_SCHEMA_MISMATCH'
  | 'CDC_LANDING_BEHIND_WATERMARK'
  | 'CDC_LATE_FILE'
  | 'CDC_RELOAD_DETECTED'
  | 'CDC_SNAPSHOT_MISSING'
  | 'CDC_ICEBERG_INVALID'
  | 'CDC_WRITE_FAILED'
  | 'CDC_STATE_LOCKED'
  | 'CDC_STATE_VERSION'
  | 'CDC_STATE_UNAVAILABLE'
  | 'CDC_STEP_INVALID'
  | 'CDC_STEP_FAILED'
  | 'CDC_CHECK_FAILED'
  | 'CDC_CATALOG_FAILED'
  | 'CDC_CATALOG_DENIED'
  | 'CDC_ABORTED'
  | 'CDC_RECORD_TOO_LARGE'
  | 'CDC_OBJECT_TOO_LARGE'
  | 'CDC_DISK_FULL'
  | 'CDC_TABLE_FOLDER_MISSING'
  | 'CDC_OUTPUT_NOT_WRITABLE'
  | 'CDC_INIT_INPUT_INVALID'
  | 'CDC_INIT_NO_TABLES'
  | 'CDC_INIT_TABLE_UNRESOLVED'
  | 'CDC_SPARK_UNSUPPORTED'
  | 'CDC_HANDOVER_INVALID'
  | 'CDC_WORKER_FAILED'

/** Where in an input object an error was found. `line` is the 1-based physical line of the record's start. */
export interface Position {
  table?: string
  file?: string
  line?: number
  column?: string
  row?: number
}

export interface CdcErrorOptions extends Position {
  hint?: string
  transient?: boolean
  cause?: unknown
}

export class CdcError extends Error {
  readonly code: ErrorCode
  readonly hint: string | undefined
  readonly transient: boolean
  readonly table: string | undefined
  readonly file: string | undefined
  readonly line: number | undefined
  readonly column: string | undefined
  readonly row: number | undefined

  constructor(code: ErrorCode, message: string, opts: CdcErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = new.target.name
    this.code = code
    this.hint = opts.hint
    this.transient = opts.transient ?? false
    this.table = opts.table
    this.file = opts.file
    this.line = opts.line
    this.column = opts.column
    this.row = opts.row
  }
}

/** Command-line words are wrong. Nothing was read. */
export class UsageError extends CdcError {}
/** The config file is missing or invalid. Nothing was read. */
export class ConfigError extends CdcError {}
/** An input object cannot be turned into changes. The watermark did not move. */
export class DataError extends CdcError {}
/** The landing store, an output store or the object itself is unavailable. Safe to rerun. */
export class SourceError extends CdcError {}
/** The landing is behind the watermark: files vanished or clocks went back. Nothing was changed. */
export class WatermarkError extends CdcError {}
/** Writing an output failed. The watermark did not move. */
export class WriteError extends CdcError {}
/** The SQLite state file is locked, too new or unreadable. */
export class StateError extends CdcError {}
/** Registering a table in the data catalog (Glue) failed. Never blocks ingestion: retried at the next commit or poll. */
export class CatalogError extends CdcError {}
/** A SQL step pipeline is invalid or a step failed. */
export class StepError extends CdcError {}
/** The DuckDB recompute of `verify` or `snapshot --as-of` failed (not a pipeline step). */
export class CheckError extends CdcError {}

/** Exit codes of the CLI; docs/operations.md explains each. */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  data: 3,
  unavailable: 4,
  step: 5,
  behindWatermark: 6,
  locked: 7,
  verifyMismatch: 8,
  interrupted: 130,
} as const

export type ErrorClass = typeof CdcError

export interface CodeInfo {
  /** The class every `throw` of the code uses. */
  class: ErrorClass
  /** What `exitCodeFor` returns for it. */
  exit: (typeof EXIT)[keyof typeof EXIT]
  /** Its section in docs/errors.md. */
  doc: string
  /** The one code raised as two classes: the other class and its exit (CDC_TABLE_FOLDER_MISSING). */
  or?: { class: ErrorClass; exit: (typeof EXIT)[keyof typeof EXIT] }
}

function code(cls: ErrorClass, exit: CodeInfo['exit'], anchor: string, or?: CodeInfo['or']): CodeInfo {
  return { class: cls, exit, doc: `docs/errors.md#${anchor}`, ...(or ? { or } : {}) }
}

/** Every error code with its class, its exit code and its docs section: the one table of the taxonomy. */
export const CODES: Readonly<Record<ErrorCode, CodeInfo>> = Object.freeze({
  CDC_USAGE: code(UsageError, EXIT.usage, 'cdc_usage'),
  CDC_CONFIG_NOT_FOUND: code(ConfigError, EXIT.usage, 'cdc_config_not_found'),
  CDC_CONFIG_INVALID: code(ConfigError, EXIT.usage, 'cdc_config_invalid'),
  CDC_TABLE_CHANGED: code(ConfigError, EXIT.usage, 'cdc_table_changed'),
  CDC_RAW_LAYOUT_CHANGED: code(ConfigError, EXIT.usage, 'cdc_raw_layout_changed'),
  CDC_SOURCE_UNAVAILABLE: code(SourceError, EXIT.unavailable, 'cdc_source_unavailable'),
  CDC_SOURCE_NOT_FOUND: code(SourceError, EXIT.unavailable, 'cdc_source_not_found'),
  CDC_SOURCE_ACCESS_DENIED: code(SourceError, EXIT.unavailable, 'cdc_source_access_denied'),
  CDC_FILE_NAME_INVALID: code(DataError, EXIT.data, 'cdc_file_name_invalid'),
  CDC_FILE_EMPTY: code(DataError, EXIT.data, 'cdc_file_empty'),
  CDC_GZIP_INVALID: code(DataError, EXIT.data, 'cdc_gzip_invalid'),
  CDC_CSV_INVALID_UTF8: code(DataError, EXIT.data, 'cdc_csv_invalid_utf8'),
  CDC_CSV_UNTERMINATED_QUOTE: code(DataError, EXIT.data, 'cdc_csv_unterminated_quote'),
  CDC_CSV_MALFORMED: code(DataError, EXIT.data, 'cdc_csv_malformed'),
  CDC_CSV_FIELD_COUNT: code(DataError, EXIT.data, 'cdc_csv_field_count'),
  CDC_ROW_INVALID_OP: code(DataError, EXIT.data, 'cdc_row_invalid_op'),
  CDC_PK_MISSING: code(DataError, EXIT.data, 'cdc_pk_missing'),
  CDC_VALUE_INVALID: code(DataError, EXIT.data, 'cdc_value_invalid'),
  CDC_PARQUET_INVALID: code(DataError, EXIT.data, 'cdc_parquet_invalid'),
  CDC_PARQUET_COLUMN_MISSING: code(DataError, EXIT.data, 'cdc_parquet_column_missing'),
  CDC_SCHEMA_MISMATCH: code(DataError, EXIT.data, 'cdc_schema_mismatch'),
  CDC_LANDING_BEHIND_WATERMARK: code(WatermarkError, EXIT.behindWatermark, 'cdc_landing_behind_watermark'),
  CDC_LATE_FILE: code(DataError, EXIT.data, 'cdc_late_file'),
  CDC_RELOAD_DETECTED: code(DataError, EXIT.data, 'cdc_reload_detected'),
  CDC_SNAPSHOT_MISSING: code(DataError, EXIT.data, 'cdc_snapshot_missing'),
  CDC_ICEBERG_INVALID: code(DataError, EXIT.data, 'cdc_iceberg_invalid'),
  CDC_WRITE_FAILED: code(WriteError, EXIT.unavailable, 'cdc_write_failed'),
  CDC_STATE_LOCKED: code(StateError, EXIT.locked, 'cdc_state_locked'),
  CDC_STATE_VERSION: code(StateError, EXIT.usage, 'cdc_state_version'),
  CDC_STATE_UNAVAILABLE: code(StateError, EXIT.unavailable, 'cdc_state_unavailable'),
  CDC_STEP_INVALID: code(StepError, EXIT.step, 'cdc_step_invalid'),
  CDC_STEP_FAILED: code(StepError, EXIT.step, 'cdc_step_failed'),
  CDC_CHECK_FAILED: code(CheckError, EXIT.unavailable, 'cdc_check_failed'),
  CDC_CATALOG_FAILED: code(CatalogError, EXIT.unavailable, 'cdc_catalog_failed'),
  CDC_CATALOG_DENIED: code(CatalogError, EXIT.unavailable, 'cdc_catalog_denied'),
  // Raised by whatever was interrupted (a table, a step): the base class, exit 130 (a first signal exits 0, see docs).
  CDC_ABORTED: code(CdcError, EXIT.interrupted, 'cdc_aborted'),
  CDC_RECORD_TOO_LARGE: code(DataError, EXIT.data, 'cdc_record_too_large'),
  CDC_OBJECT_TOO_LARGE: code(DataError, EXIT.data, 'cdc_object_too_large'),
  CDC_DISK_FULL: code(WriteError, EXIT.unavailable, 'cdc_disk_full'),
  // No watermark yet: most likely a typo in the config (exit 2); with one, its files vanished (exit 6).
  CDC_TABLE_FOLDER_MISSING: code(WatermarkError, EXIT.behindWatermark, 'cdc_table_folder_missing', {
    class: ConfigError,
    exit: EXIT.usage,
  }),
  CDC_OUTPUT_NOT_WRITABLE: code(WriteError, EXIT.unavailable, 'cdc_output_not_writable'),
  CDC_INIT_INPUT_INVALID: code(ConfigError, EXIT.usage, 'cdc_init_input_invalid'),
  CDC_INIT_NO_TABLES: code(ConfigError, EXIT.usage, 'cdc_init_no_tables'),
  CDC_INIT_TABLE_UNRESOLVED: code(DataError, EXIT.data, 'cdc_init_table_unresolved'),
  CDC_SPARK_UNSUPPORTED: code(UsageError, EXIT.usage, 'cdc_spark_unsupported'),
  CDC_HANDOVER_INVALID: code(DataError, EXIT.data, 'cdc_handover_invalid'),
  CDC_WORKER_FAILED: code(SourceError, EXIT.unavailable, 'cdc_worker_failed'),
})

/** The CLI's exit code for an error: its code's row in CODES; 1 for anything that is not a CdcError. */
export function exitCodeFor(err: unknown): number {
  if (!(err instanceof CdcError)) return EXIT.internal
  const row = CODES[err.code]
  return row.or && err instanceof row.or.class ? row.or.exit : row.exit
}

/** Hides the password (and user) of a URL written as scheme://user:password@host, wherever it appears in `text`. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s"']*@/gi, '$1***@')
}
