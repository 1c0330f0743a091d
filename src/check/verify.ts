// `cdc-apply verify`: is the curated table right? Either recompute every curated snapshot independently from RAW
// with DuckDB SQL (raw-state.ts: the documented ordering chain, not the code that wrote it), or compare a curated
// snapshot with an extract of the source table (extract.ts). Both end in the same comparison by primary key
// (compare.ts): counts, keys missing, keys extra, keys whose values differ, and a verdict per table. This file holds
// the orchestration and RAW mode. See docs/verify.md.
import { join } from 'node:path'
import { CdcError, ConfigError, DataError, UsageError } from '../errors.js'
import { tableLabel, resolveLocal, type Config, type TableConfig } from '../config.js'
import { errFields, silentLogger, type Logger } from '../log.js'
import { dateRange } from '../dates.js'
import type { ObjectStore } from '../store/object-store.js'
import { openZone } from '../store/open-store.js'
import { readLedger, recordVerify } from '../state/index.js'
import { findTable } from '../table-glob.js'
import { Duck, quotedIdentifier, readParquetSql, type Column } from './duck.js'
import { listPartitions, localPaths } from './partitions.js'
import { curatedDates, type CuratedDates, type LocalFiles } from './curated-dates.js'
import { KeyedRawState } from './raw-state.js'
import {
  compare,
  emptyDate,
  mergeColumns,
  missingSnapshot,
  type ColumnReport,
  type DateCheck,
  type Plan,
  type Verdict,
} from './compare.js'
import { verifyAgainst } from './extract.js'

