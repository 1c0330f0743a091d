// Where each live row of an Iceberg table's current snapshot is: which data file and position holds it. A curated
// row is one version of a key, named by the change that wrote it: (cdc_file, cdc_row). A new state of the table is
// compared with the index by that name: rows whose name is not in the index are new (written to a new data file),
// positions whose row is not in the new state are superseded or deleted (written to a position-delete file). The
// rows of a name never change as long as the files that wrote them do not; a rebuilt state (a reload, late files,
// the load date redone) can reuse names for other rows, so such a state is committed as a full overwrite instead.
import * as A from 'apache-arrow'
import { columnValues } from '../arrow/values.js'
import { META } from '../config.js'
import * as pw from 'parquet-wasm'
import type { Positions } from './deletes.js'
import type { IcebergTable } from './table.js'

interface Slot {
  /** The data file's path in the metadata (absolute URI). */
  path: string
  /** cdc_file and cdc_row of each position. */
  names: string[]
  rows: Float64Array
  /** 1 where the position is live (not deleted). */
  alive: Uint8Array
  live: number
}

/** A comparison of a new state with the index: rows to add (by batch and row of the new table), positions to delete. */
export interface Change {
  segs: Uint32Array
  rows: Uint32Array
  deletes: Positions
  /** Per slot, the positions deleted (to apply once committed). */
  killed: [number, number[]][]
  /** The names of the added rows, in order. */
  names: string[]
  cdcRows: Float64Array
}

const SLOT = 4294967296

export class LiveRows {
  private slots: Slot[] = []
  private where = new Map<string, Map<number, number>>()
  /** The slot of each data file's path (a removed file has none). */
  private slotOf = new Map<string, number>()

  /** The index of rows just written as `files` (in order): `t`'s rows, all live. */
  static ofTable(t: A.Table, files: { path: string; rows: number }[]): LiveRows {
    const { names, rows } = namesOf(t)
    const out = new LiveRows()
    let at = 0
    for (const f of files) {
      out.addFile(f.path, names.slice(at, at + f.rows), rows.slice(at, at + f.rows))
      at += f.rows
    }
    return out
  }

  /** The index of the table's current snapshot, from its data files' cdc_file and cdc_row and its delete files. */
  static async load(ice: IcebergTable, signal?: AbortSignal): Promise<LiveRows> {
    const out = new LiveRows()
    const snap = ice.current()
    if (!snap) return out
    const files = await ice.files(snap, signal)
    const deleted = await ice.deletedPositions(files, signal)
    for (const e of files.data) {
      const path = e.data_file.file_path
      out.addRows(
        path,
        A.tableFromIPC(
          pw
            .readParquet(await ice.store.get(ice.keyOf(path), { signal }), { columns: [META.file, META.row] })
            .intoIPCStream(),
        ),
        deleted.get(path),
      )
    }
    return out
  }

  /** Records a data file from its rows (read back), `dead` positions deleted. */
  addRows(path: string, t: A.Table, dead?: ReadonlySet<number>): void {
    const { names, rows } = namesOf(t)
    this.addFile(path, names, rows, dead)
  }

  /** Live rows in all data files. */
  get live(): number {
    return this.slots.reduce((n, s) => n + s.live, 0)
  }
  /** Positions in all data files, deleted ones included. */
  get positions(): number {
    return this.slots.reduce((n, s) => n + s.names.length, 0)
  }
  get dataFiles(): number {
    return this.slotOf.size
  }

  /** True when `path` is a live data file. */
  has(path: string): boolean {
    return this.slotOf.has(path)
  }

  /** The live positions of a data file, ascending (none when it is not a live file). */
  livePositions(path: string): number[] {
    const s = this.slots[this.slotOf.get(path) ?? -1]
    const out: number[] = []
    if (s) for (let p = 0; p < s.alive.length; p++) if (s.alive[p] === 1) out.push(p)
    return out
  }

  /** Records a data file whose positions hold rows named (names[i], rows[i]); `dead` positions are deleted. */
  addFile(path: string, names: string[], rows: Float64Array, dead?: ReadonlySet<number>): void {
    const slot = this.slots.length
    const alive = new Uint8Array(names.length).fill(1)
    let live = names.length
    for (let i = 0; i < names.length; i++) {
      if (dead?.has(i)) {
        alive[i] = 0
        live--
        continue
      }
      let m = this.where.get(names[i]!)
      if (!m) this.where.set(names[i]!, (m = new Map<number, number>()))
      m.set(rows[i]!, slot * SLOT + i)
    }
    this.slots.push({ path, names, rows, alive, live })
    this.slotOf.set(path, slot)
  }

  /** Compares the rows of `t` (the table's new state) with the live rows. */
  diff(t: A.Table): Change {
    const seen = this.slots.map((s) => new Uint8Array(s.names.length))
    const segs: number[] = []
    const rows: number[] = []
    const addNames: string[] = []
    const addRows: number[] = []
    const fi = t.schema.fields.findIndex((f) => f.name === META.file)
    const ri = t.schema.fields.findIndex((f) => f.name === META.row)
    t.batches.forEach((b, bi) => {
      const names = utf8Values(b.data.children[fi]!)
      const nums = b.data.children[ri]!.values as BigInt64Array | Float64Array
      for (let i = 0; i < b.numRows; i++) {
        const name = names[i]!
        const row = Number(nums[i])
        const loc = this.where.get(name)?.get(row)
        if (loc !== undefined) {
          const s = Math.floor(loc / SLOT)
          const p = loc % SLOT
          if (seen[s]![p] === 0) {
            seen[s]![p] = 1
            continue
          }
        }
        segs.push(bi)
        rows.push(i)
        addNames.push(name)
        addRows.push(row)
      }
    })
    const deletes: Positions = new Map()
    const killed: [number, number[]][] = []
    this.slots.forEach((s, si) => {
      if (s.live === 0) return
      const gone: number[] = []
      const sn = seen[si]!
      for (let p = 0; p < s.alive.length; p++) if (s.alive[p] === 1 && sn[p] === 0) gone.push(p)
      if (gone.length > 0) {
        deletes.set(s.path, gone)
        killed.push([si, gone])
      }
    })
    return {
      segs: Uint32Array.from(segs),
      rows: Uint32Array.from(rows),
      deletes,
      killed,
      names: addNames,
      cdcRows: Float64Array.from(addRows),
    }
  }

