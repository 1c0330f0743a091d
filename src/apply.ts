// The curated state of one table: the latest change per primary key, deletes kept as tombstones. Pure, no I/O.
//
// A key's state is the maximum of all its changes under the order (ts, seq, file, row), NULL lowest. The winner
// is live unless it is a delete; a winning delete is kept as a tombstone so that an older change processed later
// cannot bring the key back. Taking a maximum is idempotent and order-free, so replaying a file changes nothing.
import * as A from 'apache-arrow'
import { findRuns, gather, nullData, utf8Column } from './arrow/gather.js'
import { KeyMap } from './key-map.js'
import {
  EMPTY_SEGMENT,
  consolidateSegments,
  int64Of,
  nameDictionary,
  orderColumnOf,
  segKey,
  segName,
  segRow,
  segSeq,
  segTs,
  type Segment,
  type SnapshotSlice,
} from './state-snapshot.js'
import { OP_DELETE, OP_INSERT, type ChangeBatch, type OrderValue, type TableSchema } from './batch.js'

/** Where a key's winning change stands in the order. */
export interface Order {
  ts: OrderValue
  seq: OrderValue
  /** The file's order key (fileOrderKey of its stem). */
  file: string
  row: number
}

export interface ApplyCounts {
  inserts: number
  updates: number
  deletes: number
  /** Changes older than the key's current version: ignored. */
  stale: number
}

/**
 * What changed since the state's previous take (snapshot() or changes()): the changed keys' winning rows that are
 * new (as snapshot() gives rows), and the names (cdc_file, cdc_row) of the rows they replace or delete: the changed
 * keys' winners as of the previous take.
 */
export interface StateChanges {
  /** The mark of the previous take: these changes turn the rows of that take into the rows of this one. */
  since: number
  /** This take's mark. */
  mark: number
  columns: A.Data[]
  length: number
  gone: { names: string[]; rows: Float64Array }
}

/** Marks of takes, unique in the process (a sink compares them to know which rows a table holds). */
let marks = 0

/** (segment, row) as one exact double (segments < 2^21). */
const SEG = 4294967296

/**
 * Rows of segments since the last snapshot() beyond which changes() consolidates the state (a snapshot() whose
 * output is dropped), as a share of the live rows: superseded rows of change files stay in memory until then.
 */
