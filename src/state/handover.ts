// The hand-over between the SQLite state and the Spark job's state (docs/scale-out.md): a table's watermark, ledger
// and tombstones as plain values. Reading and writing them in the lake is src/spark/handover.ts's.
import { StateError } from '../errors.js'
import type { OrderValue } from '../batch.js'
import type { ProcessedFile, StateStore, Watermark } from './state-store.js'
import type { RawPart } from './raw-parts.js'
import { lpfDate } from '../dms-names.js'

/** Format of `<state>/<Source>/<TableName>/watermark.json`, shared with assets/spark-job/ (STATE_FORMAT). */
export const HANDOVER_FORMAT = 1

export interface HandoverTombstone {
  /** The key as src/batch.ts encodes it. */
  key: string
  ts: OrderValue
  seq: OrderValue
  /** The delete's file order key (`0:LOAD…` or `1:<time name>`) and row. */
  file: string
  row: number
}

export interface HandoverState {
  watermark: Watermark
  ledger: ProcessedFile[]
  tombstones: HandoverTombstone[]
  fingerprint: string | null
  /**
   * The RAW parts committed for the watermark's date (the date a continuation writes again): the job's files of a
   * RAW Iceberg table's partition, or cdc-apply's parts on an export. Recorded by an import, so that the next RAW
   * commit of the date keeps them (docs/scale-out.md); undefined when the hand-over names none.
   */
  raw?: { date: string; parts: RawPart[] } | undefined
}

/** The table's state as committed in the state file; undefined when the table has no watermark. */
export function exportTable(
  state: StateStore,
  source: string,
  table: string,
  compositeKey: boolean,
): HandoverState | undefined {
  const watermark = state.get(source, table)
  if (watermark === undefined) return undefined
  // Values are handed over as the state file holds them. Since state format 5 a string ts/seq comes back a string; a
  // tombstone written by an older build may hold a number where the column is a string (NUMERIC affinity converted it,
  // losing digits past 15): it is passed on as that number, since the lost digits cannot be recovered here either
  // (docs/operations.md, the state file).
  const tombstones = [...state.tombstones(source, table, compositeKey)].map(([key, o]) => ({
    key,
    ts: o.ts,
    seq: o.seq,
    file: o.file,
    row: o.row,
  }))
  const date = lpfDate(watermark)
  const parts = state
    .rawParts(source, table, date)
    .map((p) => ({ name: p.name, rows: p.rows, first: p.first, last: p.last }))
  return {
    watermark,
    ledger: state.processedFiles(source, table),
    tombstones,
    fingerprint: state.meta(source, table)?.fingerprint ?? null,
    ...(parts.length > 0 ? { raw: { date, parts } } : {}),
  }
}

/**
 * Replaces the table's watermark, ledger, tombstones and committed RAW parts with the handed-over ones, in one
 * transaction (the caller holds the state lock). The fingerprint is kept when the hand-over has none.
 */
export function importTable(state: StateStore, h: HandoverState, liveRows: number): void {
  try {
    state.commit({
      watermark: h.watermark,
      files: h.ledger,
      tombstones: {
        upsert: h.tombstones.map((t) => [t.key, { ts: t.ts, seq: t.seq, file: t.file, row: t.row }]),
        remove: [],
      },
      reset: true,
      liveRows,
      fingerprint: h.fingerprint ?? undefined,
      raw: h.raw && { date: h.raw.date, parts: h.raw.parts, legacy: [] },
    })
  } catch (err) {
    if (err instanceof StateError) throw err
    throw new StateError(
      'CDC_STATE_UNAVAILABLE',
      `importing the state of ${h.watermark.source}.${h.watermark.table} failed: ${(err as Error).message}`,
      { cause: err },
    )
  }
}
