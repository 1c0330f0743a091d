// Watch-mode latency: the time from a change file landing to its curated snapshot being written, over at least
// 20 files, on a table of --rows live rows. `npm run bench:latency -- --rows 100000 --files 20 [--format iceberg]
// [--changes 1000] [--dir D] [--skip-raw]`.
// Each poll is also split into its curated side (the state's snapshot or delta and the sink's start, then the
// curated put) and its RAW side (encode and put), timed by wrapping TableRun's and RawSink's methods; `--skip-raw` leaves RAW out
// of the polls (not written: a bench-only measure of what a poll costs without it). peakRssMb: the largest RSS at the
// end of a poll.
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { parseConfig } from '../../src/config.js'
import { runWatch } from '../../src/watch.js'
import { TableRun } from '../../src/execute.js'
import { RawSink } from '../../src/raw-sink.js'
import { benchConfig } from './gen.js'

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    files: { type: 'string', default: '20' },
    changes: { type: 'string', default: '1000' },
    format: { type: 'string', default: 'parquet' },
    json: { type: 'boolean', default: false },
    dir: { type: 'string' },
    'skip-raw': { type: 'boolean', default: false },
  },
})

/** Milliseconds spent per poll in each wrapped step (sync time, or until the promise settles). */
const spent = { curatedStart: 0, curatedPut: 0, rawEncode: 0, rawPut: 0 }
type Method = (this: unknown, ...args: unknown[]) => unknown
function timed(
  cls: { prototype: object; name: string },
  method: string,
  into: keyof typeof spent,
  replace?: Method,
): void {
  const proto = cls.prototype as Record<string, Method>
  const orig = proto[method]
  if (typeof orig !== 'function') throw new Error(`${cls.name}.${method} is gone: update scripts/bench/latency.ts`)
  const call = replace ?? orig
  proto[method] = function (this: unknown, ...args: unknown[]): unknown {
    const t0 = performance.now()
    const out = call.apply(this, args)
    if (out instanceof Promise) return out.finally(() => (spent[into] += performance.now() - t0))
    spent[into] += performance.now() - t0
    return out
  }
}
timed(TableRun, 'encodeCurated', 'curatedStart')
timed(TableRun, 'putCurated', 'curatedPut')
// RAW is streamed (raw-sink.ts): rows are added as files are read (parts encoded and put as they fill), and the
// last part is put by finish().
if (values['skip-raw']) {
  timed(RawSink, 'add', 'rawEncode', () => Promise.resolve())
  timed(RawSink, 'addRecords', 'rawEncode', () => Promise.resolve())
  timed(RawSink, 'finish', 'rawPut', () => Promise.resolve([]))
} else {
  timed(RawSink, 'add', 'rawEncode')
  timed(RawSink, 'addRecords', 'rawEncode')
  timed(RawSink, 'finish', 'rawPut')
}
const rows = Number(values.rows)
const files = Number(values.files)
const changes = Number(values.changes)
const dir = values.dir ?? join(tmpdir(), `cdc-apply-latency-${rows}`)
rmSync(dir, { recursive: true, force: true })
const table = join(dir, 'landing', 'bench', 'orders')
mkdirSync(table, { recursive: true })

const row = (op: string, ts: string, id: number, i: number): string =>
  op === 'D'
    ? `D,${ts},${id},,,,,,,,`
    : `${op},${ts},${id},${i % 1000},${i % 100000}.25,C${i % 50},Name ${i % 977},"note, ${i}",delhi,${(i % 10000) / 100},2021-01-0${1 + (i % 9)}`
// written in chunks: 5M rows are more characters than one JS string may hold
const fd = openSync(join(table, 'LOAD00000001.csv'), 'w')
for (let id = 0; id < rows;) {
  let chunk = ''
  for (const end = Math.min(rows, id + 50_000); id < end; id++)
    chunk += row('I', '2024-06-10 08:00:00.000000', id, id) + '\n'
  writeSync(fd, chunk)
}
closeSync(fd)

if (values.format !== 'parquet' && values.format !== 'iceberg')
  throw new Error(`--format is parquet or iceberg, got ${values.format}`)
const cfg = parseConfig(
  { ...benchConfig(join(dir, 'landing'), join(dir, 'out'), 'csv'), tableFormat: values.format },
  dir,
)
const controller = new AbortController()
const latencies: number[] = []
const splits: (typeof spent)[] = []
let landedAt = 0
let n = 0
/** Peak RSS seen at the end of a poll (the state, the Iceberg row index and what a poll leaves). */
let peakRss = 0
const dropNext = (): void => {
  if (n === files) {
    controller.abort()
    return
  }
  const stem = `20240610-10${String(n).padStart(2, '0')}00000`
  const lines: string[] = []
  for (let i = 0; i < changes; i++)
    lines.push(
      row(
        i % 10 === 9 ? 'D' : 'U',
        `2024-06-10 10:${String(n % 60).padStart(2, '0')}:00.000000`,
        (n * 7919 + i * 104729) % rows,
        i,
      ),
    )
  writeFileSync(join(table, `${stem}.csv`), lines.join('\n') + '\n')
  landedAt = performance.now()
  n++
}
await runWatch(cfg, {
  signal: controller.signal,
  intervalSeconds: 0.05,
  onPoll: (r) => {
    if (r.error) throw r.error
    if (r.status !== 'ok') return
    if (landedAt > 0) {
      latencies.push(performance.now() - landedAt)
      splits.push({ ...spent })
    }
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
    for (const k of Object.keys(spent) as (keyof typeof spent)[]) spent[k] = 0
    dropNext()
  },
})
const sorted = [...latencies].sort((a, b) => a - b)
const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0
const split = Object.fromEntries(
  (Object.keys(spent) as (keyof typeof spent)[]).map((k) => [
    `${k}MedianMs`,
    Math.round(median(splits.map((s) => s[k]))),
  ]),
)
const result = {
  format: values.format,
  liveRows: rows,
  files: latencies.length,
  changesPerFile: changes,
  pollIntervalMs: 50,
  medianMs: q(0.5),
  p90Ms: q(0.9),
  maxMs: sorted.at(-1)!,
  skipRaw: values['skip-raw'],
  ...split,
  peakRssMb: Math.round(peakRss / 2 ** 20),
  pollMs: latencies.map((l) => Math.round(l)),
}
process.stdout.write(
  values.json ? JSON.stringify(result) + '\n' : `latency from landing to curated snapshot: ${JSON.stringify(result)}\n`,
)
rmSync(dir, { recursive: true, force: true })
