// verify --against: a curated snapshot compared with an extract of the source table (CSV or Parquet, local or S3),
// both sides normalised to the curated column types (docs/verify.md, "Normalisation").
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { DataError, UsageError } from '../errors.js'
import { tableLabel, META, type Config, type TableConfig } from '../config.js'
import { openStore, zoneOptions } from '../store/open-store.js'
import { Duck, quotedIdentifier, quotedString, readParquetSql, type Column } from './duck.js'
import { localPaths } from './partitions.js'
import type { CuratedDates } from './curated-dates.js'
import { compare, missingSnapshot, type Plan } from './compare.js'
import type { TableCheck, VerifyOptions } from './verify.js'
export async function verifyAgainst(
  config: Config,
  t: TableConfig,
  curated: CuratedDates,
  against: string,
  opts: VerifyOptions,
  limit: number,
  check: TableCheck,
): Promise<void> {
  const label = tableLabel(t)
  const curDates = curated.dates
  const cur = [...curDates.keys()]
  if (cur.length === 0)
    throw missingSnapshot(
      label,
      'every curated partition',
      curated.url,
      'run cdc-apply first: --against compares a curated snapshot with the extract',
    )
  const date = opts.date ?? cur.at(-1)!
  if (!curDates.has(date)) {
    throw new DataError(
      'CDC_SNAPSHOT_MISSING',
      `table ${label}: there is no curated snapshot of ${date} in ${curated.url}; the table's snapshots span ${cur[0]}..${cur.at(-1)}`,
      {
        table: label,
        hint: 'pick a date in that span, or omit --date to use the newest snapshot',
      },
    )
  }
  const duck = await Duck.open({ storage: 'file', prefix: 'cdc-apply-verify-' })
  try {
    const ext = await openExtract(config, duck, against, opts.baseDir ?? process.cwd(), opts.signal)
    try {
      const curFiles = await curated.files(date, join(duck.tmp, 'curated', date), opts.signal)
      const curSql = `(SELECT * FROM ${readParquetSql(curFiles.paths)})`
      const curCols = (await duck.describe(`SELECT * FROM ${curSql}`)).filter(
        (c) => c.name !== META.file && c.name !== META.row,
      )
      const extCols = await duck.describe(`SELECT * FROM ${ext.sql}`)
      const plan = extractPlan(curCols, extCols, t.primaryKey, label, against)
      check.columns = plan.report
      // The extract is parsed and normalised once, not once per query of the comparison.
      await duck.run(`CREATE TABLE __cdc_extract AS SELECT * FROM ${plan.ref(ext.sql)}`)
      const dc = await compare(duck, {
        date,
        ref: '__cdc_extract',
        cur: plan.cur(curSql),
        keys: t.primaryKey,
        columns: plan.report.compared,
        limit,
        extract: true,
      })
      check.dates.push(dc)
      await curFiles.cleanup()
    } finally {
      await ext.cleanup()
    }
  } finally {
    await duck.close()
  }
}

/**
 * Extract mode: curated columns are matched by name (exact, else case-insensitive when unique); both sides are
 * normalised to a common type per curated column (see docs/verify.md, "Normalisation").
 */
