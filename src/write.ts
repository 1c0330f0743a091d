// Writes RAW and curated date partitions as Parquet (parquet-wasm) and replaces what was there.
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import { constantUtf8, nullData } from './columns.js'
import { META, type Config } from './config.js'
import { joinKey, type ObjectStore } from './store/object-store.js'
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
  const data = schema.fields.slice(1, -2).map((f, i) => b.columns[i] ?? nullData(f.type, n))
  return recordBatch(schema, [op, ...data, constantUtf8(b.file.name, n), row], n)
}

export function recordBatch(schema: A.Schema, columns: A.Data[], length: number): A.RecordBatch {
  return new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length, nullCount: 0, children: columns }))
}

export interface WrittenPartition {
  keys: string[]
  rows: number
  bytes: number
}

type ParquetOptions = Config['parquet']

const CODECS = { snappy: pw.Compression.SNAPPY, zstd: pw.Compression.ZSTD, gzip: pw.Compression.GZIP, none: pw.Compression.UNCOMPRESSED }

export function toParquet(table: A.Table, opts: ParquetOptions): Uint8Array {
  // WriterProperties and the wasm Table are consumed by writeParquet: build fresh ones per file.
  const props = new pw.WriterPropertiesBuilder()
    .setCompression(CODECS[opts.compression])
    .setMaxRowGroupSize(opts.rowGroupSize)
    .setCreatedBy('cdc-apply')
    .build()
  return pw.writeParquet(pw.Table.fromIPCStream(A.tableToIPC(table, 'stream')), props)
}

/**
 * Replaces the partition at `prefix` with `table`: part files of at most rowsPerFile rows are written first
 * (each put is atomic), then any other object under the prefix is deleted. An empty table still gets one part
 * file so that the partition exists and carries the schema.
 */
export async function writePartition(store: ObjectStore, prefix: string, table: A.Table, opts: ParquetOptions, signal?: AbortSignal): Promise<WrittenPartition> {
  const keys: string[] = []
  let bytes = 0
  const parts = Math.max(1, Math.ceil(table.numRows / opts.rowsPerFile))
  for (let p = 0; p < parts; p++) {
    signal?.throwIfAborted()
    const slice = parts === 1 ? table : table.slice(p * opts.rowsPerFile, Math.min(table.numRows, (p + 1) * opts.rowsPerFile))
    const body = toParquet(slice, opts)
    const key = joinKey(prefix, `part-${String(p).padStart(5, '0')}.parquet`)
    await store.put(key, body, { signal })
    keys.push(key)
    bytes += body.length
  }
  const stale: string[] = []
  for await (const o of store.list(`${prefix}/`, { signal })) if (!keys.includes(o.key)) stale.push(o.key)
  if (stale.length > 0) await store.delete(stale, { signal })
  return { keys, rows: table.numRows, bytes }
}

/** Reads every part of a partition written by writePartition; undefined when the partition does not exist. */
export async function readPartition(store: ObjectStore, prefix: string, signal?: AbortSignal): Promise<A.Table | undefined> {
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
