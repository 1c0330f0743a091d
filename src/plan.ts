// What one run of a table does, decided from its watermark, its ledger and the listing of its folder: which files
// to read, which dates to write and which watermark each commit moves to, or why the run stops or has nothing to do.
// Pure: no store, no state file, no clock (docs/semantics.md, "The watermark state machine").
import { DataError, WatermarkError, type CdcError } from './errors.js'
import type { TableConfig } from './config.js'
import type { Discovery } from './discover.js'
import { isNoChangeFileLpf, lpfDate, noChangeFileLpf, partitionDate, timeOfName, type DmsFile } from './dms-names.js'
import type { ProcessedFile, Watermark } from './state/index.js'
import { dateRange } from './dates.js'
import { dropSuperseded, ledgerCheck, unchangedSinceLedger } from './reconcile.js'

export interface PlanInput {
  /** `Source.TableName`. */
  label: string
  table: Pick<TableConfig, 'source' | 'name' | 'onReload' | 'lateFiles'>
  /** The committed watermark; undefined for a table never committed. */
  watermark: Watermark | undefined
  /** The table's ledger (processed_files); undefined without a watermark or after an incremental listing. */
  ledger: ProcessedFile[] | undefined
  /** The settled DMS files of the table's folder. */
  listing: Pick<Discovery, 'load' | 'cdc'>
  /** Watch mode holds the table's state in memory as of the committed LPF. */
  warm: boolean
  /** MD5 of the landing objects the ledger check must hash (reconcile.ts, `filesToHash`), by stem. */
  hashes: ReadonlyMap<string, string>
}

/** A log line the plan asks for (the plan itself never logs). */
export interface Notice {
  fields: object
  msg: string
}

/** What the run reads and applies, for progress: objects and their bytes (sizes from the listing). */
export interface Todo {
  files: number
  bytes: number
}

export type TablePlan = StopPlan | UnchangedPlan | LoadPlan | DatesPlan

/** The run changes nothing and fails the table. */
export interface StopPlan {
  kind: 'stop'
  error: CdcError
  /** The stop came after the state was taken from watch mode's memory (the run's schema is the memory's). */
  fromMemory?: boolean
}

/** Nothing to do (status `unchanged`). */
export interface UnchangedPlan {
  kind: 'unchanged'
  why: 'ledger' | 'caught-up' | 'no-change-file'
  /** The watermark the table stays at. */
  watermark: Watermark
  /** The state kept in memory (watch mode) is still the table's. */
  fromMemory: boolean
  /** The files the decision saw (superseded ones left out). */
  listing: Pick<Discovery, 'load' | 'cdc'>
  notices: Notice[]
}

/**
 * No watermark, or the load date is not over (FullLoad False), or a reload or late files reset the table: the load
 * date is processed whole. Its date comes from the full-load data (load-date.ts), then `planLoadDate` says which
 * change files join it and `planDates` which dates follow.
 */
export interface LoadPlan {
  kind: 'load'
  /** The watermark the run starts from: undefined for a table never committed or reset by a reload or late files. */
  watermark: Watermark | undefined
  load: DmsFile[]
  /** Every change file, dated by its name. */
  cdc: DmsFile[]
  /** Change files written before a table reload: recorded as superseded in the ledger, never applied. */
  superseded: DmsFile[]
  notices: Notice[]
  todo: Todo
}

/** FullLoad True (or a warm FullLoad False): every date from the LPF's date through the newest file's date. */
export interface DatesPlan {
  kind: 'dates'
  /** The watermark the run starts from. */
  watermark: Watermark
  /** The state comes from watch mode's memory; otherwise it is restored from the LPF date's curated snapshot. */
  fromMemory: boolean
  /** The LPF's partition date: the date the state is restored as of. */
  lpfDate: string
  load: DmsFile[]
  /** Every change file, dated by its partition date (`partitionDate`). */
  cdc: DmsFile[]
  /** The newest change file's date: a later date than a commit's says that commit's date is over. */
  newestDate: string
  dates: DatePlan[]
  notices: Notice[]
  todo: Todo
}

