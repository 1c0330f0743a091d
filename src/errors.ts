// Every error cdc-apply raises on purpose. Codes are public API: each has a section in docs/errors.md.

export type ErrorCode =
  | 'CDC_USAGE'
  | 'CDC_CONFIG_NOT_FOUND'
  | 'CDC_CONFIG_INVALID'
  | 'CDC_TABLE_CHANGED'
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

export function exitCodeFor(err: unknown): number {
  if (!(err instanceof CdcError)) return EXIT.internal
  if (err.code === 'CDC_STATE_LOCKED') return EXIT.locked
  if (err.code === 'CDC_ABORTED') return EXIT.interrupted
  if (err instanceof UsageError || err instanceof ConfigError) return EXIT.usage
  if (err instanceof DataError) return EXIT.data
  if (err instanceof WatermarkError) return EXIT.behindWatermark
  if (err instanceof StepError) return EXIT.step
  if (err.code === 'CDC_STATE_VERSION') return EXIT.usage
  return EXIT.unavailable
}

/** A position as `file:line` (or `file row N`) for messages. */
export function where(p: Position): string {
  const parts: string[] = []
  if (p.file !== undefined) parts.push(p.line !== undefined ? `${p.file}:${p.line}` : p.file)
  if (p.row !== undefined && p.line === undefined) parts.push(`row ${p.row}`)
  if (p.column !== undefined) parts.push(`column ${JSON.stringify(p.column)}`)
  return parts.join(' ')
}

/** Hides the password (and user) of a URL written as scheme://user:password@host, wherever it appears in `text`. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s"']*@/gi, '$1***@')
}
