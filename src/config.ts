// The config file: one typed object, parsed once; unknown keys are errors. Keys are documented in docs/config.md.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ConfigError } from './errors.js'
import {
  COLUMNS_FROM_KEYS,
  COLUMN_KEYS,
  COMPRESSIONS,
  CONCURRENCY_KEYS,
  ENCRYPTION_BLOCK_KEYS,
  FORMATS,
  ICEBERG_KEYS,
  LATE_FILES,
  LIMITS_KEYS,
  MISSING_FOLDER,
  ON_BAD_ROW,
  ON_RELOAD,
  PARQUET_KEYS,
  ROOT_KEYS,
  TABLE_KEYS,
  keysOf,
} from './config-keys.js'
import { checkLocations, parseCatalog, parseEncryption, parsePipeline, parseS3 } from './config-sections.js'
import {
  arr,
  bool,
  invalid,
  known,
  location,
  nonNegNum,
  obj,
  oneOf,
  opt,
  posInt,
  posNum,
  req,
  safeName,
  str,
} from './config-validate.js'

export type ColumnType =
  | { kind: 'string' }
  | { kind: 'integer' }
  | { kind: 'double' }
  | { kind: 'boolean' }
  | { kind: 'date' }
  | { kind: 'timestamp' }
  | { kind: 'decimal'; precision: number; scale: number }

export interface ColumnConfig {
  name: string
  type: ColumnType
}

export interface TableConfig {
  /** The design's Source (ops_table.Source), e.g. "OP". */
  source: string
  /** The design's TableName (ops_table.TableName), e.g. "restaurants". */
  name: string
  /** Folder of the table's DMS files under `landing`: `<schema>/<table>`. */
  path: string
  format: 'csv' | 'parquet'
  /** CSV files start with a header row (DMS AddColumnName=true). */
  header: boolean
  /** Full-load files carry the Op column too (DMS IncludeOpForFullLoad=true). */
  includeOpForFullLoad: boolean
  opColumn: string
  /** Columns in file order, without the Op column. Empty for Parquet tables that take the schema from the files. */
  columns: ColumnConfig[]
  /**
   * Header-less CSV whose layout changed (DMS appends columns after DDL or new add-column rules): the column list
   * in force from a given change file on (its time name, e.g. `20240705-000000000`), in ascending order.
   */
  columnsFrom: { file: string; columns: ColumnConfig[] }[]
  primaryKey: string[]
  timestampColumn: string | undefined
  sequenceColumn: string | undefined
  /**
   * Primary-key column → its before-image column (DMS add-before-image-columns). A U row whose before-image key
   * differs from its key moves the row: the old key is deleted.
   */
  beforeImageColumns: Record<string, string> | undefined
  /** A row that breaks a row-level rule: fail the file (default) or set it aside in RAW's _quarantine and go on. */
  onBadRow: 'fail' | 'quarantine'
  /** A change file that sorts at or before the LPF and was not processed: stop (fail) or replay the table (reprocess). */
  lateFiles: 'fail' | 'reprocess'
  /** A new or rewritten full load after the first (a DMS table reload): stop (fail) or rebuild the table from it (reset). */
  onReload: 'fail' | 'reset'
  /** No object at all under the table's folder: an error (fail, the default) or a folder gone on purpose (ignore). */
  missingFolder: 'fail' | 'ignore'
  /** How curated is stored: a Parquet folder per date (default) or an Iceberg v2 table with a tag per date. */
  tableFormat: TableFormat
}

export type TableFormat = 'parquet' | 'iceberg'

export interface S3Config {
  region?: string
  endpoint?: string
  forcePathStyle?: boolean
  requestChecksumCalculation?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED'
  maxAttempts?: number
}

export interface EncryptionConfig {
  mode: 'SSE-S3' | 'SSE-KMS'
  kmsKeyId?: string
}

