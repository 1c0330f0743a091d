// Opening the SQLite state file: the one place that constructs a better-sqlite3 database.
import Database from 'better-sqlite3'
import { existsSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { StateError } from '../errors.js'
import { migrate } from './migrations.js'

/** The slice of better-sqlite3 the state modules use. */
export type StateDb = Database.Database

/**
 * Opens the state file for writing: creates it (and its folder) when missing, sets WAL mode, refuses a newer
 * schema (CDC_STATE_VERSION) and migrates an older one. Cannot open: CDC_STATE_UNAVAILABLE (transient).
 */
export function openStateDb(path: string): StateDb {
  let db: StateDb
  try {
    mkdirSync(dirname(path), { recursive: true })
    db = new Database(path)
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.pragma('busy_timeout = 5000')
  } catch (err) {
    throw new StateError(
      'CDC_STATE_UNAVAILABLE',
      `state file ${JSON.stringify(path)} cannot be opened: ${(err as Error).message}`,
      { cause: err, transient: true },
    )
  }
  try {
    migrate(db, path)
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

/**
 * Opens an existing state file read-only, without checking or migrating its schema (readers check that the tables
 * they need exist); undefined when there is no file.
 */
export function openStateReader(path: string): StateDb | undefined {
  if (!existsSync(path)) return undefined
  const db = new Database(path, { readonly: true, fileMustExist: true })
  db.pragma('busy_timeout = 5000')
  return db
}

const statements = new WeakMap<StateDb, Map<string, Database.Statement>>()

/**
 * The database's prepared statement for `sql`, prepared once per connection: a poll of hundreds of tables runs the
 * same few statements per table, and preparing costs more than running them. Only for run(), get() and all()
 * (they finish before returning); a statement that is iterate()d stays busy until its iterator ends, so those are
 * prepared each time.
 */
export function prepared(db: StateDb, sql: string): Database.Statement {
  let byText = statements.get(db)
  if (!byText) statements.set(db, (byText = new Map<string, Database.Statement>()))
  let s = byText.get(sql)
  if (!s) byText.set(sql, (s = db.prepare(sql)))
  return s
}

/** Runs `f` on a database and closes it afterwards. */
export function using<T>(db: StateDb, f: (db: StateDb) => T): T {
  try {
    return f(db)
  } finally {
    db.close()
  }
}

/** The table exists in the file (a reader of an older file checks before it selects). */
export function hasTable(db: StateDb, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined
}
