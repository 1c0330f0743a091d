// The SQLite state file: the design's ops_table watermark, a ledger of processed files, tombstones, the lock.
import Database from 'better-sqlite3'
import { mkdirSync, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname } from 'node:path'
import { randomUUID } from 'node:crypto'
import { StateError } from './errors.js'
import { faultPoint } from './fault.js'
import type { Order } from './apply.js'
import type { OrderValue } from './batch.js'

/**
 * 1: the first format. 2: ops_table gains Fingerprint (the table's schema and keys, see fingerprint.ts) and
 * KeyFormat (composite keys escape \u0000 and \u0001 inside their parts; format-1 tombstone keys of a composite-key
 * table are converted when the table is next committed, and read converted until then).
 */
export const STATE_VERSION = 2

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
}

export interface TableStatus extends Watermark {
  files: number
  rows: number
  /** Rows set aside under onBadRow "quarantine". */
  quarantined: number
  liveRows: number
  /** Newest DMS file seen in the landing at the last run. */
  newest: string | null
  /** Seconds between the newest landed file's time and the LPF's time (both from their names). */
  lagSeconds: number | null
  lastSuccessAt: string | null
  lastRunAt: string | null
  lastErrorCode: string | null
  lastError: string | null
  updatedAt: string | null
  /** Catalog registration (with a `catalog` config): the Glue tables, the last success, the last error. */
  catalogTables: string | null
  catalogRegisteredAt: string | null
  catalogErrorCode: string | null
  catalogError: string | null
}