export interface Config {
  /** Folder of the config file: every relative path resolves against it. */
  baseDir: string
  landing: string
  raw: string
  curated: string
  state: string
  s3: S3Config | undefined
  encryption: { raw?: EncryptionConfig; curated?: EncryptionConfig }
  parquet: { compression: 'snappy' | 'zstd' | 'gzip' | 'none'; rowsPerFile: number; rowGroupSize: number }
  concurrency: { tables: number; prefetch: number }
  pollSeconds: number
  /** Watch mode lists only keys after the LPF's; every this many seconds it lists the whole table folder. */
  fullListingSeconds: number
  tables: TableConfig[]
  /** Where pipeline `write` steps may write (folders or s3:// urls); default: the folders holding raw and curated. */
  outputs: string[] | undefined
  /** Local copies of S3 inputs for pipelines; default `<state file's folder>/cache`. */
  cache: string | undefined
  /** Pipelines watch mode runs after a poll in which one of their `after` tables advanced. */
  pipelines: PipelineConfig[]
  /** A local landing object is read only once its modification time is this many seconds old (a copy may be in progress). */
  settleSeconds: number
  /** A change-file name more than this many seconds ahead of the clock is refused (CDC_FILE_NAME_INVALID). */
  maxFutureSeconds: number
  /** Watch mode retries a table stopped on a terminal error every this many seconds (sooner when its object or the config changes). */
  retryStoppedSeconds: number
  /** Per-object memory bounds: the longest CSV record and the largest object once decompressed, in bytes. */
  limits: { maxRecordBytes: number; maxObjectBytes: number }
  iceberg: {
    compactDeleteShare: number
    compactDataFiles: number
    keepSnapshots: number
    /** Previous metadata versions kept (Iceberg's write.metadata.previous-versions-max). */
    keepMetadataVersions: number
    /** Files no kept snapshot or metadata version references are deleted only once this old (seconds). */
    orphanMinAgeSeconds: number
    /** RAW of a tableFormat "iceberg" table is an Iceberg table too, partitioned by date (docs/iceberg.md); default true, false opts out. */
    raw: boolean
  }
  /** Register every table in a data catalog after each commit (docs/catalog.md); undefined = no catalog. */
  catalog: CatalogConfig | undefined
}

export interface CatalogConfig {
  type: 'glue'
  /** The Glue database the tables go in (it must exist). */
  database: string
  /** Region of the Glue catalog; default: the s3 region, else the SDK's. */
  region: string | undefined
  /** Put in front of every Glue table name, e.g. "dms_" (lower case letters, digits, _). */
  tablePrefix: string
  /** Another Glue endpoint (tests: a local emulator). */
  endpoint: string | undefined
  /** Attempts per Glue request, the first one included. */
  maxAttempts: number
}

export interface PipelineConfig {
  /** The pipeline JSON file (relative to the config file). */
  file: string
  /** Tables (`Source.TableName`) whose progress triggers the pipeline in watch mode. */
  after: string[]
  /** Values for the pipeline's user parameters, like `--param name=value`. */
  params: Record<string, string>
}

/** Names of the metadata columns cdc-apply adds to RAW and curated outputs. */
export const META = { op: 'Op', file: 'cdc_file', row: 'cdc_row' } as const

export const DEFAULTS = Object.freeze({
  opColumn: 'Op',
  format: 'csv' as const,
  header: false,
  includeOpForFullLoad: false,
  compression: 'snappy' as const,
  rowsPerFile: 1_000_000,
  rowGroupSize: 122_880,
  tablesConcurrency: 2,
  prefetch: 4,
  pollSeconds: 5,
  fullListingSeconds: 300,
  lateFiles: 'fail' as const,
  onReload: 'fail' as const,
  tableFormat: 'parquet' as TableFormat,
  configFile: 'cdc-apply.json',
  settleSeconds: 5,
  maxFutureSeconds: 86_400,
  retryStoppedSeconds: 600,
  maxRecordBytes: 64 * 1024 * 1024,
  maxObjectBytes: 4 * 1024 * 1024 * 1024,
  missingFolder: 'fail' as const,
  catalogMaxAttempts: 3,
  compactDeleteShare: 0.25,
  compactDataFiles: 100,
  keepSnapshots: 10,
  keepMetadataVersions: 100,
  orphanMinAgeSeconds: 3600,
  icebergRaw: true,
})

export function loadConfig(file: string): Config {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(
      'CDC_CONFIG_NOT_FOUND',
      `config file ${JSON.stringify(file)} cannot be read: ${(err as Error).message}`,
      {
        cause: err,
        hint: 'pass --config <file> or create ./cdc-apply.json (see docs/config.md)',
      },
    )
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(
      'CDC_CONFIG_INVALID',
      `config file ${JSON.stringify(file)} is not valid JSON: ${(err as Error).message}`,
      { cause: err },
    )
  }
  return parseConfig(json, dirname(resolve(file)))
}