/** One date of a DatesPlan, in order. */
export interface DatePlan {
  date: string
  /** Files of the date named after the LPF: applied, and written to RAW as new parts (files already processed are not read). */
  fresh: DmsFile[]
  /** The watermark committed after the date's writes; undefined for a date without files (curated only, no commit). */
  watermark: Watermark | undefined
}

/** The state machine of one table's run. */
export function planTable(input: PlanInput): TablePlan {
  const { label, table: t, ledger, warm } = input
  let wm = input.watermark
  let listing = input.listing
  const notices: Notice[] = []
  let superseded: DmsFile[] = []
  if (ledger) listing = dropSuperseded(listing, ledger)
  if (wm && wm.fullLoad && ledger) {
    const check = ledgerCheck(wm, listing, ledger, input.hashes)
    if (check.reload.length > 0) {
      const names = check.reload.map((f) => f.key).join(', ')
      if (t.onReload === 'fail') {
        return stop(
          new DataError(
            'CDC_RELOAD_DETECTED',
            `table ${label}: a new or rewritten full load (${names}) arrived after the table was loaded; a DMS table reload`,
            {
              table: label,
              file: check.reload[0]!.key,
              hint:
                'set the table\'s onReload to "reset" to rebuild it from the new load, or run cdc-apply reset --table ' +
                label,
            },
          ),
        )
      }
      // Rebuild from the new load: change files written before it are superseded by it.
      const since = Math.min(...check.reload.map((f) => f.lastModified.getTime()))
      superseded = listing.cdc.filter((f) => (timeOfName(f.stem) ?? 0) < since)
      listing = { ...listing, cdc: listing.cdc.filter((f) => (timeOfName(f.stem) ?? 0) >= since) }
      notices.push({
        fields: { load: names, superseded: superseded.length },
        msg: 'table reload: rebuilding from the new full load',
      })
      wm = undefined
    } else if (check.late.length > 0) {
      const names = check.late.map((f) => f.key).join(', ')
      if (t.lateFiles === 'fail') {
        return stop(
          new DataError(
            'CDC_LATE_FILE',
            `table ${label}: ${check.late.length} change file(s) at or before the last processed file ${wm.lpf} arrived late or changed: ${names}`,
            {
              table: label,
              file: check.late[0]!.key,
              hint: 'set the table\'s lateFiles to "reprocess" to rebuild the table with them, or remove them',
            },
          ),
        )
      }
      notices.push({ fields: { late: names }, msg: 'late files: reprocessing the table from its full load' })
      wm = undefined
    }
  }
  const fromMemory = warm && wm !== undefined
  const pending = !wm || !wm.fullLoad ? [...listing.load, ...listing.cdc] : listing.cdc.filter((f) => f.stem > wm!.lpf)
  const todo = { files: pending.length, bytes: pending.reduce((n, f) => n + f.size, 0) }

  if (wm && !wm.fullLoad && !warm && unchangedSinceLedger(ledger ?? [], listing))
    return { kind: 'unchanged', why: 'ledger', watermark: wm, fromMemory, listing, notices }
  if (!wm || (!wm.fullLoad && !warm)) {
    // No watermark, or the full load's date is not over yet: (re)process the load date whole.
    if (wm && !wm.fullLoad) {
      // Redoing the load date: every file the last redo processed must still be there.
      const present = new Set([...listing.load, ...listing.cdc].map((f) => f.stem))
      const gone = (ledger ?? []).filter((f) => !f.superseded && !present.has(f.file))
      if (gone.length > 0) {
        return stop(
          new WatermarkError(
            'CDC_LANDING_BEHIND_WATERMARK',
            `table ${label}: ${gone.length} processed file(s) of the load date vanished from the landing (${gone.map((f) => f.key).join(', ')}); the last processed file is ${wm.lpf}`,
            {
              table: label,
              file: gone[0]!.key,
              hint: 'files vanished from the landing or clocks went back; nothing was changed. Restore them, or reprocess the table with cdc-apply reset',
            },
          ),
        )
      }
    }
    if (wm && ledger) {
      // The redo rewrites the ledger: change files an earlier reload superseded stay recorded as superseded (else a
      // later run would take them for late files).
      const before = new Set(ledger.filter((f) => f.superseded === true).map((f) => f.file))
      superseded = input.listing.cdc.filter((f) => before.has(f.stem))
    }
    return { kind: 'load', watermark: wm, load: listing.load, cdc: listing.cdc, superseded, notices, todo }
  }
  const dates = planDates(label, wm, listing, fromMemory)
  return dates.kind === 'dates'
    ? { ...dates, notices, todo }
    : dates.kind === 'unchanged'
      ? { ...dates, notices }
      : dates
}

