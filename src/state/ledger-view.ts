// Read-only views of a table's watermark and ledger, for the checks (verify, snapshot) and the steps' parameters.
import { partitionDate } from '../dms-names.js'
import { StateError } from '../errors.js'
import { hasTable, openStateReader, using } from './open.js'

/** What the state file says about a table's RAW partitions; undefined parts when the state file has no record. */
export interface LedgerView {
  loadDate: string | undefined
  lpf: string | undefined
  /** Stems of every processed file. */
  files: Set<string>
  /** Stems of change files superseded by a table reload (never applied, not in RAW). */
  superseded: Set<string>
  /** The RAW dates the processed files were written to: the load date and max(file date, load date). */
  rawDates: Set<string>
}

/**
 * Reads the table's watermark and processed-files ledger, read-only. Undefined only when there is no ledger yet: no
 * state file, a file whose tables are not created yet, or no watermark row for the table (never run). Any other
 * failure (a damaged file, a schema it cannot read) is CDC_STATE_UNAVAILABLE: the checks that rely on the ledger
 * must not switch off silently.
 */
export function readLedger(statePath: string, t: { source: string; name: string }): LedgerView | undefined {
  try {
    const db = openStateReader(statePath)
    if (db === undefined) return undefined
    return using(db, () => {
      if (!hasTable(db, 'ops_table') || !hasTable(db, 'processed_files')) return undefined
      const wm = db
        .prepare('SELECT LPF, LoadDate FROM ops_table WHERE Source = ? AND TableName = ?')
        .get(t.source, t.name) as { LPF: string; LoadDate: string } | undefined
      if (wm === undefined) return undefined
      const rows = db
        .prepare('SELECT * FROM processed_files WHERE Source = ? AND TableName = ?')
        .all(t.source, t.name) as { File: string; Date: string; Superseded?: number }[]
      const loadDate = wm.LoadDate
      const rawDates = new Set<string>([loadDate])
      const superseded = new Set<string>()
      for (const r of rows) {
        if (r.Superseded === 1) superseded.add(r.File)
        else if (r.Date !== '') rawDates.add(partitionDate(r.Date, loadDate))
      }
      return {
        loadDate,
        lpf: wm.LPF,
        files: new Set(rows.filter((r) => r.Superseded !== 1).map((r) => r.File)),
        superseded,
        rawDates,
      }
    })
  } catch (err) {
    throw new StateError(
      'CDC_STATE_UNAVAILABLE',
      `state file ${JSON.stringify(statePath)} cannot be read for the ledger of ${t.source}.${t.name}: ${(err as Error).message}`,
      {
        cause: err,
        transient: true,
        hint: 'the checks against the ledger (RAW dates, processed files) need it: check the file (sqlite3 <file> "PRAGMA integrity_check") or restore it from a backup',
      },
    )
  }
}

/** The table's LPF (`20220927-135523276`), read-only; undefined without a state file or a watermark row. */
export function readLpf(statePath: string, source: string, table: string): string | undefined {
  const db = openStateReader(statePath)
  if (db === undefined) return undefined
  return using(db, () => {
    if (!hasTable(db, 'ops_table')) return undefined
    const r = db.prepare('SELECT LPF FROM ops_table WHERE Source = ? AND TableName = ?').get(source, table) as
      { LPF: string } | undefined
    return r?.LPF
  })
}
