// `cdc-apply verify`: the command body (report on stdout, --json for automation, exit 8 on a mismatch).
import { CdcError, EXIT, exitCodeFor } from '../errors.js'
import { tableLabel, type Config } from '../config.js'
import { errFields, type Logger } from '../log.js'
import { verify, type DateCheck, type TableCheck, type VerifyReport } from '../check/verify.js'
import type { Json } from '@duckdb/node-api'
import { errorJson, table } from './render.js'

export interface CommandIo {
  stdout(s: string): void
  stderr(s: string): void
}

export interface VerifyArgs {
  table?: string
  date?: string
  against?: string
  json: boolean
  limit?: number
}

/**
 * Runs verify and prints its report. Exit code: 0 when every checked table equals its recomputation (or extract),
 * 8 (EXIT.verifyMismatch) when any differs, otherwise the code of the first table that could not be checked.
 */
export async function verifyCommand(config: Config, args: VerifyArgs, io: CommandIo, log: Logger): Promise<number> {
  return withSignals(log, async (signal) => {
    try {
      const report = await verify(config, {
        ...(args.table !== undefined ? { table: args.table } : {}),
        ...(args.date !== undefined ? { date: args.date } : {}),
        ...(args.against !== undefined ? { against: args.against } : {}),
        ...(args.limit !== undefined ? { limit: args.limit } : {}),
        baseDir: process.cwd(),
        logger: log,
        signal,
      })
      io.stdout(args.json ? JSON.stringify(verifyJson(report)) + '\n' : renderVerify(report))
      if (report.verdict === 'mismatch') return EXIT.verifyMismatch
      const failed = report.tables.find((t) => t.error)
      return failed ? exitCodeFor(failed.error) : EXIT.ok
    } catch (err) {
      return failure(err, io, log, signal)
    }
  })
}

/** The report as one JSON document: errors as `{ code, message, hint }`. */
export function verifyJson(r: VerifyReport): object {
  return {
    verdict: r.verdict,
    ms: r.ms,
    tables: r.tables.map((t) => ({
      ...t,
      error: errorJson(t.error),
    })),
  }
}

export function renderVerify(r: VerifyReport): string {
  const out: string[] = []
  for (const t of r.tables) out.push(renderTable(t))
  const n = (v: string): number => r.tables.filter((t) => t.verdict === v).length
  out.push(
    `verify: ${r.tables.length} table${r.tables.length === 1 ? '' : 's'}: ${n('equal')} equal, ${n('mismatch')} mismatch, ${n('error')} not checked, ${n('skipped')} skipped; ${r.ms} ms\n`,
  )
  return out.join('\n')
}

function renderTable(t: TableCheck): string {
  const label = tableLabel(t)
  const lines: string[] = []
  const what =
    t.mode === 'raw'
      ? `against RAW (recomputed with DuckDB from ${t.rawDates} RAW partition${t.rawDates === 1 ? '' : 's'}, ${t.rawRows} changes)`
      : `against extract ${t.against} (curated snapshot of ${t.dates[0]?.date ?? '?'})`
  lines.push(`${label} ${what}`)
  if (t.verdict === 'skipped') {
    lines.push(`  skipped: ${t.note ?? ''}`)
    return lines.join('\n') + '\n'
  }
  if (t.dates.length > 0) {
    const body = table(
      [
        'DATE',
        'VERDICT',
        t.mode === 'raw' ? 'RECOMPUTED' : 'EXTRACT',
        'CURATED',
        'MISSING',
        'EXTRA',
        'DIFFER',
        'DUPLICATE',
      ],
      t.dates.map((d) => [
        d.date,
        d.snapshotMissing ? 'mismatch (no snapshot)' : d.verdict,
        String(d.expectedRows),
        d.snapshotMissing ? '-' : String(d.curatedRows),
        String(d.missing),
        String(d.extra),
        String(d.differ),
        String(d.duplicates),
      ]),
    )
    lines.push(
      ...body
        .trimEnd()
        .split('\n')
        .map((l) => `  ${l}`),
    )
  }
  for (const d of t.dates) lines.push(...details(d, t.mode))
  const c = t.columns
  if (c.onlyExpected.length > 0)
    lines.push(
      `  columns only in ${t.mode === 'raw' ? 'RAW' : 'the extract (not compared)'}: ${c.onlyExpected.join(', ')}`,
    )
  if (c.onlyCurated.length > 0)
    lines.push(`  columns only in curated${t.mode === 'raw' ? '' : ' (not compared)'}: ${c.onlyCurated.join(', ')}`)
  for (const x of c.typeDiffers)
    lines.push(`  column ${x.column}: ${x.expected} in RAW, ${x.curated} in curated (compared as text)`)
  if (t.error) {
    const e = t.error as CdcError
    lines.push(`  not checked: ${e.code ?? 'CDC_INTERNAL'}: ${e.message}`)
    if (e.hint) lines.push(`  hint: ${e.hint}`)
  }
  lines.push(
    `  verdict: ${t.verdict === 'error' ? 'NOT CHECKED' : t.verdict.toUpperCase()}${t.verdict === 'mismatch' ? mismatchSummary(t) : ''}`,
  )
  return lines.join('\n') + '\n'
}

