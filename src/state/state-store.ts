// The state file as the run sees it: the design's ops_table watermark, the ledger of processed files, tombstones,
// and the lock, behind one StateStore; the other tables are delegated to their modules.
import { randomUUID } from 'node:crypto'
import { StateError } from '../errors.js'
import { faultPoint } from '../fault.js'
import type { Order } from '../apply.js'
import type { OrderValue } from '../batch.js'
import { openStateDb, prepared, type StateDb } from './open.js'
import { refreshLock, releaseLock, takeLock } from './lock.js'
import { catalogRecord, recordCatalog, type CatalogRecord } from './catalog-records.js'
import { recordTableRun, tableStatus, type TableStatus } from './table-runs.js'
import {
  commitCompaction,
  datesToCompact,
  deadParts,
  forgetDeadParts,
  liveParts,
  recordRawParts,
  type LivePart,
  type RawCommit,
  type RawPart,
} from './raw-parts.js'

/** The key encoding of batch.ts: 2 escapes \u0000 and \u0001 inside the parts of composite keys. */
export const KEY_FORMAT = 2

export interface Watermark {
  source: string
  table: string
  fullLoad: boolean
  /** Last processed file's time name (`20220927-135523276`), or `<loadDate>-000000000`. */
  lpf: string
  /** `YYYYMMDD` of the full load. */
  loadDate: string
}

export interface ProcessedFile {
  file: string
  key: string
  date: string
  size: number
  etag: string
  /** MD5 of the object's bytes. */
  checksum: string
  /** A change file written before a table reload: kept out of every later run (its changes are in the new load). */
  superseded?: boolean
  /** Rows set aside under onBadRow "quarantine". */
  quarantined?: number
  rows: number
  inserts: number
  updates: number
  deletes: number
}

export interface Commit {
  watermark: Watermark
  files: ProcessedFile[]
  tombstones: { upsert: [string, Order][]; remove: string[] }
  /** Forget the table's earlier tombstones and files first (the full load is being (re)processed). */
  reset: boolean
  liveRows: number
  /** The table's schema and keys as committed (fingerprint.ts); undefined keeps the saved one. */
  fingerprint?: string | undefined
  /** The table's key has several columns: format-1 tombstone keys need converting (see KEY_FORMAT). */
  compositeKey?: boolean | undefined
  /** The RAW parts written for the commit's date (raw-parts.ts); a reset forgets the table's earlier ones. */
  raw?: RawCommit | undefined
}

/**
 * Tombstone rows per statement: one multi-row INSERT (or DELETE … IN) per this many keys, so a commit of 100k
 * tombstones is 100 statements instead of 100k (7 variables a row, far under SQLite's limit of 32,766).
 */
const TOMBSTONE_CHUNK = 1000

const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * The commit's tombstone changes: upserts and removals in chunks of TOMBSTONE_CHUNK keys, values bound as given,
 * in key order (neighbouring keys land on the same B-tree pages: unsorted multi-row inserts were slower than
 * one statement per row, sorted ones faster; see docs/benchmarks.md).
 */
function writeTombstones(db: StateDb, source: string, table: string, t: Commit['tombstones']): void {
  const insert = (n: number): string =>
    `INSERT OR REPLACE INTO tombstones (Source, TableName, Key, Ts, Seq, File, Row) VALUES ${new Array<string>(n).fill('(?, ?, ?, ?, ?, ?, ?)').join(', ')}`
  const upsert = [...t.upsert].sort((a, b) => byKey(a[0], b[0]))
  for (let i = 0; i < upsert.length; i += TOMBSTONE_CHUNK) {
    const part = upsert.slice(i, i + TOMBSTONE_CHUNK)
    const values: (string | number | null)[] = []
    for (const [k, o] of part) values.push(source, table, k, o.ts, o.seq, o.file, o.row)
    statement(db, insert, part.length).run(values)
  }
  const remove = (n: number): string =>
    `DELETE FROM tombstones WHERE Source = ? AND TableName = ? AND Key IN (${new Array<string>(n).fill('?').join(', ')})`
  const keys = [...t.remove].sort(byKey)
  for (let i = 0; i < keys.length; i += TOMBSTONE_CHUNK) {
    const part = keys.slice(i, i + TOMBSTONE_CHUNK)
    statement(db, remove, part.length).run(source, table, ...part)
  }
}

/** A statement for `n` rows: the full chunk's is kept (prepared once), a shorter last chunk's is not. */
function statement(db: StateDb, sql: (n: number) => string, n: number): ReturnType<typeof prepared> {
  return n === TOMBSTONE_CHUNK ? prepared(db, sql(n)) : db.prepare(sql(n))
}

/** The shortest time between two heartbeat writes. */
const HEARTBEAT_MIN_MS = 1000

/** Every table of the state file that holds rows per Source and TableName (what `reset` forgets). */
const PER_TABLE = ['ops_table', 'processed_files', 'tombstones', 'table_runs', 'catalog_tables', 'raw_parts'] as const

export class StateStore {
  private readonly token = randomUUID()
  private locked = false
  private beat: NodeJS.Timeout | undefined
  /** When the lock's heartbeat was last written (`Date.now()`). */
  private beatAt = 0

