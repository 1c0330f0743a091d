// The segments of the curated state (KeyedState, apply.ts) and the snapshot gather that consolidates them: the live
// rows gathered slice by slice into new segments, each old segment released as soon as no later slice reads it, so
// that memory holds the state about once (not its old segments plus a whole new copy). Pure, no I/O.
import * as A from 'apache-arrow'
import { findRuns, gather, nullData, utf8Dictionary } from './arrow/gather.js'
import { OrderColumn } from './arrow/values.js'
import { fileOrderKey, stemOf } from './dms-names.js'
import type { OrderValue } from './batch.js'

/**
 * Rows the state points into: one file's batch (one name and order key, rows numbered from rowBase) or a snapshot
 * slice (a name and row number per row). Plain fields, one shape, so the apply loop stays monomorphic.
 *
 * Memory per row is what bounds the table a process can hold (10M+ rows), so nothing here is a JS value per row:
 * ordering values are read from the segment's own Arrow column (`tsCol`; a JS array only for the types that
 * cannot be read back as they were compared, see OrderColumn), names are a dictionary with a row index.
 */
export interface Segment {
  length: number
  /** One column per schema field the segment's file had; later fields (schema drift) read as NULL. */
  columns: A.Data[]
  tsCol: OrderColumn | undefined
  seqCol: OrderColumn | undefined
  /** The ordering values when they are not read from a column (tsCol undefined). */
  ts: OrderValue[] | undefined
  seq: OrderValue[] | undefined
  /** The distinct DMS file names (what cdc_file holds) and their order keys, and each row's index into them (null: all rows are names[0]). */
  names: string[]
  fileKeys: string[]
  nameIdx: Uint32Array | null
  /** Row numbers in the file: per row, or rowBase + i + 1. */
  rowNums: ArrayLike<number> | null
  rowBase: number
}

export const EMPTY_SEGMENT: Segment = {
  length: 0,
  columns: [],
  tsCol: undefined,
  seqCol: undefined,
  ts: undefined,
  seq: undefined,
  names: [''],
  fileKeys: [''],
  nameIdx: null,
  rowNums: null,
  rowBase: 0,
}

export function segName(s: Segment, i: number): string {
  return s.names[s.nameIdx === null ? 0 : s.nameIdx[i]!]!
}
export function segKey(s: Segment, i: number): string {
  return s.fileKeys[s.nameIdx === null ? 0 : s.nameIdx[i]!]!
}
export function segRow(s: Segment, i: number): number {
  return s.rowNums === null ? s.rowBase + i + 1 : s.rowNums[i]!
}
export function segTs(s: Segment, i: number): OrderValue {
  return s.tsCol !== undefined ? s.tsCol.at(i) : s.ts !== undefined ? s.ts[i]! : null
}
export function segSeq(s: Segment, i: number): OrderValue {
  return s.seqCol !== undefined ? s.seqCol.at(i) : s.seq !== undefined ? s.seq[i]! : null
}

/** The reader of a batch's ordering column when its values can be read back from the column itself. */
export function orderColumnOf(
  columns: A.Data[],
  values: OrderValue[] | undefined,
  at: number | undefined,
): OrderColumn | undefined {
  return values === undefined || at === undefined || columns[at] === undefined
    ? undefined
    : OrderColumn.of(columns[at], at)
}

/** Dictionary-encodes per-row file names (runs of one name are the rule): distinct names, their keys, row indexes. */
export function nameDictionary(perRow: ArrayLike<string>): Pick<Segment, 'names' | 'fileKeys' | 'nameIdx'> {
  const names: string[] = []
  const at = new Map<string, number>()
  const idx = new Uint32Array(perRow.length)
  let last: string | undefined
  let lastIdx = 0
  for (let i = 0; i < perRow.length; i++) {
    const x = perRow[i]!
    if (x !== last) {
      last = x
      let k = at.get(x)
      if (k === undefined) at.set(x, (k = names.push(x) - 1))
      lastIdx = k
    }
    idx[i] = lastIdx
  }
  if (names.length === 0) names.push('')
  return { names, fileKeys: names.map((x) => fileOrderKey(stemOf(x))), nameIdx: idx }
}

