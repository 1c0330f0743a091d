// Where a table's curated snapshots go: a Parquet folder per date (tableFormat "parquet", here) or one Iceberg table
// with a tag per date (tableFormat "iceberg", iceberg-sink.ts). run.ts takes a date's snapshot with start() (encoding
// begins at once) and calls put() in date order, before the watermark commit of that date.
import * as A from 'apache-arrow'
import { tableLabel, type Config, type TableConfig } from './config.js'
import { encodePartition, encodeParts, putPartition, readPartition, recordBatch } from './write.js'
import type { KeyedState } from './apply.js'
import { joinKey, type ObjectStore } from './store/object-store.js'
import { IcebergSink } from './iceberg-sink.js'

/** What the watermark commit that follows a put records: the snapshot summary of an Iceberg table carries it. */
export interface CommitInfo {
  lpf: string
  fullLoad: boolean
}

export interface CuratedPut {
  rows: number
  /** Writes the snapshot; `commit` is undefined for a date without new files (its rows equal the previous date's). */
  put(commit: CommitInfo | undefined, signal?: AbortSignal): Promise<void>
}

/**
 * A date's rows as a sink takes them from the state, once (a take): all of them, or what changed since the state's
 * previous take (mark). The state may move on once start() returns.
 */
export interface CuratedRows {
  /** The curated schema (the state's fields, cdc_file, cdc_row). */
  schema: A.Schema
  /** The mark of the state's previous take (0: none); changes() continues it. */
  since: number
  /** Live rows. */
  live: number
  /** All live rows; `track`: the state counts its changes from here on. `mark`: this take's. */
  all(track: boolean): { table: A.Table; mark: number }
  /**
   * All live rows as a take like all(), in parts of at most `rows` rows (all but the last exactly `rows`): each
   * part's Arrow is built when asked, so that a caller holding one part at a time never holds the whole table twice.
   */
  parts?(track: boolean, rows: number): { parts: (() => A.Table)[]; rows: number; mark: number }
  /** The changed keys' new rows and the rows they supersede, or undefined when the state does not track changes. */
  changes(): { since: number; mark: number; table: A.Table; gone: { names: string[]; rows: Float64Array } } | undefined
}

/** A state's rows for a sink, in `schema` (curatedSchema of its schema). */
export function stateRows(state: KeyedState, schema: A.Schema): CuratedRows {
  return {
    schema,
    since: state.mark,
    live: state.size,
    all: (track) => {
      const snap = state.snapshot(track)
      const s = snap.slices[0]!
      return { table: new A.Table(schema, [recordBatch(schema, s.columns(), s.length)]), mark: state.mark }
    },
    parts: (track, rows) => {
      const snap = state.snapshot(track, rows)
      return {
        parts: snap.slices.map((s) => () => new A.Table(schema, [recordBatch(schema, s.columns(), s.length)])),
        rows: snap.length,
        mark: state.mark,
      }
    },
    changes: () => {
      const c = state.changes()
      return (
        c && {
          since: c.since,
          mark: c.mark,
          table: new A.Table(schema, [recordBatch(schema, c.columns, c.length)]),
          gone: c.gone,
        }
      )
    },
  }
}

export interface CuratedSink {
  /**
   * Starts encoding the rows of `date`'s end; put() writes them. `rebuilt`: the state was built from the full load
   * again (not continued from the last commit), so its rows may reuse the names (cdc_file, cdc_row) of other rows.
   */
  start(date: string, rows: CuratedRows | A.Table, changed: boolean, rebuilt?: boolean): CuratedPut
  /** The rows as of the end of `date`, or undefined when the date has no snapshot. */
  read(date: string, signal?: AbortSignal): Promise<A.Table | undefined>
}

export function curatedSink(config: Config, t: TableConfig, store: ObjectStore): CuratedSink {
  const prefix = joinKey(t.source, t.name)
  return t.tableFormat === 'iceberg'
    ? new IcebergSink(config, store, prefix, tableLabel(t))
    : new ParquetFolderSink(config, store, prefix)
}

/** Today's layout: `<curated>/<Source>/<TableName>/<YYYYMMDD>/part-*.parquet`, each date a full copy. */
export class ParquetFolderSink implements CuratedSink {
  constructor(
    readonly config: Config,
    readonly store: ObjectStore,
    readonly prefix: string,
  ) {}

  start(date: string, rows: CuratedRows | A.Table): CuratedPut {
    // The state's rows are taken slice by slice (one per part file, gathered now: the state moves on once this
    // returns) and each part's Arrow is built and encoded only when the encoder is ready for it (encodeParts).
    const per = partRows(rows instanceof A.Table ? rows.numRows : rows.live, this.config)
    const opts = { ...this.config.parquet, rowsPerFile: per }
    const take = !(rows instanceof A.Table) && rows.parts ? rows.parts(false, per) : undefined
    const encoded = take
      ? encodeParts(take.parts, take.rows, opts)
      : encodePartition(rows instanceof A.Table ? rows : rows.all(false).table, opts)
    return {
      rows: encoded.rows,
      put: async (_c, signal) => {
        await putPartition(this.store, joinKey(this.prefix, date), encoded, signal)
      },
    }
  }

  read(date: string, signal?: AbortSignal): Promise<A.Table | undefined> {
    return readPartition(this.store, joinKey(this.prefix, date), signal)
  }
}

/** Rows from which a snapshot is split into at least two parts, so that both encoding workers take one. */
const SPLIT_ROWS = 100_000

/**
 * Rows per part file of a snapshot of `n` rows: at most parquet.rowsPerFile, and from SPLIT_ROWS on at least two
 * parts of even size (one part per encoding worker: a 1M-row snapshot under the default 1,000,000 would otherwise
 * be encoded by one worker while the other idles).
 */
export function partRows(n: number, config: Config): number {
  const max = config.parquet.rowsPerFile
  if (n < SPLIT_ROWS) return max
  return Math.ceil(n / Math.max(2, Math.ceil(n / max)))
}
