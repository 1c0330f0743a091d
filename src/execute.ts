// Carries out a table's plan (plan.ts): read → apply → write RAW and curated → commit the watermark, date by date,
// and returns what it did: the counts, the dates written and the last watermark committed.
import * as A from 'apache-arrow'
import pLimit from 'p-limit'
import { WriteError } from './errors.js'
import type { Config, TableConfig } from './config.js'
import type { DmsFile } from './dms-names.js'
import type { Rejected } from './rejected.js'
import { PIECE_BYTES, readObjects } from './read-object.js'
import type { ChangeBatch, TableSchema } from './batch.js'
import { KeyedState, type ApplyCounts } from './apply.js'
import {
  curatedSchema,
  encodePartition,
  putPartition,
  rawRecordBatch,
  rawSchema,
  recordBatch,
  type EncodedPartition,
} from './write.js'
import type { CuratedPut, CuratedSink } from './curated-sink.js'
import type { ProcessedFile, StateStore, Watermark } from './state/index.js'
import type { Logger } from './log.js'
import { joinKey, objectChunks } from './store/object-store.js'
import { faultPoint } from './fault.js'
import { fingerprintOf } from './fingerprint.js'
import { markerFor, writeMarker } from './marker.js'
import { writeQuarantine } from './quarantine.js'
import { loadDateOf } from './load-date.js'
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
  /** Decoded batches by file stem, kept for the LPF's date in watch mode. */
  cache = new Map<string, ChangeBatch[]>()
  /** MD5 of each object read in this run, recorded in the ledger to tell a rewritten object from a copied one. */
  checksums = new Map<string, string>()
  /** Rows set aside per file (stem) under onBadRow "quarantine". */
  rejected = new Map<string, Rejected[]>()
  filesTotal = 0
  bytesTotal = 0
  bytesDone = 0
  readonly outcome = emptyOutcome()
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

  /**
   * Fetches small objects with bounded concurrency ahead of decoding, and decodes them ahead in worker threads
   * (read-object.ts); applies their results in order. Objects larger than one CSV piece are streamed when their turn
   * comes, so that memory holds one large object's pieces at a time, not its bytes.
   */
  async read(files: DmsFile[]): Promise<Map<DmsFile, ChangeBatch[]>> {
    const limit = pLimit(this.config.concurrency.prefetch)
    const signal = this.signal
    const bodies = files.map((f) =>
      this.cache.has(f.stem) || f.size > PIECE_BYTES
        ? undefined
        : limit(() => this.stores.landing.get(f.key, { signal })),
    )
    for (const p of bodies) p?.catch(() => undefined) // rejections are handled when awaited below
    const todo = files.flatMap((f, i) => (this.cache.has(f.stem) ? [] : [{ f, body: bodies[i] }]))
    const sources = todo.map(({ f, body }) => ({
      file: f,
      ahead: body !== undefined,
      chunks: () =>
        body
          ? (async function* () {
              yield await body
            })()
          : objectChunks(this.stores.landing, f.key, { signal }),
    }))
    const decoded = new Map<DmsFile, ChangeBatch[]>()
    let i = 0
    signal?.throwIfAborted()
    for await (const r of readObjects(this.t, sources, this.schema, this.config.limits)) {
      signal?.throwIfAborted()
      const f = todo[i++]!.f
      this.checksums.set(f.stem, r.checksum)
      this.schema = r.schema
      this.rejected.set(f.stem, r.rejected)
      decoded.set(f, r.batches)
    }
    const out = new Map(files.map((f) => [f, this.cache.get(f.stem) ?? decoded.get(f)!]))
    faultPoint('after-read')
    return out
  }

  /**
   * Starts a date's writes: takes the snapshot and starts encoding RAW and curated now (large parts in worker
   * threads), so `state` may move on at once; `put` writes the partitions, RAW then curated, once the bytes are there.
   */
  startDate(
    date: string,
    batches: ChangeBatch[] | undefined,
    state: KeyedState,
    wm?: Watermark,
    rebuilt = false,
  ): { put: () => Promise<void> } {
    const raw = batches ? this.encodeRaw(batches) : undefined
    const curated = this.encodeCurated(date, state, batches !== undefined, rebuilt)
    return {
      put: async () => {
        if (raw && batches) await this.putRaw(date, batches, raw)
        await this.putCurated(date, curated, wm)
      },
    }
  }

  private encodeRaw(batches: ChangeBatch[]): EncodedPartition {
    const schema = rawSchema(this.schema!)
    return encodePartition(
      new A.Table(
        schema,
        batches.map((b) => rawRecordBatch(schema, b)),
      ),
      this.config.parquet,
    )
  }

  private async putRaw(date: string, batches: ChangeBatch[], encoded: EncodedPartition): Promise<void> {
    await putPartition(this.stores.raw, this.partition(date), encoded, this.signal)
    // Quarantined rows of the same files go to <raw>/_quarantine/<source>/<table>/<date>/, rewritten whole too.
    const files = [...new Set(batches.map((b) => b.file.stem))]
    await writeQuarantine(
      this.stores.raw,
      this.partition(date),
      files.flatMap((stem) => this.rejected.get(stem) ?? []),
      this.t,
      this.config.parquet,
      this.signal,
    )
    faultPoint('after-raw-write')
    this.outcome.rawDates.push(date)
  }

  private encodeCurated(date: string, state: KeyedState, changed: boolean, rebuilt: boolean): CuratedPut {
    state.schema = this.schema!
    const snap = state.snapshot()
    const schema = curatedSchema(this.schema!)
    return this.curated.start(
      date,
      new A.Table(schema, [recordBatch(schema, snap.columns, snap.length)]),
      changed,
      rebuilt,
    )
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
 * committed, the next date is read and applied. Puts and commits stay in date order, each commit after its own
 * date's puts, so the watermark never passes data that was not written.
 */
class Pipeline {
  private inflight: Promise<void> = Promise.resolve()
  chain(step: () => Promise<void>): void {
    const prev = this.inflight
    this.inflight = prev.then(step)
    this.inflight.catch(() => undefined) // awaited by `done`
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
    const loadBatches = await run.read(plan.load)
    if (plan.load.length === 0) run.log.warn({}, 'no full-load files: starting from the first change file')
    const load = planLoadDate(run.t, loadDateOf(run.t, run.schema!, plan.load, loadBatches, plan.cdc), plan.cdc)
    const cdcBatches = await run.read(load.first)
    const state = new KeyedState(run.schema!)
    const superseded = plan.superseded.map((f) => ({
      ...run.ledgerEntry(f, { inserts: 0, updates: 0, deletes: 0, stale: 0 }, 0),
      superseded: true,
    }))
    const files = [
      ...run.applyFiles(state, plan.load, loadBatches),
      ...run.applyFiles(state, load.first, cdcBatches),
      ...superseded,
    ]
    const batches = [...plan.load.flatMap((f) => loadBatches.get(f)!), ...load.first.flatMap((f) => cdcBatches.get(f)!)]
    queueDate(run, pipe, load.loadDate, batches, state, load.watermark, files, true, plan.cdc.at(-1)?.date)
    if (!load.later) return { watermark: load.watermark, state }
    const dates = planDates(run.label, load.watermark, plan, false)
    if (dates.kind === 'stop') throw dates.error
    if (dates.kind === 'unchanged') return { watermark: load.watermark, state }
    return runDates(run, pipe, dates, state)
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
    const state = memory ?? (await restoreCommitted(run, plan.watermark, plan.lpfDate, plan))
    return runDates(run, pipe, plan, state)
  })
}

