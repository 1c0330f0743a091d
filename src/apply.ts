// The curated state of one table: the latest change per primary key, deletes kept as tombstones. Pure, no I/O.
//
// A key's state is the maximum of all its changes under the order (ts, seq, file, row), NULL lowest. The winner
// is live unless it is a delete; a winning delete is kept as a tombstone so that an older change processed later
// cannot bring the key back. Taking a maximum is idempotent and order-free, so replaying a file changes nothing.
import * as A from 'apache-arrow'
import { findRuns, gather, nullData, utf8Column } from './arrow/gather.js'
import { fileOrderKey, stemOf } from './dms-names.js'
import { OP_DELETE, OP_INSERT, type ChangeBatch, type OrderValue, type TableSchema } from './batch.js'

/** Where a key's winning change stands in the order. */
export interface Order {
  ts: OrderValue
  seq: OrderValue
  /** The file's order key (fileOrderKey of its stem). */
  file: string
  row: number
}

/**
 * Rows the state points into: one file's batch (one name and order key, rows numbered from rowBase) or a restored
 * snapshot (a name, key and row number per row). Plain fields, one shape, so the apply loop stays monomorphic.
 */
interface Segment {
  length: number
  /** One column per schema field the segment's file had; later fields (schema drift) read as NULL. */
  columns: A.Data[]
  ts: OrderValue[] | undefined
  seq: OrderValue[] | undefined
  /** The DMS file name (what cdc_file holds) and its order key: per row, or one for all rows. */
  names: string[] | null
  name: string
  fileKeys: string[] | null
  fileKey: string
  /** Row numbers in the file: per row, or rowBase + i + 1. */
  rowNums: ArrayLike<number> | null
  rowBase: number
}

const EMPTY_SEGMENT: Segment = {
  length: 0,
  columns: [],
  ts: undefined,
  seq: undefined,
  names: null,
  name: '',
  fileKeys: null,
  fileKey: '',
  rowNums: null,
  rowBase: 0,
}

function segName(s: Segment, i: number): string {
  return s.names === null ? s.name : s.names[i]!
}
function segKey(s: Segment, i: number): string {
  return s.fileKeys === null ? s.fileKey : s.fileKeys[i]!
}
function segRow(s: Segment, i: number): number {
  return s.rowNums === null ? s.rowBase + i + 1 : s.rowNums[i]!
}

export interface ApplyCounts {
  inserts: number
  updates: number
  deletes: number
  /** Changes older than the key's current version: ignored. */
  stale: number
}

const SEG = 4294967296

function cmpValue(a: OrderValue, b: OrderValue): number {
  if (a === b) return 0
  if (a === null) return -1
  if (b === null) return 1
  return a < b ? -1 : a > b ? 1 : 0
}

function cmpString(a: string, b: string): number {
  return a === b ? 0 : a < b ? -1 : 1
}

export class KeyedState {
  private segments: Segment[] = []
  private live = new Map<string, number>()
  readonly tombstones = new Map<string, Order>()
  /** Keys whose tombstone was added or removed since the last takeTombstoneChanges(). */
  private tombTouched = new Set<string>()

  /** The table's schema; it only grows (columns are appended when files gain them). */
  constructor(public schema: TableSchema) {}

  get size(): number {
    return this.live.size
  }

