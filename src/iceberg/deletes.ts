// Iceberg v2 position-delete files (spec: "Position Delete Files"): Parquet files of (file_path, pos) rows, sorted by
// file_path then pos, with the reserved field ids 2147483546 and 2147483545. A row at position `pos` (0-based, in
// file order) of the data file `file_path` is deleted for every snapshot that holds the delete file, when the data
// file's data sequence number is at most the delete file's.
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import { gather, utf8Column } from '../arrow/gather.js'
import { columnValues } from '../arrow/values.js'
import { FIELD_ID } from './schema.js'

export const FILE_PATH_ID = 2147483546
export const POS_ID = 2147483545

const field = (name: string, type: A.DataType, id: number): A.Field =>
  new A.Field(name, type, false, new Map([[FIELD_ID, String(id)]]))
/** The position-delete schema: both columns required, with the spec's field ids. */
export const DELETE_SCHEMA = new A.Schema([
  field('file_path', new A.Utf8(), FILE_PATH_ID),
  field('pos', new A.Int64(), POS_ID),
])

/** Positions to delete, by data file path. */
export type Positions = Map<string, number[]>

/** The rows of a position-delete file for `positions`, in the order the spec requires (path, then position). */
export function deleteTable(positions: Positions): A.Table {
  const paths = [...positions.keys()].sort()
  const names: string[] = []
  const pos: bigint[] = []
  for (const p of paths) {
    const ps = Float64Array.from(positions.get(p)!).sort()
    for (const x of ps) {
      names.push(p)
      pos.push(BigInt(x))
    }
  }
  const n = names.length
  const cols = [
    utf8Column(names),
    A.makeData({ type: new A.Int64(), length: n, nullCount: 0, data: BigInt64Array.from(pos) }),
  ]
  return new A.Table(DELETE_SCHEMA, [
    new A.RecordBatch(
      DELETE_SCHEMA,
      A.makeData({ type: new A.Struct(DELETE_SCHEMA.fields), length: n, nullCount: 0, children: cols }),
    ),
  ])
}

/** Adds the positions a delete file holds to `into` (by data file path). */
export function readDeletes(bytes: Uint8Array, into: Map<string, Set<number>>): void {
  const t = A.tableFromIPC(pw.readParquet(bytes, { columns: ['file_path', 'pos'] }).intoIPCStream())
  const fi = t.schema.fields.findIndex((f) => f.name === 'file_path')
  const pi = t.schema.fields.findIndex((f) => f.name === 'pos')
  for (const b of t.batches) {
    const paths = columnValues(b.data.children[fi]!) as string[]
    const pos = columnValues(b.data.children[pi]!)
    for (let i = 0; i < b.numRows; i++) {
      let s = into.get(paths[i]!)
      if (!s) into.set(paths[i]!, (s = new Set()))
      s.add(Number(pos[i]))
    }
  }
}

/** The rows of `t` whose positions (0-based over the whole table) are not in `deleted`, as one batch per input batch. */
export function withoutPositions(t: A.Table, deleted: ReadonlySet<number> | undefined): A.Table {
  if (!deleted || deleted.size === 0) return t
  const batches: A.RecordBatch[] = []
  let base = 0
  for (const b of t.batches) {
    const keep: number[] = []
    for (let i = 0; i < b.numRows; i++) if (!deleted.has(base + i)) keep.push(i)
    base += b.numRows
    batches.push(takeRows(t.schema, [b], new Uint32Array(keep.length), Uint32Array.from(keep)))
  }
  return new A.Table(t.schema, batches)
}

/** One batch of the rows (batch segs[k], row rows[k]) of `batches`. */
export function takeRows(
  schema: A.Schema,
  batches: readonly A.RecordBatch[],
  segs: Uint32Array,
  rows: Uint32Array,
): A.RecordBatch {
  const children = schema.fields.map((f, c) =>
    gather(
      f.type as A.DataType,
      batches.map((b) => b.data.children[c]!),
      segs,
      rows,
    ),
  )
  return new A.RecordBatch(
    schema,
    A.makeData({ type: new A.Struct(schema.fields), length: segs.length, nullCount: 0, children }),
  )
}
