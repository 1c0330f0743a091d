// The one DuckDB wrapper of cdc-apply (verify, snapshot --as-of, the steps) and its SQL quoting pair.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance, quotedIdentifier, quotedString, type DuckDBConnection, type Json } from '@duckdb/node-api'
import { CdcError, CheckError, StepError } from '../errors.js'

/** The quoting pair for every SQL text cdc-apply builds for DuckDB: `"a""b"` and `'it''s'`. */
export { quotedIdentifier, quotedString }

export type Row = Record<string, Json>

export interface Column {
  name: string
  /** DuckDB's type name, e.g. BIGINT, DECIMAL(12,2), TIMESTAMP. */
  type: string
}

/** DuckDB settings for every instance cdc-apply opens: offline, no extension is ever installed or loaded. */
export const OFFLINE_DUCKDB = {
  autoinstall_known_extensions: 'false',
  autoload_known_extensions: 'false',
  allow_community_extensions: 'false',
} as const

export interface DuckOptions {
  /**
   * `file` (the checks): a database file in the scratch folder, so that a big state spills to disk instead of
   * filling memory, with timestamps read and compared in UTC. `memory` (the steps): an in-memory database with
   * DuckDB's own time zone, spilling into the scratch folder.
   */
  storage: 'file' | 'memory'
  /** Scratch folder owned by the caller (kept by close); default: a new temp folder that close() removes. */
  dir?: string
  /** Prefix of the temp folder made when `dir` is not given. */
  prefix?: string
  /** Who runs the SQL, which names its failures: `check` (verify, snapshot: CDC_CHECK_FAILED, the default) or `steps` (CDC_STEP_FAILED). */
  purpose?: 'check' | 'steps'
}

/**
 * A private DuckDB instance and connection. Extensions are never installed or loaded (there is no network and no
 * httpfs: S3 objects are fetched through the ObjectStore first).
 */
export class Duck {
  private constructor(
    private readonly instance: DuckDBInstance,
    /** The raw connection, for callers that run statements of their own and name their failures (the steps). */
    readonly conn: DuckDBConnection,
    /** Scratch folder: the database, spill files, downloaded objects. */
    readonly tmp: string,
    private readonly ownsTmp: boolean,
    private readonly purpose: 'check' | 'steps',
  ) {}

  static async open(opts: DuckOptions = { storage: 'file' }): Promise<Duck> {
    const ownsTmp = opts.dir === undefined
    const tmp = opts.dir ?? (await mkdtemp(join(tmpdir(), opts.prefix ?? 'cdc-apply-duck-')))
    try {
      const file = opts.storage === 'file'
      const instance = await DuckDBInstance.create(file ? join(tmp, 'work.duckdb') : ':memory:', {
        ...OFFLINE_DUCKDB,
        temp_directory: join(tmp, file ? 'spill' : 'duckdb'),
      })
      const conn = await instance.connect()
      if (file) await conn.run(`SET TimeZone = 'UTC'`)
      return new Duck(instance, conn, tmp, ownsTmp, opts.purpose ?? 'check')
    } catch (err) {
      if (ownsTmp) await rm(tmp, { recursive: true, force: true })
      throw sqlError(opts.purpose ?? 'check', 'opening DuckDB', err)
    }
  }

  async run(sql: string): Promise<void> {
    try {
      await this.conn.run(sql)
    } catch (err) {
      throw sqlError(this.purpose, sql, err)
    }
  }

  /** Result rows in DuckDB's JSON form: int64 and decimals as strings, timestamps as text to the microsecond. */
  async rows(sql: string): Promise<Row[]> {
    try {
      const r = await this.conn.runAndReadAll(sql)
      return r.getRowObjectsJson() as Row[]
    } catch (err) {
      throw sqlError(this.purpose, sql, err)
    }
  }

  async value(sql: string): Promise<Json> {
    const [r] = await this.rows(sql)
    return r === undefined ? null : (Object.values(r)[0] ?? null)
  }

  /** Names and DuckDB types of a query's columns, in order. */
  async describe(sql: string): Promise<Column[]> {
    return (await this.rows(`DESCRIBE ${sql}`)).map((r) => ({
      name: String(r.column_name),
      type: String(r.column_type),
    }))
  }

  /** DuckDB's parse tree of a statement as JSON (json_serialize_sql); a parse error is in the JSON, not thrown. */
  async serialize(sql: string): Promise<string> {
    const r = await this.conn.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR)', [sql])
    return String(r.getRows()[0]![0])
  }

  async close(): Promise<void> {
    try {
      this.conn.closeSync()
      this.instance.closeSync()
    } finally {
      if (this.ownsTmp) await rm(this.tmp, { recursive: true, force: true })
    }
  }
}

function sqlError(purpose: 'check' | 'steps', sql: string, err: unknown): CdcError {
  if (err instanceof CdcError) return err
  const opts = { cause: err, hint: `the statement was: ${sql.length > 300 ? `${sql.slice(0, 300)}…` : sql}` }
  const message = `DuckDB failed: ${(err as Error).message}`
  return purpose === 'steps'
    ? new StepError('CDC_STEP_FAILED', message, opts)
    : new CheckError('CDC_CHECK_FAILED', message, opts)
}

/** `read_parquet([...])` over local files. */
export function readParquetSql(paths: readonly string[]): string {
  // hive_partitioning off: a RAW Iceberg table's data files sit under `data/partition_0=<date>/`, and the column
  // DuckDB would derive from that path is no RAW column
  return `read_parquet([${paths.map(quotedString).join(', ')}], union_by_name = true, hive_partitioning = false)`
}
