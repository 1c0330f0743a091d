// The table catalog of SQL steps: every configured table as DuckDB views over its curated snapshots
// (`<source>.<table>`) and its RAW changes (`raw_<source>.<table>`), with the date folder as column partition_0.
// Inputs on S3 are copied into a local cache first (DuckDB here has no httpfs); unchanged objects are reused by ETag.
// A curated Iceberg table is read by cdc-apply's own reader: each date tag becomes a local date folder
// (iceberg-views.ts; DuckDB's iceberg extension is not bundled and would need a download), so the same view and
// partition_0 apply. A RAW Iceberg table (iceberg.raw) is read as the data files of its current snapshot, each date's
// files with the date from the manifests as a literal partition_0 (files of older snapshots in the partition folders,
// e.g. the inputs of a compaction or the parts a reprocess overwrote, are not read).
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import pLimit from 'p-limit'
import { tableLabel, META, resolveLocal, type ColumnConfig, type ColumnType, type Config } from '../config.js'
import { StepError } from '../errors.js'
import type { ObjectStore } from '../store/object-store.js'
import { quotedIdentifier, quotedString } from '../check/duck.js'
import { LocalStore } from '../store/local-store.js'
import { icebergDates } from './iceberg-views.js'
import { listPartitions } from '../check/partitions.js'

export type Zone = 'curated' | 'raw'

export interface CatalogEntry {
  /** The name SQL uses, as configured: `OP.restaurants`, `raw_OP.restaurants` (matched case-insensitively). */
  name: string
  schema: string
  table: string
  zone: Zone
  /** The configured table (ops_table.Source and TableName). */
  source: string
  tableName: string
  /** The zone's root: an absolute folder or an s3:// url. */
  root: string
  /** Columns of the files in order, for an empty view when the table has no partition yet. */
  columns: { name: string; type: string }[]
  /** A curated Iceberg table: its date tags are written as local date folders first (iceberg-views.ts). */
  iceberg?: { label: string; parquet: Config['parquet'] }
  /** RAW is an Iceberg table (tableFormat "iceberg" with iceberg.raw): the current snapshot's data files are read. */
  rawIceberg?: true
}

/** The column that holds a partition's date folder name, `YYYYMMDD` (the design's Glue-crawler name). */
export const PARTITION_COLUMN = 'partition_0'

/** Schema prefix of RAW tables: `raw_<source>.<table>`. */
export const RAW_PREFIX = 'raw_'

/** Lower-case `schema.table`, the key catalog names are compared by. */
export function catalogKey(schema: string, table: string): string {
  return `${schema}.${table}`.toLowerCase()
}

/** One curated and one RAW entry per configured table. */
export function catalogEntries(config: Config): CatalogEntry[] {
  const out: CatalogEntry[] = []
  const seen = new Map<string, string>()
  for (const t of config.tables) {
    const data = t.columns.map((c) => ({ name: c.name, type: duckType(c) }))
    const provenance = [
      { name: META.file, type: 'VARCHAR' },
      { name: META.row, type: 'BIGINT' },
    ]
    for (const zone of ['curated', 'raw'] as const) {
      const schema = zone === 'raw' ? `${RAW_PREFIX}${t.source}` : t.source
      const e: CatalogEntry = {
        name: `${schema}.${t.name}`,
        schema,
        table: t.name,
        zone,
        source: t.source,
        tableName: t.name,
        root: resolveLocal(config, zone === 'raw' ? config.raw : config.curated),
        columns:
          zone === 'raw' ? [{ name: META.op, type: 'VARCHAR' }, ...data, ...provenance] : [...data, ...provenance],
        ...(zone === 'curated' && t.tableFormat === 'iceberg'
          ? { iceberg: { label: tableLabel(t), parquet: config.parquet } }
          : {}),
        ...(zone === 'raw' && t.tableFormat === 'iceberg' && config.iceberg.raw ? { rawIceberg: true as const } : {}),
      }
      const key = catalogKey(schema, t.name)
      const other = seen.get(key)
      if (other !== undefined) {
        throw new StepError(
          'CDC_STEP_INVALID',
          `catalog name ${JSON.stringify(e.name)} is ambiguous: both ${other} and ${tableLabel(t)} (${zone}) would have it`,
          {
            hint: `rename a source so that no source is called ${RAW_PREFIX}<another source>`,
          },
        )
      }
      seen.set(key, `${tableLabel(t)} (${zone})`)
      out.push(e)
    }
  }
  return out
}

