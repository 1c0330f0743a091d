// RAW written as it is read: a run's files of one date become part files of at most parquet.rowsPerFile rows, put in
// file order while the run goes on, each named from the write's first and last file (docs/semantics.md, "RAW").
import * as A from 'apache-arrow'
import type { Config } from './config.js'
import type { ChangeBatch, TableSchema } from './batch.js'
import type { RawPart } from './state/index.js'
import { nullData } from './arrow/gather.js'
import { DataError } from './errors.js'
import { faultPoint } from './fault.js'
import { deletePrefix, joinKey, type ObjectStore } from './store/object-store.js'
import { rawRecordBatch, rawSchema, recordBatch, toParquet } from './write.js'

/** A whole-date part written by earlier versions (and by the Spark job): kept by a prune, an input of compaction. */
export const LEGACY_PART = /^part-\d{5}\.parquet$/

/** Parts encoded or being put at once: bounds what memory holds of RAW to about two parts. */
const IN_FLIGHT = 2

/**
 * The name of part `k` of a write whose first and last files are `first` and `last`; a compaction's outputs carry
 * a `c` before the index, so that they can never overwrite one of their inputs. A RAW Iceberg table's parts carry
 * the write's `token` too: a rerun never overwrites a file an Iceberg snapshot references.
 */
export function partName(first: string, last: string, k: number, compacted = false, token?: string): string {
  const t = token === undefined ? '' : `${token}-`
  return `part-${first}-${last}-${t}${compacted ? 'c' : ''}${String(k).padStart(5, '0')}.parquet`
}

/** How a RawSink writes: a compaction's outputs; a RAW Iceberg table's token and field ids. */
export interface RawSinkOptions {
  compacted?: boolean
  /** Put in every part's name (RAW Iceberg tables: a random token per write). */
  token?: string
  /** The schema a part is encoded with (RAW Iceberg tables: the Iceberg field ids in the Arrow metadata). */
  withIds?: (schema: A.Schema) => Promise<A.Schema>
}

/** Streams rows into the part files of one write of one date. */
export class RawSink {
  private pending: A.RecordBatch[] = []
  private pendingRows = 0
  private schema: A.Schema | undefined
  private inflight: Promise<void>[] = []
  private readonly all: Promise<void>[] = []
  /** The parts written so far, in order. */
  readonly parts: RawPart[] = []
  /** The size in bytes of each part put, by name. */
  readonly sizes = new Map<string, number>()

  constructor(
    private readonly store: ObjectStore,
    /** The date folder: `<source>/<table>/<date>`. */
    readonly prefix: string,
    readonly first: string,
    readonly last: string,
    private readonly opts: Config['parquet'],
    private readonly signal: AbortSignal | undefined,
    private readonly how: RawSinkOptions = {},
  ) {}

  /** The RAW columns of the parts written so far (a file of a later schema widens them). */
  rowSchema(): A.Schema {
    return this.schema ?? new A.Schema([])
  }

  /** This write's object names so far. */
  names(): Set<string> {
    return new Set(this.parts.map((p) => p.name))
  }

  /** Adds a file's batches, in file order, as RAW rows of the table's current schema. */
  async add(batches: ChangeBatch[], table: TableSchema): Promise<void> {
    const schema = rawSchema(table)
    await this.addRecords(
      schema,
      batches.map((b) => rawRecordBatch(schema, b)),
    )
  }

  /**
   * Adds RAW record batches (a compaction's inputs read back, `from` naming the part); every full part is encoded and
   * put. A column of a batch whose type is not the write's is refused (CDC_SCHEMA_MISMATCH), never merged mistyped.
   */
  async addRecords(schema: A.Schema, batches: A.RecordBatch[], from?: string): Promise<void> {
    this.widen(schema)
    for (const b of batches) {
      this.pending.push(b.schema === this.schema ? b : conform(b, this.schema!, from))
      this.pendingRows += b.numRows
    }
    while (this.pendingRows >= this.opts.rowsPerFile) await this.flush(this.opts.rowsPerFile)
  }

