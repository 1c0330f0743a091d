// The state file's schema as one ordered list of migrations; PRAGMA user_version is the number applied.
import { StateError } from '../errors.js'
import type { StateDb } from './open.js'

interface Migration {
  /** What the version adds, for readers of this file and of docs/operations.md. */
  note: string
  /** Statements run in order; each is idempotent, so a file half-way between two builds is completed. */
  steps: Step[]
}

type Step = { sql: string } | { table: string; column: string; type: string }

/**
 * Migration N takes a file from version N-1 to N. Append to the list (never edit a published entry): the version a
 * build writes is the list's length, so it moves whenever the schema changes.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    note: 'format 1: the watermark (ops_table), the ledger (processed_files), tombstones, table runs, the lock',
    steps: [
      {
        sql: `CREATE TABLE IF NOT EXISTS ops_table (
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
CREATE TABLE IF NOT EXISTS process_lock (
  Id INTEGER PRIMARY KEY CHECK (Id = 1), Token TEXT NOT NULL, Pid INTEGER NOT NULL, Host TEXT NOT NULL,
  StartedAt TEXT NOT NULL, HeartbeatAt INTEGER NOT NULL);`,
      },
      // columns that early format-1 builds added without moving the version
      { table: 'processed_files', column: 'Checksum', type: "TEXT NOT NULL DEFAULT ''" },
      { table: 'processed_files', column: 'Quarantined', type: 'INTEGER NOT NULL DEFAULT 0' },
      { table: 'processed_files', column: 'Superseded', type: 'INTEGER NOT NULL DEFAULT 0' },
      { table: 'table_runs', column: 'NewestFile', type: 'TEXT' },
      { table: 'table_runs', column: 'LastSuccessAt', type: 'TEXT' },
    ],
  },
  {
    note: 'format 2: ops_table gains Fingerprint (the schema and keys, fingerprint.ts) and KeyFormat (see KEY_FORMAT)',
    steps: [
      { table: 'ops_table', column: 'Fingerprint', type: 'TEXT' },
      { table: 'ops_table', column: 'KeyFormat', type: 'INTEGER NOT NULL DEFAULT 1' },
    ],
  },
  {
    note: 'format 3: the lock holder identity (process_lock.Proc), catalog registrations, verify runs, pipeline runs',
    steps: [
      { table: 'process_lock', column: 'Proc', type: "TEXT NOT NULL DEFAULT ''" },
      {
        sql: `CREATE TABLE IF NOT EXISTS catalog_tables (
  Source TEXT NOT NULL, TableName TEXT NOT NULL, GlueTables TEXT NOT NULL, Fingerprint TEXT NOT NULL,
  LastAttemptAt TEXT NOT NULL, RegisteredAt TEXT, LastErrorCode TEXT, LastError TEXT,
  PRIMARY KEY (Source, TableName));
CREATE TABLE IF NOT EXISTS verify_runs (
  Source TEXT NOT NULL, TableName TEXT NOT NULL, Date TEXT NOT NULL, Verdict TEXT NOT NULL,
  Missing INTEGER NOT NULL, Extra INTEGER NOT NULL, Differ INTEGER NOT NULL, CheckedAt TEXT NOT NULL, Against TEXT,
  PRIMARY KEY (Source, TableName));
CREATE TABLE IF NOT EXISTS pipeline_runs (
  Pipeline TEXT NOT NULL, StartedAt TEXT NOT NULL, Params TEXT NOT NULL, Status TEXT NOT NULL,
  Rows INTEGER NOT NULL, Ms INTEGER NOT NULL, Error TEXT);
CREATE INDEX IF NOT EXISTS pipeline_runs_by_name ON pipeline_runs (Pipeline, StartedAt);`,
      },
    ],
  },
  {
    note: 'format 4: table_runs gains SegmentFiles (parallel-load segment files seen, not applied)',
    steps: [{ table: 'table_runs', column: 'SegmentFiles', type: 'INTEGER' }],
  },
  {
    // Format 1 declared Ts and Seq as ANY in a table that is not STRICT: that is NUMERIC affinity, so a text ordering
    // value that looks like a number ('007', '1e5', a 35-digit $AR_H_CHANGE_SEQ) was stored converted (REAL loses
    // digits). Columns without a declared type (BLOB affinity) keep every value as given. Rows already converted by an
    // older build cannot be repaired (docs/operations.md). Re-running the steps copies the rows again, unchanged.
    note: 'format 5: tombstones.Ts and Seq without a declared type, so text ordering values are kept as text',
    steps: [
      {
        sql: `CREATE TABLE IF NOT EXISTS tombstones_v5 (
  Source TEXT NOT NULL, TableName TEXT NOT NULL, Key TEXT NOT NULL, Ts, Seq, File TEXT NOT NULL, Row INTEGER NOT NULL,
  PRIMARY KEY (Source, TableName, Key)) WITHOUT ROWID;
INSERT OR REPLACE INTO tombstones_v5 (Source, TableName, Key, Ts, Seq, File, Row) SELECT Source, TableName, Key, Ts, Seq, File, Row FROM tombstones;
DROP TABLE tombstones;
ALTER TABLE tombstones_v5 RENAME TO tombstones;`,
      },
    ],
  },
  {
    // RAW is written per group of objects (src/raw-sink.ts): the committed parts of every date, so that a run prunes
    // leftovers of an uncommitted attempt and compacts a closed date without listing every date.
    note: 'format 6: raw_parts, the committed RAW part files of every date (live, or waiting to be deleted)',
    steps: [
      {
        sql: `CREATE TABLE IF NOT EXISTS raw_parts (
  Source TEXT NOT NULL, TableName TEXT NOT NULL, Date TEXT NOT NULL, Name TEXT NOT NULL, Step INTEGER NOT NULL,
  First TEXT, Last TEXT, Rows INTEGER, Live INTEGER NOT NULL,
  PRIMARY KEY (Source, TableName, Date, Name)) WITHOUT ROWID;`,
      },
    ],
  },
]

/** The schema version this build writes and understands (PRAGMA user_version). */
export const STATE_VERSION = MIGRATIONS.length

/**
 * Refuses a file newer than this build (CDC_STATE_VERSION) and applies, in one transaction, the migrations it lacks
 * plus the one of its own version again: builds before this list completed a version in place (its steps are
 * idempotent), so a file of version N may lack a late step of N.
 */
export function migrate(db: StateDb, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number
  if (version > STATE_VERSION) {
    throw new StateError(
      'CDC_STATE_VERSION',
      `state file ${JSON.stringify(path)} has schema version ${version}; this cdc-apply understands up to ${STATE_VERSION}`,
      {
        hint: 'upgrade cdc-apply to the version that wrote this state file',
      },
    )
  }
  if (version === STATE_VERSION) return
  db.transaction(() => {
    for (const m of MIGRATIONS.slice(Math.max(0, version - 1))) for (const s of m.steps) applyStep(db, s)
    db.pragma(`user_version = ${STATE_VERSION}`)
  }).immediate()
}

function applyStep(db: StateDb, s: Step): void {
  if ('sql' in s) return void db.exec(s.sql)
  const cols = (db.prepare(`PRAGMA table_info(${s.table})`).all() as { name: string }[]).map((c) => c.name)
  if (!cols.includes(s.column)) db.exec(`ALTER TABLE ${s.table} ADD COLUMN ${s.column} ${s.type}`)
}