function duckType(c: ColumnConfig): string {
  const t: ColumnType = c.type
  switch (t.kind) {
    case 'string':
      return 'VARCHAR'
    case 'integer':
      return 'BIGINT'
    case 'double':
      return 'DOUBLE'
    case 'boolean':
      return 'BOOLEAN'
    case 'date':
      return 'DATE'
    case 'timestamp':
      return 'TIMESTAMP'
    case 'decimal':
      return `DECIMAL(${t.precision},${t.scale})`
  }
}

/** The subset of a DuckDB connection the catalog needs. */
export interface SqlRunner {
  run(sql: string): Promise<unknown>
}

export interface RegisterOptions {
  /** Local folder for copies of S3 inputs. */
  cacheDir: string
  /** Opens an s3:// root (the config's S3 settings). */
  open: (location: string) => Promise<ObjectStore>
  signal?: AbortSignal
}

export interface Registered {
  /** Local folders the views read: the sandbox allows exactly these. */
  dirs: string[]
  fetched: number
  reused: number
}

/** Creates the schemas and views of `entries` (only the tables a plan reads need registering). */
export async function registerCatalog(
  conn: SqlRunner,
  entries: readonly CatalogEntry[],
  opts: RegisterOptions,
): Promise<Registered> {
  const result: Registered = { dirs: [], fetched: 0, reused: 0 }
  const stores = new Map<string, ObjectStore>()
  const storeOf = async (root: string): Promise<ObjectStore> => {
    let store = stores.get(root)
    if (store === undefined) {
      store = root.startsWith('s3://') ? await opts.open(root) : new LocalStore(root)
      stores.set(root, store)
    }
    return store
  }
  try {
    for (const e of entries) {
      let dir: string
      let view: string | undefined
      if (e.iceberg) {
        dir = join(opts.cacheDir, `iceberg-${hash(e.root)}`, e.source, e.tableName)
        const sync = await icebergDates(await storeOf(e.root), e, e.iceberg, dir, opts.signal)
        result.fetched += sync.fetched
        result.reused += sync.reused
      } else if (e.rawIceberg) {
        const store = await storeOf(e.root)
        const prefix = `${e.source}/${e.tableName}/`
        const byDate = await listPartitions(store, { source: e.source, name: e.tableName }, opts.signal)
        let local: (key: string) => string
        if (e.root.startsWith('s3://')) {
          dir = join(opts.cacheDir, `raw-iceberg-${hash(e.root)}`, e.source, e.tableName)
          const keys = new Set([...byDate.values()].flat())
          const sync = await syncToCache(store, prefix, dir, opts.signal, keys)
          result.fetched += sync.fetched
          result.reused += sync.reused
          local = (key) => join(dir, ...key.slice(prefix.length).split('/'))
        } else {
          dir = join(e.root, e.source, e.tableName)
          local = (key) => join(e.root, ...key.split('/'))
        }
        const files = new Map([...byDate].map(([d, keys]) => [d, keys.map(local).sort()]))
        view = files.size > 0 ? datesViewSql(files) : emptyViewSql(e)
      } else if (e.root.startsWith('s3://')) {
        dir = join(opts.cacheDir, `${e.zone}-${hash(e.root)}`, e.source, e.tableName)
        const sync = await syncToCache(await storeOf(e.root), `${e.source}/${e.tableName}/`, dir, opts.signal)
        result.fetched += sync.fetched
        result.reused += sync.reused
      } else {
        dir = join(e.root, e.source, e.tableName)
      }
      result.dirs.push(dir)
      view ??= (await hasPartitions(dir)) ? viewSql(dir) : emptyViewSql(e)
      await conn.run(`CREATE SCHEMA IF NOT EXISTS ${quotedIdentifier(e.schema)}`)
      await conn.run(`CREATE VIEW ${quotedIdentifier(e.schema)}.${quotedIdentifier(e.table)} AS ${view}`)
    }
  } finally {
    await Promise.all([...stores.values()].map((s) => s.close()))
  }
  return result
}