function extractPlan(curCols: Column[], extCols: Column[], pk: string[], label: string, against: string): Plan {
  const used = new Set<string>()
  const match = new Map<string, Column>()
  for (const c of curCols) {
    let e = extCols.find((x) => x.name === c.name && !used.has(x.name))
    if (e === undefined) {
      const ci = extCols.filter((x) => x.name.toLowerCase() === c.name.toLowerCase() && !used.has(x.name))
      if (ci.length === 1) e = ci[0]
    }
    if (e === undefined) continue
    used.add(e.name)
    match.set(c.name, e)
  }
  for (const k of pk) {
    if (!match.has(k)) {
      throw new UsageError(
        'CDC_USAGE',
        `table ${label}: the extract ${JSON.stringify(against)} has no column for primary-key column ${JSON.stringify(k)} (its columns: ${extCols.map((c) => c.name).join(', ')})`,
        {
          table: label,
          hint: 'the extract must carry the primary key under the same column names (case-insensitive); CSV extracts need a header row',
        },
      )
    }
  }
  const compared = curCols.filter((c) => match.has(c.name)).map((c) => c.name)
  const curType = new Map(curCols.map((c) => [c.name, c.type]))
  const isKey = new Set(pk)
  const normCur = (n: string): string =>
    isKey.has(n) ? quotedIdentifier(n) : curatedNorm(quotedIdentifier(n), curType.get(n)!)
  const normExt = (n: string): string => {
    const e = match.get(n)!
    return isKey.has(n)
      ? keyNorm(quotedIdentifier(e.name), e.type, curType.get(n)!)
      : extractNorm(quotedIdentifier(e.name), e.type, curType.get(n)!)
  }
  return {
    report: {
      compared,
      onlyExpected: extCols.filter((e) => !used.has(e.name)).map((e) => e.name),
      onlyCurated: curCols.filter((c) => !match.has(c.name)).map((c) => c.name),
      typeDiffers: [],
    },
    cur: (sql) =>
      `(SELECT ${compared.map((n) => `${normCur(n)} AS ${quotedIdentifier(n)}, ${quotedIdentifier(n)} AS ${quotedIdentifier(`__show_${n}`)}`).join(', ')} FROM ${sql})`,
    ref: (sql) =>
      `(SELECT ${compared
        .map((n) => {
          const orig = quotedIdentifier(match.get(n)!.name)
          return `${normExt(n)} AS ${quotedIdentifier(n)}, ${orig} AS ${quotedIdentifier(`__show_${n}`)}, (${orig} IS NOT NULL AND ${normExt(n)} IS NULL) AS ${quotedIdentifier(`__bad_${n}`)}`
        })
        .join(', ')} FROM ${sql})`,
  }
}

const INT_RE = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/
const DEC_RE = /^DECIMAL\((\d+),\s*(\d+)\)$/

/** Integers compare exactly as DECIMAL(38,10) (so an extract's `1.0` equals 1); decimals at the widest scale their precision allows. */
function numericTarget(curType: string): string | undefined {
  if (INT_RE.test(curType)) return 'DECIMAL(38,10)'
  const d = DEC_RE.exec(curType)
  if (d) return `DECIMAL(38,${Number(d[2]) + 38 - Number(d[1])})`
  return undefined
}

function curatedNorm(col: string, curType: string): string {
  const num = numericTarget(curType)
  if (num) return `CAST(${col} AS ${num})`
  if (curType.startsWith('TIMESTAMP')) return `CAST(${col} AS TIMESTAMP)`
  return col
}

function extractNorm(col: string, extType: string, curType: string): string {
  const num = numericTarget(curType)
  const text = extType === 'VARCHAR'
  if (num) {
    // A binary float goes through its shortest decimal text, so that the double 1.6 equals the decimal 1.60.
    const t = text ? `trim(${col})` : /^(FLOAT|DOUBLE|REAL)$/.test(extType) ? `CAST(${col} AS VARCHAR)` : undefined
    return t
      ? `coalesce(TRY_CAST(${t} AS ${num}), TRY_CAST(TRY_CAST(${t} AS DOUBLE) AS ${num}))`
      : `TRY_CAST(${col} AS ${num})`
  }
  if (curType.startsWith('TIMESTAMP'))
    return text ? `TRY_CAST(TRY_CAST(trim(${col}) AS TIMESTAMPTZ) AS TIMESTAMP)` : `TRY_CAST(${col} AS TIMESTAMP)`
  if (curType === 'DATE')
    return text
      ? `coalesce(TRY_CAST(trim(${col}) AS DATE), TRY_CAST(TRY_CAST(trim(${col}) AS TIMESTAMP) AS DATE))`
      : `TRY_CAST(${col} AS DATE)`
  if (curType === 'VARCHAR') return `CAST(${col} AS VARCHAR)`
  if (curType === 'BOOLEAN' && text) return `TRY_CAST(trim(${col}) AS BOOLEAN)`
  return `TRY_CAST(${col} AS ${curType})`
}

