// `cdc-apply verify`: is the curated table right? Either recompute every curated snapshot independently from RAW
// with DuckDB SQL (the documented ordering chain, not the code that wrote it), or compare a curated snapshot with an
// extract of the source table. Both end in the same comparison by primary key: counts, keys missing, keys extra,
// keys whose values differ, and a verdict per table. See docs/verify.md.
import { existsSync, statSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Json } from '@duckdb/node-api'
import { CdcError, ConfigError, DataError, UsageError } from '../errors.js'
import { META, resolveLocal, type Config, type TableConfig } from '../config.js'
import { errFields, silentLogger, type Logger } from '../log.js'
import { dateRange } from '../dates.js'
import type { ObjectStore } from '../store/object-store.js'
import { openStore } from '../store/open-store.js'
import { readLedger, recordVerify } from '../state/index.js'
export { lastVerify, type VerifyRun } from '../state/index.js'
import { Duck, quotedIdentifier, quotedString, readParquetSql, type Column, type Row } from './duck.js'
import { listPartitions, localPaths } from './partitions.js'
import { KeyedRawState } from './raw-state.js'
import { findTable } from '../table-glob.js'

export const DEFAULT_LIMIT = 10

export interface VerifyOptions {
  /** Only this table (`Source.TableName`); required with `against` when several tables are configured. */
  table?: string
  /** Only this curated date (`YYYYMMDD`); with `against`, default the newest curated date. */
  date?: string
  /** An extract of the source table: a CSV (with a header row) or Parquet file or folder, local or s3://. */
  against?: string
  /** Folder a relative `against` resolves against (default: the current directory). */
  baseDir?: string
  /** How many keys of each kind (missing, extra, differing, duplicated) to list (default 10). */
  limit?: number
  /** Record each table's outcome in the state file's verify_runs table (default true; only if the state file exists). */
  record?: boolean
  logger?: Logger
  signal?: AbortSignal
}

export type Verdict = 'equal' | 'mismatch'

export interface ValueDiff {
  column: string
  /** The recomputed (or extract) value, in DuckDB's JSON form: int64 and decimals as strings, timestamps as text. */
  expected: Json
  curated: Json
}

export interface RowDiff {
  key: Row
  columns: ValueDiff[]
}

export interface DuplicateKey {
  key: Row
  side: 'curated' | 'expected'
  copies: number
}

export interface DateCheck {
  date: string
  verdict: Verdict
  /** The curated partition of this date does not exist although the table's dates span it. */
  snapshotMissing: boolean
  /** Live rows recomputed from RAW, or rows of the extract. */
  expectedRows: number
  curatedRows: number
  /** Keys expected but not in the curated snapshot. */
  missing: number
  /** Keys in the curated snapshot but not expected. */
  extra: number
  /** Keys on both sides whose compared values differ. */
  differ: number
  /** Keys that occur more than once on one side. */
  duplicates: number
  missingKeys: Row[]
  extraKeys: Row[]
  differing: RowDiff[]
  duplicateKeys: DuplicateKey[]
}

export interface ColumnReport {
  /** Columns compared value by value. */
  compared: string[]
  /** Columns only in RAW / the extract. Against RAW a mismatch; against an extract reported, not compared. */
  onlyExpected: string[]
  /** Data columns only in the curated snapshot. Against RAW a mismatch; against an extract reported, not compared. */
  onlyCurated: string[]
  /** Against RAW: columns whose types differ (compared as text). */
  typeDiffers: { column: string; expected: string; curated: string }[]
}

export interface TableCheck {
  source: string
  table: string
  mode: 'raw' | 'extract'
  /** The extract's location (mode extract). */
  against: string | undefined
  /** equal/mismatch; error when the check could not be made (see error); skipped when the table has no outputs yet. */
  verdict: Verdict | 'error' | 'skipped'
  note: string | undefined
  columns: ColumnReport
  dates: DateCheck[]
  /** RAW partitions read and the rows they held (mode raw). */
  rawDates: number
  rawRows: number
  error: CdcError | Error | undefined
  ms: number
}

export interface VerifyReport {
  /** mismatch if any table mismatched, else error if any table could not be checked, else equal. */
  verdict: Verdict | 'error'
  tables: TableCheck[]
  ms: number
}