  /** Writes the last part (one empty part when nothing was added) and waits for every put; returns the parts. */
  async finish(): Promise<RawPart[]> {
    if (this.pendingRows > 0 || this.parts.length === 0) await this.flush(this.pendingRows)
    await Promise.all(this.all)
    return this.parts
  }

  /**
   * Waits for every put under way, whatever their outcome: after an error, so that no part of this write lands after
   * the next attempt has pruned the folder (such a part would be an uncommitted leftover with rows twice).
   */
  async settled(): Promise<void> {
    await Promise.allSettled(this.all)
  }

  /** A file of a later schema adds columns: the rows waiting for their part get them, NULL. */
  private widen(schema: A.Schema): void {
    if (this.schema && this.schema.fields.length >= schema.fields.length) return
    this.schema = schema
    this.pending = this.pending.map((b) => conform(b, schema))
  }

  private async flush(n: number): Promise<void> {
    if (this.inflight.length >= IN_FLIGHT) await this.inflight.shift()
    this.signal?.throwIfAborted()
    const schema = this.schema ?? new A.Schema([])
    const table = new A.Table(schema, this.pending)
    const part = n === table.numRows ? table : table.slice(0, n)
    const rest = n === table.numRows ? [] : table.slice(n).batches
    this.pending = rest
    this.pendingRows -= n
    const name = partName(this.first, this.last, this.parts.length, this.how.compacted, this.how.token)
    this.parts.push({ name, rows: n, first: this.first, last: this.last })
    const ids = this.how.withIds && (await this.how.withIds(schema))
    // toParquet serialises the rows now: the batches can go once it returns.
    const bytes = toParquet(
      ids
        ? new A.Table(
            ids,
            part.batches.map((b) => new A.RecordBatch(ids, b.data)),
          )
        : part,
      this.opts,
    )
    const put = bytes.then(async (body) => {
      await this.store.put(joinKey(this.prefix, name), body, this.signal ? { signal: this.signal } : {})
      this.sizes.set(name, body.length)
      faultPoint('after-raw-part')
    })
    put.catch(() => undefined) // awaited by finish (or by the next flush)
    this.inflight.push(put)
    this.all.push(put)
  }
}

/**
 * A record batch as `schema` has it: columns taken by name, the ones it lacks all NULL. A column of another type (a
 * part another engine wrote with other types, read back by a compaction) is refused: its values would be merged
 * under the wrong type.
 */
function conform(b: A.RecordBatch, schema: A.Schema, from?: string): A.RecordBatch {
  const columns = schema.fields.map((f) => {
    const i = b.schema.fields.findIndex((x) => x.name === f.name)
    if (i < 0) return nullData(f.type as A.DataType, b.numRows)
    const have = b.schema.fields[i]!.type as A.DataType
    if (!A.util.compareTypes(have, f.type as A.DataType))
      throw new DataError(
        'CDC_SCHEMA_MISMATCH',
        `RAW column ${JSON.stringify(f.name)} is ${String(have)}${from ? ` in ${from}` : ''} but ${String(f.type)} in the write it joins`,
        {
          ...(from ? { file: from } : {}),
          hint: 'the part was written with other column types (by another engine or an older version); reprocess the table to rewrite its RAW',
        },
      )
    return b.data.children[i]!
  })
  return recordBatch(schema, columns, b.numRows)
}

/**
 * Deletes what a date folder holds besides `keep` (this run's parts and the committed live ones): leftovers of an
 * uncommitted attempt. Legacy whole-date parts are kept and returned, unless the run rebuilds the date, when
 * everything it did not write goes.
 */
export async function pruneDate(
  store: ObjectStore,
  prefix: string,
  keep: ReadonlySet<string>,
  rebuild: boolean,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const legacy: string[] = []
  const keys = new Set([...keep].map((n) => joinKey(prefix, n)))
  await deletePrefix(store, prefix, {
    keep: keys,
    only: (key) => {
      const name = key.slice(prefix.length + 1)
      if (rebuild || !LEGACY_PART.test(name)) return true
      legacy.push(name)
      return false
    },
    ...(signal ? { signal } : {}),
  })
  faultPoint('after-prune')
  return legacy.sort()
}