  apply(b: ChangeBatch): ApplyCounts {
    const counts: ApplyCounts = { inserts: 0, updates: 0, deletes: 0, stale: 0 }
    const segIndex = this.segments.length
    const fileKey = b.file.orderKey
    const name = b.file.name
    const base = b.rowBase
    const nums = b.rowNums
    this.segments.push({
      length: b.length,
      columns: b.columns,
      ts: b.ts,
      seq: b.seq,
      names: null,
      name,
      fileKeys: null,
      fileKey,
      rowNums: nums ?? null,
      rowBase: base,
    })
    const live = this.live
    const tombs = this.tombstones
    const bts = b.ts
    const bseq = b.seq
    let used = false
    for (let i = 0; i < b.length; i++) {
      const key = b.keys[i]!
      const ts = bts ? bts[i]! : null
      const seq = bseq ? bseq[i]! : null
      const row = nums ? nums[i]! : base + i + 1
      const cur = live.get(key)
      let c: number
      if (cur !== undefined) {
        const s = this.segments[Math.floor(cur / SEG)]!
        const j = cur % SEG
        c =
          cmpValue(ts, s.ts ? s.ts[j]! : null) ||
          cmpValue(seq, s.seq ? s.seq[j]! : null) ||
          cmpString(fileKey, segKey(s, j)) ||
          row - segRow(s, j)
      } else {
        const t = tombs.get(key)
        c =
          t === undefined ? 1 : cmpValue(ts, t.ts) || cmpValue(seq, t.seq) || cmpString(fileKey, t.file) || row - t.row
      }
      // A key move deletes the old key at this point of the order even when the new key has a newer change of its
      // own (moveAway keeps the old key's newer changes): the move is a change of the old key too.
      const from = b.movedFrom?.[i]
      if (from !== undefined) this.moveAway(from, ts, seq, fileKey, row, counts)
      if (c < 0) {
        counts.stale++
        continue
      }
      const op = b.ops[i]!
      if (op === OP_DELETE) {
        counts.deletes++
        if (cur !== undefined) live.delete(key)
        tombs.set(key, { ts, seq, file: fileKey, row })
        this.tombTouched.add(key)
      } else {
        if (op === OP_INSERT) counts.inserts++
        else counts.updates++
        live.set(key, segIndex * SEG + i)
        used = true
        if (cur === undefined && tombs.delete(key)) this.tombTouched.add(key)
      }
    }
    if (!used) this.segments[segIndex] = EMPTY_SEGMENT
    return counts
  }

  /** A primary-key update: the old key is deleted at the same point of the order, unless it changed later. */
  private moveAway(key: string, ts: OrderValue, seq: OrderValue, file: string, row: number, counts: ApplyCounts): void {
    const cur = this.live.get(key)
    let c: number
    if (cur !== undefined) {
      const s = this.segments[Math.floor(cur / SEG)]!
      const j = cur % SEG
      c =
        cmpValue(ts, s.ts ? s.ts[j]! : null) ||
        cmpValue(seq, s.seq ? s.seq[j]! : null) ||
        cmpString(file, segKey(s, j)) ||
        row - segRow(s, j)
    } else {
      const t = this.tombstones.get(key)
      c = t === undefined ? 1 : cmpValue(ts, t.ts) || cmpValue(seq, t.seq) || cmpString(file, t.file) || row - t.row
    }
    if (c < 0) return
    counts.deletes++
    if (cur !== undefined) this.live.delete(key)
    this.tombstones.set(key, { ts, seq, file, row })
    this.tombTouched.add(key)
  }

  /** Restores tombstones saved by an earlier run. */
  loadTombstones(entries: Iterable<[string, Order]>): void {
    for (const [k, o] of entries) {
      // A key live in the snapshot beat its tombstone (a run that crashed after writing the snapshot but before
      // recording its tombstone changes): drop the stale tombstone at the next commit.
      if (this.live.has(k)) this.tombTouched.add(k)
      else this.tombstones.set(k, o)
    }
  }

  /** Tombstones added (with their order) and removed since the last call: what the state file must record. */
  takeTombstoneChanges(): { upsert: [string, Order][]; remove: string[] } {
    const upsert: [string, Order][] = []
    const remove: string[] = []
    for (const k of this.tombTouched) {
      const t = this.tombstones.get(k)
      if (t) upsert.push([k, t])
      else remove.push(k)
    }
    this.tombTouched.clear()
    return { upsert, remove }
  }

