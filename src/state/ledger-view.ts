// Read-only views of a table's watermark and ledger, for the checks (verify, snapshot) and the steps' parameters.
import { partitionDate } from '../dms-names.js'
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

/** Reads the table's watermark and processed-files ledger, read-only; undefined when unknown. */
export function readLedger(statePath: string, t: { source: string; name: string }): LedgerView | undefined {
  try {
    const db = openStateReader(statePath)
    if (db === undefined) return undefined
    return using(db, () => {
      const wm = db.prepare('SELECT LPF, LoadDate FROM ops_table WHERE Source = ? AND TableName = ?').get(t.source, t.name) as { LPF: string; LoadDate: string } | undefined
      if (wm === undefined) return undefined
      const rows = db.prepare('SELECT * FROM processed_files WHERE Source = ? AND TableName = ?').all(t.source, t.name) as { File: string; Date: string; Superseded?: number }[]
      const loadDate = wm.LoadDate
      const rawDates = new Set<string>([loadDate])
      const superseded = new Set<string>()
      for (const r of rows) {
        if (r.Superseded === 1) superseded.add(r.File)
        else if (r.Date !== '') rawDates.add(partitionDate(r.Date, loadDate))
      }
      return { loadDate, lpf: wm.LPF, files: new Set(rows.filter((r) => r.Superseded !== 1).map((r) => r.File)), superseded, rawDates }
    })
  } catch {
    return undefined // a state file of another version or one being created: the check is best-effort
  }
}

/** The table's LPF (`20220927-135523276`), read-only; undefined without a state file or a watermark row. */
export function readLpf(statePath: string, source: string, table: string): string | undefined {
  const db = openStateReader(statePath)
  if (db === undefined) return undefined
  return using(db, () => {
    if (!hasTable(db, 'ops_table')) return undefined
    const r = db.prepare('SELECT LPF FROM ops_table WHERE Source = ? AND TableName = ?').get(source, table) as { LPF: string } | undefined
    return r?.LPF
  })
}
