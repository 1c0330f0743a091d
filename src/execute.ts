// Carries out a table's plan (plan.ts): read → apply → write RAW and curated → commit the watermark, date by date,
// and returns what it did: the counts, the dates written and the last watermark committed.
import pLimit from 'p-limit'
import { WriteError } from './errors.js'
import type { Config, TableConfig } from './config.js'
import type { DmsFile } from './dms-names.js'
import type { Rejected } from './rejected.js'
import { PIECE_BYTES, readObjects } from './read-object.js'
import type { ChangeBatch, TableSchema } from './batch.js'
import { KeyedState, type ApplyCounts } from './apply.js'
import { curatedSchema } from './write.js'
import type { RawSink } from './raw-sink.js'
import { RawSide } from './raw-side.js'
import { stateRows, type CuratedPut, type CuratedSink } from './curated-sink.js'
import type { ProcessedFile, RawCommit, StateStore, Watermark } from './state/index.js'
import type { Logger } from './log.js'
import { joinKey, objectChunks } from './store/object-store.js'
import { faultPoint } from './fault.js'
import { fingerprintOf } from './fingerprint.js'
import { markerFor, writeMarker } from './marker.js'
import { loadDateOf } from './load-date.js'
import { lpfDate } from './dms-names.js'
import { planDates, planLoadDate, type DatePlan, type DatesPlan, type LoadPlan } from './plan.js'
import { restoreCommitted } from './restore.js'
import type { ProgressEvent, Stores } from './run.js'

/** What a table's run did; filled as it goes, so that a failure still reports the work committed before it. */
export interface Outcome {
  files: number
  rows: number
  inserts: number
  updates: number
  deletes: number
  stale: number
  quarantined: number
  liveRows: number | undefined
  rawDates: string[]
  curatedDates: string[]
  /** The last watermark committed by this run; undefined while none was. */
  committed: Watermark | undefined
}

export function emptyOutcome(): Outcome {
  return {
    files: 0,
    rows: 0,
    inserts: 0,
    updates: 0,
    deletes: 0,
    stale: 0,
    quarantined: 0,
    liveRows: undefined,
    rawDates: [],
    curatedDates: [],
    committed: undefined,
  }
}

/** The context of one table's run: its stores, state file, settings, and what it has read so far. */
export class TableRun {
  schema: TableSchema | undefined
  /** MD5 of each object read in this run, recorded in the ledger to tell a rewritten object from a copied one. */
  checksums = new Map<string, string>()
  /** Rows set aside per file (stem) under onBadRow "quarantine". */
  rejected = new Map<string, Rejected[]>()
  filesTotal = 0
  bytesTotal = 0
  bytesDone = 0
  readonly outcome = emptyOutcome()
  /** Where RAW goes (raw-side.ts): date folders or the RAW Iceberg table. */
  readonly raw: RawSide = new RawSide(this)
  /** RAW is an Iceberg table (raw-side.ts's isIceberg). */
  get rawIsIceberg(): boolean {
    return this.raw.isIceberg
  }
  constructor(
    readonly config: Config,
    readonly stores: Stores,
    readonly state: StateStore,
    readonly t: TableConfig,
    readonly label: string,
    readonly signal: AbortSignal | undefined,
    readonly log: Logger,
    /** Where curated snapshots go: a Parquet folder per date or an Iceberg table (tableFormat). */
    readonly curated: CuratedSink,
    schema: TableSchema | undefined,
    readonly onProgress: ((event: ProgressEvent) => void) | undefined,
  ) {
    this.schema = schema
  }

  partition(date: string): string {
    return joinKey(this.t.source, this.t.name, date)
  }

  /** Reads `files` whole (readEach), into a map. */
  async read(files: DmsFile[]): Promise<Map<DmsFile, ChangeBatch[]>> {
    const out = new Map<DmsFile, ChangeBatch[]>()
    for await (const [f, batches] of this.readEach(files)) out.set(f, batches)
    return out
  }

