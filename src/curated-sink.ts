// Where a table's curated snapshots go: a Parquet folder per date (tableFormat "parquet") or one Iceberg table with
// a tag per date (tableFormat "iceberg"). run.ts takes a date's snapshot with start() (encoding begins at once) and
// calls put() in date order, before the watermark commit of that date.
import { randomUUID } from 'node:crypto'
import * as A from 'apache-arrow'
import { tableLabel, type Config, type TableConfig } from './config.js'
import { encodePartition, putPartition, readPartition, toParquet } from './write.js'
import { joinKey, type ObjectStore } from './store/object-store.js'
import { LocalStore } from './store/local-store.js'
import { IcebergTable } from './iceberg/table.js'
import { FIELD_ID, withFieldIds } from './iceberg/schema.js'

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

export interface CuratedSink {
  /** Starts encoding the rows of `date`'s end; put() writes them. */
  start(date: string, table: A.Table, changed: boolean): CuratedPut
  /** The rows as of the end of `date`, or undefined when the date has no snapshot. */
  read(date: string, signal?: AbortSignal): Promise<A.Table | undefined>
}

export function curatedSink(config: Config, t: TableConfig, store: ObjectStore): CuratedSink {
  const prefix = joinKey(t.source, t.name)
  return t.tableFormat === 'iceberg' ? new IcebergSink(config, store, prefix, tableLabel(t)) : new ParquetFolderSink(config, store, prefix)
}

/** Today's layout: `<curated>/<Source>/<TableName>/<YYYYMMDD>/part-*.parquet`, each date a full copy. */
export class ParquetFolderSink implements CuratedSink {
  constructor(
    readonly config: Config,
    readonly store: ObjectStore,
    readonly prefix: string,
  ) {}

  start(date: string, table: A.Table): CuratedPut {
    const encoded = encodePartition(table, this.config.parquet)
    return { rows: encoded.rows, put: async (_c, signal) => void (await putPartition(this.store, joinKey(this.prefix, date), encoded, signal)) }
  }

  read(date: string, signal?: AbortSignal): Promise<A.Table | undefined> {
    return readPartition(this.store, joinKey(this.prefix, date), signal)
  }
}

/** The Iceberg tag of the snapshot that ends a date (a name, not a number: Spark reads numbers as snapshot ids). */
export function dateTag(date: string): string {
  return `d${date}`
}

/** The URI of a store's root as Iceberg metadata records it. */
export function storeUri(store: ObjectStore): string {
  return store instanceof LocalStore ? `file://${store.root}` : store.url.replace(/\/+$/, '')
}

/**
 * `<curated>/<Source>/<TableName>/` as an Iceberg v2 table. Each put with new files commits one snapshot that
 * overwrites the table with the date's rows (main and the date's tag point at it); a date without new files only
 * gets its tag on the current snapshot.
 */
export class IcebergSink implements CuratedSink {
  private table: Promise<IcebergTable> | undefined
  /** Puts run one after the other (run.ts already orders them); encodes may start before the previous put ends. */
  private last: Promise<unknown> = Promise.resolve()

  constructor(
    readonly config: Config,
    readonly store: ObjectStore,
    readonly prefix: string,
    readonly label: string,
  ) {}

  private open(signal?: AbortSignal): Promise<IcebergTable> {
    this.table ??= IcebergTable.open(this.store, this.prefix, `${storeUri(this.store)}/${this.prefix}`, this.label, signal)
    this.table.catch(() => (this.table = undefined))
    return this.table
  }

  start(date: string, table: A.Table, changed: boolean): CuratedPut {
    const opts = this.config.parquet
    const slices: A.Table[] = []
    for (let p = 0; p < Math.ceil(table.numRows / opts.rowsPerFile); p++) slices.push(table.slice(p * opts.rowsPerFile, (p + 1) * opts.rowsPerFile))
    const encode = (ice: IcebergTable): { ids: string; parts: Promise<Uint8Array[]> } => {
      const schema = withFieldIds(table.schema, ice.schemaFor(table.schema))
      const parts = Promise.all(slices.map((s) => toParquet(new A.Table(schema, s.batches.map((b) => new A.RecordBatch(schema, b.data))), opts)))
      return { ids: fieldIds(schema), parts }
    }
    // Encoding starts now with the field ids the table gives the columns now; put re-encodes in the rare case that a
    // put in between changed them (it cannot while columns are only added, but the ids must be those committed).
    const early = this.open().then(encode)
    early.then((e) => e.parts).catch(() => undefined) // awaited by put
    const put = async (commit: CommitInfo | undefined, signal?: AbortSignal): Promise<void> => {
      const ice = await this.open(signal)
      if (!changed && ice.meta?.['current-snapshot-id'] !== undefined) return ice.tag([dateTag(date)], signal)
      let enc = await early
      if (enc.ids !== fieldIds(withFieldIds(table.schema, ice.schemaFor(table.schema)))) enc = encode(ice)
      const parts = await enc.parts
      const id = `${date}-${String((ice.meta?.['last-sequence-number'] ?? 0) + 1).padStart(5, '0')}-${randomUUID()}`
      const files = []
      for (const [p, body] of parts.entries()) {
        const key = joinKey(this.prefix, 'data', `${id}-${String(p).padStart(5, '0')}.parquet`)
        await this.store.put(key, body, { signal })
        files.push({ key, rows: slices[p]!.numRows, bytes: body.length })
      }
      const summary: Record<string, string> = { 'cdc-apply.date': date }
      if (commit) Object.assign(summary, { 'cdc-apply.lpf': commit.lpf, 'cdc-apply.full-load': String(commit.fullLoad) })
      await ice.overwrite({ arrow: table.schema, files, summary, tags: [dateTag(date)] }, signal)
    }
    return {
      rows: table.numRows,
      put: (commit, signal) => {
        const done = this.last.then(() => put(commit, signal))
        this.last = done.catch(() => undefined)
        return done
      },
    }
  }

  async read(date: string, signal?: AbortSignal): Promise<A.Table | undefined> {
    await this.last
    return (await this.open(signal)).read(dateTag(date), signal)
  }
}

function fieldIds(schema: A.Schema): string {
  return schema.fields.map((f) => `${f.name}=${f.metadata.get(FIELD_ID)}`).join(',')
}
