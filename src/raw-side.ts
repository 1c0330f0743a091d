// The RAW side of a table's run: where a date's RAW parts go (the date folder, or the RAW Iceberg table's partition
// folder), the sink of a date's write, its completion (quarantine, prune or the RAW Iceberg snapshot), and what RAW
// compaction works on, and the upkeep of a RAW Iceberg table (snapshot expiry, orphan removal) after its commits.
// execute.ts drives it date by date.
import { randomBytes } from 'node:crypto'
import type * as A from 'apache-arrow'
import type { Config, TableConfig } from './config.js'
import type { DmsFile } from './dms-names.js'
import { lpfDate } from './dms-names.js'
import type { Rejected } from './rejected.js'
import { RawSink, pruneDate } from './raw-sink.js'
import { settleRaw, type RawTable } from './raw-compact.js'
import { commitRawDate, openRawIceberg, rawDataFolder, rawFieldIds, rawKeepFile } from './raw-iceberg.js'
import type { IcebergTable } from './iceberg/table.js'
import type { SnapshotId } from './iceberg/metadata.js'
import { expireSnapshots } from './iceberg/expire.js'
import type { RawCommit, RawPart, StateStore } from './state/index.js'
import type { Logger } from './log.js'
import { joinKey } from './store/object-store.js'
import { faultPoint } from './fault.js'
import { writeQuarantine } from './quarantine.js'
import type { Stores } from './run.js'

/** What the RAW side needs of a table's run (execute.ts's TableRun). */
export interface RawRun {
  readonly config: Config
  readonly stores: Stores
  readonly state: StateStore
  readonly t: TableConfig
  readonly signal: AbortSignal | undefined
  readonly log: Logger
  /** Rows set aside per file (stem) under onBadRow "quarantine". */
  readonly rejected: Map<string, Rejected[]>
  /** The dates whose RAW this run wrote, in commit order. */
  readonly outcome: { rawDates: string[] }
}

/** A table's RAW for one run: date folders, or an Iceberg table (tableFormat "iceberg" with iceberg.raw). */
export class RawSide {
  private ice: Promise<IcebergTable> | undefined
  /** The folders of the writes whose parts are being put (never an orphan removal's to delete). */
  private readonly writing = new Map<string, number>()

  constructor(private readonly run: RawRun) {}

  /** RAW is an Iceberg table (tableFormat "iceberg" with iceberg.raw; raw-iceberg.ts), not date folders. */
  get isIceberg(): boolean {
    return this.run.t.tableFormat === 'iceberg' && this.run.config.iceberg.raw
  }

  /** The RAW Iceberg table, opened once per run. */
  iceberg(): Promise<IcebergTable> {
    const { stores, t, config, signal } = this.run
    this.ice ??= openRawIceberg(stores.raw, t.source, t.name, config, signal)
    this.ice.catch(() => (this.ice = undefined))
    return this.ice
  }

  /** The plain layout's date folder: `<source>/<table>/<date>` (RAW parts, or the quarantine's subfolder). */
  partition(date: string): string {
    return joinKey(this.run.t.source, this.run.t.name, date)
  }

  /** Where a date's RAW parts go: the date folder, or the RAW Iceberg table's partition folder. */
  folder(date: string): string {
    return this.isIceberg ? rawDataFolder(this.run.t.source, this.run.t.name, date) : this.partition(date)
  }

  /** A date's RAW write of `files` (this run's files of the date, in order): parts are put as rows are added. */
  sink(date: string, files: DmsFile[]): RawSink {
    const first = files[0]?.stem ?? date
    const last = files.at(-1)?.stem ?? date
    const { stores, config, signal } = this.run
    const folder = this.folder(date)
    this.writing.set(folder, (this.writing.get(folder) ?? 0) + 1)
    return new RawSink(stores.raw, folder, first, last, config.parquet, signal, {
      ...this.icebergSink(),
    })
  }

  /** A RAW Iceberg table's sink options: a token per write, field ids from the table. */
  private icebergSink(): { token: string; withIds: (s: A.Schema) => Promise<A.Schema> } | Record<string, never> {
    if (!this.isIceberg) return {}
    return { token: randomBytes(4).toString('hex'), withIds: async (s) => rawFieldIds(await this.iceberg(), s) }
  }

  /** What RAW compaction works on (raw-compact.ts). */
  table(): RawTable {
    const { stores, state, t, config, signal, log } = this.run
    return {
      raw: stores.raw,
      state,
      source: t.source,
      name: t.name,
      parquet: config.parquet,
      signal,
      log,
      ...(this.isIceberg
        ? {
            iceberg: {
              table: () => this.iceberg(),
              folder: (d: string) => this.folder(d),
              sink: () => this.icebergSink(),
            },
          }
        : {}),
    }
  }