  /**
   * The change that deletes the live rows named (gone.names[i], gone.rows[i]) and adds all of `added`'s rows: what a
   * state's changes since the snapshot this index holds amount to. Costs the change, not the live rows. Undefined
   * when a name is not live here (the state does not continue this snapshot).
   */
  change(gone: { names: string[]; rows: Float64Array }, added: A.Table): Change | undefined {
    const bySlot = new Map<number, number[]>()
    for (let i = 0; i < gone.names.length; i++) {
      const loc = this.where.get(gone.names[i]!)?.get(gone.rows[i]!)
      if (loc === undefined) return undefined
      const s = Math.floor(loc / SLOT)
      let ps = bySlot.get(s)
      if (!ps) bySlot.set(s, (ps = []))
      ps.push(loc % SLOT)
    }
    const deletes: Positions = new Map()
    const killed: [number, number[]][] = []
    for (const [si, ps] of [...bySlot].sort((a, b) => a[0] - b[0])) {
      const sorted = Float64Array.from(ps).sort()
      const gone = Array.from(sorted).filter((p, i) => i === 0 || p !== sorted[i - 1])
      deletes.set(this.slots[si]!.path, gone)
      killed.push([si, gone])
    }
    const segs: number[] = []
    const rows: number[] = []
    added.batches.forEach((b, bi) => {
      for (let i = 0; i < b.numRows; i++) {
        segs.push(bi)
        rows.push(i)
      }
    })
    const { names, rows: cdcRows } = namesOf(added)
    return { segs: Uint32Array.from(segs), rows: Uint32Array.from(rows), deletes, killed, names, cdcRows }
  }

  /**
   * Applies a committed change: its deletes, and its added rows in `files` (path and row count, in order). With
   * `replaced` (a rolling commit), that data file's rows that stay live were written first into `files`, before the
   * added rows, and the file itself was removed.
   */
  apply(c: Change, files: { path: string; rows: number }[], replaced?: string): void {
    for (const [si, gone] of c.killed) {
      const s = this.slots[si]!
      for (const p of gone) {
        if (s.alive[p] === 0) continue
        s.alive[p] = 0
        s.live--
        this.where.get(s.names[p]!)?.delete(s.rows[p]!)
      }
    }
    let names = c.names
    let cdcRows = c.cdcRows
    const si = replaced === undefined ? undefined : this.slotOf.get(replaced)
    if (si !== undefined) {
      const s = this.slots[si]!
      const kept = this.livePositions(replaced!)
      names = [...kept.map((p) => s.names[p]!), ...c.names]
      cdcRows = new Float64Array(kept.length + c.cdcRows.length)
      kept.forEach((p, i) => (cdcRows[i] = s.rows[p]!))
      cdcRows.set(c.cdcRows, kept.length)
      for (const p of kept) this.where.get(s.names[p]!)?.delete(s.rows[p]!)
      this.slots[si] = { path: '', names: [], rows: new Float64Array(0), alive: new Uint8Array(0), live: 0 }
      this.slotOf.delete(replaced!)
    }
    let at = 0
    for (const f of files) {
      this.addFile(f.path, names.slice(at, at + f.rows), cdcRows.slice(at, at + f.rows))
      at += f.rows
    }
  }
}

/** The cdc_file and cdc_row of every row of `t`, in order. */
function namesOf(t: A.Table): { names: string[]; rows: Float64Array } {
  const fi = t.schema.fields.findIndex((f) => f.name === META.file)
  const ri = t.schema.fields.findIndex((f) => f.name === META.row)
  const names: string[] = []
  const rows = new Float64Array(t.numRows)
  let at = 0
  for (const b of t.batches) {
    for (const n of utf8Values(b.data.children[fi]!)) names.push(n)
    const nums = b.data.children[ri]!.values as BigInt64Array
    for (let i = 0; i < b.numRows; i++) rows[at + i] = Number(nums[i])
    at += b.numRows
  }
  return { names, rows }
}

/** The values of a string column; runs of the same bytes (rows grouped by file) decode once. */
export function utf8Values(d: A.Data): string[] {
  if (!A.DataType.isUtf8(d.type) || d.nullCount > 0) return columnValues(d).map((v) => String(v))
  const offs = d.valueOffsets as Int32Array
  const bytes = d.values as Uint8Array
  const out = new Array<string>(d.length)
  const dec = new TextDecoder()
  let prevA = -1
  let prevB = -1
  let prev = ''
  for (let i = 0; i < d.length; i++) {
    const a = offs[i]! // arrow-js slices offset buffers with the data
    const b = offs[i + 1]!
    let same = prevA >= 0 && b - a === prevB - prevA
    for (let q = 0; same && q < b - a; q++) if (bytes[a + q] !== bytes[prevA + q]) same = false
    if (!same) prev = dec.decode(bytes.subarray(a, b))
    prevA = a
    prevB = b
    out[i] = prev
  }
  return out
}
