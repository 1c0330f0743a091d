// verify_runs and pipeline_runs: the last verify of each table and every pipeline run, for `cdc-apply status`.
import { existsSync } from 'node:fs'
import { CdcError, StateError } from '../errors.js'
import { hasTable, openStateDb, openStateReader, using } from './open.js'

export interface VerifyRun {
  source: string
  table: string
  /** The date checked, or `first..last` when several were. */
  date: string
  verdict: 'equal' | 'mismatch' | 'error' | 'skipped'
  /** Totals over the dates checked. */
  missing: number
  extra: number
  differ: number
  checkedAt: string
  /** The extract compared with, or null for a check against RAW. */
  against: string | null
}

/** Records a table's verify (one row per table: the last one) when the state file exists; checkedAt is now. */
export function recordVerify(statePath: string, v: Omit<VerifyRun, 'checkedAt'>): void {
  if (!existsSync(statePath)) return
  try {
    using(openStateDb(statePath), (db) => {
      db.prepare(
        'INSERT OR REPLACE INTO verify_runs (Source, TableName, Date, Verdict, Missing, Extra, Differ, CheckedAt, Against) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(v.source, v.table, v.date, v.verdict, v.missing, v.extra, v.differ, new Date().toISOString(), v.against)
    })
  } catch (err) {
    if (err instanceof CdcError && err.code !== 'CDC_STATE_UNAVAILABLE') throw err
    throw new StateError(
      'CDC_STATE_UNAVAILABLE',
      `recording the verify of ${v.source}.${v.table} in ${JSON.stringify(statePath)} failed: ${(err as Error).message}`,
      { cause: err, transient: true },
    )
  }
}

/** The last verify of every table; empty when the file or the table does not exist. */
export function lastVerify(statePath: string): VerifyRun[] {
  const db = openStateReader(statePath)
  if (db === undefined) return []
  return using(db, () => {
    if (!hasTable(db, 'verify_runs')) return []
    const rows = db
      .prepare(
        'SELECT Source, TableName, Date, Verdict, Missing, Extra, Differ, CheckedAt, Against FROM verify_runs ORDER BY Source, TableName',
      )
      .all() as {
      Source: string
      TableName: string
      Date: string
      Verdict: VerifyRun['verdict']
      Missing: number
      Extra: number
      Differ: number
      CheckedAt: string
      Against: string | null
    }[]
    return rows.map((r) => ({
      source: r.Source,
      table: r.TableName,
      date: r.Date,
      verdict: r.Verdict,
      missing: r.Missing,
      extra: r.Extra,
      differ: r.Differ,
      checkedAt: r.CheckedAt,
      against: r.Against,
    }))
  })
}

/** One pipeline run as recorded. */
export interface PipelineRunRecord {
  pipeline: string
  startedAt: string
  params: Record<string, string>
  status: 'Success' | 'Error'
  rows: number
  ms: number
  error: { code: string; message: string } | undefined
}

/** Appends a pipeline run; creates the state file when missing. */
export function recordPipelineRun(statePath: string, run: PipelineRunRecord): void {
  using(openStateDb(statePath), (db) => {
    db.prepare(
      'INSERT INTO pipeline_runs (Pipeline, StartedAt, Params, Status, Rows, Ms, Error) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(
      run.pipeline,
      run.startedAt,
      JSON.stringify(run.params),
      run.status,
      run.rows,
      run.ms,
      run.error ? `${run.error.code}: ${run.error.message}` : null,
    )
  })
}

export interface PipelineRunRow {
  pipeline: string
  startedAt: string
  params: Record<string, string>
  status: 'Success' | 'Error'
  rows: number
  ms: number
  /** `CODE: message` of a failed run. */
  error: string | null
  /** Runs of this pipeline recorded so far. */
  runs: number
  /** When it last succeeded (this run or an earlier one), or null. */
  lastSuccessAt: string | null
}

/**
 * The latest run of every pipeline recorded in the state file, by pipeline name (for `cdc-apply status`); with
 * `all`, every run, newest first. No state file or no runs yet: an empty list.
 */
export function pipelineRuns(statePath: string, opts: { all?: boolean } = {}): PipelineRunRow[] {
  const db = openStateReader(statePath)
  if (db === undefined) return []
  return using(db, () => {
    if (!hasTable(db, 'pipeline_runs')) return []
    const rows = db
      .prepare(
        `SELECT r.Pipeline, r.StartedAt, r.Params, r.Status, r.Rows, r.Ms, r.Error,
                (SELECT COUNT(*) FROM pipeline_runs c WHERE c.Pipeline = r.Pipeline) AS Runs,
                (SELECT MAX(StartedAt) FROM pipeline_runs s WHERE s.Pipeline = r.Pipeline AND s.Status = 'Success' AND s.StartedAt <= r.StartedAt) AS LastSuccessAt
         FROM pipeline_runs r
         ${opts.all ? '' : 'WHERE r.rowid = (SELECT l.rowid FROM pipeline_runs l WHERE l.Pipeline = r.Pipeline ORDER BY l.StartedAt DESC, l.rowid DESC LIMIT 1)'}
         ORDER BY ${opts.all ? 'r.StartedAt DESC, r.rowid DESC' : 'r.Pipeline'}`,
      )
      .all() as {
      Pipeline: string
      StartedAt: string
      Params: string
      Status: string
      Rows: number
      Ms: number
      Error: string | null
      Runs: number
      LastSuccessAt: string | null
    }[]
    return rows.map((r) => ({
      pipeline: r.Pipeline,
      startedAt: r.StartedAt,
      params: JSON.parse(r.Params) as Record<string, string>,
      status: r.Status === 'Success' ? 'Success' : 'Error',
      rows: r.Rows,
      ms: r.Ms,
      error: r.Error,
      runs: r.Runs,
      lastSuccessAt: r.LastSuccessAt,
    }))
  })
}