/** Row numbers (below 2^53) as an Int64 column's values, without a BigInt per value. */
export function int64Of(xs: ArrayLike<number>): BigInt64Array {
  const out = new BigInt64Array(xs.length)
  const words = new Uint32Array(out.buffer)
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!
    words[2 * i] = x >>> 0
    words[2 * i + 1] = Math.floor(x / 4294967296)
  }
  return out
}

/** A slice of a snapshot: its rows' columns (the schema's fields, then cdc_file and cdc_row), built when asked. */
export interface SnapshotSlice {
  length: number
  columns(): A.Data[]
}

/** The snapshot columns of a consolidated segment; cdc_file and cdc_row are built now (the segment keeps neither). */
function sliceOf(s: Segment): SnapshotSlice {
  return {
    length: s.length,
    columns: () => [
      ...s.columns,
      utf8Dictionary(s.names, s.nameIdx, s.length),
      A.makeData({ type: new A.Int64(), length: s.length, nullCount: 0, data: int64Of(s.rowNums ?? []) }),
    ],
  }
}

/** Where the live keys' winners are: slot k's change is row `row[k]` of segment `seg[k]`. */
export interface Slots {
  seg: Uint32Array
  row: Uint32Array
}

/**
 * Gathers the live rows (`live`: their slots) from `segments` in segment order, `sliceRows` at a time, into new
 * segments of at most that many rows, and points the slots at them. `segments` is consumed: each entry is replaced
 * by EMPTY_SEGMENT once no later slice reads it, so that its columns can be collected while the next slices are
 * gathered. At least one slice (of no rows when nothing is live).
 */
export function consolidateSegments(
  fields: readonly A.Field<A.DataType>[],
  segments: Segment[],
  live: Uint32Array,
  slots: Slots,
  sliceRows: number,
): { segments: Segment[]; slices: SnapshotSlice[] } {
  const n = live.length
  const { seg: slotSeg, row: slotRow } = slots
  const order = gatherOrder(segments, live, slots)
  const out: Segment[] = []
  let released = 0
  const per = Math.max(1, Math.floor(Math.min(sliceRows, n)))
  for (let a = 0; a < n || out.length === 0; a += per) {
    const b = Math.min(n, a + per)
    const m = b - a
    const segs = new Uint32Array(m)
    const rows = new Uint32Array(m)
    for (let i = 0; i < m; i++) {
      const slot = live[order[a + i]!]!
      segs[i] = slotSeg[slot]!
      rows[i] = slotRow[slot]!
    }
    // the slice reads segments lo..hi only (rows come in segment order): renumber from lo
    const lo = m > 0 ? segs[0]! : 0
    const src = m > 0 ? segments.slice(lo, segs[m - 1]! + 1) : segments
    for (let i = 0; i < m; i++) segs[i] -= lo
    const p = out.length
    out.push(gatherSlice(fields, src, segs, rows))
    for (let i = 0; i < m; i++) {
      // the key's slot now points at its row in the new segment
      const slot = live[order[a + i]!]!
      slotSeg[slot] = p
      slotRow[slot] = i
    }
    // segments before the next slice's first are read no more
    const next = b < n ? slotSeg[live[order[b]!]!]! : segments.length
    for (; released < next; released++) segments[released] = EMPTY_SEGMENT
    if (b >= n) break
  }
  return { segments: out, slices: out.map(sliceOf) }
}

/**
 * The live rows' gather order, as indexes into `live`: by (segment, row). Reading each source column front to back
 * is several times faster than jumping between segments, and the order of a snapshot's rows carries no meaning.
 */
function gatherOrder(segments: readonly Segment[], live: Uint32Array, slots: Slots): Uint32Array {
  const n = live.length
  const { seg: slotSeg, row: slotRow } = slots
  const order = new Uint32Array(n)
  const shift = 2 ** Math.ceil(Math.log2(n + 1))
  let longest = 1
  for (const sg of segments) if (sg.length > longest) longest = sg.length
  if (segments.length * longest * shift <= Number.MAX_SAFE_INTEGER) {
    // (segment, row, index) packed into one exact double: a native numeric sort, no comparator calls
    const packed = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      const slot = live[i]!
      packed[i] = (slotSeg[slot]! * longest + slotRow[slot]!) * shift + i
    }
    packed.sort()
    for (let i = 0; i < n; i++) order[i] = packed[i]! % shift
  } else {
    for (let i = 0; i < n; i++) order[i] = i
    order.sort((a, b) => slotSeg[live[a]!]! - slotSeg[live[b]!]! || slotRow[live[a]!]! - slotRow[live[b]!]!)
  }
  return order
}

