// Human-readable tables for stdout.
import type { VerifyRun } from '../check/verify.js'
import type { PipelineRunRow } from '../state/index.js'
import type { RunSummary } from '../run.js'
import type { TableStatus } from '../state/index.js'
import { tableLabel } from '../config.js'
import type { CompactResult } from '../compact.js'

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd() + '\n'
  return line(headers) + rows.map(line).join('')
}

export function renderRun(s: RunSummary): string {
  return (
    table(
      ['TABLE', 'STATUS', 'FULLLOAD', 'LPF', 'FILES', 'ROWS', 'I', 'U', 'D', 'LIVE', 'MS', 'ERROR'],
      s.tables.map((t) => [
        tableLabel(t),
        t.status,
        t.fullLoad === undefined ? '' : t.fullLoad ? 'True' : 'False',
        t.lpf ?? '',
        String(t.files),
        String(t.rows),
        String(t.inserts),
        String(t.updates),
        String(t.deletes),
        t.liveRows === undefined ? '' : String(t.liveRows),
        String(t.ms),
        t.error ? `${(t.error as { code?: string }).code ?? 'CDC_INTERNAL'}: ${t.error.message}` : '',
      ]),
    ) +
    hints(s) +
    s.tables
      .filter((t) => t.catalog?.error)
      .map(
        (t) =>
          `catalog ${tableLabel(t)}: ${t.catalog!.error!.code}: ${t.catalog!.error!.message} (ingestion went on; retried at the next run)\n`,
      )
      .join('') +
    `done in ${s.ms} ms\n`
  )
}

/** The hint of each failed table, under the table (the ERROR column has the code and message). */
function hints(s: RunSummary): string {
  return s.tables
    .map((t) => ({ label: tableLabel(t), hint: (t.error as { hint?: string } | undefined)?.hint }))
    .filter((x) => x.hint)
    .map((x) => `hint (${x.label}): ${x.hint}\n`)
    .join('')
}

export function renderStatus(rows: TableStatus[]): string {
  return table(
    [
      'Source',
      'TableName',
      'FullLoad',
      'LPF',
      'NEWEST',
      'LAG S',
      'FILES',
      'ROWS',
      'QUARANTINED',
      'SEGMENTS',
      'LIVE',
      'LAST SUCCESS',
      'LAST ERROR',
    ],
    rows.map((r) => [
      r.source,
      r.table,
      r.lpf === '' ? '' : r.fullLoad ? 'True' : 'False',
      r.lpf,
      r.newest ?? '',
      r.lagSeconds === null ? '' : String(r.lagSeconds),
      String(r.files),
      String(r.rows),
      String(r.quarantined),
      r.segmentFiles === null ? '' : String(r.segmentFiles),
      String(r.liveRows),
      r.lastSuccessAt ?? '',
      r.lastErrorCode ? `${r.lastErrorCode}: ${r.lastError}` : '',
    ]),
  )
}

/** `status`: the catalog registration of each table, when a catalog is configured (or was). */
export function renderCatalog(rows: TableStatus[]): string {
  const reg = rows.filter((r) => r.catalogTables !== null)
  if (reg.length === 0) return ''
  return (
    '\ncatalog\n' +
    table(
      ['Source', 'TableName', 'GLUE TABLES', 'REGISTERED AT', 'LAST ERROR'],
      reg.map((r) => [
        r.source,
        r.table,
        r.catalogTables ?? '',
        r.catalogRegisteredAt ?? '',
        r.catalogErrorCode ? `${r.catalogErrorCode}: ${r.catalogError}` : '',
      ]),
    )
  )
}

/** `status`: the last verify of each table and the last run of each pipeline, under the tables. */
export function renderChecks(verifies: VerifyRun[], pipelines: PipelineRunRow[]): string {
  let out = ''
  if (verifies.length > 0) {
    out +=
      '\nlast verify\n' +
      table(
        ['Source', 'TableName', 'DATE', 'VERDICT', 'MISSING', 'EXTRA', 'DIFFER', 'AGAINST', 'CHECKED AT'],
        verifies.map((v) => [
          v.source,
          v.table,
          v.date,
          v.verdict,
          String(v.missing),
          String(v.extra),
          String(v.differ),
          v.against ?? 'RAW',
          v.checkedAt,
        ]),
      )
  }
  if (pipelines.length > 0) {
    out +=
      '\npipelines\n' +
      table(
        ['PIPELINE', 'STATUS', 'STARTED AT', 'ROWS', 'MS', 'RUNS', 'LAST SUCCESS', 'ERROR'],
        pipelines.map((p) => [
          p.pipeline,
          p.status,
          p.startedAt,
          String(p.rows),
          String(p.ms),
          String(p.runs),
          p.lastSuccessAt ?? '',
          p.error ?? '',
        ]),
      )
  }
  return out
}

/** A run's summary as `--json` prints it: each table's error as its code, message and hint. */
export function summaryJson(s: RunSummary): object {
  return {
    ms: s.ms,
    tables: s.tables.map((t) => ({
      ...t,
      error: errorJson(t.error),
    })),
  }
}

/** An error as the `--json` outputs print it: `{ code, message, hint }` (CDC_INTERNAL for a bug). */
export function errorJson(
  err: (Error & { code?: string; hint?: string }) | undefined,
): { code: string; message: string; hint: string | undefined } | undefined {
  return err ? { code: err.code ?? 'CDC_INTERNAL', message: err.message, hint: err.hint } : undefined
}

/** One line per table of `cdc-apply compact`. */
export function renderCompact(results: CompactResult[]): string {
  const files = (f: { dataFiles: number; deleteFiles: number }): string =>
    `${f.dataFiles} data file${f.dataFiles === 1 ? '' : 's'} and ${f.deleteFiles} delete file${f.deleteFiles === 1 ? '' : 's'}`
  return results
    .map((r) => {
      if (r.status === 'plain')
        return `compact ${r.table}: plain Parquet layout (tableFormat "parquet"), nothing to compact\n`
      if (r.status === 'empty')
        return `compact ${r.table}: no Iceberg table yet (nothing has run), nothing to compact\n`
      const upkeep = `; ${r.expired.snapshots} snapshots expired, ${r.expired.files} files of expired snapshots and ${r.expired.orphans} unreferenced files deleted`
      return r.status === 'compacted'
        ? `compact ${r.table}: ${r.rows} rows rewritten from ${files(r.before)} into ${files(r.after)} (snapshot ${r.snapshotId})${upkeep}\n`
        : `compact ${r.table}: already compact (${files(r.before)})${upkeep}\n`
    })
    .join('')
}