export { lastVerify, type VerifyRun } from '../state/index.js'
export type { ColumnReport, DateCheck, DuplicateKey, RowDiff, ValueDiff, Verdict } from './compare.js'

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
  if (!Number.isInteger(limit) || limit < 0)
    throw new UsageError('CDC_USAGE', `--limit must be a whole number >= 0, got ${JSON.stringify(opts.limit)}`, {
      hint: "see 'cdc-apply verify --help'",
    })
  if (opts.date !== undefined && !validDate(opts.date))
    throw new UsageError('CDC_USAGE', `--date must be a calendar date YYYYMMDD, got ${JSON.stringify(opts.date)}`, {
      hint: "see 'cdc-apply verify --help'",
    })
  let tables: TableConfig[]
  if (opts.table !== undefined) tables = [findTable(config, opts.table)]
  else if (opts.against !== undefined && config.tables.length !== 1) {
    throw new UsageError(
      'CDC_USAGE',
      `--against compares one table: add --table (one of ${config.tables.map((t) => tableLabel(t)).join(', ')})`,
      { hint: "see 'cdc-apply verify --help'" },
    )
  } else tables = config.tables
  const rawStore = await openZone(config, 'raw')
  const curatedStore = await openZone(config, 'curated')
  const statePath = resolveLocal(config, config.state)
  const out: TableCheck[] = []
  try {
    for (const t of tables) {
      opts.signal?.throwIfAborted()
      const label = tableLabel(t)
      const check = emptyCheck(t, opts.against)
      const tlog = log.child({ table: label })
      const t0 = Date.now()
      try {
        // the date folders, or an Iceberg table's date tags (and its live table)
        const curated = await curatedDates(config, curatedStore, t, opts.signal)
        if (opts.against !== undefined) await verifyAgainst(config, t, curated, opts.against, opts, limit, check)
        else await verifyRaw(t, rawStore, curated, statePath, opts, limit, check, tlog)
      } catch (err) {
        // Wrong arguments are the caller's, not the table's: stop.
        if (opts.signal?.aborted || err instanceof UsageError || err instanceof ConfigError) throw err
        check.verdict = 'error'
        check.error = err as Error
        tlog.error(errFields(err), 'table not verified')
      }
      check.ms = Date.now() - t0
      if (check.verdict !== 'error' && check.verdict !== 'skipped')
        check.verdict =
          check.dates.some((d) => d.verdict === 'mismatch') || schemaMismatch(check) ? 'mismatch' : 'equal'
      tlog.info(
        {
          verdict: check.verdict,
          dates: check.dates.length,
          mismatched: check.dates.filter((d) => d.verdict === 'mismatch').length,
          ms: check.ms,
        },
        'table verified',
      )
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
  const verdict = out.some((t) => t.verdict === 'mismatch')
    ? 'mismatch'
    : out.some((t) => t.verdict === 'error')
      ? 'error'
      : 'equal'
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
  return (
    c.mode === 'raw' &&
    (c.columns.onlyExpected.length > 0 || c.columns.onlyCurated.length > 0 || c.columns.typeDiffers.length > 0)
  )
}

function validDate(d: string): boolean {
  if (!/^\d{8}$/.test(d)) return false
  const dt = new Date(Date.UTC(Number(d.slice(0, 4)), Number(d.slice(4, 6)) - 1, Number(d.slice(6, 8))))
  return dt.toISOString().slice(0, 10).replaceAll('-', '') === d
}

// ---------------------------------------------------------------- against RAW

async function verifyRaw(
  t: TableConfig,
  rawStore: ObjectStore,
  curated: CuratedDates,
  statePath: string,
  opts: VerifyOptions,
  limit: number,
  check: TableCheck,
  log: Logger,
): Promise<void> {
  const label = tableLabel(t)
  const rawDates = await listPartitions(rawStore, t, opts.signal)
  const curDates = curated.dates
  const ledger = readLedger(statePath, t)
  const reprocess = `the output was removed or never written; reprocess the table (cdc-apply reset --table ${label}, then run)`
  if (rawDates.size === 0 && curDates.size === 0) {
    if (ledger)
      throw missingSnapshot(label, 'every RAW and curated partition', `${rawStore.url} and ${curated.url}`, reprocess)
    check.verdict = 'skipped'
    check.note = 'no RAW or curated output yet (the table was never run)'
    return
  }
  if (rawDates.size === 0) throw missingSnapshot(label, 'every RAW partition', rawStore.url, reprocess)
  for (const d of ledger?.rawDates ?? []) {
    if (!rawDates.has(d))
      throw missingSnapshot(
        label,
        `the RAW partition of ${d} (the state file lists files processed into it)`,
        rawStore.url,
        reprocess,
      )
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
      throw new DataError(
        'CDC_SNAPSHOT_MISSING',
        `table ${label}: there is no curated snapshot of ${opts.date} in ${curated.url}; the table's snapshots span ${cur[0] ?? firstRaw}..${cur.at(-1) ?? lastRaw}`,
        {
          table: label,
          hint: 'pick a date in that span, or omit --date to check every date',
        },
      )
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
      if (!curDates.has(date)) {
        if (date < firstRaw || date > lastRaw) continue
        // Every date from the load date to the newest file's date must have a curated snapshot.
        const dc = await missingPartition(duck, state, t, date, limit)
        check.dates.push(dc)
        log.info({ date, verdict: dc.verdict, snapshotMissing: true }, 'date verified')
        continue
      }
      const refs: [string | undefined, LocalFiles | undefined][] = [
        [curDates.get(date)![0], await curated.files(date, join(duck.tmp, 'curated', date), opts.signal)],
      ]
      // an Iceberg table's live table is the newest date's rows too (it is that tag's snapshot unless a commit
      // after the tag left it elsewhere)
      if (curated.live && date === cur.at(-1))
        refs.push(['main', await curated.live(join(duck.tmp, 'curated', 'main'), opts.signal)])
      for (const [ref, files] of refs) {
        if (!files) continue
        const curSql = `(SELECT * FROM ${readParquetSql(files.paths)})`
        const curCols = await duck.describe(`SELECT * FROM ${curSql}`)
        const refCols = state.empty ? curCols : state.liveColumns()
        const refSql = state.empty ? `(SELECT * FROM ${curSql} WHERE false)` : state.liveSql()
        const plan = rawPlan(refCols, curCols, t.primaryKey, label)
        check.columns = mergeColumns(check.columns, plan.report)
        const dc = await compare(duck, {
          date,
          ref: plan.ref(refSql),
          cur: plan.cur(curSql),
          keys: t.primaryKey,
          columns: plan.report.compared,
          limit,
          extract: false,
        })
        await files.cleanup()
        if (t.tableFormat === 'iceberg' && ref !== undefined) dc.ref = ref
        check.dates.push(dc)
        log.info(
          {
            date,
            ...(dc.ref !== undefined ? { ref: dc.ref } : {}),
            verdict: dc.verdict,
            expected: dc.expectedRows,
            curated: dc.curatedRows,
            missing: dc.missing,
            extra: dc.extra,
            differ: dc.differ,
          },
          'date verified',
        )
      }
    }
  } finally {
    await duck.close()
  }
}