async function runDates(
  run: TableRun,
  pipe: Pipeline,
  plan: Omit<DatesPlan, 'notices' | 'todo'>,
  state: KeyedState,
): Promise<Executed> {
  let watermark = plan.watermark
  for (const d of plan.dates) {
    run.signal?.throwIfAborted()
    if (d.watermark === undefined) {
      pipe.chain(run.startDate(d.date, undefined, state).put)
      continue
    }
    watermark = await runDate(run, pipe, d, d.watermark, state, plan.newestDate)
  }
  return { watermark, state }
}

async function runDate(
  run: TableRun,
  pipe: Pipeline,
  d: DatePlan,
  watermark: Watermark,
  state: KeyedState,
  newestDate: string,
): Promise<Watermark> {
  const all = [...d.old, ...d.fresh]
  const batches = await run.read(all)
  const files = run.applyFiles(state, d.fresh, batches)
  queueDate(
    run,
    pipe,
    d.date,
    all.flatMap((f) => batches.get(f)!),
    state,
    watermark,
    files,
    false,
    newestDate,
  )
  run.cache = new Map(all.map((f) => [f.stem, batches.get(f)!]))
  return watermark
}

/**
 * Starts a date's writes now (snapshot taken, encoding under way) and queues its puts and then its watermark commit
 * (with the tombstone changes as of now) behind the dates before it.
 */
function queueDate(
  run: TableRun,
  pipe: Pipeline,
  date: string,
  batches: ChangeBatch[],
  state: KeyedState,
  wm: Watermark,
  files: ProcessedFile[],
  reset: boolean,
  newestDate: string | undefined,
): void {
  const w = run.startDate(date, batches, state, wm, reset)
  const tombstones = state.takeTombstoneChanges()
  const liveRows = state.size
  const fingerprint = fingerprintOf(run.t, run.schema!)
  pipe.chain(async () => {
    await w.put()
    run.commitChanges(wm, files, tombstones, liveRows, reset, fingerprint)
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
  })
}