export function parseConfig(json: unknown, baseDir: string): Config {
  const root = obj(json, '$')
  known(root, '$', keysOf(ROOT_KEYS))
  const defaultSource = opt(root, 'source', '$', str)
  const defaultFormat = opt(root, 'tableFormat', '$', tableFormat) ?? DEFAULTS.tableFormat
  const s3 = root.s3 === undefined ? undefined : parseS3(root.s3, '$.s3')
  const enc = root.encryption === undefined ? {} : obj(root.encryption, '$.encryption')
  known(enc, '$.encryption', keysOf(ENCRYPTION_BLOCK_KEYS))
  const pq = root.parquet === undefined ? {} : obj(root.parquet, '$.parquet')
  known(pq, '$.parquet', keysOf(PARQUET_KEYS))
  const conc = root.concurrency === undefined ? {} : obj(root.concurrency, '$.concurrency')
  known(conc, '$.concurrency', keysOf(CONCURRENCY_KEYS))
  const lim = root.limits === undefined ? {} : obj(root.limits, '$.limits')
  known(lim, '$.limits', keysOf(LIMITS_KEYS))
  const ice = root.iceberg === undefined ? {} : obj(root.iceberg, '$.iceberg')
  known(ice, '$.iceberg', keysOf(ICEBERG_KEYS))
  const tablesJson = req(root, 'tables', '$', (v, p) => arr(v, p))
  const tables = tablesJson.map((t, i) => parseTable(t, `$.tables[${i}]`, defaultSource, defaultFormat))
  const seen = new Set<string>()
  tables.forEach((t, i) => {
    const id = tableLabel(t)
    if (seen.has(id))
      throw invalid(`$.tables[${i}]`, `a table that is not already configured`, `a second ${JSON.stringify(id)}`)
    seen.add(id)
  })
  return checkLocations({
    baseDir,
    landing: req(root, 'landing', '$', location),
    raw: req(root, 'raw', '$', location),
    curated: req(root, 'curated', '$', location),
    state: req(root, 'state', '$', (v, p) => {
      const s = str(v, p)
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s))
        throw invalid(p, 'a local file path (the SQLite state file cannot live on S3)', JSON.stringify(s))
      return s
    }),
    s3,
    encryption: {
      raw: enc.raw === undefined ? undefined : parseEncryption(enc.raw, '$.encryption.raw'),
      curated: enc.curated === undefined ? undefined : parseEncryption(enc.curated, '$.encryption.curated'),
    },
    parquet: {
      compression: opt(pq, 'compression', '$.parquet', (v, p) => oneOf(v, p, COMPRESSIONS)) ?? DEFAULTS.compression,
      rowsPerFile: opt(pq, 'rowsPerFile', '$.parquet', posInt) ?? DEFAULTS.rowsPerFile,
      rowGroupSize: opt(pq, 'rowGroupSize', '$.parquet', posInt) ?? DEFAULTS.rowGroupSize,
    },
    concurrency: {
      tables: opt(conc, 'tables', '$.concurrency', posInt) ?? DEFAULTS.tablesConcurrency,
      prefetch: opt(conc, 'prefetch', '$.concurrency', posInt) ?? DEFAULTS.prefetch,
    },
    pollSeconds: opt(root, 'pollSeconds', '$', posNum) ?? DEFAULTS.pollSeconds,
    fullListingSeconds: opt(root, 'fullListingSeconds', '$', posNum) ?? DEFAULTS.fullListingSeconds,
    tables,
    outputs:
      root.outputs === undefined
        ? undefined
        : arr(root.outputs, '$.outputs').map((v, i) => location(v, `$.outputs[${i}]`)),
    cache: opt(root, 'cache', '$', (v, p) => {
      const s = str(v, p)
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s))
        throw invalid(p, 'a local folder (the pipeline cache is local)', JSON.stringify(s))
      return s
    }),
    pipelines: (root.pipelines === undefined ? [] : arr(root.pipelines, '$.pipelines')).map((v, i) =>
      parsePipeline(v, `$.pipelines[${i}]`, seen),
    ),
    catalog:
      root.catalog === undefined ? undefined : parseCatalog(root.catalog, '$.catalog', DEFAULTS.catalogMaxAttempts),
    settleSeconds: opt(root, 'settleSeconds', '$', nonNegNum) ?? DEFAULTS.settleSeconds,
    maxFutureSeconds: opt(root, 'maxFutureSeconds', '$', posNum) ?? DEFAULTS.maxFutureSeconds,
    retryStoppedSeconds: opt(root, 'retryStoppedSeconds', '$', posNum) ?? DEFAULTS.retryStoppedSeconds,
    iceberg: {
      compactDeleteShare: opt(ice, 'compactDeleteShare', '$.iceberg', posNum) ?? DEFAULTS.compactDeleteShare,
      compactDataFiles: opt(ice, 'compactDataFiles', '$.iceberg', posInt) ?? DEFAULTS.compactDataFiles,
      keepSnapshots: opt(ice, 'keepSnapshots', '$.iceberg', posInt) ?? DEFAULTS.keepSnapshots,
      keepMetadataVersions: opt(ice, 'keepMetadataVersions', '$.iceberg', posInt) ?? DEFAULTS.keepMetadataVersions,
      orphanMinAgeSeconds: opt(ice, 'orphanMinAgeSeconds', '$.iceberg', nonNegNum) ?? DEFAULTS.orphanMinAgeSeconds,
      raw: opt(ice, 'raw', '$.iceberg', bool) ?? DEFAULTS.icebergRaw,
    },
    limits: {
      maxRecordBytes: opt(lim, 'maxRecordBytes', '$.limits', posInt) ?? DEFAULTS.maxRecordBytes,
      maxObjectBytes: opt(lim, 'maxObjectBytes', '$.limits', posInt) ?? DEFAULTS.maxObjectBytes,
    },
  })
}

