// catalog_tables: the last catalog registration (Glue) of each table.
import type { StateDb } from './open.js'

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

/** Records a catalog registration attempt: success (no error) or its error; a success keeps RegisteredAt. */
export function recordCatalog(
  db: StateDb,
  source: string,
  table: string,
  glueTables: string[],
  fingerprint: string,
  error: { code: string; message: string } | undefined,
): void {
  const now = new Date().toISOString()
  db.prepare(
    `INSERT INTO catalog_tables (Source, TableName, GlueTables, Fingerprint, LastAttemptAt, RegisteredAt, LastErrorCode, LastError) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (Source, TableName) DO UPDATE SET GlueTables = excluded.GlueTables, Fingerprint = excluded.Fingerprint,
       LastAttemptAt = excluded.LastAttemptAt, RegisteredAt = COALESCE(excluded.RegisteredAt, RegisteredAt),
       LastErrorCode = excluded.LastErrorCode, LastError = excluded.LastError`,
  ).run(
    source,
    table,
    glueTables.join(','),
    fingerprint,
    now,
    error ? null : now,
    error?.code ?? null,
    error?.message ?? null,
  )
}

export function catalogRecord(db: StateDb, source: string, table: string): CatalogRecord | undefined {
  const r = db
    .prepare(
      'SELECT GlueTables, Fingerprint, LastAttemptAt, RegisteredAt, LastErrorCode, LastError FROM catalog_tables WHERE Source = ? AND TableName = ?',
    )
    .get(source, table) as
    | {
        GlueTables: string
        Fingerprint: string
        LastAttemptAt: string
        RegisteredAt: string | null
        LastErrorCode: string | null
        LastError: string | null
      }
    | undefined
  return (
    r && {
      glueTables: r.GlueTables,
      fingerprint: r.Fingerprint,
      lastAttemptAt: r.LastAttemptAt,
      registeredAt: r.RegisteredAt,
      errorCode: r.LastErrorCode,
      error: r.LastError,
    }
  )
}