  private constructor(
    readonly path: string,
    private readonly db: StateDb,
  ) {}

  /** Opens (creating or migrating) the state file; see openStateDb. */
  static open(path: string): StateStore {
    return new StateStore(path, openStateDb(path))
  }

  /** Takes the process lock or throws CDC_STATE_LOCKED. A lock whose process is gone is taken over. */
  lock(): void {
    takeLock(this.db, this.path, this.token)
    this.beatAt = Date.now()
    this.locked = true
    // Keep the lock fresh during long runs, so that another host never takes it over from a live process.
    this.beat = setInterval(() => this.heartbeat(), 30_000)
    this.beat.unref()
  }

  /**
   * Refreshes the lock's heartbeat; at most once per HEARTBEAT_MIN_MS (watch mode calls it after every table's
   * poll: hundreds per cycle, where one write says the same). Remote holders go stale after minutes (lock.ts).
   */
  heartbeat(): void {
    if (!this.locked) return
    const now = Date.now()
    if (now - this.beatAt < HEARTBEAT_MIN_MS) return
    refreshLock(this.db, this.token)
    this.beatAt = now
  }

  unlock(): void {
    clearInterval(this.beat)
    if (!this.locked) return
    releaseLock(this.db, this.token)
    this.locked = false
  }

  close(): void {
    this.unlock()
    this.db.close()
  }

  get(source: string, table: string): Watermark | undefined {
    const r = prepared(this.db, 'SELECT FullLoad, LPF, LoadDate FROM ops_table WHERE Source = ? AND TableName = ?').get(
      source,
      table,
    ) as { FullLoad: number; LPF: string; LoadDate: string } | undefined
    return r && { source, table, fullLoad: r.FullLoad === 1, lpf: r.LPF, loadDate: r.LoadDate }
  }