/** The last catalog registration of a table. */
export interface CatalogRecord {
  glueTables: string
  /** What the registration depended on besides the columns (database, names, locations): a change re-registers. */
  fingerprint: string
  lastAttemptAt: string
  registeredAt: string | null
  errorCode: string | null
  error: string | null
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ops_table (
  Source TEXT NOT NULL, TableName TEXT NOT NULL, FullLoad INTEGER NOT NULL, LPF TEXT NOT NULL,
  LoadDate TEXT NOT NULL, LiveRows INTEGER NOT NULL DEFAULT 0, UpdatedAt TEXT NOT NULL,
  PRIMARY KEY (Source, TableName));
CREATE TABLE IF NOT EXISTS processed_files (
  Source TEXT NOT NULL, TableName TEXT NOT NULL, File TEXT NOT NULL, ObjectKey TEXT NOT NULL, Date TEXT NOT NULL,
  Size INTEGER NOT NULL, ETag TEXT NOT NULL, Checksum TEXT NOT NULL, Rows INTEGER NOT NULL, Inserts INTEGER NOT NULL, Updates INTEGER NOT NULL,
  Deletes INTEGER NOT NULL, Quarantined INTEGER NOT NULL DEFAULT 0, Superseded INTEGER NOT NULL DEFAULT 0, ProcessedAt TEXT NOT NULL,
  PRIMARY KEY (Source, TableName, File));
CREATE TABLE IF NOT EXISTS tombstones (
  Source TEXT NOT NULL, TableName TEXT NOT NULL, Key TEXT NOT NULL, Ts ANY, Seq ANY, File TEXT NOT NULL, Row INTEGER NOT NULL,
  PRIMARY KEY (Source, TableName, Key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS table_runs (
  Source TEXT NOT NULL, TableName TEXT NOT NULL, LastRunAt TEXT, LastErrorCode TEXT, LastError TEXT,
  NewestFile TEXT, LastSuccessAt TEXT,
  PRIMARY KEY (Source, TableName));
CREATE TABLE IF NOT EXISTS catalog_tables (
  Source TEXT NOT NULL, TableName TEXT NOT NULL, GlueTables TEXT NOT NULL, Fingerprint TEXT NOT NULL,
  LastAttemptAt TEXT NOT NULL, RegisteredAt TEXT, LastErrorCode TEXT, LastError TEXT,
  PRIMARY KEY (Source, TableName));
CREATE TABLE IF NOT EXISTS process_lock (
  Id INTEGER PRIMARY KEY CHECK (Id = 1), Token TEXT NOT NULL, Pid INTEGER NOT NULL, Host TEXT NOT NULL,
  StartedAt TEXT NOT NULL, HeartbeatAt INTEGER NOT NULL);
`

/** A lock from another host is stale when its heartbeat is older than this. */
const REMOTE_LOCK_STALE_MS = 120_000

export class StateStore {
  private readonly db: Database.Database
  private readonly token = randomUUID()
  private locked = false
  private beat: NodeJS.Timeout | undefined

  private constructor(readonly path: string) {
    try {
      mkdirSync(dirname(path), { recursive: true })
      this.db = new Database(path)
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = NORMAL')
      this.db.pragma('busy_timeout = 5000')
    } catch (err) {
      throw new StateError('CDC_STATE_UNAVAILABLE', `state file ${JSON.stringify(path)} cannot be opened: ${(err as Error).message}`, { cause: err, transient: true })
    }
    const version = this.db.pragma('user_version', { simple: true }) as number
    if (version > STATE_VERSION) {
      this.db.close()
      throw new StateError('CDC_STATE_VERSION', `state file ${JSON.stringify(path)} has schema version ${version}; this cdc-apply understands up to ${STATE_VERSION}`, {
        hint: 'upgrade cdc-apply to the version that wrote this state file',
      })
    }
    this.db.exec(SCHEMA)
    this.addMissingColumns()
    this.db.pragma(`user_version = ${STATE_VERSION}`)
  }

  /** State files written by earlier builds lack later columns: add them with their defaults. */
  private addMissingColumns(): void {
    const add: [string, string, string][] = [
      ['processed_files', 'Checksum', "TEXT NOT NULL DEFAULT ''"],
      ['processed_files', 'Quarantined', 'INTEGER NOT NULL DEFAULT 0'],
      ['processed_files', 'Superseded', 'INTEGER NOT NULL DEFAULT 0'],
      ['table_runs', 'NewestFile', 'TEXT'],
      ['table_runs', 'LastSuccessAt', 'TEXT'],
      // state format 2
      ['ops_table', 'Fingerprint', 'TEXT'],
      ['ops_table', 'KeyFormat', 'INTEGER NOT NULL DEFAULT 1'],
      ['process_lock', 'Proc', "TEXT NOT NULL DEFAULT ''"],
    ]
    for (const [table, column, type] of add) {
      const cols = (this.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name)
      if (!cols.includes(column)) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`)
    }
  }

  static open(path: string): StateStore {
    return new StateStore(path)
  }

  /** Takes the process lock or throws CDC_STATE_LOCKED. A lock whose process is gone is taken over. */
  lock(): void {
    const take = this.db.transaction(() => {
      const row = this.db.prepare('SELECT Token, Pid, Host, HeartbeatAt, Proc FROM process_lock WHERE Id = 1').get() as
        | { Token: string; Pid: number; Host: string; HeartbeatAt: number; Proc: string }
        | undefined
      if (row && row.Token !== this.token && lockHeld(row)) {
        throw new StateError('CDC_STATE_LOCKED', `state file ${JSON.stringify(this.path)} is in use by process ${row.Pid} on ${row.Host}`, {
          hint: 'only one cdc-apply may work on a state file; stop the other process or point this one at another state file',
        })
      }
      this.db
        .prepare('INSERT OR REPLACE INTO process_lock (Id, Token, Pid, Host, StartedAt, HeartbeatAt, Proc) VALUES (1, ?, ?, ?, ?, ?, ?)')
        .run(this.token, process.pid, hostname(), new Date().toISOString(), Date.now(), processIdentity(process.pid) ?? '')
    })
    take.immediate()
    this.locked = true
    // Keep the lock fresh during long runs, so that another host never takes it over from a live process.
    this.beat = setInterval(() => this.heartbeat(), 30_000)
    this.beat.unref()
  }

  heartbeat(): void {
    if (this.locked) this.db.prepare('UPDATE process_lock SET HeartbeatAt = ? WHERE Token = ?').run(Date.now(), this.token)
  }

  unlock(): void {
    clearInterval(this.beat)
    if (!this.locked) return
    this.db.prepare('DELETE FROM process_lock WHERE Token = ?').run(this.token)
    this.locked = false
  }

  close(): void {
    this.unlock()
    this.db.close()
  }

  get(source: string, table: string): Watermark | undefined {
    const r = this.db.prepare('SELECT FullLoad, LPF, LoadDate FROM ops_table WHERE Source = ? AND TableName = ?').get(source, table) as
      | { FullLoad: number; LPF: string; LoadDate: string }
      | undefined
    return r && { source, table, fullLoad: r.FullLoad === 1, lpf: r.LPF, loadDate: r.LoadDate }
  }

  /** Records outputs already written: the watermark, the files and the tombstone changes, in one transaction. */
  commit(c: Commit): void {
    const w = c.watermark
    const now = new Date().toISOString()
    const tx = this.db.transaction(() => {
      if (c.reset) {
        this.db.prepare('DELETE FROM tombstones WHERE Source = ? AND TableName = ?').run(w.source, w.table)
        this.db.prepare('DELETE FROM processed_files WHERE Source = ? AND TableName = ?').run(w.source, w.table)
      } else if (c.compositeKey && (this.meta(w.source, w.table)?.keyFormat ?? KEY_FORMAT) < KEY_FORMAT) this.convertKeys(w.source, w.table)
      const fingerprint = c.fingerprint ?? this.meta(w.source, w.table)?.fingerprint ?? null
      this.db
        .prepare('INSERT OR REPLACE INTO ops_table (Source, TableName, FullLoad, LPF, LoadDate, LiveRows, UpdatedAt, Fingerprint, KeyFormat) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(w.source, w.table, w.fullLoad ? 1 : 0, w.lpf, w.loadDate, c.liveRows, now, fingerprint, KEY_FORMAT)
      const file = this.db.prepare(
        'INSERT OR REPLACE INTO processed_files (Source, TableName, File, ObjectKey, Date, Size, ETag, Checksum, Rows, Inserts, Updates, Deletes, Quarantined, Superseded, ProcessedAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      for (const f of c.files) file.run(w.source, w.table, f.file, f.key, f.date, f.size, f.etag, f.checksum, f.rows, f.inserts, f.updates, f.deletes, f.quarantined ?? 0, f.superseded ? 1 : 0, now)
      const up = this.db.prepare('INSERT OR REPLACE INTO tombstones (Source, TableName, Key, Ts, Seq, File, Row) VALUES (?, ?, ?, ?, ?, ?, ?)')
      for (const [k, o] of c.tombstones.upsert) up.run(w.source, w.table, k, o.ts, o.seq, o.file, o.row)
      const del = this.db.prepare('DELETE FROM tombstones WHERE Source = ? AND TableName = ? AND Key = ?')
      for (const k of c.tombstones.remove) del.run(w.source, w.table, k)
      faultPoint('inside-commit')
    })
    try {
      tx.immediate()
    } catch (err) {
      throw new StateError('CDC_STATE_UNAVAILABLE', `recording the watermark of ${w.source}.${w.table} in ${JSON.stringify(this.path)} failed: ${(err as Error).message}`, {
        cause: err,
        transient: true,
        hint: 'outputs were written but the watermark did not move; the next run redoes the same work',
      })
    }
  }

  /** Forgets a table: its watermark, ledger, tombstones and run record (its outputs are the caller's to delete). */
  resetTable(source: string, table: string): void {
    this.db.transaction(() => {
      for (const t of ['ops_table', 'processed_files', 'tombstones', 'table_runs', 'catalog_tables']) this.db.prepare(`DELETE FROM ${t} WHERE Source = ? AND TableName = ?`).run(source, table)
    }).immediate()
  }

  /** The table's saved fingerprint (null for state files of format 1 until its next commit) and key format. */
  meta(source: string, table: string): { fingerprint: string | null; keyFormat: number } | undefined {
    const r = this.db.prepare('SELECT Fingerprint, KeyFormat FROM ops_table WHERE Source = ? AND TableName = ?').get(source, table) as { Fingerprint: string | null; KeyFormat: number } | undefined
    return r && { fingerprint: r.Fingerprint, keyFormat: r.KeyFormat }
  }

  /** Rewrites a composite-key table's format-1 tombstone keys in the format-2 encoding (inside a transaction). */
  private convertKeys(source: string, table: string): void {
    const rows = this.db.prepare('SELECT Key FROM tombstones WHERE Source = ? AND TableName = ?').all(source, table) as { Key: string }[]
    const upd = this.db.prepare('UPDATE OR REPLACE tombstones SET Key = ? WHERE Source = ? AND TableName = ? AND Key = ?')
    for (const r of rows) if (r.Key.includes('\u0000')) upd.run(convertKey(r.Key), source, table, r.Key)
  }

  /** The table's tombstones; with `compositeKey`, keys saved in format 1 are returned in the current encoding. */
  *tombstones(source: string, table: string, compositeKey = false): Iterable<[string, Order]> {
    const convert = compositeKey && (this.meta(source, table)?.keyFormat ?? KEY_FORMAT) < KEY_FORMAT
    const rows = this.db.prepare('SELECT Key, Ts, Seq, File, Row FROM tombstones WHERE Source = ? AND TableName = ?').iterate(source, table) as Iterable<{
      Key: string
      Ts: OrderValue
      Seq: OrderValue
      File: string
      Row: number
    }>
    for (const r of rows) yield [convert ? convertKey(r.Key) : r.Key, { ts: r.Ts, seq: r.Seq, file: r.File, row: r.Row }]
  }

  /** Records a table's run: its error (or none), the newest DMS file seen in the landing. */
  recordRun(source: string, table: string, error: { code: string; message: string } | undefined, newest: string | undefined): void {
    const now = new Date().toISOString()
    this.db
      .prepare(
        `INSERT INTO table_runs (Source, TableName, LastRunAt, LastErrorCode, LastError, NewestFile, LastSuccessAt) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (Source, TableName) DO UPDATE SET LastRunAt = excluded.LastRunAt, LastErrorCode = excluded.LastErrorCode,
           LastError = excluded.LastError, NewestFile = COALESCE(excluded.NewestFile, NewestFile),
           LastSuccessAt = COALESCE(excluded.LastSuccessAt, LastSuccessAt)`,
      )
      .run(source, table, now, error?.code ?? null, error?.message ?? null, newest ?? null, error ? null : now)
  }

  /** Records a catalog registration attempt: success (no error) or its error; a success keeps RegisteredAt. */
  recordCatalog(source: string, table: string, glueTables: string[], fingerprint: string, error: { code: string; message: string } | undefined): void {
    const now = new Date().toISOString()
    this.db
      .prepare(
        `INSERT INTO catalog_tables (Source, TableName, GlueTables, Fingerprint, LastAttemptAt, RegisteredAt, LastErrorCode, LastError) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (Source, TableName) DO UPDATE SET GlueTables = excluded.GlueTables, Fingerprint = excluded.Fingerprint,
           LastAttemptAt = excluded.LastAttemptAt, RegisteredAt = COALESCE(excluded.RegisteredAt, RegisteredAt),
           LastErrorCode = excluded.LastErrorCode, LastError = excluded.LastError`,
      )
      .run(source, table, glueTables.join(','), fingerprint, now, error ? null : now, error?.code ?? null, error?.message ?? null)
  }

  catalogRecord(source: string, table: string): CatalogRecord | undefined {
    const r = this.db.prepare('SELECT GlueTables, Fingerprint, LastAttemptAt, RegisteredAt, LastErrorCode, LastError FROM catalog_tables WHERE Source = ? AND TableName = ?').get(source, table) as
      | { GlueTables: string; Fingerprint: string; LastAttemptAt: string; RegisteredAt: string | null; LastErrorCode: string | null; LastError: string | null }
      | undefined
    return r && { glueTables: r.GlueTables, fingerprint: r.Fingerprint, lastAttemptAt: r.LastAttemptAt, registeredAt: r.RegisteredAt, errorCode: r.LastErrorCode, error: r.LastError }
  }

  status(): TableStatus[] {
    const rows = this.db
      .prepare(
        `SELECT o.Source AS source, o.TableName AS tbl, o.FullLoad, o.LPF, o.LoadDate, o.LiveRows, o.UpdatedAt,
                (SELECT COUNT(*) FROM processed_files p WHERE p.Source = o.Source AND p.TableName = o.TableName) AS files,
                (SELECT COALESCE(SUM(Rows), 0) FROM processed_files p WHERE p.Source = o.Source AND p.TableName = o.TableName) AS rowsProcessed,
                (SELECT COALESCE(SUM(Quarantined), 0) FROM processed_files p WHERE p.Source = o.Source AND p.TableName = o.TableName) AS quarantined,
                r.LastRunAt, r.LastErrorCode, r.LastError, r.NewestFile, r.LastSuccessAt,
                c.GlueTables, c.RegisteredAt, c.LastErrorCode AS CatalogErrorCode, c.LastError AS CatalogError
         FROM ops_table o LEFT JOIN table_runs r ON r.Source = o.Source AND r.TableName = o.TableName
           LEFT JOIN catalog_tables c ON c.Source = o.Source AND c.TableName = o.TableName
         UNION ALL
         SELECT r.Source, r.TableName, NULL, NULL, NULL, 0, NULL, 0, 0, 0, r.LastRunAt, r.LastErrorCode, r.LastError, r.NewestFile, r.LastSuccessAt,
                NULL, NULL, NULL, NULL
         FROM table_runs r WHERE NOT EXISTS (SELECT 1 FROM ops_table o WHERE o.Source = r.Source AND o.TableName = r.TableName)
         ORDER BY 1, 2`,
      )
      .all() as {
      source: string
      tbl: string
      FullLoad: number | null
      LPF: string | null
      LoadDate: string | null
      LiveRows: number
      UpdatedAt: string | null
      files: number
      rowsProcessed: number
      quarantined: number
      LastRunAt: string | null
      LastErrorCode: string | null
      LastError: string | null
      NewestFile: string | null
      LastSuccessAt: string | null
      GlueTables: string | null
      RegisteredAt: string | null
      CatalogErrorCode: string | null
      CatalogError: string | null
    }[]
    return rows.map((r) => ({
      source: r.source,
      table: r.tbl,
      fullLoad: r.FullLoad === 1,
      lpf: r.LPF ?? '',
      loadDate: r.LoadDate ?? '',
      files: r.files,
      rows: r.rowsProcessed,
      quarantined: r.quarantined,
      liveRows: r.LiveRows,
      newest: r.NewestFile,
      lagSeconds: r.LPF && r.NewestFile ? lagSeconds(r.NewestFile, r.LPF) : null,
      lastSuccessAt: r.LastSuccessAt,
      lastRunAt: r.LastRunAt,
      lastErrorCode: r.LastErrorCode,
      lastError: r.LastError,
      updatedAt: r.UpdatedAt,
      catalogTables: r.GlueTables,
      catalogRegisteredAt: r.RegisteredAt,
      catalogErrorCode: r.CatalogErrorCode,
      catalogError: r.CatalogError,
    }))
  }

  processedFiles(source: string, table: string): ProcessedFile[] {
    return (
      this.db
        .prepare('SELECT File, ObjectKey, Date, Size, ETag, Checksum, Rows, Inserts, Updates, Deletes, Superseded FROM processed_files WHERE Source = ? AND TableName = ? ORDER BY File')
        .all(source, table) as { File: string; ObjectKey: string; Date: string; Size: number; ETag: string; Checksum: string; Rows: number; Inserts: number; Updates: number; Deletes: number; Superseded: number }[]
    ).map((r) => ({ file: r.File, key: r.ObjectKey, date: r.Date, size: r.Size, etag: r.ETag, checksum: r.Checksum, superseded: r.Superseded === 1, rows: r.Rows, inserts: r.Inserts, updates: r.Updates, deletes: r.Deletes }))
  }
}

/**
 * A format-1 composite key in the format-2 encoding: format 1 joined the parts with \u0001 unescaped, so a \u0000
 * was data (it doubles now). A \u0001 inside a part cannot be told from the separator: format 1 had merged such keys.
 */
export function convertKey(key: string): string {
  return key.includes('\u0000') ? key.replace(/\u0000/g, '\u0000\u0000') : key
}

/** Milliseconds since the epoch of a DMS time name `YYYYMMDD-HHmmssSSS`; undefined for LOAD names. */
export function timeOfName(stem: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})(\d{3})$/.exec(stem)
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!) : undefined
}