  /**
   * Finishes the RAW work due once the watermark is at `lpf`'s date (raw-compact.ts's settleRaw); then, on a RAW
   * Iceberg table this run opened, expires its snapshots beyond iceberg.keepSnapshots (it has no tags: main's
   * snapshot and the newest ones are kept) and, when this call compacted a date (a new replace snapshot), removes
   * its orphan files. Neither deletes a part the state file lists as committed (a compaction killed after its
   * snapshot but before the state file's commit has inputs the rerun reads again) nor one of a write in progress.
   * Housekeeping, as compaction: a failure is logged and retried after the next commit.
   */
  async settle(lpf: string): Promise<void> {
    const was = await this.currentSnapshot()
    await settleRaw(this.table(), lpf)
    if (!this.isIceberg || !this.ice) return
    const { config, signal, log } = this.run
    try {
      const ice = await this.ice
      const cur = ice.current()
      const compacted = cur?.summary.operation === 'replace' && cur['snapshot-id'] !== was
      const keepFile = this.committedOrWriting()
      const done = await expireSnapshots(ice, config.iceberg.keepSnapshots, signal, compacted, keepFile)
      if (done.snapshots + done.orphans > 0) log.debug({ ...done }, 'raw iceberg snapshots expired')
    } catch (err) {
      if (signal?.aborted) throw err
      const e = err as { code?: string; message?: string }
      log.warn(
        { code: e.code, error: e.message ?? String(err) },
        'raw snapshot expiry failed: retried after the next commit',
      )
    }
  }

  private async currentSnapshot(): Promise<SnapshotId | undefined> {
    try {
      return this.ice ? (await this.ice).current()?.['snapshot-id'] : undefined
    } catch {
      return undefined
    }
  }

  /** Whether a key of the RAW Iceberg table is a part the state file lists as committed, or in a write's folder. */
  private committedOrWriting(): (key: string) => boolean {
    const { state, t } = this.run
    return rawKeepFile(state, t.source, t.name, (folder) => (this.writing.get(folder) ?? 0) > 0)
  }

  /**
   * Completes a date's RAW write: its last parts put, the quarantined rows of its files, then the prune of the date
   * folder (leftovers of an uncommitted attempt; in a rebuild, everything this run did not write). Returns what the
   * commit records.
   */
  async finish(
    date: string,
    sink: RawSink,
    parts: Promise<RawPart[]>,
    stems: string[],
    rebuild: boolean,
  ): Promise<RawCommit> {
    const { stores, state, t, config, signal } = this.run
    const written = await parts
    // Nothing is committed on a date after the committed LPF's date (this runs after the commit of the date before):
    // what its folder holds besides this write is left over (a write before a reset commit, or a whole-date part of
    // an older version or the Spark job that crashed before its commit), and goes as in a rebuild.
    const committed = state.get(t.source, t.name)
    const fresh = rebuild || committed === undefined || date > lpfDate(committed)
    // Quarantined rows of the same files go to <raw>/_quarantine/<source>/<table>/<date>/, one object per write.
    await writeQuarantine(
      stores.raw,
      this.partition(date),
      stems.flatMap((stem) => this.run.rejected.get(stem) ?? []),
      { first: sink.first, last: sink.last, rebuild: fresh },
      t,
      config.parquet,
      signal,
    )
    faultPoint('after-raw-write')
    this.run.outcome.rawDates.push(date)
    if (this.isIceberg) {
      // One snapshot sets the date's partition: the committed parts (none in a rebuild) plus this write's.
      const keep = new Set(fresh ? [] : state.rawParts(t.source, t.name, date).map((p) => p.name))
      await commitRawDate(
        await this.iceberg(),
        {
          source: t.source,
          name: t.name,
          date,
          keep,
          parts: written.map((p) => ({ name: p.name, rows: p.rows ?? 0, bytes: sink.sizes.get(p.name) ?? 0 })),
          rows: sink.rowSchema(),
          compaction: false,
          summary: { 'cdc-apply.raw-write': `${sink.first}-${sink.last}`, 'cdc-apply.raw-files': String(stems.length) },
        },
        signal,
      )
      faultPoint('after-raw-iceberg-commit')
      this.done(date)
      return { date, parts: written, legacy: [] }
    }
    const keep = sink.names()
    if (!fresh) for (const p of state.rawParts(t.source, t.name, date)) keep.add(p.name)
    const legacy = await pruneDate(stores.raw, this.partition(date), keep, fresh, signal)
    this.done(date)
    return { date, parts: written, legacy }
  }

  /** A write of the date is committed to the RAW table (its parts are referenced now). */
  private done(date: string): void {
    const folder = this.folder(date)
    this.writing.set(folder, (this.writing.get(folder) ?? 1) - 1)
  }
}
