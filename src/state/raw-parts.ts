// The committed RAW part files of every date (table raw_parts, state format 6): written in the watermark's transaction,
// so that a run knows which objects of a date are committed (prune), which dates are closed but made of several
// writes (compaction), and which parts a committed compaction replaced but did not delete yet.
import type { StateDb } from './open.js'
import { prepared } from './open.js'

/** One RAW part file of a date. */
export interface RawPart {
  /** The object's name under the date folder. */
  name: string
  /** Rows in the part; undefined for a legacy part (`part-NNNNN.parquet`, written whole-date by earlier versions). */
  rows: number | undefined
  /** The stems of the first and last file of the write that made it; undefined for a legacy part. */
  first: string | undefined
  last: string | undefined
}

/** A committed part with the write it came from (parts of one write share `step`; steps grow in write order). */
export interface LivePart extends RawPart {
  step: number
}

/** The RAW parts a watermark commit records for its date. */
export interface RawCommit {
  date: string
  /** The parts this run wrote for the date, in order. */
  parts: RawPart[]
  /** Legacy objects found under the date and kept (they hold the date's earlier files). */
  legacy: string[]
}

type Row = { Name: string; Step: number; First: string | null; Last: string | null; Rows: number | null }

/** Inside the commit's transaction: a reset forgets every part of the table first; then the date's parts are added. */
export function recordRawParts(
  db: StateDb,
  source: string,
  table: string,
  reset: boolean,
  raw: RawCommit | undefined,
): void {
  if (reset) prepared(db, 'DELETE FROM raw_parts WHERE Source = ? AND TableName = ?').run(source, table)
  if (!raw) return
  const known = new Set(liveParts(db, source, table, raw.date).map((p) => p.name))
  const legacy = raw.legacy.filter((n) => !known.has(n))
  let step = nextStep(db, source, table)
  if (legacy.length > 0)
    insertParts(
      db,
      source,
      table,
      raw.date,
      step++,
      legacy.map((name) => ({ name, rows: undefined, first: undefined, last: undefined })),
    )
  insertParts(db, source, table, raw.date, step, raw.parts)
}

function nextStep(db: StateDb, source: string, table: string): number {
  const r = prepared(db, 'SELECT MAX(Step) AS S FROM raw_parts WHERE Source = ? AND TableName = ?').get(
    source,
    table,
  ) as { S: number | null } | undefined
  return (r?.S ?? 0) + 1
}

function insertParts(db: StateDb, source: string, table: string, date: string, step: number, parts: RawPart[]): void {
  const ins = prepared(
    db,
    'INSERT OR REPLACE INTO raw_parts (Source, TableName, Date, Name, Step, First, Last, Rows, Live) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)',
  )
  for (const p of parts) ins.run(source, table, date, p.name, step, p.first ?? null, p.last ?? null, p.rows ?? null)
}

/** The date's committed live parts, in write order. */
export function liveParts(db: StateDb, source: string, table: string, date: string): LivePart[] {
  return (
    prepared(
      db,
      'SELECT Name, Step, First, Last, Rows FROM raw_parts WHERE Source = ? AND TableName = ? AND Date = ? AND Live = 1 ORDER BY Step, Name',
    ).all(source, table, date) as Row[]
  ).map((r) => ({
    name: r.Name,
    step: r.Step,
    first: r.First ?? undefined,
    last: r.Last ?? undefined,
    rows: r.Rows ?? undefined,
  }))
}

/** Dates before `before` whose live parts come from more than one write: closed, and due for compaction. */
export function datesToCompact(db: StateDb, source: string, table: string, before: string): string[] {
  return (
    prepared(
      db,
      'SELECT Date FROM raw_parts WHERE Source = ? AND TableName = ? AND Live = 1 AND Date < ? GROUP BY Date HAVING COUNT(DISTINCT Step) > 1 ORDER BY Date',
    ).all(source, table, before) as { Date: string }[]
  ).map((r) => r.Date)
}

/** Parts a committed compaction replaced whose objects may still be there: `{ date, name }`. */
export function deadParts(db: StateDb, source: string, table: string): { date: string; name: string }[] {
  return (
    prepared(
      db,
      'SELECT Date, Name FROM raw_parts WHERE Source = ? AND TableName = ? AND Live = 0 ORDER BY Date, Name',
    ).all(source, table) as { Date: string; Name: string }[]
  ).map((r) => ({ date: r.Date, name: r.Name }))
}

/** The commit point of a compaction, one transaction: the inputs stop being live, the outputs are live. */
export function commitCompaction(
  db: StateDb,
  source: string,
  table: string,
  date: string,
  inputs: string[],
  outputs: RawPart[],
): void {
  db.transaction(() => {
    const dead = prepared(
      db,
      'UPDATE raw_parts SET Live = 0 WHERE Source = ? AND TableName = ? AND Date = ? AND Name = ?',
    )
    for (const n of inputs) dead.run(source, table, date, n)
    insertParts(db, source, table, date, nextStep(db, source, table), outputs)
  }).immediate()
}

/** Forgets dead parts once their objects are deleted. */
export function forgetDeadParts(
  db: StateDb,
  source: string,
  table: string,
  parts: { date: string; name: string }[],
): void {
  const del = prepared(
    db,
    'DELETE FROM raw_parts WHERE Source = ? AND TableName = ? AND Date = ? AND Name = ? AND Live = 0',
  )
  db.transaction(() => {
    for (const p of parts) del.run(source, table, p.date, p.name)
  }).immediate()
}