/** The load date's share of a LoadPlan once the load date is known: the change files that join it and the watermark. */
export interface LoadDatePlan {
  loadDate: string
  /** Change files dated on or before the load date: applied with the full load, into the load date's partitions. */
  first: DmsFile[]
  /** The watermark committed after the load date; FullLoad True when change files of later dates exist. */
  watermark: Watermark
  /** Change files of later dates exist: the same run goes on with `planDates(label, watermark, ...)`. */
  later: boolean
}

export function planLoadDate(t: Pick<TableConfig, 'source' | 'name'>, loadDate: string, cdc: DmsFile[]): LoadDatePlan {
  const first = cdc.filter((f) => f.date <= loadDate)
  const later = cdc.some((f) => f.date > loadDate)
  const watermark = {
    source: t.source,
    table: t.name,
    fullLoad: later,
    lpf: first.at(-1)?.stem ?? noChangeFileLpf(loadDate),
    loadDate,
  }
  return { loadDate, first, watermark, later }
}

/** CDC: every date from the LPF's date through the newest file's date, each with its files and its commit. */
export function planDates(
  label: string,
  wm: Watermark,
  listing: Pick<Discovery, 'load' | 'cdc'>,
  fromMemory: boolean,
): Omit<DatesPlan, 'notices' | 'todo'> | Omit<UnchangedPlan, 'notices'> | StopPlan {
  const loadDate = wm.loadDate
  const cdc = listing.cdc.some((f) => f.date < loadDate)
    ? listing.cdc.map((f) => ({ ...f, date: partitionDate(f.date, loadDate) }))
    : listing.cdc
  const newest = cdc.at(-1)
  const lpf = wm.lpf
  if (newest === undefined || newest.stem < lpf) {
    if (newest === undefined && isNoChangeFileLpf(lpf))
      return { kind: 'unchanged', why: 'no-change-file', watermark: wm, fromMemory, listing }
    const error = new WatermarkError(
      'CDC_LANDING_BEHIND_WATERMARK',
      `table ${label}: the newest change file ${newest ? newest.stem : '(none)'} is older than the last processed file ${lpf}`,
      {
        table: label,
        hint: 'files vanished from the landing or clocks went back; nothing was changed. Restore the files, or reprocess the table with cdc-apply reset',
      },
    )
    return { kind: 'stop', error, fromMemory }
  }
  if (newest.stem === lpf) return { kind: 'unchanged', why: 'caught-up', watermark: wm, fromMemory, listing }
  const from = lpfDate(wm)
  const fresh = cdc.filter((f) => f.stem > lpf)
  const dates: DatePlan[] = []
  let next = wm
  for (const date of dateRange(from, newest.date)) {
    const newFiles = fresh.filter((f) => f.date === date)
    if (newFiles.length === 0) {
      if (date !== from) dates.push({ date, fresh: [], watermark: undefined })
      continue
    }
    next = { ...next, fullLoad: next.fullLoad || date > loadDate, lpf: newFiles.at(-1)!.stem }
    dates.push({ date, fresh: newFiles, watermark: next })
  }
  return {
    kind: 'dates',
    watermark: wm,
    fromMemory,
    lpfDate: from,
    load: listing.load,
    cdc,
    newestDate: newest.date,
    dates,
  }
}

function stop(error: CdcError): StopPlan {
  return { kind: 'stop', error }
}