/** How far the watermark trails the newest landed file, in seconds (0 when caught up). */
export function lagSeconds(newest: string, lpf: string): number | null {
  const a = timeOfName(newest)
  const b = timeOfName(lpf)
  return a === undefined || b === undefined ? null : Math.max(0, (a - b) / 1000)
}

/**
 * A process as `<boot id>:<start time in clock ticks since boot>` (Linux /proc), or undefined where that is not
 * available. Hostname + PID alone do not tell a live holder from a dead one: a container restarted in place gets the
 * same hostname and often the same PID (1) as the process that left the lock behind.
 */
export function processIdentity(pid: number): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // field 22 (starttime); the 2nd field (comm) is in parentheses and may hold spaces
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
    return boot !== '' && start !== undefined ? `${boot}:${start}` : undefined
  } catch {
    return undefined
  }
}

function lockHeld(row: { Pid: number; Host: string; HeartbeatAt: number; Proc?: string }): boolean {
  if (row.Host !== hostname()) return Date.now() - row.HeartbeatAt < REMOTE_LOCK_STALE_MS
  const ours = processIdentity(process.pid)
  if (row.Proc && ours !== undefined) {
    // Another boot: the holder died with it. Same boot: held only while that PID is still the same process.
    if (row.Proc.split(':')[0] !== ours.split(':')[0]) return false
    return processIdentity(row.Pid) === row.Proc
  }
  // a lock written by an earlier build (no identity), or no /proc: a live PID counts as the holder
  try {
    process.kill(row.Pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