  /**
   * Decodes `files` in order, one at a time, fetching small objects with bounded concurrency a few files ahead.
   * Objects larger than one CSV piece are streamed when their turn comes, so that memory holds one large object's
   * pieces at a time, not its bytes; the caller drops a file's batches once it has written and applied them.
   */
  async *readEach(files: DmsFile[]): AsyncGenerator<[DmsFile, ChangeBatch[]]> {
    const ahead = Math.max(1, this.config.concurrency.prefetch) * 2
    const limit = pLimit(this.config.concurrency.prefetch)
    const signal = this.signal
    const bodies: (Promise<Uint8Array> | undefined)[] = []
    const fetchUpTo = (n: number): void => {
      for (let i = bodies.length; i < Math.min(n, files.length); i++) {
        const f = files[i]!
        const p = f.size > PIECE_BYTES ? undefined : limit(() => this.stores.landing.get(f.key, { signal }))
        p?.catch(() => undefined) // rejections are handled when awaited
        bodies.push(p)
      }
    }
    // Bodies are fetched a few files ahead of the one being decoded; readObjects decodes small objects ahead in
    // worker threads (read-object.ts) and yields them in order.
    const sources = files.map((f, i) => ({
      file: f,
      ahead: f.size <= PIECE_BYTES,
      chunks: () => {
        fetchUpTo(i + ahead)
        const body = bodies[i]
        bodies[i] = undefined
        return body
          ? (async function* () {
              yield await body
            })()
          : objectChunks(this.stores.landing, f.key, { signal })
      },
    }))
    let i = 0
    signal?.throwIfAborted()
    for await (const r of readObjects(this.t, sources, this.schema, this.config.limits)) {
      signal?.throwIfAborted()
      const f = files[i++]!
      this.checksums.set(f.stem, r.checksum)
      this.schema = r.schema
      this.rejected.set(f.stem, r.rejected)
      yield [f, r.batches]
    }
    faultPoint('after-read')
  }

  /**
   * Starts a date's curated write: takes the snapshot and starts encoding now (large parts in worker threads), so
   * `state` may move on at once; `put` writes the partition once the bytes are there. (RAW is written by a RawSink.)
   */
  startDate(
    date: string,
    changed: boolean,
    state: KeyedState,
    wm?: Watermark,
    rebuilt = false,
  ): { put: () => Promise<void> } {
    const curated = this.encodeCurated(date, state, changed, rebuilt)
    return { put: () => this.putCurated(date, curated, wm) }
  }

  private encodeCurated(date: string, state: KeyedState, changed: boolean, rebuilt: boolean): CuratedPut {
    state.schema = this.schema!
    // the sink takes the state's rows: all of them, or (an Iceberg table the state continues) what changed
    return this.curated.start(date, stateRows(state, curatedSchema(this.schema!)), changed, rebuilt)
  }

  private async putCurated(date: string, encoded: CuratedPut, wm: Watermark | undefined): Promise<void> {
    await encoded.put(wm && { lpf: wm.lpf, fullLoad: wm.fullLoad }, this.signal)
    faultPoint('after-curated-write')
    this.outcome.curatedDates.push(date)
    this.outcome.liveRows = encoded.rows
  }

  applyFiles(state: KeyedState, files: DmsFile[], batches: Map<DmsFile, ChangeBatch[]>): ProcessedFile[] {
    return files.map((f) => {
      const c: ApplyCounts = { inserts: 0, updates: 0, deletes: 0, stale: 0 }
      let rows = 0
      for (const b of batches.get(f)!) {
        const r = state.apply(b)
        c.inserts += r.inserts
        c.updates += r.updates
        c.deletes += r.deletes
        c.stale += r.stale
        rows += b.length
      }
      const res = this.outcome
      const quarantined = this.rejected.get(f.stem)?.length ?? 0
      res.quarantined += quarantined
      if (quarantined > 0) this.log.warn({ file: f.key, quarantined }, 'rows quarantined')
      res.files++
      res.rows += rows
      res.inserts += c.inserts
      res.updates += c.updates
      res.deletes += c.deletes
      res.stale += c.stale
      this.log.info(
        { file: f.key, rows, inserts: c.inserts, updates: c.updates, deletes: c.deletes, stale: c.stale },
        'file applied',
      )
      this.bytesDone += f.size
      this.onProgress?.({
        table: this.label,
        file: f.key,
        rows,
        filesDone: res.files,
        filesTotal: this.filesTotal,
        bytesDone: this.bytesDone,
        bytesTotal: this.bytesTotal,
      })
      return this.ledgerEntry(f, c, rows)
    })
  }

  ledgerEntry(f: DmsFile, c: ApplyCounts, rows: number): ProcessedFile {
    return {
      file: f.stem,
      key: f.key,
      date: f.date,
      size: f.size,
      etag: f.etag,
      checksum: this.checksums.get(f.stem) ?? '',
      rows,
      inserts: c.inserts,
      updates: c.updates,
      deletes: c.deletes,
      quarantined: this.rejected.get(f.stem)?.length ?? 0,
    }
  }