  /** Records outputs already written: the watermark, the files and the tombstone changes, in one transaction. */
  commit(c: Commit): void {
    const w = c.watermark
    const now = new Date().toISOString()
    const tx = this.db.transaction(() => {
      if (c.reset) {
        prepared(this.db, 'DELETE FROM tombstones WHERE Source = ? AND TableName = ?').run(w.source, w.table)
        prepared(this.db, 'DELETE FROM processed_files WHERE Source = ? AND TableName = ?').run(w.source, w.table)
      } else if (c.compositeKey && (this.meta(w.source, w.table)?.keyFormat ?? KEY_FORMAT) < KEY_FORMAT)
        this.convertKeys(w.source, w.table)
      const fingerprint = c.fingerprint ?? this.meta(w.source, w.table)?.fingerprint ?? null
      prepared(
        this.db,
        'INSERT OR REPLACE INTO ops_table (Source, TableName, FullLoad, LPF, LoadDate, LiveRows, UpdatedAt, Fingerprint, KeyFormat) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(w.source, w.table, w.fullLoad ? 1 : 0, w.lpf, w.loadDate, c.liveRows, now, fingerprint, KEY_FORMAT)
      const file = prepared(
        this.db,
        'INSERT OR REPLACE INTO processed_files (Source, TableName, File, ObjectKey, Date, Size, ETag, Checksum, Rows, Inserts, Updates, Deletes, Quarantined, Superseded, ProcessedAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      for (const f of c.files)
        file.run(
          w.source,
          w.table,
          f.file,
          f.key,
          f.date,
          f.size,
          f.etag,
          f.checksum,
          f.rows,
          f.inserts,
          f.updates,
          f.deletes,
          f.quarantined ?? 0,
          f.superseded ? 1 : 0,
          now,
        )
      writeTombstones(this.db, w.source, w.table, c.tombstones)
      recordRawParts(this.db, w.source, w.table, c.reset, c.raw)
      faultPoint('inside-commit')
    })
    try {
      tx.immediate()
    } catch (err) {
      throw new StateError(
        'CDC_STATE_UNAVAILABLE',
        `recording the watermark of ${w.source}.${w.table} in ${JSON.stringify(this.path)} failed: ${(err as Error).message}`,
        {
          cause: err,
          transient: true,
          hint: 'outputs were written but the watermark did not move; the next run redoes the same work',
        },
      )
    }
  }

  /** Forgets a table: its watermark, ledger, tombstones and run record (its outputs are the caller's to delete). */
  resetTable(source: string, table: string): void {
    this.db
      .transaction(() => {
        for (const t of PER_TABLE)
          this.db.prepare(`DELETE FROM ${t} WHERE Source = ? AND TableName = ?`).run(source, table)
      })
      .immediate()
  }

  /** The date's committed live RAW parts, in write order. */
  rawParts(source: string, table: string, date: string): LivePart[] {
    return liveParts(this.db, source, table, date)
  }

  /** Closed dates (before `before`) whose RAW is made of several writes, and parts left to delete. */
  rawWork(
    source: string,
    table: string,
    before: string,
  ): { compact: string[]; dead: { date: string; name: string }[] } {
    return { compact: datesToCompact(this.db, source, table, before), dead: deadParts(this.db, source, table) }
  }

  /** A compaction's commit point: `inputs` stop being live, `outputs` are (one transaction). */
  commitCompaction(source: string, table: string, date: string, inputs: string[], outputs: RawPart[]): void {
    try {
      commitCompaction(this.db, source, table, date, inputs, outputs)
    } catch (err) {
      throw new StateError(
        'CDC_STATE_UNAVAILABLE',
        `recording the RAW compaction of ${source}.${table} ${date} in ${JSON.stringify(this.path)} failed: ${(err as Error).message}`,
        {
          cause: err,
          transient: true,
          hint: 'the compacted parts were written but not committed; the next run compacts the date again',
        },
      )
    }
  }

  /** Forgets replaced parts whose objects were deleted. */
  forgetDeadParts(source: string, table: string, parts: { date: string; name: string }[]): void {
    forgetDeadParts(this.db, source, table, parts)
  }

  /** The table's saved fingerprint (null for state files of format 1 until its next commit) and key format. */
  meta(source: string, table: string): { fingerprint: string | null; keyFormat: number } | undefined {
    const r = prepared(this.db, 'SELECT Fingerprint, KeyFormat FROM ops_table WHERE Source = ? AND TableName = ?').get(
      source,
      table,
    ) as { Fingerprint: string | null; KeyFormat: number } | undefined
    return r && { fingerprint: r.Fingerprint, keyFormat: r.KeyFormat }
  }

  /** Rewrites a composite-key table's format-1 tombstone keys in the format-2 encoding (inside a transaction). */
  private convertKeys(source: string, table: string): void {
    const rows = this.db
      .prepare('SELECT Key FROM tombstones WHERE Source = ? AND TableName = ?')
      .all(source, table) as { Key: string }[]
    const upd = this.db.prepare(
      'UPDATE OR REPLACE tombstones SET Key = ? WHERE Source = ? AND TableName = ? AND Key = ?',
    )
    for (const r of rows) if (r.Key.includes('\u0000')) upd.run(convertKey(r.Key), source, table, r.Key)
  }

  /** The table's tombstones; with `compositeKey`, keys saved in format 1 are returned in the current encoding. */
  *tombstones(source: string, table: string, compositeKey = false): Iterable<[string, Order]> {
    const convert = compositeKey && (this.meta(source, table)?.keyFormat ?? KEY_FORMAT) < KEY_FORMAT
    const rows = this.db
      .prepare('SELECT Key, Ts, Seq, File, Row FROM tombstones WHERE Source = ? AND TableName = ?')
      .iterate(source, table) as Iterable<{
      Key: string
      Ts: OrderValue
      Seq: OrderValue
      File: string
      Row: number
    }>
    for (const r of rows)
      yield [convert ? convertKey(r.Key) : r.Key, { ts: r.Ts, seq: r.Seq, file: r.File, row: r.Row }]
  }

  /** Records a table's run: its error (or none), the newest DMS file seen in the landing. */
  recordRun(
    source: string,
    table: string,
    error: { code: string; message: string } | undefined,
    newest: string | undefined,
    segments?: number,
  ): void {
    recordTableRun(this.db, source, table, error, newest, segments)
  }

  /** Records a catalog registration attempt: success (no error) or its error; a success keeps RegisteredAt. */
  recordCatalog(
    source: string,
    table: string,
    glueTables: string[],
    fingerprint: string,
    error: { code: string; message: string } | undefined,
  ): void {
    recordCatalog(this.db, source, table, glueTables, fingerprint, error)
  }

  catalogRecord(source: string, table: string): CatalogRecord | undefined {
    return catalogRecord(this.db, source, table)
  }

  status(): TableStatus[] {
    return tableStatus(this.db)
  }

  processedFiles(source: string, table: string): ProcessedFile[] {
    return (
      prepared(
        this.db,
        'SELECT File, ObjectKey, Date, Size, ETag, Checksum, Rows, Inserts, Updates, Deletes, Quarantined, Superseded FROM processed_files WHERE Source = ? AND TableName = ? ORDER BY File',
      ).all(source, table) as {
        File: string
        ObjectKey: string
        Date: string
        Size: number
        ETag: string
        Checksum: string
        Rows: number
        Inserts: number
        Updates: number
        Deletes: number
        Quarantined: number
        Superseded: number
      }[]
    ).map((r) => ({
      file: r.File,
      key: r.ObjectKey,
      date: r.Date,
      size: r.Size,
      etag: r.ETag,
      checksum: r.Checksum,
      superseded: r.Superseded === 1,
      rows: r.Rows,
      inserts: r.Inserts,
      updates: r.Updates,
      deletes: r.Deletes,
      quarantined: r.Quarantined,
    }))
  }
}

/**
 * A format-1 composite key in the format-2 encoding: format 1 joined the parts with \u0001 unescaped, so a \u0000
 * was data (it doubles now). A \u0001 inside a part cannot be told from the separator: format 1 had merged such keys.
 */
export function convertKey(key: string): string {
  return key.includes('\u0000') ? key.replace(/\u0000/g, '\u0000\u0000') : key
}