/** One new segment: rows `rows[k]` of `src[segs[k]]`, with the file names only its rows have. */
function gatherSlice(
  fields: readonly A.Field<A.DataType>[],
  src: readonly Segment[],
  segs: Uint32Array,
  rows: Uint32Array,
): Segment {
  const n = segs.length
  const runs = findRuns(segs, rows)
  const columns = fields.map((f, c) =>
    gather(
      f.type,
      src.map((s) => s.columns[c] ?? nullData(f.type, s.length)),
      segs,
      rows,
      runs,
    ),
  )
  // file names: one dictionary over the segments' names, only those a row of the slice still has
  const dict = new Map<string, number>()
  const seen: string[] = []
  const seenKeys: string[] = []
  const trans = src.map((s) =>
    Uint32Array.from(s.names, (x, j) => {
      let d = dict.get(x)
      if (d === undefined) {
        dict.set(x, (d = seen.push(x) - 1))
        seenKeys.push(s.fileKeys[j]!)
      }
      return d
    }),
  )
  const nameIdx = new Uint32Array(n)
  const uses = new Uint32Array(seen.length)
  let maxRow = 0
  const rowNums = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const s = src[segs[i]!]!
    const r = rows[i]!
    const d = trans[segs[i]!]![s.nameIdx === null ? 0 : s.nameIdx[r]!]!
    nameIdx[i] = d
    uses[d]!++
    const num = segRow(s, r)
    rowNums[i] = num
    if (num > maxRow) maxRow = num
  }
  const names: string[] = []
  const fileKeys: string[] = []
  const remap = new Uint32Array(seen.length)
  for (let d = 0; d < seen.length; d++)
    if (uses[d]! > 0) {
      remap[d] = names.push(seen[d]!) - 1
      fileKeys.push(seenKeys[d]!)
    }
  for (let i = 0; i < n; i++) nameIdx[i] = remap[nameIdx[i]!]!
  if (names.length === 0) {
    names.push('')
    fileKeys.push('')
  }
  const tsOrder = sliceOrder(src, columns, segs, rows, 'ts')
  const seqOrder = sliceOrder(src, columns, segs, rows, 'seq')
  return {
    length: n,
    columns,
    tsCol: tsOrder.col,
    seqCol: seqOrder.col,
    ts: tsOrder.values,
    seq: seqOrder.values,
    names,
    fileKeys,
    nameIdx,
    rowNums: maxRow <= 0xffffffff ? Uint32Array.from(rowNums) : rowNums,
    rowBase: 0,
  }
}

/** A slice's ordering values: read from its gathered column when every source segment read them from theirs. */
function sliceOrder(
  src: readonly Segment[],
  columns: A.Data[],
  segs: Uint32Array,
  rows: Uint32Array,
  which: 'ts' | 'seq',
): { col: OrderColumn | undefined; values: OrderValue[] | undefined } {
  const sources = src.filter((s) => s.length > 0)
  const cols = sources.map((s) => (which === 'ts' ? s.tsCol : s.seqCol))
  const index = cols.find((c) => c !== undefined)?.index
  if (index !== undefined && cols.every((c) => c?.index === index)) {
    const col = OrderColumn.of(columns[index]!, index)
    if (col !== undefined) return { col, values: undefined }
  }
  if (!sources.some((s) => (which === 'ts' ? (s.tsCol ?? s.ts) : (s.seqCol ?? s.seq)) !== undefined))
    return { col: undefined, values: undefined }
  const values = new Array<OrderValue>(segs.length)
  for (let i = 0; i < segs.length; i++) {
    const s = src[segs[i]!]!
    values[i] = which === 'ts' ? segTs(s, rows[i]!) : segSeq(s, rows[i]!)
  }
  return { col: undefined, values }
}