  commitChanges(
    wm: Watermark,
    files: ProcessedFile[],
    tombstones: ReturnType<KeyedState['takeTombstoneChanges']>,
    liveRows: number,
    reset: boolean,
    fingerprint?: string,
    raw?: RawCommit,
  ): void {
    faultPoint('before-commit')
    this.state.commit({
      watermark: wm,
      files,
      tombstones,
      reset,
      liveRows,
      fingerprint,
      compositeKey: this.t.primaryKey.length > 1,
      raw,
    })
    this.outcome.committed = wm
    this.log.info({ fullLoad: wm.fullLoad, lpf: wm.lpf }, 'watermark moved')
  }
}

/** Where a plan's execution ends: the watermark reached and the state at it (kept by watch mode). */
export interface Executed {
  watermark: Watermark
  state: KeyedState | undefined
}

/**
 * Dates are pipelined: while one date's partitions are encoded (in worker threads) and put, and its watermark
 * committed, the next date is read and applied (its snapshot is taken once the date before is committed). Puts and
 * commits stay in date order, each commit after its own date's puts, so the watermark never passes data that was
 * not written.
 */
class Pipeline {
  private inflight: Promise<void> = Promise.resolve()
  chain(step: () => Promise<void>): void {
    const prev = this.inflight
    this.inflight = prev.then(step)
    this.inflight.catch(() => undefined) // awaited by `done`
  }
  /** Resolves once every queued step is done (rejects with the first step's error). */
  idle(): Promise<void> {
    return this.inflight
  }
  /** Waits for the queued steps; an error of theirs comes before `err`, else their commits complete before it. */
  async done<T>(work: () => Promise<T>): Promise<T> {
    let out: T
    try {
      out = await work()
    } catch (err) {
      await this.inflight
      throw err
    }
    await this.inflight
    return out
  }
}

/** The load date, whole: the full load plus the change files dated on or before it; then the later dates, if any. */
export async function executeLoad(run: TableRun, plan: LoadPlan): Promise<Executed> {
  const pipe = new Pipeline()
  return pipe.done(async () => {
    await run.raw.settle(plan.watermark ? lpfDate(plan.watermark) : '')
    const loadBatches = await run.read(plan.load)
    if (plan.load.length === 0) run.log.warn({}, 'no full-load files: starting from the first change file')
    const load = planLoadDate(run.t, loadDateOf(run.t, run.schema!, plan.load, loadBatches, plan.cdc), plan.cdc)
    const state = new KeyedState(run.schema!)
    const sink = run.raw.sink(load.loadDate, [...plan.load, ...load.first])
    const files: ProcessedFile[] = []
    try {
      for (const f of plan.load) {
        const batches = loadBatches.get(f)!
        loadBatches.delete(f) // dropped once written and applied
        files.push(await writeAndApply(run, sink, state, f, batches))
      }
      for await (const [f, batches] of run.readEach(load.first))
        files.push(await writeAndApply(run, sink, state, f, batches))
    } catch (err) {
      await sink.settled()
      throw err
    }
    for (const f of plan.superseded)
      files.push({ ...run.ledgerEntry(f, { inserts: 0, updates: 0, deletes: 0, stale: 0 }, 0), superseded: true })
    const raw = { sink, stems: [...plan.load, ...load.first].map((f) => f.stem), rebuild: true }
    queueDate(run, pipe, load.loadDate, raw, state, load.watermark, files, true, plan.cdc.at(-1)?.date)
    if (!load.later) return { watermark: load.watermark, state }
    const dates = planDates(run.label, load.watermark, plan, false)
    if (dates.kind === 'stop') throw dates.error
    if (dates.kind === 'unchanged') return { watermark: load.watermark, state }
    return runDates(run, pipe, dates, state, true)
  })
}

/** CDC: every planned date from the LPF's date on, from a state restored as of the LPF (or kept in memory). */
export async function executeDates(
  run: TableRun,
  plan: Omit<DatesPlan, 'notices' | 'todo'>,
  memory: KeyedState | undefined,
): Promise<Executed> {
  const pipe = new Pipeline()
  return pipe.done(async () => {
    await run.raw.settle(lpfDate(plan.watermark))
    const state = memory ?? (await restoreCommitted(run, plan.watermark, plan.lpfDate, plan))
    return runDates(run, pipe, plan, state, false)
  })
}