  /**
   * The live rows as Arrow columns: the schema's fields, then cdc_file (the change's DMS file stem) and cdc_row.
   * Afterwards the state keeps only this table (older batches are released).
   */
  snapshot(): { columns: A.Data[]; length: number } {
    const n = this.live.size
    const refs = new Float64Array(n)
    const liveKeys = new Array<string>(n)
    let k = 0
    this.live.forEach((ref, key) => {
      liveKeys[k] = key
      refs[k++] = ref
    })
    // Rows are gathered in segment order (not key order): reading each source column front to back is several
    // times faster than jumping between segments, and the order of a snapshot's rows carries no meaning.
    const order = new Uint32Array(n)
    const shift = 2 ** Math.ceil(Math.log2(n + 1))
    let longest = 1
    for (const sg of this.segments) if (sg.length > longest) longest = sg.length
    if (this.segments.length * longest * shift <= Number.MAX_SAFE_INTEGER) {
      // (segment, row, index) packed into one exact double: a native numeric sort, no comparator calls
      const packed = new Float64Array(n)
      for (let i = 0; i < n; i++) {
        const ref = refs[i]!
        packed[i] = (Math.floor(ref / SEG) * longest + (ref % SEG)) * shift + i
      }
      packed.sort()
      for (let i = 0; i < n; i++) order[i] = packed[i]! % shift
    } else {
      for (let i = 0; i < n; i++) order[i] = i
      order.sort((a, b) => refs[a]! - refs[b]!)
    }
    const segs = new Uint32Array(n)
    const rows = new Uint32Array(n)
    const keys = new Array<string>(n)
    for (let i = 0; i < n; i++) {
      const o = order[i]!
      const ref = refs[o]!
      keys[i] = liveKeys[o]!
      segs[i] = Math.floor(ref / SEG)
      rows[i] = ref % SEG
    }
    const runs = findRuns(segs, rows)
    const columns = this.schema.fields.map((f, c) =>
      gather(
        f.type,
        this.segments.map((s) => s.columns[c] ?? nullData(f.type, s.length)),
        segs,
        rows,
        runs,
      ),
    )
    const stems = new Array<string>(n)
    const rowNums = new Float64Array(n)
    const ts = this.segments.some((s) => s.ts) ? new Array<OrderValue>(n) : undefined
    const seq = this.segments.some((s) => s.seq) ? new Array<OrderValue>(n) : undefined
    for (let i = 0; i < n; i++) {
      const s = this.segments[segs[i]!]!
      stems[i] = segName(s, rows[i]!)
      rowNums[i] = segRow(s, rows[i]!)
      if (ts) ts[i] = s.ts ? s.ts[rows[i]!]! : null
      if (seq) seq[i] = s.seq ? s.seq[rows[i]!]! : null
    }
    const fileCol = utf8Column(stems)
    const rowCol = A.makeData({
      type: new A.Int64(),
      length: n,
      nullCount: 0,
      data: BigInt64Array.from(rowNums, (x) => BigInt(x)),
    })
    // compact: the snapshot becomes the only segment
    let lastStem: string | undefined
    let lastKey = ''
    const fileKeys = stems.map((x) =>
      x === lastStem ? lastKey : ((lastStem = x), (lastKey = fileOrderKey(stemOf(x)))),
    )
    this.segments = [
      { length: n, columns, ts, seq, names: stems, name: '', fileKeys, fileKey: '', rowNums, rowBase: 0 },
    ]
    // the same keys: overwrite their refs in place (cheaper than building a new Map)
    const live = this.live
    for (let i = 0; i < n; i++) live.set(keys[i]!, i)
    return { columns: [...columns, fileCol, rowCol], length: n }
  }

  /**
   * Rebuilds the state from a snapshot written by snapshot() and read back from Parquet: each part is a batch of
   * live rows with the cdc_file and cdc_row values of its rows. Tombstones are loaded separately.
   */
  static restore(schema: TableSchema, parts: { batch: ChangeBatch; names: string[]; rows: number[] }[]): KeyedState {
    const s = new KeyedState(schema)
    parts.forEach((p, seg) => {
      const keys = p.names.map((x) => fileOrderKey(stemOf(x)))
      s.segments.push({
        length: p.batch.length,
        columns: p.batch.columns,
        ts: p.batch.ts,
        seq: p.batch.seq,
        names: p.names,
        name: '',
        fileKeys: keys,
        fileKey: '',
        rowNums: p.rows,
        rowBase: 0,
      })
      for (let i = 0; i < p.batch.length; i++) s.live.set(p.batch.keys[i]!, seg * SEG + i)
    })
    return s
  }
}