/** Recomputes and compares every selected table; a table's failure is in its `error`, not thrown. */
export async function verify(config: Config, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const started = Date.now()
  const log = opts.logger ?? silentLogger
  const limit = opts.limit ?? DEFAULT_LIMIT
  if (!Number.isInteger(limit) || limit < 0) throw new UsageError('CDC_USAGE', `--limit must be a whole number >= 0, got ${JSON.stringify(opts.limit)}`, { hint: "see 'cdc-apply verify --help'" })
  if (opts.date !== undefined && !validDate(opts.date)) throw new UsageError('CDC_USAGE', `--date must be a calendar date YYYYMMDD, got ${JSON.stringify(opts.date)}`, { hint: "see 'cdc-apply verify --help'" })
  let tables: TableConfig[]
  if (opts.table !== undefined) tables = [findTable(config, opts.table)]
  else if (opts.against !== undefined && config.tables.length !== 1) {
    throw new UsageError('CDC_USAGE', `--against compares one table: add --table (one of ${config.tables.map((t) => `${t.source}.${t.name}`).join(', ')})`, { hint: "see 'cdc-apply verify --help'" })
  } else tables = config.tables
  const base = { baseDir: config.baseDir, ...(config.s3 ? { s3: config.s3 } : {}) }
  const rawStore = await openStore(config.raw, base)
  const curatedStore = await openStore(config.curated, base)
  const statePath = resolveLocal(config, config.state)
  const out: TableCheck[] = []
  try {
    for (const t of tables) {
      opts.signal?.throwIfAborted()
      const label = `${t.source}.${t.name}`
      const check = emptyCheck(t, opts.against)
      const tlog = log.child({ table: label })
      const t0 = Date.now()
      try {
        if (t.tableFormat === 'iceberg') {
          throw new ConfigError('CDC_CONFIG_INVALID', `table ${label}: verify does not read curated Iceberg tables yet (tableFormat "iceberg")`, {
            table: label,
            hint: 'verify the same input with tableFormat "parquet" in a copy of the config, or compare the date tags with pyiceberg or Spark (docs/iceberg.md)',
          })
        }
        if (opts.against !== undefined) await verifyAgainst(config, t, curatedStore, opts.against, opts, limit, check)
        else await verifyRaw(t, rawStore, curatedStore, statePath, opts, limit, check, tlog)
      } catch (err) {
        // Wrong arguments are the caller's, not the table's: stop.
        if (opts.signal?.aborted || err instanceof UsageError || (err instanceof ConfigError && t.tableFormat !== 'iceberg')) throw err
        check.verdict = 'error'
        check.error = err as Error
        tlog.error(errFields(err), 'table not verified')
      }
      check.ms = Date.now() - t0
      if (check.verdict !== 'error' && check.verdict !== 'skipped') check.verdict = check.dates.some((d) => d.verdict === 'mismatch') || schemaMismatch(check) ? 'mismatch' : 'equal'
      tlog.info({ verdict: check.verdict, dates: check.dates.length, mismatched: check.dates.filter((d) => d.verdict === 'mismatch').length, ms: check.ms }, 'table verified')
      out.push(check)
      if (opts.record !== false) {
        try {
          recordCheck(statePath, check)
        } catch (err) {
          // The verdict stands; only its summary line in the state file is missing.
          tlog.warn(errFields(err), 'verify result not recorded in the state file')
        }
      }
    }
  } finally {
    await Promise.all([rawStore.close(), curatedStore.close()])
  }
  const verdict = out.some((t) => t.verdict === 'mismatch') ? 'mismatch' : out.some((t) => t.verdict === 'error') ? 'error' : 'equal'
  return { verdict, tables: out, ms: Date.now() - started }
}

function emptyCheck(t: TableConfig, against: string | undefined): TableCheck {
  return {
    source: t.source,
    table: t.name,
    mode: against === undefined ? 'raw' : 'extract',
    against,
    verdict: 'equal',
    note: undefined,
    columns: { compared: [], onlyExpected: [], onlyCurated: [], typeDiffers: [] },
    dates: [],
    rawDates: 0,
    rawRows: 0,
    error: undefined,
    ms: 0,
  }
}

/** Against RAW, a column on one side only or of another type is itself a mismatch; against an extract it is not. */
function schemaMismatch(c: TableCheck): boolean {
  return c.mode === 'raw' && (c.columns.onlyExpected.length > 0 || c.columns.onlyCurated.length > 0 || c.columns.typeDiffers.length > 0)
}

