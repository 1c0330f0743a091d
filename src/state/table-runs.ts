// table_runs and the status view: each table's last run, its error, the newest landed file, and the lag.
import { timeOfName } from '../dms-names.js'
import { prepared, type StateDb } from './open.js'
import type { Watermark } from './state-store.js'

export interface TableStatus extends Watermark {
  files: number
  rows: number
  /** Rows set aside under onBadRow "quarantine". */
  quarantined: number
  /** Parallel-load segment files (DMS full-load data not applied) seen by the last full listing; null before one. */
  segmentFiles: number | null
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

/**
 * Records a table's run: its error (or none), the newest DMS file seen in the landing, the parallel-load segment
 * files seen (undefined after an incremental listing: the last full listing's count stays).
 */
export function recordTableRun(
  db: StateDb,
  source: string,
  table: string,
  error: { code: string; message: string } | undefined,
  newest: string | undefined,
  segments?: number,
): void {
  const now = new Date().toISOString()
  prepared(
    db,
    `INSERT INTO table_runs (Source, TableName, LastRunAt, LastErrorCode, LastError, NewestFile, LastSuccessAt, SegmentFiles) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (Source, TableName) DO UPDATE SET LastRunAt = excluded.LastRunAt, LastErrorCode = excluded.LastErrorCode,
       LastError = excluded.LastError, NewestFile = COALESCE(excluded.NewestFile, NewestFile),
       LastSuccessAt = COALESCE(excluded.LastSuccessAt, LastSuccessAt), SegmentFiles = COALESCE(excluded.SegmentFiles, SegmentFiles)`,
  ).run(
    source,
    table,
    now,
    error?.code ?? null,
    error?.message ?? null,
    newest ?? null,
    error ? null : now,
    segments ?? null,
  )
}

interface StatusRow {
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
  SegmentFiles: number | null
  LastRunAt: string | null
  LastErrorCode: string | null
  LastError: string | null
  NewestFile: string | null
  LastSuccessAt: string | null
  GlueTables: string | null
  RegisteredAt: string | null
  CatalogErrorCode: string | null
  CatalogError: string | null
}

/** Every table with a watermark or a run record, by Source and TableName. */
export function tableStatus(db: StateDb): TableStatus[] {
  const rows = db
    .prepare(
      `SELECT o.Source AS source, o.TableName AS tbl, o.FullLoad, o.LPF, o.LoadDate, o.LiveRows, o.UpdatedAt,
              (SELECT COUNT(*) FROM processed_files p WHERE p.Source = o.Source AND p.TableName = o.TableName) AS files,
              (SELECT COALESCE(SUM(Rows), 0) FROM processed_files p WHERE p.Source = o.Source AND p.TableName = o.TableName) AS rowsProcessed,
              (SELECT COALESCE(SUM(Quarantined), 0) FROM processed_files p WHERE p.Source = o.Source AND p.TableName = o.TableName) AS quarantined,
              r.SegmentFiles, r.LastRunAt, r.LastErrorCode, r.LastError, r.NewestFile, r.LastSuccessAt,
              c.GlueTables, c.RegisteredAt, c.LastErrorCode AS CatalogErrorCode, c.LastError AS CatalogError
       FROM ops_table o LEFT JOIN table_runs r ON r.Source = o.Source AND r.TableName = o.TableName
         LEFT JOIN catalog_tables c ON c.Source = o.Source AND c.TableName = o.TableName
       UNION ALL
       SELECT r.Source, r.TableName, NULL, NULL, NULL, 0, NULL, 0, 0, 0, r.SegmentFiles, r.LastRunAt, r.LastErrorCode, r.LastError, r.NewestFile, r.LastSuccessAt,
              NULL, NULL, NULL, NULL
       FROM table_runs r WHERE NOT EXISTS (SELECT 1 FROM ops_table o WHERE o.Source = r.Source AND o.TableName = r.TableName)
       ORDER BY 1, 2`,
    )
    .all() as StatusRow[]
  return rows.map((r) => ({
    source: r.source,
    table: r.tbl,
    fullLoad: r.FullLoad === 1,
    lpf: r.LPF ?? '',
    loadDate: r.LoadDate ?? '',
    files: r.files,
    rows: r.rowsProcessed,
    quarantined: r.quarantined,
    segmentFiles: r.SegmentFiles,
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

/** How far the watermark trails the newest landed file, in seconds (0 when caught up). */
export function lagSeconds(newest: string, lpf: string): number | null {
  const a = timeOfName(newest)
  const b = timeOfName(lpf)
  return a === undefined || b === undefined ? null : Math.max(0, (a - b) / 1000)
}
