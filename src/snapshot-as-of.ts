// `cdc-apply snapshot --as-of`: a table as it was after any DMS file or at any commit time, rebuilt from RAW with
// DuckDB SQL (not with cdc-apply's apply code). The same rebuild engine is behind `cdc-apply verify`.
//
// The rebuild streams by date: RAW partitions are read one date at a time in date order and merged into a keyed
// `state` table that holds the winning change of every key, deletes included (tombstones). Memory and scratch disk
// are bounded by the table's keys plus one date of RAW. The winner is the documented ordering chain:
// `row_number() over (partition by <pk> order by <ts> desc nulls last, <seq> desc nulls last, <file rank> desc,
// cdc_row desc) = 1`, where the file rank puts every LOAD file (by name) before every change file (by name).
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { DuckDBInstance, type DuckDBConnection, type Json } from '@duckdb/node-api'
import { CdcError, DataError, StepError, UsageError } from './errors.js'
import { META, resolveLocal, type Config, type TableConfig } from './config.js'
import { silentLogger, type Logger } from './log.js'
import { joinKey, type ObjectStore } from './store/object-store.js'
import { LocalStore } from './store/local-store.js'
import { openStore } from './store/open-store.js'
import { protectedClash, protectedLocations } from './locations.js'
import { readLedger } from './state/index.js'

// ---------------------------------------------------------------- SQL helpers