function validDate(d: string): boolean {
  if (!/^\d{8}$/.test(d)) return false
  const dt = new Date(Date.UTC(Number(d.slice(0, 4)), Number(d.slice(4, 6)) - 1, Number(d.slice(6, 8))))
  return dt.toISOString().slice(0, 10).replaceAll('-', '') === d
}

function missingSnapshot(label: string, what: string, url: string, hint: string): DataError {
  return new DataError('CDC_SNAPSHOT_MISSING', `table ${label}: ${what} is missing from ${url}`, { table: label, hint })
}

// ---------------------------------------------------------------- against RAW

async function verifyRaw(
  t: TableConfig,
  rawStore: ObjectStore,
  curatedStore: ObjectStore,
  statePath: string,
  opts: VerifyOptions,
  limit: number,
  check: TableCheck,
  log: Logger,
): Promise<void> {
  const label = `${t.source}.${t.name}`
  const rawDates = await listPartitions(rawStore, t, opts.signal)
  const curDates = await listPartitions(curatedStore, t, opts.signal)
  const ledger = readLedger(statePath, t)
  const reprocess = `the output was removed or never written; reprocess the table (cdc-apply reset --table ${label}, then run)`
  if (rawDates.size === 0 && curDates.size === 0) {
    if (ledger) throw missingSnapshot(label, 'every RAW and curated partition', `${rawStore.url} and ${curatedStore.url}`, reprocess)
    check.verdict = 'skipped'
    check.note = 'no RAW or curated output yet (the table was never run)'
    return
  }
  if (rawDates.size === 0) throw missingSnapshot(label, 'every RAW partition', rawStore.url, reprocess)
  for (const d of ledger?.rawDates ?? []) {
    if (!rawDates.has(d)) throw missingSnapshot(label, `the RAW partition of ${d} (the state file lists files processed into it)`, rawStore.url, reprocess)
  }
  const raw = [...rawDates.keys()]
  const cur = [...curDates.keys()]
  const firstRaw = raw[0]!
  const lastRaw = raw.at(-1)!
  const from = cur.length > 0 && cur[0]! < firstRaw ? cur[0]! : firstRaw
  let to = cur.length > 0 && cur.at(-1)! > lastRaw ? cur.at(-1)! : lastRaw
  if (opts.date !== undefined) {
    const inRange = opts.date >= firstRaw && opts.date <= lastRaw
    if (!curDates.has(opts.date) && !inRange) {
      throw new DataError('CDC_SNAPSHOT_MISSING', `table ${label}: there is no curated snapshot of ${opts.date} in ${curatedStore.url}; the table's snapshots span ${cur[0] ?? firstRaw}..${cur.at(-1) ?? lastRaw}`, {
        table: label,
        hint: 'pick a date in that span, or omit --date to check every date',
      })
    }
    to = opts.date
  }

  const duck = await Duck.open({ storage: 'file', prefix: 'cdc-apply-verify-' })
  try {
    const state = new KeyedRawState(duck, t, label)
    for (const date of dateRange(from, to)) {
      opts.signal?.throwIfAborted()
      const rawKeys = rawDates.get(date)
      if (rawKeys) {
        const files = await localPaths(rawStore, rawKeys, join(duck.tmp, 'raw', date), opts.signal)
        const r = await state.merge(files.paths)
        await files.cleanup()
        check.rawDates++
        check.rawRows += r.rows
        log.debug({ date, rows: r.rows }, 'raw date merged')
      }
      if (opts.date !== undefined && date !== opts.date) continue
      const curKeys = curDates.get(date)
      if (curKeys === undefined) {
        if (date < firstRaw || date > lastRaw) continue
        // Every date from the load date to the newest file's date must have a curated snapshot.
        const dc = await missingPartition(duck, state, t, date, limit)
        check.dates.push(dc)
        log.info({ date, verdict: dc.verdict, snapshotMissing: true }, 'date verified')
        continue
      }
      const files = await localPaths(curatedStore, curKeys, join(duck.tmp, 'curated', date), opts.signal)
      const curSql = `(SELECT * FROM ${readParquetSql(files.paths)})`
      const curCols = await duck.describe(`SELECT * FROM ${curSql}`)
      const refCols = state.empty ? curCols : state.liveColumns()
      const refSql = state.empty ? `(SELECT * FROM ${curSql} WHERE false)` : state.liveSql()
      const plan = rawPlan(refCols, curCols, t.primaryKey, label)
      check.columns = mergeColumns(check.columns, plan.report)
      const dc = await compare(duck, { date, ref: plan.ref(refSql), cur: plan.cur(curSql), keys: t.primaryKey, columns: plan.report.compared, limit, extract: false })
      await files.cleanup()
      check.dates.push(dc)
      log.info({ date, verdict: dc.verdict, expected: dc.expectedRows, curated: dc.curatedRows, missing: dc.missing, extra: dc.extra, differ: dc.differ }, 'date verified')
    }
  } finally {
    await duck.close()
  }
}

