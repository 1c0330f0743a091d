// The targets table of issue 13 as ready-to-paste markdown, filled from one bench run's results (the cases that
// did not run say which --cases would measure them).
import { cpus, freemem, loadavg, totalmem } from 'node:os'
import type { PollResult, ScaleResult } from './scale.js'
import type { ReadResult, StorageResult } from './iceberg-storage.js'

interface Backfill {
  cdcMs: number
  duckdb2Ms: number
  ratioVsDuckdb2: number
  cdcPeakRssMB: number
  duckdbPeakRssMB: number
  liveTableArrowMB: number
  agreesWithDuckdb: boolean
}

const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`
const mb = (x: number): string => `${x.toFixed(0)} MB`
const yes = (ok: boolean): string => (ok ? 'yes' : '**no**')

/** The machine line printed with the table: cores, memory, load (the figures are only as good as the machine). */
export function machineLine(): string {
  const g = (b: number): string => (b / 2 ** 30).toFixed(0)
  return `nproc ${cpus().length} (${cpus()[0]?.model ?? '?'}), memory ${g(totalmem())} GB (${g(freemem())} GB free), load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}, Node ${process.version}`
}

export function targetsMarkdown(
  results: Record<string, unknown>,
  o: { command: string; changes: number; keys: number },
): string {
  const csv = results.backfill_csv as Backfill | undefined
  const pq = results.backfill_parquet as Backfill | undefined
  const scale = results.scale as ScaleResult | undefined
  const polls = results.poll as PollResult[] | undefined
  const rows: string[][] = []
  const backfill = (name: string, b: Backfill | undefined, now: string, c: string): void => {
    rows.push([
      `${name}, ${o.changes.toLocaleString('en')} changes`,
      now,
      '≤ 1.0× DuckDB(2)',
      b
        ? `${b.ratioVsDuckdb2.toFixed(2)}× (${s(b.cdcMs)} vs ${s(b.duckdb2Ms)})${b.agreesWithDuckdb ? '' : ', **outputs disagree**'}`
        : `not run (--cases ${c})`,
      b ? yes(b.ratioVsDuckdb2 <= 1) : '',
    ])
  }
  backfill('P1 CSV backfill', csv, '1.79–1.94× DuckDB(2)', 'csv')
  backfill('P2 Parquet backfill', pq, '1.46–1.93×', 'parquet')
  const bound = csv ? 3 * csv.liveTableArrowMB + 150 : 0
  rows.push([
    `P4 peak RSS, ${o.changes.toLocaleString('en')} changes`,
    '933–940 MB',
    '≤ 3 × live Arrow bytes + 150 MB',
    csv
      ? `${mb(csv.cdcPeakRssMB)} (bound ${mb(bound)}: live Arrow ${mb(csv.liveTableArrowMB)})`
      : 'not run (--cases csv)',
    csv ? yes(csv.cdcPeakRssMB <= bound) : '',
  ])
  rows.push([
    scale
      ? `scale: ${(scale.loadRows / 1e6).toLocaleString('en')}M-row load + ${(scale.changes / 1e6).toLocaleString('en')}M changes`
      : 'scale: 10M-row load + 1M changes',
    'not run',
    'completes; peak RSS ≤ 2.5 GB; time ≤ 1.2× DuckDB(2)',
    scale
      ? `completes${scale.agreesWithDuckdb ? '' : ' (**outputs disagree**)'}; ${mb(scale.cdcPeakRssMB)} (DuckDB ${mb(scale.duckdbPeakRssMB)}); ${scale.ratioVsDuckdb2.toFixed(2)}× (${s(scale.cdcMs)} vs ${s(scale.duckdb2Ms)})`
      : 'not run (--cases scale)',
    scale ? yes(scale.agreesWithDuckdb && scale.cdcPeakRssMB <= 2560 && scale.ratioVsDuckdb2 <= 1.2) : '',
  ])
  const at = (n: number): PollResult | undefined => polls?.find((p) => p.liveRows === n)
  const p1 = at(1_000_000)
  const p5 = at(5_000_000)
  const pollText = polls
    ? polls.map((p) => `${(p.liveRows / 1e6).toLocaleString('en')}M rows: p50 ${s(p.medianMs)}`).join('; ') +
      (p1 && p5 ? `; 5M/1M = ${(p5.medianMs / p1.medianMs).toFixed(2)}×` : '')
    : 'not run (--cases scale or poll)'
  rows.push([
    `warm poll, ${(polls?.[0]?.changesPerFile ?? 10_000).toLocaleString('en')} changes on 1M live rows (plain layout)`,
    '7.6 s for 1k changes',
    'p50 ≤ 2 s; 5M rows ≤ 5× the 1M figure',
    pollText,
    p1 ? yes(p1.medianMs <= 2000 && (p5 === undefined || p5.medianMs <= 5 * p1.medianMs)) : '',
  ])
  const table = [
    '| target | before (issue 13) | goal | measured | met |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ]
  const loads = [
    csv || pq ? `backfills: ${o.changes} changes over ${o.keys} keys` : '',
    scale
      ? `scale: ${scale.csvMB.toFixed(0)} MB of CSV in ${scale.loadObjects} LOAD + ${scale.cdcObjects} CDC objects, load after it ${scale.loadavg}`
      : '',
    ...(polls ?? []).map(
      (p) =>
        `poll ${p.liveRows}: ${p.files} files, peak RSS ${p.peakRssMB === undefined ? '?' : mb(p.peakRssMB)}, load after it ${p.loadavg}`,
    ),
  ].filter((x) => x !== '')
  return (
    [...table, '', `Command: \`${o.command}\``, `Machine: ${machineLine()}`, ...loads.map((l) => `- ${l}`)].join('\n') +
    '\n'
  )
}