function parseTable(
  json: unknown,
  path: string,
  defaultSource: string | undefined,
  defaultFormat: TableFormat,
): TableConfig {
  const t = obj(json, path)
  known(t, path, keysOf(TABLE_KEYS))
  const source = opt(t, 'source', path, safeName) ?? defaultSource
  if (source === undefined) throw invalid(`${path}.source`, 'a source name (or a top-level "source")', 'nothing')
  safeName(source, `${path}.source`)
  const name = req(t, 'name', path, safeName)
  const format = opt(t, 'format', path, (v, p) => oneOf(v, p, FORMATS)) ?? DEFAULTS.format
  const columnsJson = t.columns === undefined ? [] : arr(t.columns, `${path}.columns`)
  const columns = columnsJson.map((c, i) => parseColumn(c, `${path}.columns[${i}]`))
  if (format === 'csv' && columns.length === 0)
    throw invalid(`${path}.columns`, 'the columns of the CSV files in file order (without Op)', 'none')
  const names = new Set<string>()
  columns.forEach((c, i) => {
    if (names.has(c.name)) throw invalid(`${path}.columns[${i}].name`, 'a unique column name', JSON.stringify(c.name))
    names.add(c.name)
  })
  const columnsFrom = (t.columnsFrom === undefined ? [] : arr(t.columnsFrom, `${path}.columnsFrom`)).map((v, i) => {
    const p = `${path}.columnsFrom[${i}]`
    const o = obj(v, p)
    known(o, p, keysOf(COLUMNS_FROM_KEYS))
    const file = req(o, 'file', p, str)
    if (!/^\d{8}-\d{9}$/.test(file))
      throw invalid(`${p}.file`, 'a change-file time name YYYYMMDD-HHmmssSSS', JSON.stringify(file))
    const cols = req(o, 'columns', p, (x, q) => arr(x, q).map((c, k) => parseColumn(c, `${q}[${k}]`)))
    for (const c of cols) {
      const base = columns.find((x) => x.name === c.name)
      if (base && typeName(base.type) !== typeName(c.type))
        throw invalid(
          `${p}.columns`,
          `column ${JSON.stringify(c.name)} with its type ${typeName(base.type)}`,
          typeName(c.type),
        )
      if (!names.has(c.name)) names.add(c.name)
    }
    return { file, columns: cols }
  })
  columnsFrom.forEach((v, i) => {
    if (i > 0 && v.file <= columnsFrom[i - 1]!.file)
      throw invalid(`${path}.columnsFrom[${i}].file`, 'file names in ascending order', JSON.stringify(v.file))
  })
  const opColumn = opt(t, 'opColumn', path, str) ?? DEFAULTS.opColumn
  for (const reserved of new Set([opColumn, META.op, META.file, META.row])) {
    if (names.has(reserved))
      throw invalid(
        `${path}.columns`,
        `no column named ${JSON.stringify(reserved)} (it is added by DMS or cdc-apply)`,
        JSON.stringify(reserved),
      )
  }
  const mustExist = (v: string, p: string): string => {
    if (columns.length > 0 && !names.has(v)) throw invalid(p, `one of the configured columns`, JSON.stringify(v))
    return v
  }
  const primaryKey = req(t, 'primaryKey', path, (v, p) =>
    arr(v, p).map((k, i) => mustExist(str(k, `${p}[${i}]`), `${p}[${i}]`)),
  )
  if (primaryKey.length === 0) throw invalid(`${path}.primaryKey`, 'at least one column', 'an empty list')
  const timestampColumn = opt(t, 'timestampColumn', path, (v, p) => mustExist(str(v, p), p))
  const sequenceColumn = opt(t, 'sequenceColumn', path, (v, p) => mustExist(str(v, p), p))
  for (const [key, col] of [
    ['timestampColumn', timestampColumn],
    ['sequenceColumn', sequenceColumn],
  ] as const) {
    const c = columns.find((x) => x.name === col)
    if (c && (c.type.kind === 'boolean' || c.type.kind === 'decimal'))
      throw invalid(`${path}.${key}`, 'a string, integer, double, date or timestamp column', c.type.kind)
  }
  let beforeImageColumns: Record<string, string> | undefined
  if (t.beforeImageColumns !== undefined) {
    const bi = obj(t.beforeImageColumns, `${path}.beforeImageColumns`)
    beforeImageColumns = {}
    for (const [k, v] of Object.entries(bi)) {
      if (!primaryKey.includes(k))
        throw invalid(`${path}.beforeImageColumns.${k}`, 'a primary-key column name as the key', JSON.stringify(k))
      beforeImageColumns[k] = mustExist(str(v, `${path}.beforeImageColumns.${k}`), `${path}.beforeImageColumns.${k}`)
    }
    const missing = primaryKey.filter((k) => !(k in beforeImageColumns!))
    if (missing.length > 0)
      throw invalid(
        `${path}.beforeImageColumns`,
        `a before-image column for every primary-key column`,
        `none for ${missing.join(', ')}`,
      )
  }
  const tablePath = req(t, 'path', path, str)
  if (tablePath.split('/').some((p) => p === '..' || p === '.'))
    throw invalid(`${path}.path`, 'a folder below landing', JSON.stringify(tablePath))
  return {
    source,
    name,
    path: tablePath.replace(/^\/+|\/+$/g, ''),
    format,
    header: opt(t, 'header', path, bool) ?? DEFAULTS.header,
    includeOpForFullLoad: opt(t, 'includeOpForFullLoad', path, bool) ?? DEFAULTS.includeOpForFullLoad,
    opColumn,
    columns,
    columnsFrom,
    primaryKey,
    timestampColumn,
    sequenceColumn,
    beforeImageColumns,
    onBadRow: opt(t, 'onBadRow', path, (v, p) => oneOf(v, p, ON_BAD_ROW)) ?? 'fail',
    lateFiles: opt(t, 'lateFiles', path, (v, p) => oneOf(v, p, LATE_FILES)) ?? DEFAULTS.lateFiles,
    onReload: opt(t, 'onReload', path, (v, p) => oneOf(v, p, ON_RELOAD)) ?? DEFAULTS.onReload,
    missingFolder: opt(t, 'missingFolder', path, (v, p) => oneOf(v, p, MISSING_FOLDER)) ?? DEFAULTS.missingFolder,
    tableFormat: opt(t, 'tableFormat', path, tableFormat) ?? defaultFormat,
  }
}

