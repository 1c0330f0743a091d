// Rebuilding a table's state from its outputs (docs/semantics.md, "Restarts"): the curated snapshot of a date plus
// the tombstones saved in the state file, and the rebuild when that snapshot is ahead of the watermark.
import * as A from 'apache-arrow'
import { DataError } from './errors.js'
import { META } from './config.js'
import { KeyedState } from './apply.js'
import { finishBatch, keySpec, type TableSchema } from './batch.js'
import { columnValues } from './arrow/values.js'
import { nullData } from './arrow/gather.js'
import { addDays } from './dates.js'
import { stemOf, type DmsFile } from './dms-names.js'
import type { Discovery } from './discover.js'
import type { Watermark } from './state/index.js'
import type { TableRun } from './execute.js'

/**
 * Rebuilds the state as of the end of `date` from its curated snapshot plus the saved tombstones. `ahead` says the
 * snapshot holds rows of change files named after `lpf`: a run wrote it and stopped before committing it.
 */
export async function restore(
  run: TableRun,
  date: string,
  lpf?: string,
): Promise<{ state: KeyedState; ahead: boolean }> {
  const { t, label } = run
  const table = await run.curated.read(date, run.signal)
  if (table === undefined) {
    throw new DataError(
      'CDC_SNAPSHOT_MISSING',
      `table ${label}: the curated snapshot of ${date} (the watermark's date) is missing from ${run.stores.curated.url}`,
      {
        table: label,
        hint:
          'the curated output was removed; reprocess the table from scratch: cdc-apply reset --table ' +
          label +
          ', then run',
      },
    )
  }
  // The snapshot's columns, plus configured ones it lacks (a header or Parquet file may have added columns since
  // the config was written; a new config column list may name columns no file had yet).
  const dataFields = table.schema.fields.filter((f) => f.name !== META.file && f.name !== META.row)
  const base = run.schema ?? { fields: [], types: [] }
  const merged: TableSchema = { fields: [...base.fields], types: [...base.types] }
  for (const f of dataFields) {
    if (!merged.fields.some((x) => x.name === f.name)) {
      merged.fields.push(new A.Field(f.name, f.type as A.DataType, true))
      merged.types.push(undefined)
    }
  }
  run.schema = merged
  const spec = keySpec(label, merged, t.primaryKey, t.timestampColumn, t.sequenceColumn)
  const fake: DmsFile = {
    key: `${run.stores.curated.url}/${run.partition(date)}`,
    name: 'snapshot',
    stem: 'snapshot',
    kind: 'cdc',
    date,
    orderKey: '',
    format: 'parquet',
    gzip: false,
    size: 0,
    etag: '',
    lastModified: new Date(0),
  }
  const parts = table.batches.map((rb) => {
    const columns = merged.fields.map((f) => {
      const i = table.schema.fields.findIndex((x) => x.name === f.name)
      return i < 0 ? nullData(f.type, rb.numRows) : rb.data.children[i]!
    })
    const batch = finishBatch(spec, {
      file: fake,
      rowBase: 0,
      length: rb.numRows,
      ops: new Uint8Array(rb.numRows),
      columns,
      lines: undefined,
    })
    const names = columnValues(
      rb.data.children[table.schema.fields.findIndex((x) => x.name === META.file)]!,
    ) as string[]
    const rows = columnValues(rb.data.children[table.schema.fields.findIndex((x) => x.name === META.row)]!).map(Number)
    return { batch, names, rows }
  })
  const state = KeyedState.restore(merged, parts)
  state.loadTombstones(run.state.tombstones(t.source, t.name, t.primaryKey.length > 1))
  run.log.debug({ date, rows: state.size, tombstones: state.tombstones.size }, 'state restored')
  // Rows of change files named after the LPF: this snapshot was written by a run that stopped before committing it.
  const ahead = lpf !== undefined && parts.some((p) => p.names.some((n) => !n.startsWith('LOAD') && stemOf(n) > lpf))
  return { state, ahead }
}

/**
 * The state as committed at the LPF, on the LPF's date. Normally that date's snapshot; but a run that stopped
 * between writing that snapshot and committing it left changes of later files in it, and applying those files
 * again would count them as stale. Then the state is rebuilt from the day before's snapshot (nothing, on the load
 * date) plus the date's committed files, read again. `listing.cdc` carries
 * partition dates.
 */
export async function restoreCommitted(
  run: TableRun,
  wm: Watermark,
  lpfDate: string,
  listing: Pick<Discovery, 'load' | 'cdc'>,
): Promise<KeyedState> {
  const { t } = run
  const restored = await restore(run, lpfDate, wm.lpf)
  if (!restored.ahead) return restored.state
  run.log.warn(
    { date: lpfDate, lpf: wm.lpf },
    'curated snapshot is ahead of the watermark (a run stopped before its commit): rebuilding the date from the day before',
  )
  let base: KeyedState
  if (lpfDate <= wm.loadDate) {
    base = new KeyedState(run.schema!)
    base.loadTombstones(run.state.tombstones(t.source, t.name, t.primaryKey.length > 1))
  } else base = (await restore(run, addDays(lpfDate, -1))).state
  const committed = [
    ...(lpfDate === wm.loadDate ? listing.load : []),
    ...listing.cdc.filter((f) => f.date === lpfDate && f.stem <= wm.lpf),
  ]
  const batches = await run.read(committed)
  for (const f of committed) for (const b of batches.get(f)!) base.apply(b)
  return base
}