/** A quoted SQL identifier. */
export function q(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** A quoted SQL string literal. */
export function lit(s: string): string {
  return `'${s.replaceAll("'", "''")}'`
}

export type Row = Record<string, Json>

/**
 * A private DuckDB database in its own temp folder: file-backed so that a big state spills to disk instead of
 * filling memory. Extensions are never installed or loaded (there is no network and no httpfs: S3 objects are
 * fetched through the ObjectStore first). Timestamps are read and compared in UTC.
 */
/** DuckDB settings for every instance cdc-apply opens: offline, no extension is ever installed or loaded. */
export const OFFLINE_DUCKDB = { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false', allow_community_extensions: 'false' } as const

export class Duck {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    /** Scratch folder: the database, spill files, downloaded objects. Removed by close(). */
    readonly tmp: string,
  ) {}

  static async open(prefix = 'cdc-apply-duck-'): Promise<Duck> {
    const tmp = await mkdtemp(join(tmpdir(), prefix))
    try {
      const instance = await DuckDBInstance.create(join(tmp, 'work.duckdb'), { ...OFFLINE_DUCKDB, temp_directory: join(tmp, 'spill') })
      const conn = await instance.connect()
      await conn.run(`SET TimeZone = 'UTC'`)
      return new Duck(instance, conn, tmp)
    } catch (err) {
      await rm(tmp, { recursive: true, force: true })
      throw sqlError('opening DuckDB', err)
    }
  }

  async run(sql: string): Promise<void> {
    try {
      await this.conn.run(sql)
    } catch (err) {
      throw sqlError(sql, err)
    }
  }

  /** Result rows in DuckDB's JSON form: int64 and decimals as strings, timestamps as text to the microsecond. */
  async rows(sql: string): Promise<Row[]> {
    try {
      const r = await this.conn.runAndReadAll(sql)
      return r.getRowObjectsJson() as Row[]
    } catch (err) {
      throw sqlError(sql, err)
    }
  }

  async value(sql: string): Promise<Json> {
    const [r] = await this.rows(sql)
    return r === undefined ? null : Object.values(r)[0] ?? null
  }

  /** Names and DuckDB types of a query's columns, in order. */
  async describe(sql: string): Promise<Column[]> {
    return (await this.rows(`DESCRIBE ${sql}`)).map((r) => ({ name: String(r.column_name), type: String(r.column_type) }))
  }

  async close(): Promise<void> {
    try {
      this.conn.closeSync()
      this.instance.closeSync()
    } finally {
      await rm(this.tmp, { recursive: true, force: true })
    }
  }
}

export interface Column {
  name: string
  /** DuckDB's type name, e.g. BIGINT, DECIMAL(12,2), TIMESTAMP. */
  type: string
}

function sqlError(sql: string, err: unknown): CdcError {
  if (err instanceof CdcError) return err
  return new StepError('CDC_STEP_FAILED', `DuckDB failed: ${(err as Error).message}`, {
    cause: err,
    hint: `the statement was: ${sql.length > 300 ? `${sql.slice(0, 300)}…` : sql}`,
  })
}

/** `read_parquet([...])` over local files. */
export function readParquetSql(paths: readonly string[]): string {
  return `read_parquet([${paths.map(lit).join(', ')}], union_by_name = true)`
}

// ---------------------------------------------------------------- partitions

/** Every `<Source>/<TableName>/<YYYYMMDD>/*.parquet` object of a table, by date (ascending). */
export async function listPartitions(store: ObjectStore, t: Pick<TableConfig, 'source' | 'name'>, signal?: AbortSignal): Promise<Map<string, string[]>> {
  const prefix = joinKey(t.source, t.name)
  const byDate = new Map<string, string[]>()
  for await (const o of store.list(`${prefix}/`, signal ? { signal } : {})) {
    const rest = o.key.slice(prefix.length + 1).split('/')
    if (rest.length !== 2 || !/^\d{8}$/.test(rest[0]!) || !rest[1]!.endsWith('.parquet')) continue
    const keys = byDate.get(rest[0]!) ?? []
    keys.push(o.key)
    byDate.set(rest[0]!, keys)
  }
  return new Map([...byDate].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/**
 * Local paths of objects for DuckDB: the files themselves in a folder store; for S3, copies downloaded into
 * `dir` (remove them with `cleanup` once DuckDB has read them).
 */
export async function localPaths(store: ObjectStore, keys: readonly string[], dir: string, signal?: AbortSignal): Promise<{ paths: string[]; cleanup: () => Promise<void> }> {
  if (store instanceof LocalStore) return { paths: keys.map((k) => join(store.root, ...k.split('/'))), cleanup: async () => undefined }
  await mkdir(dir, { recursive: true })
  const paths: string[] = []
  for (const [i, key] of keys.entries()) {
    signal?.throwIfAborted()
    const body = await store.get(key, signal ? { signal } : {})
    const path = join(dir, `${String(i).padStart(5, '0')}-${key.slice(key.lastIndexOf('/') + 1)}`)
    await writeFile(path, body)
    paths.push(path)
  }
  return { paths, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

// ---------------------------------------------------------------- the keyed state

/** What decides which change of a key wins: the table's primary key and ordering columns. */
export interface OrderSpec {
  primaryKey: string[]
  timestampColumn: string | undefined
  sequenceColumn: string | undefined
  /** Primary-key column → its before-image column: a `U` row whose before-image key differs moves the row. */
  beforeImageColumns?: Record<string, string> | undefined
}

/** The file rank of a RAW row: every LOAD file (by name) before every change file (by name); extensions ignored. */
export const FILE_STEM_SQL = `split_part(${q(META.file)}, '.', 1)`
export const FILE_KIND_SQL = `(CASE WHEN starts_with(${q(META.file)}, 'LOAD') THEN 0 ELSE 1 END)`

/** The ordering chain, greatest first: ts, seq (NULL lowest), file rank, row in the file. */
export function orderChain(spec: OrderSpec): string {
  return [
    ...(spec.timestampColumn === undefined ? [] : [`${q(spec.timestampColumn)} DESC NULLS LAST`]),
    ...(spec.sequenceColumn === undefined ? [] : [`${q(spec.sequenceColumn)} DESC NULLS LAST`]),
    `${FILE_KIND_SQL} DESC`,
    // By name: DMS stems have a fixed length and are unique per table, so names order as their stems do.
    `${q(META.file)} DESC`,
    `${q(META.row)} DESC`,
  ].join(', ')
}

const STATE = '__cdc_state'
const BATCH = '__cdc_batch'
const TOUCHED = '__cdc_touched'

export interface MergeResult {
  /** RAW rows read (after the filter). */
  rows: number
  /** Rows matching the probe expression (before the filter). */
  probed: number
  /** The date holds a new full load (a DMS table reload) and the state started again from it. */
  reset: boolean
  /** The date holds a new full load none of whose rows pass the filter: nothing was merged (see merge). */
  notYet: boolean
}

/**
 * The winning change of every key (deletes included) over the RAW rows merged so far, in a DuckDB table.
 * Merging a date takes the winner per key among that date's rows, then re-ranks only the keys the date touched
 * against their current winner: the same result as ranking all rows at once, because the winner is a maximum.
 *
 * The documented rules beyond the chain are followed too: a column that appears in a later date's RAW joins the
 * table (NULL before); a `U` row that carries a different before-image key also deletes the old key at its own
 * place in the chain (primary-key updates); and a date whose RAW holds full-load rows after the first date is a
 * DMS table reload, from which the table starts again.
 */
export class KeyedRawState {
  private created = false
  /** Columns of the state: Op, data columns in order of appearance, cdc_file, cdc_row. */
  columns: Column[] = []
  rowsRead = 0

  constructor(
    private readonly duck: Duck,
    private readonly spec: OrderSpec,
    private readonly label: string,
  ) {}

  private pkOn(a: string, b: string): string {
    return this.spec.primaryKey.map((k) => `${a}.${q(k)} = ${b}.${q(k)}`).join(' AND ')
  }

  /**
   * Merges one date's RAW files (only rows matching `where`, when given). `probe` counts matching rows before the
   * filter. With `where`, a reload date none of whose full-load rows pass the filter is not merged (`notYet`):
   * the reload had not started as of the filter.
   */
  async merge(paths: readonly string[], opts: { where?: string; probe?: string } = {}): Promise<MergeResult> {
    const src = readParquetSql(paths)
    const cols = await this.duck.describe(`SELECT * FROM ${src}`)
    const names = new Set(cols.map((c) => c.name))
    const bi = this.spec.beforeImageColumns
    for (const c of [META.op, META.file, META.row, ...this.spec.primaryKey, this.spec.timestampColumn, this.spec.sequenceColumn, ...Object.values(bi ?? {})]) {
      if (c !== undefined && !names.has(c)) {
        throw new DataError('CDC_SCHEMA_MISMATCH', `table ${this.label}: column ${JSON.stringify(c)} is missing from the RAW partition files (${[...names].join(', ')})`, {
          table: this.label,
          column: c,
          hint: 'RAW was not written by this cdc-apply, or the table config changed since; reprocess the table',
        })
      }
    }
    const pass = opts.where ?? 'true'
    const isLoad = `${FILE_KIND_SQL} = 0`
    const [n] = await this.duck.rows(
      `SELECT count(*) FILTER (WHERE ${pass}) AS n, count(*) FILTER (WHERE ${isLoad}) AS loads, count(*) FILTER (WHERE ${isLoad} AND ${pass}) AS loads_pass${opts.probe !== undefined ? `, count(*) FILTER (WHERE ${opts.probe}) AS p` : ''} FROM ${src}`,
    )
    const probed = opts.probe === undefined ? 0 : Number(n!.p)
    let reset = false
    if (this.created && Number(n!.loads) > 0) {
      if (Number(n!.loads_pass) === 0) return { rows: 0, probed, reset: false, notYet: true }
      await this.duck.run(`DROP TABLE ${STATE}`)
      this.created = false
      reset = true
    }
    const rows = Number(n!.n)
    this.rowsRead += rows
    // Nothing of this date passes the filter: it changes nothing, and its new columns do not join the table yet.
    if (this.created && rows === 0) return { rows, probed, reset, notYet: false }
    const filter = opts.where ? ` WHERE ${opts.where}` : ''
    let changes = `(SELECT * FROM ${src}${filter})`
    if (bi !== undefined) {
      // A primary-key update: the old key is deleted at the U row's place in the chain.
      const type = new Map(cols.map((c) => [c.name, c.type]))
      const keep = [...this.spec.primaryKey.map((k) => `CAST(${q(bi[k]!)} AS ${type.get(k)}) AS ${q(k)}`), ...[this.spec.timestampColumn, this.spec.sequenceColumn, META.file, META.row].filter((c): c is string => c !== undefined).map(q)]
      const moved = `${q(META.op)} = 'U' AND ${this.spec.primaryKey.map((k) => `${q(bi[k]!)} IS NOT NULL`).join(' AND ')} AND (${this.spec.primaryKey.map((k) => `CAST(${q(bi[k]!)} AS ${type.get(k)}) IS DISTINCT FROM ${q(k)}`).join(' OR ')})`
      changes = `(${changes.slice(1, -1)} UNION ALL BY NAME SELECT 'D' AS ${q(META.op)}, ${keep.join(', ')} FROM ${src} WHERE ${moved}${opts.where ? ` AND ${opts.where}` : ''})`
    }
    const pk = this.spec.primaryKey.map(q).join(', ')
    const winners = `QUALIFY row_number() OVER (PARTITION BY ${pk} ORDER BY ${orderChain(this.spec)}) = 1`
    if (!this.created) {
      await this.duck.run(`CREATE OR REPLACE TABLE ${STATE} AS SELECT ${selectList(cols)} FROM ${changes} ${winners}`)
      this.columns = cols
      this.created = true
    } else {
      // Columns first seen on this date join the state (NULL in earlier rows), as they join the table.
      const known = new Set(this.columns.map((c) => c.name))
      for (const c of cols) {
        if (known.has(c.name)) continue
        await this.duck.run(`ALTER TABLE ${STATE} ADD COLUMN ${q(c.name)} ${c.type}`)
        this.columns.push(c)
      }
      await this.duck.run(`CREATE OR REPLACE TABLE ${BATCH} AS SELECT * FROM ${changes} ${winners}`)
      await this.duck.run(
        `CREATE OR REPLACE TABLE ${TOUCHED} AS SELECT * FROM (SELECT s.* FROM ${STATE} s SEMI JOIN ${BATCH} b ON ${this.pkOn('s', 'b')} UNION ALL BY NAME SELECT * FROM ${BATCH}) ${winners}`,
      )
      await this.duck.run(`DELETE FROM ${STATE} s USING ${BATCH} b WHERE ${this.pkOn('s', 'b')}`)
      await this.duck.run(`INSERT INTO ${STATE} BY NAME SELECT * FROM ${TOUCHED}`)
      await this.duck.run(`DROP TABLE ${BATCH}; DROP TABLE ${TOUCHED}`)
    }
    return { rows, probed, reset, notYet: false }
  }

  get empty(): boolean {
    return !this.created
  }

  /** The live rows (winners that are not deletes) as a SQL relation: data columns, cdc_file, cdc_row. */
  liveSql(): string {
    if (!this.created) throw new Error('KeyedRawState.liveSql before the first merge')
    return `(SELECT ${selectList(this.liveColumns())} FROM ${STATE} WHERE ${q(META.op)} IS DISTINCT FROM 'D')`
  }

  /** The live columns: the data columns in order of appearance, then cdc_file and cdc_row. */
  liveColumns(): Column[] {
    const meta = new Set<string>([META.op, META.file, META.row])
    const data = this.columns.filter((c) => !meta.has(c.name))
    const tail = [META.file, META.row].map((n) => this.columns.find((c) => c.name === n)!)
    return [...data, ...tail]
  }

  async counts(): Promise<{ live: number; tombstones: number }> {
    if (!this.created) return { live: 0, tombstones: 0 }
    const [r] = await this.duck.rows(`SELECT count(*) FILTER (WHERE ${q(META.op)} IS DISTINCT FROM 'D') AS live, count(*) FILTER (WHERE ${q(META.op)} = 'D') AS tombs FROM ${STATE}`)
    return { live: Number(r!.live), tombstones: Number(r!.tombs) }
  }
}

function selectList(cols: readonly Column[]): string {
  return cols.map((c) => q(c.name)).join(', ')
}

// ---------------------------------------------------------------- snapshot --as-of

export interface SnapshotOptions {
  /** `Source.TableName`. */
  table: string
  /** A DMS file name (`20220927-135523276.csv`, `LOAD00000001.csv`, with or without extension) or a timestamp. */
  asOf: string
  /** A `.parquet` file or a folder (then `part-00000.parquet` in it); local or s3://. */
  out: string
  /** Folder a relative `out` resolves against (default: the current directory). */
  baseDir?: string
  logger?: Logger
  signal?: AbortSignal
}

export interface SnapshotResult {
  source: string
  table: string
  /** `file`: after that DMS file in cdc-apply's order; `time`: every change with a timestamp <= asOf. */
  kind: 'file' | 'time'
  /** The file stem or the timestamp (normalised) the snapshot is as of. */
  asOf: string
  rows: number
  /** Keys whose winning change as of then is a delete. */
  tombstones: number
  /** RAW dates read, in order, and how many RAW rows they held (after the as-of filter). */
  datesRead: string[]
  rawRows: number
  /** The object written: a path or an s3:// url. */
  written: string
  bytes: number
  ms: number
}

const FILE_RE = /^(LOAD[0-9A-F]{8}|\d{8}-\d{9})(\.(csv|parquet))?(\.gz)?$/

export function findTable(config: Config, label: string): TableConfig {
  const t = config.tables.find((x) => `${x.source}.${x.name}` === label)
  if (t === undefined) {
    throw new UsageError('CDC_USAGE', `table ${JSON.stringify(label)} is not configured: expected one of ${config.tables.map((x) => `${x.source}.${x.name}`).join(', ')}`, {
      hint: 'name the table as Source.TableName, as in cdc-apply status',
    })
  }
  return t
}

/** Opens the store for an output location, configured like the curated output (S3 settings, encryption). */
export async function openOutput(config: Config, location: string, baseDir: string): Promise<ObjectStore> {
  const s3 = config.s3 ? { s3: config.s3 } : {}
  const enc = config.encryption.curated ? { encryption: config.encryption.curated } : {}
  return openStore(location, { baseDir, ...s3, ...enc })
}

/** Splits an output file location into its folder and base name (`s3://b/p/x.parquet` → `s3://b/p`, `x.parquet`). */
function splitLocation(location: string): { parent: string; name: string } {
  const trimmed = location.replace(/\/+$/, '')
  const slash = trimmed.lastIndexOf('/')
  if (trimmed.startsWith('s3://')) {
    const rest = trimmed.slice('s3://'.length)
    if (!rest.includes('/')) throw new UsageError('CDC_USAGE', `--out ${JSON.stringify(location)} names a bucket, not a file`, { hint: 'write --out s3://bucket/prefix/file.parquet or a folder' })
  }
  return { parent: slash <= 0 ? '.' : trimmed.slice(0, slash), name: trimmed.slice(slash + 1) }
}

/**
 * Writes a table as it was after the DMS file `asOf` (every file up to and including it in cdc-apply's order:
 * LOAD files by name, then change files by name) or at the commit time `asOf` (every change whose timestamp
 * column is <= it; NULL counts as earlier than any time). Rebuilt from RAW, one date partition at a time.
 */
export async function snapshotAsOf(config: Config, opts: SnapshotOptions): Promise<SnapshotResult> {
  const started = Date.now()
  if (opts.table === '') throw new UsageError('CDC_USAGE', '--table is required: the table as Source.TableName', { hint: "see 'cdc-apply snapshot --help'" })
  const t = findTable(config, opts.table)
  const label = opts.table
  const log = (opts.logger ?? silentLogger).child({ table: label })
  const baseDir = opts.baseDir ?? process.cwd()
  if (opts.asOf.trim() === '') throw new UsageError('CDC_USAGE', '--as-of is required: a DMS file name (20220927-135523276.csv) or a timestamp', { hint: "see 'cdc-apply snapshot --help'" })
  if (opts.out === '') throw new UsageError('CDC_USAGE', '--out is required: a .parquet file or a folder, local or s3://', { hint: "see 'cdc-apply snapshot --help'" })
  // The pipeline writes' rule: never into (or over a folder holding) the landing, RAW, curated, state or cache.
  const outLocation = opts.out.startsWith('s3://') ? opts.out : resolve(baseDir, opts.out)
  const zones = protectedLocations(config)
  const clash = protectedClash(outLocation, zones.map((z) => z.location))
  if (clash !== undefined) {
    const zone = zones.find((z) => z.location === clash.location)!
    throw new UsageError('CDC_USAGE', `--out ${JSON.stringify(opts.out)} is invalid: expected a location outside the ${zone.path} location ${JSON.stringify(zone.location)} and not holding it, got ${JSON.stringify(clash.real)} (symlinks resolved)`, {
      hint: 'write the snapshot elsewhere: it must not replace a curated partition, RAW history, DMS files or the state',
    })
  }
  const fileMatch = FILE_RE.exec(opts.asOf.trim())
  const rawStore = await openStore(config.raw, { baseDir: config.baseDir, ...(config.s3 ? { s3: config.s3 } : {}) })
  const duck = await Duck.open('cdc-apply-snapshot-')
  try {
    const dates = await listPartitions(rawStore, t, opts.signal)
    const first = dates.keys().next().value as string | undefined
    if (first === undefined) {
      throw new DataError('CDC_SNAPSHOT_MISSING', `table ${label} has no RAW partitions in ${rawStore.url}`, {
        table: label,
        hint: 'run cdc-apply first; snapshot --as-of rebuilds the table from RAW',
      })
    }
    const state = new KeyedRawState(duck, t, label)
    const datesRead: string[] = []
    let kind: 'file' | 'time'
    let asOf = opts.asOf
    if (fileMatch) {
      kind = 'file'
      const stem = fileMatch[1]!
      asOf = stem
      const isLoad = stem.startsWith('LOAD')
      const lastDate = isLoad ? first : stem.slice(0, 8) > first ? stem.slice(0, 8) : first
      const where = isLoad ? `(${FILE_KIND_SQL} = 0 AND ${FILE_STEM_SQL} <= ${lit(stem)})` : `(${FILE_KIND_SQL} = 0 OR ${FILE_STEM_SQL} <= ${lit(stem)})`
      let found = 0
      for (const [date, keys] of dates) {
        if (date > lastDate) break
        opts.signal?.throwIfAborted()
        const files = await localPaths(rawStore, keys, join(duck.tmp, 'raw', date), opts.signal)
        const r = await state.merge(files.paths, { where, probe: `${FILE_STEM_SQL} = ${lit(stem)}` })
        await files.cleanup()
        found += r.probed
        datesRead.push(date)
        log.debug({ date, rows: r.rows }, 'raw date merged')
      }
      const ledger = readLedger(resolveLocal(config, config.state), t)
      if (found === 0 && ledger?.superseded.has(stem)) {
        throw new UsageError('CDC_USAGE', `table ${label}: the DMS file ${stem} was superseded by a table reload: RAW no longer holds it`, {
          table: label,
          hint: 'name a file applied after the reload, or give a timestamp',
        })
      }
      if (found === 0 && !ledger?.files.has(stem)) {
        throw new UsageError('CDC_USAGE', `table ${label}: the DMS file ${stem} is not in RAW (${rawStore.url}): it is not a file of this table or it was not processed yet`, {
          table: label,
          hint: 'name a file cdc-apply has processed (the LPF in cdc-apply status is the newest), or give a timestamp',
        })
      }
    } else {
      kind = 'time'
      if (t.timestampColumn === undefined) {
        throw new UsageError('CDC_USAGE', `table ${label}: --as-of ${JSON.stringify(opts.asOf)} is not a DMS file name, and a timestamp needs the table's timestampColumn, which is not configured`, {
          table: label,
          hint: 'give a DMS file name (LOAD00000001.csv or 20220927-135523276.csv), or configure timestampColumn',
        })
      }
      const ts = q(t.timestampColumn)
      let where: string | undefined
      for (const [date, keys] of dates) {
        opts.signal?.throwIfAborted()
        const files = await localPaths(rawStore, keys, join(duck.tmp, 'raw', date), opts.signal)
        if (where === undefined) {
          const type = (await duck.describe(`SELECT ${ts} FROM ${readParquetSql(files.paths)}`))[0]!.type
          const f = await timeFilter(duck, ts, type, opts.asOf, label)
          where = f.where
          asOf = f.asOf
        }
        const r = await state.merge(files.paths, { where })
        await files.cleanup()
        // A reload that had not started by then: the table as of then is the history before it.
        if (r.notYet) break
        datesRead.push(date)
        log.debug({ date, rows: r.rows }, 'raw date merged')
      }
    }
    const counts = await state.counts()
    const out = opts.out.startsWith('s3://') ? opts.out : resolve(baseDir, opts.out)
    const single = /\.parquet$/i.test(out)
    const { parent, name } = single ? splitLocation(out) : { parent: out, name: 'part-00000.parquet' }
    const tmpFile = join(duck.tmp, 'snapshot.parquet')
    const codec = config.parquet.compression === 'none' ? 'uncompressed' : config.parquet.compression
    const pk = t.primaryKey.map(q).join(', ')
    await duck.run(
      `COPY (SELECT * FROM ${state.liveSql()} ORDER BY ${pk}) TO ${lit(tmpFile)} (FORMAT parquet, COMPRESSION ${codec}, ROW_GROUP_SIZE ${config.parquet.rowGroupSize})`,
    )
    const body = await readFile(tmpFile)
    const store = await openOutput(config, parent, baseDir)
    try {
      await store.put(name, body, opts.signal ? { signal: opts.signal } : {})
      if (!single) {
        // A folder holds one snapshot: remove part files of an earlier snapshot written there.
        const stale: string[] = []
        for await (const o of store.list('', opts.signal ? { signal: opts.signal } : {})) if (/^part-\d{5}\.parquet$/.test(o.key) && o.key !== name) stale.push(o.key)
        if (stale.length > 0) await store.delete(stale)
      }
    } finally {
      await store.close()
    }
    const written = parent.startsWith('s3://') ? `${parent.replace(/\/+$/, '')}/${name}` : join(parent, name)
    const result: SnapshotResult = { source: t.source, table: t.name, kind, asOf, rows: counts.live, tombstones: counts.tombstones, datesRead, rawRows: state.rowsRead, written, bytes: body.length, ms: Date.now() - started }
    log.info({ kind, asOf: result.asOf, rows: result.rows, dates: datesRead.length, rawRows: result.rawRows, out: written }, 'snapshot written')
    return result
  } finally {
    await duck.close()
    await rawStore.close()
  }
}

/**
 * The RAW filter of a time snapshot: changes whose timestamp column is <= the given time, or NULL (NULL is the
 * lowest value in the ordering chain). Timestamps (and dates, and text columns holding timestamps) compare as
 * UTC timestamps to the microsecond; numeric columns compare as numbers.
 */
async function timeFilter(duck: Duck, ts: string, type: string, input: string, label: string): Promise<{ where: string; asOf: string }> {
  const t = type.toUpperCase()
  const bad = (expected: string): UsageError =>
    new UsageError('CDC_USAGE', `table ${label}: --as-of ${JSON.stringify(input)} is neither a DMS file name nor ${expected}`, {
      table: label,
      hint: 'give a DMS file name (LOAD00000001.csv, 20220927-135523276.csv) or a time such as 2024-06-12T10:30:25.104667Z (no zone = UTC)',
    })
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL)/.test(t)) {
    if (!/^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(input.trim())) throw bad(`a number (the timestamp column is ${type})`)
    return { where: `(${ts} IS NULL OR ${ts} <= ${input.trim()})`, asOf: input.trim() }
  }
  const parsed = await duck.value(`SELECT CAST(TRY_CAST(TRY_CAST(${lit(input.trim())} AS TIMESTAMPTZ) AS TIMESTAMP) AS VARCHAR)`)
  if (parsed === null) throw bad('a timestamp')
  const limit = `TIMESTAMP ${lit(String(parsed))}`
  const value = t === 'VARCHAR' ? `TRY_CAST(TRY_CAST(${ts} AS TIMESTAMPTZ) AS TIMESTAMP)` : `CAST(${ts} AS TIMESTAMP)`
  return { where: `(${value} IS NULL OR ${value} <= ${limit})`, asOf: String(parsed) }
}