/** A date the table spans without a curated partition: every recomputed row is missing. */
async function missingPartition(duck: Duck, state: KeyedRawState, t: TableConfig, date: string, limit: number): Promise<DateCheck> {
  const keys = t.primaryKey.map(quotedIdentifier).join(', ')
  const live = state.empty ? 0 : Number(await duck.value(`SELECT count(*) FROM ${state.liveSql()}`))
  const missingKeys = state.empty || limit === 0 ? [] : await duck.rows(`SELECT ${keys} FROM ${state.liveSql()} ORDER BY ${keys} LIMIT ${limit}`)
  return { ...emptyDate(date), verdict: 'mismatch', snapshotMissing: true, expectedRows: live, missing: live, missingKeys }
}

function emptyDate(date: string): DateCheck {
  return { date, verdict: 'equal', snapshotMissing: false, expectedRows: 0, curatedRows: 0, missing: 0, extra: 0, differ: 0, duplicates: 0, missingKeys: [], extraKeys: [], differing: [], duplicateKeys: [] }
}

interface Plan {
  report: ColumnReport
  ref: (sql: string) => string
  cur: (sql: string) => string
}

/**
 * RAW mode: the recomputed live rows and the curated rows must have the same columns and types. A curated column
 * that no RAW file of the dates so far has is NULL in every row (a configured column the files do not carry yet),
 * so it is compared with NULL.
 */
function rawPlan(refCols: Column[], curCols: Column[], pk: string[], label: string): Plan {
  const curBy = new Map(curCols.map((c) => [c.name, c]))
  const refBy = new Map(refCols.map((c) => [c.name, c]))
  const compared: string[] = []
  const typeDiffers: ColumnReport['typeDiffers'] = []
  for (const c of refCols) {
    const other = curBy.get(c.name)
    if (other === undefined) continue
    compared.push(c.name)
    if (other.type !== c.type) typeDiffers.push({ column: c.name, expected: c.type, curated: other.type })
  }
  const nullInRef = curCols.filter((c) => !refBy.has(c.name)).map((c) => c.name)
  compared.push(...nullInRef)
  for (const k of pk) {
    if (!curBy.has(k)) throw new DataError('CDC_SCHEMA_MISMATCH', `table ${label}: primary-key column ${JSON.stringify(k)} is missing from the curated snapshot`, { table: label, column: k, hint: 'the curated output was not written by this cdc-apply or was damaged; reprocess the table' })
  }
  const differs = new Set(typeDiffers.map((d) => d.column))
  const nulls = new Set(nullInRef)
  const col = (n: string, side: 'ref' | 'cur'): string => (side === 'ref' && nulls.has(n) ? `NULL AS ${quotedIdentifier(n)}` : differs.has(n) ? `CAST(${quotedIdentifier(n)} AS VARCHAR) AS ${quotedIdentifier(n)}` : quotedIdentifier(n))
  return {
    report: { compared, onlyExpected: refCols.filter((c) => !curBy.has(c.name)).map((c) => c.name), onlyCurated: [], typeDiffers },
    ref: (sql) => `(SELECT ${compared.map((n) => col(n, 'ref')).join(', ')} FROM ${sql})`,
    cur: (sql) => `(SELECT ${compared.map((n) => col(n, 'cur')).join(', ')} FROM ${sql})`,
  }
}

/** The union of the column reports of several dates (columns can join the table over time). */
function mergeColumns(a: ColumnReport, b: ColumnReport): ColumnReport {
  const union = (x: string[], y: string[]): string[] => [...x, ...y.filter((v) => !x.includes(v))]
  return {
    compared: union(a.compared, b.compared),
    onlyExpected: union(a.onlyExpected, b.onlyExpected),
    onlyCurated: union(a.onlyCurated, b.onlyCurated),
    typeDiffers: [...a.typeDiffers, ...b.typeDiffers.filter((d) => !a.typeDiffers.some((x) => x.column === d.column))],
  }
}