/** Issue 14's storage and read targets (the iceberg-storage case) as markdown. */
export function icebergTargetsMarkdown(st: StorageResult, rd: ReadResult, command: string): string {
  const x = (r: number): string => `${r.toFixed(2)}×`
  const m = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MB`
  // reads of a compacted table take tens of milliseconds: seconds would print 0.0 s
  const t = (ms: number): string => (ms < 1000 ? `${ms.toFixed(0)} ms` : s(ms))
  const rows: string[][] = [
    [
      `storage after ${st.dates} dates of ${st.changesPerDate.toLocaleString('en')} changes on ${st.liveRows.toLocaleString('en')} rows`,
      '≤ 1.5× one snapshot (plain: 30×)',
      `Iceberg ${x(st.iceberg.ratio)} (${m(st.iceberg.totalBytes)} / ${m(st.iceberg.oneSnapshotBytes)}, ${st.iceberg.dataFiles} data files, ${st.iceberg.compactionsKept} compactions kept); plain ${x(st.plain.ratio)} (${m(st.plain.totalBytes)} / ${m(st.plain.oneSnapshotBytes)})`,
      yes(st.iceberg.ratio <= 1.5),
    ],
    ...rd.engines.map((e) => [
      `${e.engine}: read the live table after ${rd.polls} polls of ${rd.changesPerPoll.toLocaleString('en')} changes, no compaction`,
      '≤ 2× a compacted table',
      `${x(e.ratio)} (${t(e.uncompactedMs)} vs ${t(e.compactedMs)}; ${rd.uncompacted.dataFiles} data + ${rd.uncompacted.deleteFiles} delete files vs ${rd.compacted.dataFiles}${e.agrees ? '' : ', **reads disagree**'})`,
      yes(e.agrees && e.ratio <= 2),
    ]),
  ]
  return (
    [
      '| target (issue 14) | goal | measured | met |',
      '| --- | --- | --- | --- |',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
      '',
      `Command: \`${command}\``,
      `Machine: ${machineLine()}`,
      `- storage: runs ${s(st.plainRunMs)} plain, ${s(st.icebergRunMs)} Iceberg; load after it ${st.loadavg}`,
      `- read: ${rd.polls} polls in ${s(rd.pollsMs)}, compact ${s(rd.compactMs)}; load after it ${rd.loadavg}`,
      ...rd.skipped.map((k) => `- not read: ${k}`),
    ].join('\n') + '\n'
  )
}
