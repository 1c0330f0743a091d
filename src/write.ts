// Writes RAW and curated date partitions as Parquet (parquet-wasm) and replaces what was there.
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import { encodeParquet } from './parquet-pool.js'
import { constantUtf8, nullData } from './arrow/gather.js'
import { META, type Config } from './config.js'
import { joinKey, replacePrefix, type ObjectStore, type Part } from './store/object-store.js'
import type { ChangeBatch, TableSchema } from './batch.js'

const PROVENANCE = [new A.Field(META.file, new A.Utf8(), true), new A.Field(META.row, new A.Int64(), true)]

export function rawSchema(s: TableSchema): A.Schema {
  return new A.Schema([new A.Field(META.op, new A.Utf8(), true), ...s.fields, ...PROVENANCE])
}

export function curatedSchema(s: TableSchema): A.Schema {
  return new A.Schema([...s.fields, ...PROVENANCE])
}

/** RAW rows of one batch: Op, the data columns, the file name and the row number in the file. */
export function rawRecordBatch(schema: A.Schema, b: ChangeBatch): A.RecordBatch {
  const n = b.length
  const offsets = new Int32Array(n + 1)
  for (let i = 0; i <= n; i++) offsets[i] = i
  const op = A.makeData({ type: new A.Utf8(), length: n, nullCount: 0, valueOffsets: offsets, data: b.ops })
  const rows = new BigInt64Array(n)
  for (let i = 0; i < n; i++) rows[i] = BigInt(b.rowNums ? b.rowNums[i]! : b.rowBase + i + 1)
  const row = A.makeData({ type: new A.Int64(), length: n, nullCount: 0, data: rows })
  // A file older than a schema change lacks the later columns: they are NULL in its rows.
  const data = schema.fields.slice(1, -2).map((f, i) => b.columns[i] ?? nullData(f.type as A.DataType, n))
  return recordBatch(schema, [op, ...data, constantUtf8(b.file.name, n), row], n)
}

export function recordBatch(schema: A.Schema, columns: A.Data[], length: number): A.RecordBatch {
  return new A.RecordBatch(
    schema,
    A.makeData({ type: new A.Struct(schema.fields), length, nullCount: 0, children: columns }),
  )
}

type ParquetOptions = Config['parquet']

/** Encodes `table` as Parquet (in a worker thread when large; see parquet-pool.ts). */
export function toParquet(table: A.Table, opts: ParquetOptions): Promise<Uint8Array> {
  return encodeParquet(A.tableToIPC(table, 'stream'), table.numRows, {
    ...opts,
    dictionary: dictionaryColumns(table.schema),
  })
}

/** The columns worth dictionary encoding: strings (Op, cdc_file, codes, names); never numbers, dates or decimals. */
export function dictionaryColumns(schema: A.Schema): string[] {
  return schema.fields.filter((f) => A.DataType.isUtf8(f.type) || A.DataType.isBinary(f.type)).map((f) => f.name)
}

/** Parts encoded ahead of the one the put takes: one per encoding worker (parquet-pool.ts), so both stay busy. */
const ENCODE_AHEAD = 2

/**
 * A partition's part files, being encoded a few at a time: start it early, put it with putPartition, which takes
 * the parts in order; part p + ENCODE_AHEAD starts when part p's bytes are taken.
 */
export interface EncodedPartition {
  count: number
  rows: number
  /** Part p's bytes (each part is taken once, in order; a failed part rejects). */
  part(p: number): Promise<Uint8Array>
}

/**
 * Starts encoding `parts` (each built when its turn comes, then released once serialised for the encoder), at
 * most `ahead` of them ahead of the put: memory holds a few parts' Arrow and bytes, not the partition's.
 */
export function encodeParts(
  parts: readonly (() => A.Table)[],
  rows: number,
  opts: ParquetOptions,
  ahead = ENCODE_AHEAD,
): EncodedPartition {
  const todo: ((() => A.Table) | undefined)[] = [...parts]
  const started: (Promise<Uint8Array> | undefined)[] = []
  const launch = (): void => {
    const p = started.length
    const build = todo[p]!
    todo[p] = undefined
    let bytes: Promise<Uint8Array>
    try {
      bytes = toParquet(build(), opts)
    } catch (err) {
      bytes = Promise.reject(err as Error)
    }
    bytes.catch(() => undefined) // awaited (and so reported) by the put
    started.push(bytes)
  }
  while (started.length < Math.min(ahead, todo.length)) launch()
  return {
    count: todo.length,
    rows,
    part: async (p) => {
      while (started.length <= p) launch()
      const bytes = await started[p]!
      started[p] = undefined // the put holds them now
      if (started.length < todo.length) launch()
      return bytes
    },
  }
}

/** Starts encoding `table` as part files of at most rowsPerFile rows; an empty table still gets one part. */
export function encodePartition(table: A.Table, opts: ParquetOptions): EncodedPartition {
  const n = Math.max(1, Math.ceil(table.numRows / opts.rowsPerFile))
  const parts = Array.from(
    { length: n },
    (_, p) => () =>
      n === 1 ? table : table.slice(p * opts.rowsPerFile, Math.min(table.numRows, (p + 1) * opts.rowsPerFile)),
  )
  return encodeParts(parts, table.numRows, opts)
}

/**
 * Replaces the partition at `prefix` with the encoded parts: they are put first (each put is atomic), then any
 * other object under the prefix is deleted. A part that fails to encode fails the put (before the deletes).
 */
export async function putPartition(
  store: ObjectStore,
  prefix: string,
  encoded: EncodedPartition,
  signal?: AbortSignal,
): Promise<void> {
  async function* parts(): AsyncIterable<Part> {
    for (let p = 0; p < encoded.count; p++) {
      signal?.throwIfAborted()
      yield { key: joinKey(prefix, `part-${String(p).padStart(5, '0')}.parquet`), body: await encoded.part(p) }
    }
  }
  await replacePrefix(store, prefix, parts(), signal ? { signal } : {})
}

/** Replaces the partition at `prefix` with `table` (encodePartition, then putPartition). */
export function writePartition(
  store: ObjectStore,
  prefix: string,
  table: A.Table,
  opts: ParquetOptions,
  signal?: AbortSignal,
): Promise<void> {
  signal?.throwIfAborted()
  return putPartition(store, prefix, encodePartition(table, opts), signal)
}

/** Reads every part of a partition written by writePartition; undefined when the partition does not exist. */
export async function readPartition(
  store: ObjectStore,
  prefix: string,
  signal?: AbortSignal,
): Promise<A.Table | undefined> {
  const tables: A.Table[] = []
  let found = false
  for await (const o of store.list(`${prefix}/`, { signal })) {
    if (!o.key.endsWith('.parquet')) continue
    found = true
    const bytes = await store.get(o.key, { signal })
    tables.push(A.tableFromIPC(pw.readParquet(bytes, { batchSize: 65536 }).intoIPCStream()))
  }
  if (!found) return undefined
  return tables.length === 1 ? tables[0]! : new A.Table(tables.flatMap((t) => t.batches))
}