// ---------------------------------------------------------------- the comparison

interface CompareInput {
  date: string
  /** Both relations have the compared columns (keys included) under the same names, normalised to common types. */
  ref: string
  cur: string
  keys: string[]
  columns: string[]
  limit: number
  /**
   * Extract mode: both sides also carry `__show_<col>` (the value as stored, for the report) and the ref side
   * `__bad_<col>` (true where the extract's value is present but not readable as the curated column's type: it
   * differs whatever the curated value is).
   */
  extract: boolean
}

const CMP = '__cdc_cmp'

/** Full outer join by key: counts, then the first `limit` keys of each kind, ordered by key. */
async function compare(duck: Duck, c: CompareInput): Promise<DateCheck> {
  const keys = c.keys.map(quotedIdentifier)
  const keyList = keys.join(', ')
  const on = (a: string, b: string): string => keys.map((k) => `${a}.${k} IS NOT DISTINCT FROM ${b}.${k}`).join(' AND ')
  const diffItems = c.columns.map((n) => `CASE WHEN r.${quotedIdentifier(n)} IS DISTINCT FROM c.${quotedIdentifier(n)}${c.extract ? ` OR r.${quotedIdentifier(`__bad_${n}`)}` : ''} THEN ${quotedString(n)} END`)
  await duck.run(
    `CREATE OR REPLACE TABLE ${CMP} AS
     SELECT ${keys.map((k) => `coalesce(r.${k}, c.${k}) AS ${k}`).join(', ')},
            r.__cdc_p IS NOT NULL AS __in_ref, c.__cdc_p IS NOT NULL AS __in_cur,
            list_filter([${diffItems.join(', ')}], x -> x IS NOT NULL) AS __diffs
     FROM (SELECT *, true AS __cdc_p FROM ${c.ref}) r FULL OUTER JOIN (SELECT *, true AS __cdc_p FROM ${c.cur}) c ON ${on('r', 'c')}`,
  )
  const [n] = await duck.rows(
    `SELECT (SELECT count(*) FROM ${c.ref}) AS expected, (SELECT count(*) FROM ${c.cur}) AS curated,
            count(*) FILTER (WHERE __in_ref AND NOT __in_cur) AS missing,
            count(*) FILTER (WHERE __in_cur AND NOT __in_ref) AS extra,
            count(*) FILTER (WHERE __in_ref AND __in_cur AND len(__diffs) > 0) AS differ
     FROM ${CMP}`,
  )
  const dups = async (side: 'curated' | 'expected', rel: string): Promise<{ count: number; list: DuplicateKey[] }> => {
    const grouped = `(SELECT ${keyList}, count(*) AS __n FROM ${rel} GROUP BY ${keyList} HAVING count(*) > 1)`
    const count = Number(await duck.value(`SELECT count(*) FROM ${grouped}`))
    const list = count === 0 || c.limit === 0 ? [] : (await duck.rows(`SELECT * FROM ${grouped} ORDER BY ${keyList} LIMIT ${c.limit}`)).map(({ __n, ...key }) => ({ key, side, copies: Number(__n) }))
    return { count, list }
  }
  const dCur = await dups('curated', c.cur)
  const dRef = await dups('expected', c.ref)
  const take = async (where: string): Promise<Row[]> => (c.limit === 0 ? [] : duck.rows(`SELECT ${keyList} FROM ${CMP} WHERE ${where} ORDER BY ${keyList} LIMIT ${c.limit}`))
  const missingKeys = await take('__in_ref AND NOT __in_cur')
  const extraKeys = await take('__in_cur AND NOT __in_ref')
  const differing: RowDiff[] = []
  if (c.limit > 0 && Number(n!.differ) > 0) {
    const first = `(SELECT ${keyList}, __diffs FROM ${CMP} WHERE __in_ref AND __in_cur AND len(__diffs) > 0 ORDER BY ${keyList} LIMIT ${c.limit})`
    const show = (side: 'r' | 'c', col: string): string => `${side}.${quotedIdentifier(c.extract ? `__show_${col}` : col)}`
    const rows = await duck.rows(
      `SELECT ${keys.map((k) => `d.${k}`).join(', ')}, d.__diffs,
              ${c.columns.map((col, i) => `${show('r', col)} AS __r${i}, ${show('c', col)} AS __c${i}`).join(', ')}
       FROM ${first} d JOIN ${c.ref} r ON ${on('r', 'd')} JOIN ${c.cur} c ON ${on('c', 'd')}
       ORDER BY ${keys.map((k) => `d.${k}`).join(', ')}`,
    )
    const seen = new Set<string>()
    for (const r of rows) {
      const key: Row = Object.fromEntries(c.keys.map((k) => [k, r[k] ?? null]))
      const id = JSON.stringify(key)
      if (seen.has(id)) continue // a duplicated key: shown once
      seen.add(id)
      const diffs = (r.__diffs as string[] | null) ?? []
      differing.push({
        key,
        columns: diffs.map((col) => {
          const i = c.columns.indexOf(col)
          return { column: col, expected: r[`__r${i}`] ?? null, curated: r[`__c${i}`] ?? null }
        }),
      })
    }
  }
  await duck.run(`DROP TABLE ${CMP}`)
  const dc: DateCheck = {
    date: c.date,
    verdict: 'equal',
    snapshotMissing: false,
    expectedRows: Number(n!.expected),
    curatedRows: Number(n!.curated),
    missing: Number(n!.missing),
    extra: Number(n!.extra),
    differ: Number(n!.differ),
    duplicates: dCur.count + dRef.count,
    missingKeys,
    extraKeys,
    differing,
    duplicateKeys: [...dCur.list, ...dRef.list],
  }
  if (dc.missing + dc.extra + dc.differ + dc.duplicates > 0) dc.verdict = 'mismatch'
  return dc
}

