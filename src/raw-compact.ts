// Compaction of a closed RAW date: once a later date's file is committed, the date's parts (one set per run that wrote
// it, plus legacy whole-date parts) are streamed in order into parts of at most parquet.rowsPerFile rows, committed in
// one SQLite transaction, and only then are the inputs deleted (docs/semantics.md, "RAW").
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import type { Config } from './config.js'
import type { Logger } from './log.js'
import type { StateStore } from './state/index.js'
import { faultPoint } from './fault.js'
import { deletePrefix, joinKey, type ObjectStore } from './store/object-store.js'
import { RawSink, type RawSinkOptions } from './raw-sink.js'
import type { IcebergTable } from './iceberg/table.js'
import { commitRawDate } from './raw-iceberg.js'

/** What compaction works on: a table's RAW store and its state file. */
export interface RawTable {
  raw: ObjectStore
  state: StateStore
  source: string
  name: string
  parquet: Config['parquet']
  signal: AbortSignal | undefined
  log: Logger
  /**
   * RAW is an Iceberg table (raw-iceberg.ts): the parts are in its partition folders, a compaction is a replace
   * snapshot, and the parts it replaced stay (older snapshots reference them) until snapshot expiry.
   */
  iceberg?: {
    table: () => Promise<IcebergTable>
    folder: (date: string) => string
    sink: () => RawSinkOptions
  }
}

/**
 * Finishes the RAW work the state file says is due: deletes the parts a committed compaction replaced, then
 * compacts every date before `before` (the committed LPF's date) that more than one write made. Run after each
 * commit, and at the start of a run (which so completes what a crash interrupted).
 */
export async function settleRaw(t: RawTable, before: string): Promise<void> {
  try {
    const work = t.state.rawWork(t.source, t.name, before)
    await deleteDead(t, work.dead)
    for (const date of work.compact) await compactDate(t, date)
  } catch (err) {
    // Housekeeping: the state file is consistent at every step and the next commit (or run) retries, so a failure
    // here must not stop the dates after it nor hide the error that ended the run.
    if (t.signal?.aborted) throw err
    const e = err as { code?: string; message?: string }
    t.log.warn(
      { code: e.code, error: e.message ?? String(err) },
      'raw compaction failed: retried after the next commit',
    )
  }
}

async function deleteDead(t: RawTable, dead: { date: string; name: string }[]): Promise<void> {
  if (dead.length === 0) return
  if (!t.iceberg)
    await t.raw.delete(
      dead.map((p) => joinKey(t.source, t.name, p.date, p.name)),
      t.signal ? { signal: t.signal } : {},
    )
  t.state.forgetDeadParts(t.source, t.name, dead)
}

/** Rewrites a closed date's live parts as few full parts; a crash before its commit is redone, after it finished. */
export async function compactDate(t: RawTable, date: string): Promise<void> {
  const inputs = t.state.rawParts(t.source, t.name, date)
  const first = inputs.find((p) => p.first !== undefined)?.first
  const last = inputs.findLast((p) => p.last !== undefined)?.last
  if (inputs.length < 2 || first === undefined || last === undefined) return
  const prefix = t.iceberg ? t.iceberg.folder(date) : joinKey(t.source, t.name, date)
  const opts = t.signal ? { signal: t.signal } : {}
  // The date is closed: besides its committed parts, the folder holds only leftovers, such as the outputs of a
  // compaction that crashed before its commit (their names need not be the ones this one writes: rowsPerFile may
  // have changed). They go first, so that no row is left in the folder twice. (A RAW Iceberg table's readers see
  // only the files its snapshot names, and older snapshots still name files outside this date's live parts.)
  if (!t.iceberg)
    await deletePrefix(t.raw, prefix, { keep: new Set(inputs.map((p) => joinKey(prefix, p.name))), ...opts })
  const read = async (name: string): Promise<A.Table> =>
    A.tableFromIPC(pw.readParquet(await t.raw.get(joinKey(prefix, name), opts), { batchSize: 65536 }).intoIPCStream())
  // Columns only ever get added, so the newest part has them all; older parts get NULL in the ones they lack.
  const newest = await read(inputs.at(-1)!.name)
  const sink = new RawSink(t.raw, prefix, first, last, t.parquet, t.signal, {
    ...t.iceberg?.sink(),
    compacted: true,
  })
  // A part of other column types (CDC_SCHEMA_MISMATCH) stops the compaction: settleRaw logs it, the date stays as it is.
  try {
    for (const [i, p] of inputs.entries()) {
      const table = i === inputs.length - 1 ? newest : await read(p.name)
      await sink.addRecords(newest.schema, table.batches, `${t.raw.url}/${joinKey(prefix, p.name)}`)
    }
  } catch (err) {
    await sink.settled()
    throw err
  }
  const outputs = await sink.finish()
  if (t.iceberg) {
    // The replace snapshot: the date's partition is the outputs (a rerun after a crash before the state file's
    // commit replaces the outputs of the first attempt as well).
    await commitRawDate(
      await t.iceberg.table(),
      {
        source: t.source,
        name: t.name,
        date,
        keep: new Set(),
        parts: outputs.map((p) => ({ name: p.name, rows: p.rows ?? 0, bytes: sink.sizes.get(p.name) ?? 0 })),
        rows: sink.rowSchema(),
        compaction: true,
        summary: { 'cdc-apply.raw-write': `${first}-${last}`, 'cdc-apply.raw-compaction': String(inputs.length) },
      },
      t.signal,
    )
  }
  faultPoint('before-compaction-commit')
  t.state.commitCompaction(
    t.source,
    t.name,
    date,
    inputs.map((p) => p.name),
    outputs,
  )
  faultPoint('after-compaction-commit')
  t.log.info({ date, inputs: inputs.length, outputs: outputs.length }, 'raw date compacted')
  await deleteDead(t, t.state.rawWork(t.source, t.name, date).dead)
}