const CONSOLIDATE_SHARE = 0.25
const CONSOLIDATE_MIN = 100_000
/** Rows per segment of a consolidation by changes() (its output is dropped: only the state's memory matters). */
const CONSOLIDATE_SLICE = 1_000_000
/** Segments beyond which changes() consolidates too (a packed (segment, row) needs segments < 2^21). */
const MAX_SEGMENTS = 1_000_000

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
  /**
   * Live key → slot; the slot's (segment, row) is where the key's winning change is. Slots are small integers
   * (SMIs: no heap number per key) and an update of a live key rewrites its slot, not the map.
   */
  private live = new KeyMap()
  private slotSeg: Uint32Array = new Uint32Array(1024)
  private slotRow: Uint32Array = new Uint32Array(1024)
  private freeSlots: number[] = []
  private slots = 0
  readonly tombstones = new Map<string, Order>()
  /** Keys whose tombstone was added or removed since the last takeTombstoneChanges(). */
  private tombTouched = new Set<string>()
  /**
   * Keys whose winner changed since the last take (snapshot(true) or changes()), each with its winner then
   * ((segment, row) packed, -1: none live); undefined when changes are not tracked.
   */
  private changed: Map<string, number> | undefined
  private lastMark = 0
  /** Rows in segments added since the last snapshot(). */
  private addedRows = 0

  /** The table's schema; it only grows (columns are appended when files gain them). */
  constructor(public schema: TableSchema) {}

  get size(): number {
    return this.live.size
  }

  /** The mark of the last take (snapshot() or changes()); 0 before the first. */
  get mark(): number {
    return this.lastMark
  }

  /** Records a key's winner as of the last take, before its first change since. */
  private touch(key: string, cur: number | undefined): void {
    const c = this.changed
    if (c === undefined || c.has(key)) return
    c.set(key, cur === undefined ? -1 : this.slotSeg[cur]! * SEG + this.slotRow[cur]!)
  }

  private newSlot(seg: number, row: number): number {
    let slot = this.freeSlots.pop()
    if (slot === undefined) {
      slot = this.slots++
      if (slot >= this.slotSeg.length) {
        const grow = (a: Uint32Array): Uint32Array => {
          const b = new Uint32Array(a.length * 2)
          b.set(a)
          return b
        }
        this.slotSeg = grow(this.slotSeg)
        this.slotRow = grow(this.slotRow)
      }
    }
    this.slotSeg[slot] = seg
    this.slotRow[slot] = row
    return slot
  }

  /** Compares a change with the key's current winner (live slot or tombstone); positive: the change wins. */
  private compare(
    cur: number | undefined,
    key: string,
    ts: OrderValue,
    seq: OrderValue,
    fileKey: string,
    row: number,
  ): number {
    if (cur !== undefined) {
      const s = this.segments[this.slotSeg[cur]!]!
      const j = this.slotRow[cur]!
      return (
        cmpValue(ts, segTs(s, j)) ||
        cmpValue(seq, segSeq(s, j)) ||
        cmpString(fileKey, segKey(s, j)) ||
        row - segRow(s, j)
      )
    }
    const t = this.tombstones.get(key)
    return t === undefined ? 1 : cmpValue(ts, t.ts) || cmpValue(seq, t.seq) || cmpString(fileKey, t.file) || row - t.row
  }

  apply(b: ChangeBatch): ApplyCounts {
    const counts: ApplyCounts = { inserts: 0, updates: 0, deletes: 0, stale: 0 }
    const segIndex = this.segments.length
    const fileKey = b.file.orderKey
    const name = b.file.name
    const base = b.rowBase
    const nums = b.rowNums
    const tsCol = orderColumnOf(b.columns, b.ts, b.tsColumn)
    const seqCol = orderColumnOf(b.columns, b.seq, b.seqColumn)
    this.segments.push({
      length: b.length,
      columns: b.columns,
      tsCol,
      seqCol,
      ts: tsCol === undefined ? b.ts : undefined,
      seq: seqCol === undefined ? b.seq : undefined,
      names: [name],
      fileKeys: [fileKey],
      nameIdx: null,
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
      const c = this.compare(cur, key, ts, seq, fileKey, row)
      // A key move deletes the old key at this point of the order even when the new key has a newer change of its
      // own (moveAway keeps the old key's newer changes): the move is a change of the old key too.
      const from = b.movedFrom?.[i]
      if (from !== undefined) this.moveAway(from, ts, seq, fileKey, row, counts)
      if (c < 0) {
        counts.stale++
        continue
      }
      const op = b.ops[i]!
      this.touch(key, cur)
      if (op === OP_DELETE) {
        counts.deletes++
        if (cur !== undefined) {
          live.delete(key)
          this.freeSlots.push(cur)
        }
        tombs.set(key, { ts, seq, file: fileKey, row })
        this.tombTouched.add(key)
      } else {
        if (op === OP_INSERT) counts.inserts++
        else counts.updates++
        used = true
        if (cur !== undefined) {
          this.slotSeg[cur] = segIndex
          this.slotRow[cur] = i
        } else {
          live.set(key, this.newSlot(segIndex, i))
          if (tombs.delete(key)) this.tombTouched.add(key)
        }
      }
    }
    if (!used) this.segments[segIndex] = EMPTY_SEGMENT
    else this.addedRows += b.length
    return counts
  }

  /** A primary-key update: the old key is deleted at the same point of the order, unless it changed later. */
  private moveAway(key: string, ts: OrderValue, seq: OrderValue, file: string, row: number, counts: ApplyCounts): void {
    const cur = this.live.get(key)
    if (this.compare(cur, key, ts, seq, file, row) < 0) return
    this.touch(key, cur)
    counts.deletes++
    if (cur !== undefined) {
      this.live.delete(key)
      this.freeSlots.push(cur)
    }
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
   * The live rows as Arrow columns, in slices of at most `sliceRows` rows (one slice by default): the schema's
   * fields, then cdc_file (the change's DMS file stem) and cdc_row. Afterwards the state keeps only these rows (older
   * batches are released as the slices are gathered; each slice is a segment of the state, and its cdc_file and
   * cdc_row columns are built when asked). A take: `track` counts the changes from here on for changes().
   */
  snapshot(track = false, sliceRows = Infinity): { length: number; slices: SnapshotSlice[] } {
    const slices = this.consolidate(sliceRows)
    this.lastMark = ++marks
    this.changed = track ? new Map() : undefined
    return { length: slices.reduce((a, x) => a + x.length, 0), slices }
  }

  /**
   * The changes since the last take (snapshot(true) or changes()), or undefined when they were not tracked (no take
   * yet, or snapshot(false)). Costs the changed keys, not the live ones; now and then (CONSOLIDATE_SHARE) the state
   * is consolidated as by snapshot().
   */
  changes(): StateChanges | undefined {
    const c = this.changed
    if (c === undefined) return undefined
    const since = this.lastMark
    const segs: number[] = []
    const rows: number[] = []
    const goneNames: string[] = []
    const goneRows: number[] = []
    for (const [key, prev] of c) {
      const cur = this.live.get(key)
      const now = cur === undefined ? -1 : this.slotSeg[cur]! * SEG + this.slotRow[cur]!
      if (now === prev) continue
      let pn: string | undefined
      let pr = 0
      if (prev >= 0) {
        const s = this.segments[Math.floor(prev / SEG)]!
        const j = prev % SEG
        pn = segName(s, j)
        pr = segRow(s, j)
      }
      if (now >= 0) {
        const sg = Math.floor(now / SEG)
        const j = now % SEG
        const s = this.segments[sg]!
        // the same change won again (a file applied twice): the table keeps its row
        if (pn !== undefined && pn === segName(s, j) && pr === segRow(s, j)) continue
        segs.push(sg)
        rows.push(j)
      }
      if (pn !== undefined) {
        goneNames.push(pn)
        goneRows.push(pr)
      }
    }
    // in segment order, as snapshot() gathers
    const n = segs.length
    const packed = new Float64Array(n)
    for (let i = 0; i < n; i++) packed[i] = segs[i]! * SEG + rows[i]!
    packed.sort()
    const gs = new Uint32Array(n)
    const gr = new Uint32Array(n)
    const names = new Array<string>(n)
    const nums = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      const s = this.segments[(gs[i] = Math.floor(packed[i]! / SEG))]!
      const j = (gr[i] = packed[i]! % SEG)
      names[i] = segName(s, j)
      nums[i] = segRow(s, j)
    }
    const runs = findRuns(gs, gr)
    const columns = this.schema.fields.map((f, col) =>
      gather(
        f.type,
        this.segments.map((s) => s.columns[col] ?? nullData(f.type, s.length)),
        gs,
        gr,
        runs,
      ),
    )
    columns.push(utf8Column(names), A.makeData({ type: new A.Int64(), length: n, nullCount: 0, data: int64Of(nums) }))
    if (
      this.addedRows > Math.max(CONSOLIDATE_MIN, CONSOLIDATE_SHARE * this.live.size) ||
      this.segments.length > MAX_SEGMENTS
    )
      this.consolidate(CONSOLIDATE_SLICE)
    this.lastMark = ++marks
    this.changed = new Map()
    return {
      since,
      mark: this.lastMark,
      columns,
      length: n,
      gone: { names: goneNames, rows: Float64Array.from(goneRows) },
    }
  }

  /** The live rows in slices of at most `sliceRows` (as snapshot() gives them), the state rebuilt on them alone. */
  private consolidate(sliceRows: number): SnapshotSlice[] {
    this.addedRows = 0
    const live = new Uint32Array(this.live.size)
    let k = 0
    this.live.forEach((slot) => {
      live[k++] = slot
    })
    const old = this.segments
    this.segments = []
    const out = consolidateSegments(this.schema.fields, old, live, { seg: this.slotSeg, row: this.slotRow }, sliceRows)
    this.segments = out.segments
    return out.slices
  }

  /**
   * Rebuilds the state from a snapshot written by snapshot() and read back from Parquet: each part is a batch of
   * live rows with the cdc_file and cdc_row values of its rows. Tombstones are loaded separately.
   */
  static restore(schema: TableSchema, parts: { batch: ChangeBatch; names: string[]; rows: number[] }[]): KeyedState {
    const s = new KeyedState(schema)
    parts.forEach((p, seg) => {
      const b = p.batch
      const tsCol = orderColumnOf(b.columns, b.ts, b.tsColumn)
      const seqCol = orderColumnOf(b.columns, b.seq, b.seqColumn)
      s.segments.push({
        length: b.length,
        columns: b.columns,
        tsCol,
        seqCol,
        ts: tsCol === undefined ? b.ts : undefined,
        seq: seqCol === undefined ? b.seq : undefined,
        ...nameDictionary(p.names),
        rowNums: p.rows,
        rowBase: 0,
      })
      for (let i = 0; i < b.length; i++) s.live.set(b.keys[i]!, s.newSlot(seg, i))
    })
    return s
  }
}
