// Rolling merge-on-read commits within a date: what a date's polls leave stays a bounded number of files. The date's
// commits made by this process (the current snapshot is the last of them) are remembered as a Roll: the small data
// file the date's last commit added (the tail) and the delete file the date's commits wrote for each data file. The
// next commit of the same date then writes, for each data file it deletes rows of, one delete file holding the date's
// earlier positions plus its own and removes the earlier one; and it rewrites the tail with its new rows into one
// new tail file (the tail rows it deletes left out) while that stays under a cap, removing the old tail. Files of
// earlier dates (which their date tags keep) are never rewritten: their new deletes go to delete files of this date.
import * as A from 'apache-arrow'
import { takeRows, type Positions } from './deletes.js'
import type { Change, LiveRows } from './live-rows.js'
import type { SnapshotId } from './metadata.js'
import { columnsKey } from './schema.js'

/** Rows a tail file may hold besides parquet.rowsPerFile: the rows a rolling commit rewrites at most. */
export const TAIL_ROWS = 100_000

/** The files of a date's commits that the next commit of the date replaces. */
export interface Roll {
  date: string
  /** The snapshot those commits left (the next one rolls only when it is still the current snapshot). */
  snapshot: SnapshotId
  /** The data file the date's last commit added, while small: its path and rows in file order. */
  tail?: { path: string; table: A.Table }
  /** The date's delete file of each data file (by the data file's path): its path and the positions it holds. */
  deletes: Map<string, { path: string; positions: number[] }>
}

/** What a commit writes and removes. */
export interface RollPlan {
  /** The rows to write as new data files: the tail's rows that stay live (when `replaces`), then the change's. */
  added: A.RecordBatch
  /** The tail file these rows replace. */
  replaces?: string
  /** The positions of each delete file to write, by the data file it names. */
  deletes: Positions
  /** Data files and delete files the commit removes. */
  remove: string[]
  removeDeletes: string[]
}

/**
 * The files a commit of `change` writes (rows of `batches`, in the table's schema with field ids) and removes, given
 * the date's Roll (undefined: the commit is the first of its date for this process, nothing is replaced).
 */
export function planRoll(
  roll: Roll | undefined,
  rows: LiveRows,
  schema: A.Schema,
  batches: A.RecordBatch[],
  change: Change,
  cap: number,
): RollPlan {
  let tail = roll?.tail
  let kept: number[] = []
  if (tail) {
    const gone = new Set(change.deletes.get(tail.path) ?? [])
    kept = rows.livePositions(tail.path).filter((p) => !gone.has(p))
    // a tail written before the schema changed (a column added within the date) is not rewritten: its batches
    // would pair with the new schema's columns by position; its deletes go to a delete file as for any file
    const fits = kept.length + change.rows.length <= cap && columnsKey(tail.table.schema) === columnsKey(schema)
    if (!rows.has(tail.path) || !fits) tail = undefined
  }
  let added: A.RecordBatch
  if (tail) {
    // the tail's positions are its batches' rows in order
    const tb = tail.table.batches.map((b) => new A.RecordBatch(schema, b.data))
    const starts: number[] = []
    let at = 0
    for (const b of tb) {
      starts.push(at)
      at += b.numRows
    }
    const n = kept.length + change.segs.length
    const segs = new Uint32Array(n)
    const idx = new Uint32Array(n)
    let bi = 0
    kept.forEach((p, i) => {
      while (bi + 1 < tb.length && starts[bi + 1]! <= p) bi++
      segs[i] = bi
      idx[i] = p - starts[bi]!
    })
    for (let i = 0; i < change.segs.length; i++) {
      segs[kept.length + i] = tb.length + change.segs[i]!
      idx[kept.length + i] = change.rows[i]!
    }
    added = takeRows(schema, [...tb, ...batches], segs, idx)
  } else added = takeRows(schema, batches, change.segs, change.rows)
  const deletes: Positions = new Map()
  const removeDeletes: string[] = []
  for (const [path, ps] of change.deletes) {
    if (path === tail?.path) continue
    const before = roll?.deletes.get(path)
    if (before) removeDeletes.push(before.path)
    deletes.set(path, before ? union(before.positions, ps) : ps)
  }
  const remove: string[] = []
  if (tail) {
    remove.push(tail.path)
    const d = roll?.deletes.get(tail.path)
    if (d) removeDeletes.push(d.path)
  }
  return { added, ...(tail ? { replaces: tail.path } : {}), deletes, remove, removeDeletes }
}

/** The Roll after a commit of `plan` that wrote `files` (data, with their rows) and `deleteFiles` (by data file). */
export function nextRoll(
  roll: Roll | undefined,
  date: string,
  snapshot: SnapshotId,
  plan: RollPlan,
  files: { path: string; rows: number }[],
  deleteFiles: Map<string, string>,
  cap: number,
): Roll {
  const deletes = new Map(roll?.deletes ?? [])
  for (const p of plan.remove) deletes.delete(p)
  for (const [data, path] of deleteFiles) deletes.set(data, { path, positions: plan.deletes.get(data)! })
  const one = files.length === 1 && files[0]!.rows <= cap ? files[0]! : undefined
  return {
    date,
    snapshot,
    ...(one ? { tail: { path: one.path, table: new A.Table(plan.added.schema, [plan.added]) } } : {}),
    deletes,
  }
}

/** The sorted union of two position lists. */
function union(a: readonly number[], b: readonly number[]): number[] {
  const s = Float64Array.from(new Set([...a, ...b])).sort()
  return Array.from(s)
}