function tableFormat(v: unknown, p: string): TableFormat {
  return oneOf(v, p, ['parquet', 'iceberg'] as const)
}

function parseColumn(json: unknown, path: string): ColumnConfig {
  const c = obj(json, path)
  known(c, path, keysOf(COLUMN_KEYS))
  const name = req(c, 'name', path, str)
  const type = parseType(opt(c, 'type', path, str) ?? 'string', `${path}.type`)
  return { name, type }
}

export function parseType(text: string, path: string): ColumnType {
  const t = text.trim().toLowerCase()
  const dec = /^decimal\((\d+),\s*(\d+)\)$/.exec(t)
  if (dec) {
    const precision = Number(dec[1])
    const scale = Number(dec[2])
    if (precision < 1 || precision > 38 || scale > precision)
      throw invalid(path, 'decimal(p,s) with 1 <= p <= 38 and s <= p', JSON.stringify(text))
    return { kind: 'decimal', precision, scale }
  }
  if (t === 'string' || t === 'integer' || t === 'double' || t === 'boolean' || t === 'date' || t === 'timestamp')
    return { kind: t }
  throw invalid(path, 'string, integer, double, boolean, date, timestamp or decimal(p,s)', JSON.stringify(text))
}

export function typeName(t: ColumnType): string {
  return t.kind === 'decimal' ? `decimal(${t.precision},${t.scale})` : t.kind
}

/** A table's name everywhere cdc-apply shows or matches one: `Source.TableName` (as in `status` and `--table`). */
export function tableLabel(t: { source: string; name: string } | { source: string; table: string }): string {
  return `${t.source}.${'name' in t ? t.name : t.table}`
}

/** Resolves a configured local path against the config file's folder; s3:// locations are returned as they are. */
export function resolveLocal(config: Config, location: string): string {
  return location.startsWith('s3://') ? location : resolve(config.baseDir, location)
}