/** `rebuild`: the run rebuilds the table (a load plan), so each date's RAW is replaced by what this run writes. */
async function runDates(
  run: TableRun,
  pipe: Pipeline,
  plan: Omit<DatesPlan, 'notices' | 'todo'>,
  state: KeyedState,
  rebuild: boolean,
): Promise<Executed> {
  let watermark = plan.watermark
  for (const d of plan.dates) {
    run.signal?.throwIfAborted()
    if (d.watermark === undefined) {
      // a day without files: its snapshot (the state as it is) waits for the dates before it, as in runDate
      await pipe.idle()
      pipe.chain(run.startDate(d.date, false, state).put)
      continue
    }
    watermark = await runDate(run, pipe, d, d.watermark, state, plan.newestDate, rebuild)
  }
  return { watermark, state }
}

/** A date's new files, one at a time: RAW rows put as parts fill, then applied; their batches are then dropped. */
async function runDate(
  run: TableRun,
  pipe: Pipeline,
  d: DatePlan,
  watermark: Watermark,
  state: KeyedState,
  newestDate: string,
  rebuild: boolean,
): Promise<Watermark> {
  const sink = run.raw.sink(d.date, d.fresh)
  const files: ProcessedFile[] = []
  try {
    for await (const [f, batches] of run.readEach(d.fresh))
      files.push(await writeAndApply(run, sink, state, f, batches))
  } catch (err) {
    await sink.settled()
    throw err
  }
  const raw = { sink, stems: d.fresh.map((f) => f.stem), rebuild }
  // The date's take waits for the dates before it to be put and committed: each take is a new generation of the
  // state's columns, and one still being encoded is held until its last part is (reading and applying this date
  // overlapped it).
  try {
    await pipe.idle()
  } catch (err) {
    await sink.settled()
    throw err
  }
  queueDate(run, pipe, d.date, raw, state, watermark, files, false, newestDate)
  return watermark
}

async function writeAndApply(
  run: TableRun,
  sink: RawSink,
  state: KeyedState,
  f: DmsFile,
  batches: ChangeBatch[],
): Promise<ProcessedFile> {
  await sink.add(batches, run.schema!)
  return run.applyFiles(state, [f], new Map([[f, batches]]))[0]!
}

/** A date's RAW write as queueDate takes it: the sink, the stems of its files, and whether the run rebuilds. */
interface DateRaw {
  sink: RawSink
  stems: string[]
  rebuild: boolean
}

/**
 * Starts a date's writes now (snapshot taken, encoding under way) and queues its puts and then its watermark commit
 * (with the tombstone changes as of now) behind the dates before it; after the commit, the RAW of dates it closed is
 * compacted.
 */
function queueDate(
  run: TableRun,
  pipe: Pipeline,
  date: string,
  raw: DateRaw,
  state: KeyedState,
  wm: Watermark,
  files: ProcessedFile[],
  reset: boolean,
  newestDate: string | undefined,
): void {
  const parts = raw.sink.finish()
  parts.catch(() => undefined) // awaited in the queued step
  const w = run.startDate(date, true, state, wm, reset)
  const tombstones = state.takeTombstoneChanges()
  const liveRows = state.size
  const fingerprint = fingerprintOf(run.t, run.schema!)
  pipe.chain(async () => {
    const committedRaw = await run.raw.finish(date, raw.sink, parts, raw.stems, raw.rebuild)
    await w.put()
    run.commitChanges(wm, files, tombstones, liveRows, reset, fingerprint, committedRaw)
    // After the commit, never before: the marker may trail the watermark (if this put fails) but never lead it.
    const marker = markerFor(wm, date, newestDate)
    try {
      await writeMarker(run.stores.curated, marker)
    } catch (err) {
      throw new WriteError(
        'CDC_WRITE_FAILED',
        `table ${run.label}: the watermark moved to ${wm.lpf} but writing ${run.stores.curated.url}/${run.t.source}/${run.t.name}/_cdc_apply.json failed: ${(err as Error).message}`,
        {
          table: run.label,
          cause: err,
          transient: true,
          hint: 'the outputs and watermark are committed; the marker is rewritten after the next commit of the table',
        },
      )
    }
    // A commit on a later date closes the dates before it: their RAW is compacted (raw-compact.ts).
    await run.raw.settle(lpfDate(wm))
  })
}