/** A date the table spans without a curated partition: every recomputed row is missing. */
async function missingPartition(
  duck: Duck,
  state: KeyedRawState,
  t: TableConfig,
  date: string,
  limit: number,
): Promise<DateCheck> {
  const keys = t.primaryKey.map(quotedIdentifier).join(', ')
  const live = state.empty ? 0 : Number(await duck.value(`SELECT count(*) FROM ${state.liveSql()}`))
  const missingKeys =
    state.empty || limit === 0
      ? []
      : await duck.rows(`SELECT ${keys} FROM ${state.liveSql()} ORDER BY ${keys} LIMIT ${limit}`)
  return {
    ...emptyDate(date),
    verdict: 'mismatch',
    snapshotMissing: true,
    expectedRows: live,
    missing: live,
    missingKeys,
  }
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
    if (!curBy.has(k))
      throw new DataError(
        'CDC_SCHEMA_MISMATCH',
        `table ${label}: primary-key column ${JSON.stringify(k)} is missing from the curated snapshot`,
        {
          table: label,
          column: k,
          hint: 'the curated output was not written by this cdc-apply or was damaged; reprocess the table',
        },
      )
  }
  const differs = new Set(typeDiffers.map((d) => d.column))
  const nulls = new Set(nullInRef)
  const col = (n: string, side: 'ref' | 'cur'): string =>
    side === 'ref' && nulls.has(n)
      ? `NULL AS ${quotedIdentifier(n)}`
      : differs.has(n)
        ? `CAST(${quotedIdentifier(n)} AS VARCHAR) AS ${quotedIdentifier(n)}`
        : quotedIdentifier(n)
  return {
    report: {
      compared,
      onlyExpected: refCols.filter((c) => !curBy.has(c.name)).map((c) => c.name),
      onlyCurated: [],
      typeDiffers,
    },
    ref: (sql) => `(SELECT ${compared.map((n) => col(n, 'ref')).join(', ')} FROM ${sql})`,
    cur: (sql) => `(SELECT ${compared.map((n) => col(n, 'cur')).join(', ')} FROM ${sql})`,
  }
}

// ---------------------------------------------------------------- verify_runs in the state file

/** Records the table's outcome (one row per table: the last verify) when the state file exists. */
function recordCheck(statePath: string, c: TableCheck): void {
  const dates = c.dates.map((d) => d.date)
  const date = dates.length === 0 ? '' : dates.length === 1 ? dates[0]! : `${dates[0]}..${dates.at(-1)}`
  const sum = (f: (d: DateCheck) => number): number => c.dates.reduce((a, d) => a + f(d), 0)
  recordVerify(statePath, {
    source: c.source,
    table: c.table,
    date,
    verdict: c.verdict,
    missing: sum((d) => d.missing),
    extra: sum((d) => d.extra),
    differ: sum((d) => d.differ),
    against: c.against ?? null,
  })
}