/** A key column of the extract in the curated column's own type (an integer key must be integral: `7.0` is 7, `7.5` no key). */
function keyNorm(col: string, extType: string, curType: string): string {
  const n = extractNorm(col, extType, curType)
  if (INT_RE.test(curType)) return `CASE WHEN ${n} = trunc(${n}) THEN TRY_CAST(${n} AS ${curType}) END`
  if (curType.startsWith('TIMESTAMP') && curType !== 'TIMESTAMP') return `CAST(${n} AS ${curType})`
  return DEC_RE.test(curType) ? `TRY_CAST(${n} AS ${curType})` : n
}

/** The extract as a DuckDB relation over local files (S3 objects are downloaded first). */
async function openExtract(
  config: Config,
  duck: Duck,
  location: string,
  baseDir: string,
  signal?: AbortSignal,
): Promise<{ sql: string; cleanup: () => Promise<void> }> {
  let paths: string[]
  let cleanup = async (): Promise<void> => undefined
  if (location.startsWith('s3://')) {
    const trimmed = location.replace(/\/+$/, '')
    const slash = trimmed.lastIndexOf('/')
    const parent = slash > 's3://'.length ? trimmed.slice(0, slash) : trimmed
    const name = slash > 's3://'.length ? trimmed.slice(slash + 1) : ''
    const store = await openStore(parent, zoneOptions(config, undefined, baseDir))
    try {
      const keys: string[] = []
      for await (const o of store.list(name, signal ? { signal } : {}))
        if (o.key === name || name === '' || o.key.startsWith(`${name}/`)) keys.push(o.key)
      const single = keys.includes(name) ? [name] : keys.filter(isDataFile)
      const files = await localPaths(store, single, join(duck.tmp, 'extract'), signal)
      paths = files.paths
      cleanup = files.cleanup
    } finally {
      await store.close()
    }
  } else {
    const abs = resolve(baseDir, location)
    if (!existsSync(abs))
      throw new UsageError('CDC_USAGE', `--against ${JSON.stringify(location)} does not exist (looked for ${abs})`, {
        hint: 'give a CSV or Parquet file or a folder of them, local or s3://',
      })
    paths = statSync(abs).isDirectory() ? walk(abs).filter(isDataFile).sort() : [abs]
  }
  if (paths.length === 0)
    throw new UsageError('CDC_USAGE', `--against ${JSON.stringify(location)} holds no .csv, .csv.gz or .parquet file`, {
      hint: 'give a CSV or Parquet file or a folder of them, local or s3://',
    })
  const parquet = paths.filter((p) => /\.parquet$/i.test(p))
  if (parquet.length > 0 && parquet.length < paths.length)
    throw new UsageError('CDC_USAGE', `--against ${JSON.stringify(location)} mixes CSV and Parquet files`, {
      hint: 'point --against at files of one format',
    })
  const list = `[${paths.map(quotedString).join(', ')}]`
  const sql =
    parquet.length > 0
      ? `(SELECT * FROM read_parquet(${list}, union_by_name = true))`
      : // Every field as text, then normalised per column; an empty unquoted field is NULL, a quoted "" the empty string.
        `(SELECT * FROM read_csv(${list}, header = true, all_varchar = true, allow_quoted_nulls = false, union_by_name = true))`
  return { sql, cleanup }
}

function isDataFile(p: string): boolean {
  const base = p.slice(Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\')) + 1)
  return !base.startsWith('.') && !base.startsWith('_') && /\.(csv|csv\.gz|parquet)$/i.test(base)
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name)
    return e.isDirectory() ? walk(p) : e.isFile() ? [p] : []
  })
}