// ---------------------------------------------------------------- against an extract

async function verifyAgainst(config: Config, t: TableConfig, curatedStore: ObjectStore, against: string, opts: VerifyOptions, limit: number, check: TableCheck): Promise<void> {
  const label = `${t.source}.${t.name}`
  const curDates = await listPartitions(curatedStore, t, opts.signal)
  const cur = [...curDates.keys()]
  if (cur.length === 0) throw missingSnapshot(label, 'every curated partition', curatedStore.url, 'run cdc-apply first: --against compares a curated snapshot with the extract')
  const date = opts.date ?? cur.at(-1)!
  const curKeys = curDates.get(date)
  if (curKeys === undefined) {
    throw new DataError('CDC_SNAPSHOT_MISSING', `table ${label}: there is no curated snapshot of ${date} in ${curatedStore.url}; the table's snapshots span ${cur[0]}..${cur.at(-1)}`, {
      table: label,
      hint: 'pick a date in that span, or omit --date to use the newest snapshot',
    })
  }
  const duck = await Duck.open({ storage: 'file', prefix: 'cdc-apply-verify-' })
  try {
    const ext = await openExtract(config, duck, against, opts.baseDir ?? process.cwd(), opts.signal)
    try {
      const curFiles = await localPaths(curatedStore, curKeys, join(duck.tmp, 'curated', date), opts.signal)
      const curSql = `(SELECT * FROM ${readParquetSql(curFiles.paths)})`
      const curCols = (await duck.describe(`SELECT * FROM ${curSql}`)).filter((c) => c.name !== META.file && c.name !== META.row)
      const extCols = await duck.describe(`SELECT * FROM ${ext.sql}`)
      const plan = extractPlan(curCols, extCols, t.primaryKey, label, against)
      check.columns = plan.report
      // The extract is parsed and normalised once, not once per query of the comparison.
      await duck.run(`CREATE TABLE __cdc_extract AS SELECT * FROM ${plan.ref(ext.sql)}`)
      const dc = await compare(duck, { date, ref: '__cdc_extract', cur: plan.cur(curSql), keys: t.primaryKey, columns: plan.report.compared, limit, extract: true })
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
      throw new UsageError('CDC_USAGE', `table ${label}: the extract ${JSON.stringify(against)} has no column for primary-key column ${JSON.stringify(k)} (its columns: ${extCols.map((c) => c.name).join(', ')})`, {
        table: label,
        hint: 'the extract must carry the primary key under the same column names (case-insensitive); CSV extracts need a header row',
      })
    }
  }
  const compared = curCols.filter((c) => match.has(c.name)).map((c) => c.name)
  const curType = new Map(curCols.map((c) => [c.name, c.type]))
  const isKey = new Set(pk)
  const normCur = (n: string): string => (isKey.has(n) ? quotedIdentifier(n) : curatedNorm(quotedIdentifier(n), curType.get(n)!))
  const normExt = (n: string): string => {
    const e = match.get(n)!
    return isKey.has(n) ? keyNorm(quotedIdentifier(e.name), e.type, curType.get(n)!) : extractNorm(quotedIdentifier(e.name), e.type, curType.get(n)!)
  }
  return {
    report: {
      compared,
      onlyExpected: extCols.filter((e) => !used.has(e.name)).map((e) => e.name),
      onlyCurated: curCols.filter((c) => !match.has(c.name)).map((c) => c.name),
      typeDiffers: [],
    },
    cur: (sql) => `(SELECT ${compared.map((n) => `${normCur(n)} AS ${quotedIdentifier(n)}, ${quotedIdentifier(n)} AS ${quotedIdentifier(`__show_${n}`)}`).join(', ')} FROM ${sql})`,
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
    return t ? `coalesce(TRY_CAST(${t} AS ${num}), TRY_CAST(TRY_CAST(${t} AS DOUBLE) AS ${num}))` : `TRY_CAST(${col} AS ${num})`
  }
  if (curType.startsWith('TIMESTAMP')) return text ? `TRY_CAST(TRY_CAST(trim(${col}) AS TIMESTAMPTZ) AS TIMESTAMP)` : `TRY_CAST(${col} AS TIMESTAMP)`
  if (curType === 'DATE') return text ? `coalesce(TRY_CAST(trim(${col}) AS DATE), TRY_CAST(TRY_CAST(trim(${col}) AS TIMESTAMP) AS DATE))` : `TRY_CAST(${col} AS DATE)`
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
async function openExtract(config: Config, duck: Duck, location: string, baseDir: string, signal?: AbortSignal): Promise<{ sql: string; cleanup: () => Promise<void> }> {
  let paths: string[]
  let cleanup = async (): Promise<void> => undefined
  if (location.startsWith('s3://')) {
    const trimmed = location.replace(/\/+$/, '')
    const slash = trimmed.lastIndexOf('/')
    const parent = slash > 's3://'.length ? trimmed.slice(0, slash) : trimmed
    const name = slash > 's3://'.length ? trimmed.slice(slash + 1) : ''
    const store = await openStore(parent, { baseDir, ...(config.s3 ? { s3: config.s3 } : {}) })
    try {
      const keys: string[] = []
      for await (const o of store.list(name, signal ? { signal } : {})) if (o.key === name || name === '' || o.key.startsWith(`${name}/`)) keys.push(o.key)
      const single = keys.includes(name) ? [name] : keys.filter(isDataFile)
      const files = await localPaths(store, single, join(duck.tmp, 'extract'), signal)
      paths = files.paths
      cleanup = files.cleanup
    } finally {
      await store.close()
    }
  } else {
    const abs = resolve(baseDir, location)
    if (!existsSync(abs)) throw new UsageError('CDC_USAGE', `--against ${JSON.stringify(location)} does not exist (looked for ${abs})`, { hint: 'give a CSV or Parquet file or a folder of them, local or s3://' })
    paths = statSync(abs).isDirectory() ? walk(abs).filter(isDataFile).sort() : [abs]
  }
  if (paths.length === 0) throw new UsageError('CDC_USAGE', `--against ${JSON.stringify(location)} holds no .csv, .csv.gz or .parquet file`, { hint: 'give a CSV or Parquet file or a folder of them, local or s3://' })
  const parquet = paths.filter((p) => /\.parquet$/i.test(p))
  if (parquet.length > 0 && parquet.length < paths.length) throw new UsageError('CDC_USAGE', `--against ${JSON.stringify(location)} mixes CSV and Parquet files`, { hint: 'point --against at files of one format' })
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

// ---------------------------------------------------------------- verify_runs in the state file

/** Records the table's outcome (one row per table: the last verify) when the state file exists. */
function recordCheck(statePath: string, c: TableCheck): void {
  const dates = c.dates.map((d) => d.date)
  const date = dates.length === 0 ? '' : dates.length === 1 ? dates[0]! : `${dates[0]}..${dates.at(-1)}`
  const sum = (f: (d: DateCheck) => number): number => c.dates.reduce((a, d) => a + f(d), 0)
  recordVerify(statePath, { source: c.source, table: c.table, date, verdict: c.verdict, missing: sum((d) => d.missing), extra: sum((d) => d.extra), differ: sum((d) => d.differ), against: c.against ?? null })
}