function mismatchSummary(t: TableCheck): string {
  const bad = t.dates.filter((d) => d.verdict === 'mismatch')
  return bad.length === 0
    ? ' (columns differ)'
    : ` (${bad.length} of ${t.dates.length} date${t.dates.length === 1 ? '' : 's'} differ, first ${bad[0]!.date})`
}

function details(d: DateCheck, mode: 'raw' | 'extract'): string[] {
  if (d.verdict === 'equal') return []
  const ref = mode === 'raw' ? 'recomputed from RAW' : 'in the extract'
  const out: string[] = []
  const more = (shown: number, total: number): string => (total > shown ? ` … and ${total - shown} more` : '')
  if (d.snapshotMissing) out.push(`  ${d.date}: the curated partition is missing`)
  if (d.missing > 0)
    out.push(
      `  ${d.date}: missing (${ref}, not in curated): ${d.missingKeys.map(keyText).join('; ')}${more(d.missingKeys.length, d.missing)}`,
    )
  if (d.extra > 0)
    out.push(
      `  ${d.date}: extra (in curated, not ${ref}): ${d.extraKeys.map(keyText).join('; ')}${more(d.extraKeys.length, d.extra)}`,
    )
  if (d.differ > 0) {
    out.push(`  ${d.date}: differ (${d.differ} key${d.differ === 1 ? '' : 's'}):`)
    for (const r of d.differing)
      out.push(
        `    ${keyText(r.key)}: ${r.columns.map((c) => `${c.column} ${mode === 'raw' ? 'recomputed' : 'extract'} ${valueText(c.expected)}, curated ${valueText(c.curated)}`).join('; ')}`,
      )
    if (d.differ > d.differing.length) out.push(`    … and ${d.differ - d.differing.length} more`)
  }
  if (d.duplicates > 0)
    out.push(
      `  ${d.date}: duplicated keys: ${d.duplicateKeys.map((x) => `${keyText(x.key)} ×${x.copies} in ${x.side === 'curated' ? 'curated' : mode === 'raw' ? 'RAW' : 'the extract'}`).join('; ')}${more(d.duplicateKeys.length, d.duplicates)}`,
    )
  return out
}

function keyText(key: Record<string, Json>): string {
  return Object.entries(key)
    .map(([k, v]) => `${k}=${valueText(v, true)}`)
    .join(', ')
}

function valueText(v: Json, bare = false): string {
  if (v === null) return 'NULL'
  if (typeof v === 'string' && bare && /^[\w.:+-]+$/.test(v)) return v
  return JSON.stringify(v)
}

/** Prints a CdcError as cdc-apply's main does and returns its exit code; anything else is rethrown (a bug). */
export function failure(err: unknown, io: CommandIo, log: Logger, signal: AbortSignal): number {
  if (signal.aborted) {
    log.warn({}, 'stopped by a signal')
    return EXIT.interrupted
  }
  if (!(err instanceof CdcError)) throw err
  // a usage error (exit 2) is one line and its hint; in pretty format the text below is the log
  if (exitCodeFor(err) !== EXIT.usage && log.format !== 'pretty') log.error(errFields(err), 'failed')
  io.stderr(`cdc-apply: ${err.code}: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`)
  return exitCodeFor(err)
}

/** SIGINT/SIGTERM abort the work (temp files are removed on the way out); a second signal exits at once. */
export async function withSignals(log: Logger, fn: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController()
  let signals = 0
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++
    if (signals > 1) process.exit(EXIT.interrupted)
    log.info({ signal: sig }, 'stopping')
    controller.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    return await fn(controller.signal)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