/** Every part file of every date folder; partition_0 is the date folder's name. */
function viewSql(dir: string): string {
  const glob = quotedString(`${dir}/*/*.parquet`)
  return (
    `SELECT * EXCLUDE (filename), regexp_extract(filename, '/([0-9]{8})/[^/]*$', 1) AS ${PARTITION_COLUMN} ` +
    `FROM read_parquet(${glob}, hive_partitioning = false, filename = true, union_by_name = true)`
  )
}

/**
 * Given files per date (ascending), as the plain view gives them: each date's files with the date as a literal
 * partition_0 (so a partition_0 filter drops the other dates' reads), columns by name across dates, partition_0 last.
 */
function datesViewSql(files: ReadonlyMap<string, readonly string[]>): string {
  const dates = [...files].map(
    ([date, paths]) =>
      `SELECT *, ${quotedString(date)} AS ${PARTITION_COLUMN} FROM read_parquet([${paths.map(quotedString).join(', ')}], ` +
      `hive_partitioning = false, union_by_name = true)`,
  )
  return `SELECT * EXCLUDE (${PARTITION_COLUMN}), ${PARTITION_COLUMN} FROM (${dates.join(' UNION ALL BY NAME ')})`
}

/** A table without any partition yet: no rows, the configured columns. */
function emptyViewSql(e: CatalogEntry): string {
  const cols = [...e.columns, { name: PARTITION_COLUMN, type: 'VARCHAR' }].map(
    (c) => `CAST(NULL AS ${c.type}) AS ${quotedIdentifier(c.name)}`,
  )
  return `SELECT ${cols.join(', ')} WHERE false`
}

async function hasPartitions(dir: string): Promise<boolean> {
  let dates: string[]
  try {
    dates = await readdir(dir)
  } catch {
    return false
  }
  for (const d of dates) {
    try {
      if ((await readdir(join(dir, d))).some((f) => f.endsWith('.parquet'))) return true
    } catch {
      // not a folder
    }
  }
  return false
}

function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 12)
}

const MANIFEST = '.etags.json'

export interface SyncResult {
  fetched: number
  reused: number
  removed: number
}

/**
 * Makes `dir` a copy of the `.parquet` objects under `prefix` (keys relative to the prefix become paths). An object
 * whose ETag matches the one recorded at its last download is not fetched again; local files whose object is gone
 * are deleted. Downloads land in a temp name and are renamed into place. With `only`, just those keys are wanted.
 */
export async function syncToCache(
  store: ObjectStore,
  prefix: string,
  dir: string,
  signal?: AbortSignal,
  only?: ReadonlySet<string>,
): Promise<SyncResult> {
  const manifestPath = join(dir, MANIFEST)
  let manifest: Record<string, string> = {}
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, string>
  } catch {
    manifest = {}
  }
  const wanted = new Map<string, { key: string; etag: string; size: number }>()
  for await (const o of store.list(prefix, { signal })) {
    if (!o.key.endsWith('.parquet') || (only !== undefined && !only.has(o.key))) continue
    const rel = o.key.slice(prefix.length)
    if (rel.split('/').some((p) => p === '' || p === '.' || p === '..')) continue
    wanted.set(rel, { key: o.key, etag: o.etag, size: o.size })
  }
  const result: SyncResult = { fetched: 0, reused: 0, removed: 0 }
  const next: Record<string, string> = {}
  const limit = pLimit(4)
  await Promise.all(
    [...wanted].map(([rel, o]) =>
      limit(async () => {
        const path = join(dir, ...rel.split('/'))
        if (manifest[rel] === o.etag && (await sizeOf(path)) === o.size) {
          result.reused++
        } else {
          const body = await store.get(o.key, { signal })
          await mkdir(dirname(path), { recursive: true })
          const tmp = `${path}.tmp-${process.pid}`
          await writeFile(tmp, body)
          await rename(tmp, path)
          result.fetched++
        }
        next[rel] = o.etag
      }),
    ),
  )
  for (const f of await localFiles(dir)) {
    const rel = relative(dir, f).split(sep).join('/')
    if (rel !== MANIFEST && !wanted.has(rel)) {
      await rm(f, { force: true })
      result.removed++
    }
  }
  await mkdir(dir, { recursive: true })
  await writeFile(manifestPath, JSON.stringify(next))
  return result
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size
  } catch {
    return undefined
  }
}

async function localFiles(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...(await localFiles(p)))
    else out.push(p)
  }
  return out
}
