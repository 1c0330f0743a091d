// `npm run bench`: cdc-apply against the DuckDB equivalent on the same generated DMS data, in one run,
// interleaved, several rounds; prints medians and ratios (a table, or --json). Not a test: no assertions on time.
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs'
import { cpus, loadavg, totalmem, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import { generate, benchConfig, DEFAULT_GEN, BENCH_COLUMNS } from './gen.js'
import { agree, measure, type Sample } from './common.js'
import { defaultCache, runPollCase, runScaleCase, scaleWork } from './scale.js'
import { targetsMarkdown } from './targets.js'
import { parseConfig } from '../../src/config.js'
import { emitSparkJob } from '../../src/spark/emit-job.js'
import { runWatch } from '../../src/watch.js'
import type { TableResult } from '../../src/run.js'

const { values } = parseArgs({
  options: {
    changes: { type: 'string', default: '1000000' },
    keys: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    help: { type: 'boolean', default: false },
    cases: { type: 'string', default: 'csv,parquet,incremental,s3' },
    json: { type: 'boolean', default: false },
    dir: { type: 'string' },
    'tables-count': { type: 'string', default: '300' },
    'table-rows': { type: 'string', default: '1000' },
    rows: { type: 'string', default: '10000000' },
    'scale-changes': { type: 'string', default: '1000000' },
    'load-files': { type: 'string', default: '10' },
    'cdc-files': { type: 'string', default: '21' },
    'scale-node': { type: 'string', default: '' },
    cache: { type: 'string' },
    'poll-rows': { type: 'string', default: '100000,1000000,5000000' },
    'poll-files': { type: 'string', default: '5' },
    'poll-changes': { type: 'string', default: '10000' },
    'storage-rows': { type: 'string', default: '1000000' },
    'storage-dates': { type: 'string', default: '30' },
    'storage-share': { type: 'string', default: '0.01' },
    'read-polls': { type: 'string', default: '100' },
    'read-changes': { type: 'string', default: '1000' },
    'read-rounds': { type: 'string', default: '3' },
  },
})
if (values.help) {
  process.stdout
    .write(`Usage: npm run bench -- [--changes N] [--keys N] [--rounds N] [--cases csv,parquet,incremental,s3,tables,spark,iceberg-storage] [--json] [--dir D]
                        [--tables-count 300] [--table-rows 1000]
                        [--rows 10000000] [--scale-changes 1000000] [--poll-rows 100000,1000000,5000000] [--cache D]
                        [--storage-rows 1000000] [--storage-dates 30] [--storage-share 0.01]
                        [--read-polls 100] [--read-changes 1000] [--read-rounds 3]

Generates N changes (default 1000000; keys default N/5) as DMS CSV and Parquet in D (default a temp folder), then
runs each case as cdc-apply and as the DuckDB equivalent in fresh processes, interleaved, --rounds times, and
prints medians, ratios and peak RSS. Exits 1 when the outputs of the two disagree.

The tables case (not in the default set) generates --tables-count tables of --table-rows rows and measures, on a
folder and on MinIO, the first run, a restarted daemon's first round, an idle poll round (time and landing
requests) and a round in which 10 tables got a change file, and the peak RSS (one JSON document).

The scale case (not in the default set) generates a DMS full load of --rows rows (10 columns, ~100 bytes a row, in
--load-files LOAD objects) plus --scale-changes changes over 3 dates in --cdc-files objects, once, into --cache
(default ~/.cache/cdc-apply/bench-data/, keyed by a hash of the parameters), and runs cdc-apply and DuckDB (2
threads) on it once each (--scale-node passes node flags to cdc-apply's process, e.g. --scale-node=--max-old-space-size=8192).
It then runs the poll case: the warm watch-mode poll (bench:latency, --poll-files files of --poll-changes changes)
at each of --poll-rows live rows (--cases poll runs only that). The text output ends with the targets table of
issue 13 as markdown, to paste into docs/benchmarks.md.

The iceberg-storage case (not in the default set) measures issue 14's storage and read targets in D (default a
temp folder). Storage: a full load of --storage-rows rows, then --storage-dates dates of rows × --storage-share
changes (90% updates, 5% deletes, 5% inserts), run date by date on the plain layout and on the Iceberg layout with
the default iceberg settings; prints the bytes under each curated table against one snapshot's bytes. Read: the
same number of rows, --read-polls warm watch polls of --read-changes changes with no compaction, then
cdc-apply compact; pyiceberg (CDC_APPLY_PYICEBERG_PYTHON) and Spark (CDC_APPLY_PYSPARK_PYTHON and
CDC_APPLY_ICEBERG_SPARK_JAR, when set) time count(*) + sum(qty) of both snapshots, --read-rounds rounds.
`)
  process.exit(0)
}
// ---------------------------------------------------------------- case: issue 14's Iceberg storage and read targets
if (values.cases!.split(',').includes('iceberg-storage')) {
  const { runIcebergStorageCase, runIcebergReadCase } = await import('./iceberg-storage.js')
  const { icebergTargetsMarkdown } = await import('./targets.js')
  const work0 = values.dir ?? join(tmpdir(), 'cdc-apply-bench-iceberg-storage')
  const logE = (s: string): void => void process.stderr.write(s + '\n')
  const storage = await runIcebergStorageCase({
    work: join(work0, 'storage'),
    rows: Number(values['storage-rows']),
    dates: Number(values['storage-dates']),
    share: Number(values['storage-share']),
    log: logE,
  })
  const read = await runIcebergReadCase({
    work: join(work0, 'read'),
    rows: Number(values['storage-rows']),
    polls: Number(values['read-polls']),
    changes: Number(values['read-changes']),
    rounds: Number(values['read-rounds']),
    log: logE,
  })
  const out = { storage, read }
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim()
  process.stdout.write(
    values.json
      ? JSON.stringify({ results: { icebergStorage: out } }, null, 2) + '\n'
      : `iceberg-storage: ${JSON.stringify(out, null, 2)}\n\n${icebergTargetsMarkdown(storage, read, command)}`,
  )
  // kept with --dir (to inspect the tables), else removed
  if (values.dir === undefined) rmSync(work0, { recursive: true, force: true })
  if (values.cases === 'iceberg-storage') process.exit(0)
}
// ---------------------------------------------------------------- case: many tables (its own data)
if (values.cases!.split(',').includes('tables')) {
  const { runTablesCase } = await import('./tables.js')
  const work0 = values.dir ?? join(tmpdir(), 'cdc-apply-bench-tables')
  const r = await runTablesCase({
    work: work0,
    tables: Number(values['tables-count']),
    rows: Number(values['table-rows']),
    changed: 10,
    log: (s) => void process.stderr.write(s + '\n'),
  })
  const machine0 = {
    cores: cpus().length,
    cpu: cpus()[0]?.model,
    memoryGB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
  }
  process.stdout.write(
    JSON.stringify(
      {
        machine: machine0,
        tables: { count: Number(values['tables-count']), rowsEach: Number(values['table-rows']), changed: 10 },
        results: r,
      },
      null,
      2,
    ) + '\n',
  )
  if (values.cases === 'tables') process.exit(0)
}
const changes = Number(values.changes)
const keys = Number(values.keys ?? Math.max(1000, Math.floor(changes / 5)))
const rounds = Number(values.rounds)
const cases = new Set(values.cases!.split(','))
// the cases that need the generated --changes data (scale, poll and tables make their own)
const base = ['csv', 'parquet', 'incremental', 's3', 'spark'].some((c) => cases.has(c))
const here = fileURLToPath(new URL('.', import.meta.url))
const work = values.dir ?? join(tmpdir(), `cdc-apply-bench-${changes}`)
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
const log = (s: string): void => void process.stderr.write(s + '\n')

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

// ---------------------------------------------------------------- data
if (base) rmSync(work, { recursive: true, force: true })
const csvLanding = join(work, 'landing-csv')
const pqLanding = join(work, 'landing-parquet')
if (base) log(`generating ${changes} changes over ${keys} keys in ${work}`)
const gen = base ? generate({ ...DEFAULT_GEN, dir: csvLanding, changes, keys }) : { files: [] }
if (base) await toParquet(csvLanding, pqLanding)

/** The same data as DMS-like Parquet files (Op and the timestamp as strings, typed data columns), via DuckDB. */
async function toParquet(from: string, to: string): Promise<void> {
  const inst = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  })
  const con = await inst.connect()
  const dir = join(from, 'bench', 'orders')
  mkdirSync(join(to, 'bench', 'orders'), { recursive: true })
  const types: Record<string, string> = {
    string: 'VARCHAR',
    integer: 'BIGINT',
    double: 'DOUBLE',
    date: 'DATE',
    'decimal(12,2)': 'DECIMAL(12,2)',
  }
  const cols = `{'Op': 'VARCHAR', ${BENCH_COLUMNS.map((c) => `'${c.name}': '${types[c.type]}'`).join(', ')}}`
  for (const name of readdirSync(dir)) {
    const out = join(to, 'bench', 'orders', name.replace(/\.csv$/, '.parquet'))
    await con.run(
      `COPY (SELECT * FROM read_csv('${join(dir, name)}', header=false, auto_detect=false, nullstr='', allow_quoted_nulls=false, quote='"', escape='"', columns=${cols})) TO '${out}' (FORMAT parquet, COMPRESSION snappy)`,
    )
  }
}

const results: Record<string, unknown> = {}
const machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model,
  memoryGB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  changes,
  keys,
  files: gen.files.length,
}

function cdcArgs(landing: string, format: 'csv' | 'parquet', out: string): object {
  rmSync(out, { recursive: true, force: true })
  return { config: benchConfig(landing, out, format), baseDir: work }
}
function duckArgs(landing: string, format: 'csv' | 'parquet', out: string, threads: number): object {
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  return { landing, out, format, threads }
}

// ---------------------------------------------------------------- cases 1 and 2: backfill
for (const format of ['csv', 'parquet'] as const) {
  if (!cases.has(format)) continue
  const landing = format === 'csv' ? csvLanding : pqLanding
  const s: Record<string, Sample[]> = { cdc: [], duck2: [], duck1: [] }
  for (let r = 0; r < rounds; r++) {
    s.cdc!.push(measure('cdc', cdcArgs(landing, format, join(work, 'out-cdc'))))
    s.duck2!.push(measure('duckdb', duckArgs(landing, format, join(work, 'out-duck'), 2)))
    s.duck1!.push(measure('duckdb', duckArgs(landing, format, join(work, 'out-duck'), 1)))
    log(
      `${format} round ${r + 1}: cdc ${s.cdc!.at(-1)!.ms.toFixed(0)} ms, duckdb(2) ${s.duck2!.at(-1)!.ms.toFixed(0)} ms, duckdb(1) ${s.duck1!.at(-1)!.ms.toFixed(0)} ms`,
    )
  }
  const m = (k: string): number => median(s[k]!.map((x) => x.ms))
  results[`backfill_${format}`] = {
    cdcMs: m('cdc'),
    duckdb2Ms: m('duck2'),
    duckdb1Ms: m('duck1'),
    ratioVsDuckdb2: m('cdc') / m('duck2'),
    ratioVsDuckdb1: m('cdc') / m('duck1'),
    cdcPeakRssMB: Math.max(...s.cdc!.map((x) => x.maxRssMB)),
    duckdbPeakRssMB: Math.max(...s.duck2!.map((x) => x.maxRssMB)),
    liveTableArrowMB: liveArrowMB(join(work, 'out-cdc', 'curated')),
    agreesWithDuckdb: await agree(join(work, 'out-cdc'), join(work, 'out-duck')),
  }
}

/** Whether two Parquet globs hold the same multiset of rows over the data columns and cdc_file. */
async function sameRows(a: string, b: string): Promise<boolean> {
  const inst = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  })
  const con = await inst.connect()
  const lit = (x: string): string => `'${x.replaceAll("'", "''")}'`
  const cols = [...BENCH_COLUMNS.map((c) => `"${c.name}"`), 'cdc_file'].join(', ')
  try {
    const qa = `SELECT ${cols} FROM read_parquet(${lit(a)})`
    const qb = `SELECT ${cols} FROM read_parquet(${lit(b)})`
    const diff = Number(
      (
        await con.runAndReadAll(`SELECT count(*) FROM ((${qa} EXCEPT ALL ${qb}) UNION ALL (${qb} EXCEPT ALL ${qa}))`)
      ).getRows()[0]![0],
    )
    if (diff !== 0) log(`disagree: ${a} and ${b} differ in ${diff} rows`)
    return diff === 0
  } finally {
    con.closeSync()
    inst.closeSync()
  }
}

/** Arrow bytes of the newest curated snapshot (the live table), the reference for the memory target. */
function liveArrowMB(curated: string): number {
  const root = join(curated, 'BENCH', 'orders')
  const newest = readdirSync(root)
    .filter((n) => /^\d{8}$/.test(n))
    .sort()
    .pop()!
  let bytes = 0
  for (const f of readdirSync(join(root, newest))) {
    const t = A.tableFromIPC(pw.readParquet(readFileSync(join(root, newest, f))).intoIPCStream())
    for (const b of t.batches) for (const c of b.data.children) bytes += dataBytes(c)
  }
  return bytes / 2 ** 20
}
function dataBytes(d: A.Data): number {
  return (
    (d.values?.byteLength ?? 0) +
    (d.valueOffsets?.byteLength ?? 0) +
    (d.nullBitmap?.byteLength ?? 0) +
    d.children.reduce((a, c) => a + dataBytes(c), 0)
  )
}

// ---------------------------------------------------------------- case 3: incremental
if (cases.has('incremental')) {
  const base = join(work, 'incr')
  const samples: { warmMs: number; duckMs: number; cold: Sample; applied: number; agrees: boolean }[] = []
  for (let r = 0; r < rounds; r++) {
    rmSync(base, { recursive: true, force: true })
    const landing = join(base, 'landing')
    cpSync(csvLanding, landing, { recursive: true })
    const cfg = parseConfig(benchConfig(landing, join(base, 'out'), 'csv'), base)
    // backfill in a watch loop, then drop one new 10k-change file and time the poll that applies it
    const controller = new AbortController()
    const polls: TableResult[] = []
    let dropped = 0
    const newName = newFileName(gen.files.at(-1)!.key)
    const watching = runWatch(cfg, {
      signal: controller.signal,
      intervalSeconds: 0.05,
      onPoll: (p) => {
        polls.push(p)
        if (p.status === 'ok' && dropped === 0) {
          writeFileSync(join(landing, 'bench', 'orders', newName), tenThousandChanges(keys))
          dropped = performance.now()
        } else if (p.status === 'ok' && dropped > 0) controller.abort()
      },
    })
    await watching
    const warm = polls.filter((p) => p.status === 'ok').at(-1)!
    // DuckDB: recompute the snapshot from RAW plus the new file
    const duckOut = join(base, 'duck')
    mkdirSync(duckOut, { recursive: true })
    const duck = measure('duckdb', {
      landing,
      out: duckOut,
      format: 'csv',
      threads: 2,
      rawFrom: join(base, 'out', 'raw', 'BENCH', 'orders'),
      newFile: join(landing, 'bench', 'orders', newName),
    })
    // the warm poll's newest curated snapshot is the live table: it must equal DuckDB's recompute
    const curated = join(base, 'out', 'curated', 'BENCH', 'orders')
    const newest = readdirSync(curated)
      .filter((n) => /^\d{8}$/.test(n))
      .sort()
      .at(-1)!
    const agrees = await sameRows(join(curated, newest, '*.parquet'), join(duckOut, 'curated.parquet'))
    // a cold `run` process for the same new file: restore from the snapshot, apply, write
    rmSync(join(landing, 'bench', 'orders', newName2(newName)), { force: true })
    writeFileSync(join(landing, 'bench', 'orders', newName2(newName)), tenThousandChanges(keys))
    const cold = measure('cdc', { config: benchConfig(landing, join(base, 'out'), 'csv'), baseDir: base })
    samples.push({ warmMs: warm.ms, duckMs: duck.ms, cold, applied: warm.rows, agrees })
    log(
      `incremental round ${r + 1}: warm poll ${warm.ms} ms (${warm.rows} rows), cold run ${cold.ms.toFixed(0)} ms, duckdb recompute ${duck.ms.toFixed(0)} ms`,
    )
  }
  const warmMs = median(samples.map((s) => s.warmMs))
  const duckMs = median(samples.map((s) => s.duckMs))
  // newChanges: the rows the warm poll applied, as cdc-apply counted them (the file has 10,000 lines)
  results.incremental = {
    liveRows: keys,
    historyChanges: changes,
    newChanges: Math.min(...samples.map((s) => s.applied)),
    agreesWithDuckdb: samples.every((s) => s.agrees),
    warmPollMs: warmMs,
    coldRunMs: median(samples.map((s) => s.cold.ms)),
    duckdbRecomputeMs: duckMs,
    speedupVsDuckdb: duckMs / warmMs,
    coldPeakRssMB: Math.max(...samples.map((s) => s.cold.maxRssMB)),
  }
}

function newFileName(lastKey: string): string {
  const stem = lastKey.split('/').pop()!.slice(0, 18)
  const day = stem.slice(0, 8)
  return `${day}-235959000.csv`
}
function newName2(n: string): string {
  return n.replace('235959000', '235959500')
}

function tenThousandChanges(keyCount: number): string {
  const lines: string[] = []
  for (let i = 0; i < 10_000; i++) {
    const id = (i * 7919) % keyCount
    lines.push(
      i % 10 === 9
        ? `D,2024-06-30 23:59:59.000000,${id},,,,,,,,`
        : `U,2024-06-30 23:59:59.000000,${id},${i % 1000},${i}.50,C${i % 50},Name ${i},"note, ${i}",delhi,${i / 100},2021-01-0${1 + (i % 9)}`,
    )
  }
  return lines.join('\n') + '\n'
}

// ---------------------------------------------------------------- case 5: S3 (MinIO) against folders
if (cases.has('s3')) {
  const bin = (() => {
    try {
      return execFileSync('bash', [join(here, '..', '..', '..', 'scripts', 'build-minio.sh')], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim()
    } catch {
      return undefined
    }
  })()
  if (!bin) log('s3 case skipped: MinIO not built (bash scripts/build-minio.sh)')
  else {
    const { startMinio } = await import('../../test/helpers/minio.js')
    process.env.MINIO_BIN = bin
    const minio = (await startMinio())!
    try {
      await minio.createBucket('bench')
      await minio.upload(csvLanding, 'bench', 'landing')
      const folder: Sample[] = []
      const s3: Sample[] = []
      for (let r = 0; r < rounds; r++) {
        folder.push(measure('cdc', cdcArgs(csvLanding, 'csv', join(work, 'out-cdc'))))
        const cfg = {
          ...benchConfig('s3://bench/landing', join(work, 'unused'), 'csv'),
          raw: `s3://bench/out-${r}/raw`,
          curated: `s3://bench/out-${r}/curated`,
          state: join(work, `s3-state-${r}.sqlite`),
          s3: minio.s3Options,
        }
        s3.push(measure('cdc', { config: cfg, baseDir: work }))
        log(`s3 round ${r + 1}: folder ${folder.at(-1)!.ms.toFixed(0)} ms, MinIO ${s3.at(-1)!.ms.toFixed(0)} ms`)
      }
      results.s3 = {
        folderMs: median(folder.map((x) => x.ms)),
        minioMs: median(s3.map((x) => x.ms)),
        ratio: median(s3.map((x) => x.ms)) / median(folder.map((x) => x.ms)),
      }
    } finally {
      await minio.stop()
    }
  }
}

// ---------------------------------------------------------------- case: the Spark job (cdc-apply spark) on local[2]
if (cases.has('spark')) {
  const python = process.env.CDC_APPLY_PYSPARK_PYTHON
  if (!python)
    throw new Error('--cases spark needs CDC_APPLY_PYSPARK_PYTHON (a Python with pyspark; source /work/wt/env.sh)')
  const submit = join(dirname(python), 'spark-submit')
  const s: Record<string, Sample[]> = { cdc: [], spark: [] }
  for (let r = 0; r < rounds; r++) {
    s.cdc!.push(measure('cdc', cdcArgs(csvLanding, 'csv', join(work, 'out-cdc'))))
    const out = join(work, 'out-spark')
    rmSync(out, { recursive: true, force: true })
    mkdirSync(out, { recursive: true })
    const job = join(out, 'job.py')
    writeFileSync(
      job,
      emitSparkJob(parseConfig(benchConfig(csvLanding, out, 'csv'), work), { state: join(out, 'state') }),
    )
    // /usr/bin/time measures the driver JVM (spark-class execs java) with the Python processes it waited for
    const t = spawnSync(
      '/usr/bin/time',
      [
        '-f',
        'TIME %e %M',
        submit,
        '--master',
        'local[2]',
        '--driver-memory',
        '3g',
        '--conf',
        'spark.sql.shuffle.partitions=8',
        '--conf',
        'spark.ui.enabled=false',
        job,
      ],
      { encoding: 'utf8', env: { ...process.env, PYSPARK_PYTHON: python }, maxBuffer: 1 << 28 },
    )
    const m = /TIME ([\d.]+) (\d+)/.exec(
      t.stderr
        .split('\n')
        .filter((l) => l.startsWith('TIME '))
        .pop() ?? '',
    )
    if (t.status !== 0 || !m) throw new Error(`spark job failed: ${t.stderr.slice(-3000)}`)
    s.spark!.push({ ms: Number(m[1]) * 1000, maxRssMB: Number(m[2]) / 1024 })
    log(
      `spark round ${r + 1}: cdc ${s.cdc!.at(-1)!.ms.toFixed(0)} ms, spark local[2] ${s.spark!.at(-1)!.ms.toFixed(0)} ms`,
    )
  }
  const m = (k: string): number => median(s[k]!.map((x) => x.ms))
  results.spark_local2 = {
    cdcMs: m('cdc'),
    sparkMs: m('spark'),
    ratioSparkVsCdc: m('spark') / m('cdc'),
    cdcPeakRssMB: Math.max(...s.cdc!.map((x) => x.maxRssMB)),
    sparkDriverPeakRssMB: Math.max(...s.spark!.map((x) => x.maxRssMB)),
    loadavg: loadavg()
      .map((x) => Number(x.toFixed(2)))
      .join('/'),
    agreesWithCdc: await agreeOutputs(join(work, 'out-cdc'), join(work, 'out-spark')),
  }
}

/** Whether two cdc-apply-layout output trees hold the same rows (every column) in every RAW and curated partition. */
async function agreeOutputs(a: string, b: string): Promise<boolean> {
  const inst = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  })
  const con = await inst.connect()
  const lit = (x: string): string => `'${x.replaceAll("'", "''")}'`
  try {
    for (const zone of ['raw', 'curated']) {
      const dates = (root: string): string[] =>
        readdirSync(join(root, zone, 'BENCH', 'orders'))
          .filter((n) => /^\d{8}$/.test(n))
          .sort()
      if (dates(a).join() !== dates(b).join()) return (log(`disagree: ${zone} dates`), false)
      for (const d of dates(a)) {
        const x = `SELECT * FROM read_parquet(${lit(join(a, zone, 'BENCH', 'orders', d, '*.parquet'))})`
        const y = `SELECT * FROM read_parquet(${lit(join(b, zone, 'BENCH', 'orders', d, '*.parquet'))})`
        const n = Number(
          (
            await con.runAndReadAll(`SELECT count(*) FROM ((${x} EXCEPT ALL ${y}) UNION ALL (${y} EXCEPT ALL ${x}))`)
          ).getRows()[0]![0],
        )
        if (n !== 0) return (log(`disagree: ${zone} ${d} differs in ${n} rows`), false)
      }
    }
    return true
  } finally {
    con.closeSync()
    inst.closeSync()
  }
}

// ---------------------------------------------------------------- report
const landingMB = (dir: string): number => {
  let b = 0
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n)
      const st = statSync(p)
      if (st.isDirectory()) walk(p)
      else b += st.size
    }
  }
  walk(dir)
  return b / 2 ** 20
}
// ---------------------------------------------------------------- case: scale (its own cached data) and warm polls
if (cases.has('scale')) {
  results.scale = await runScaleCase({
    params: {
      rows: Number(values.rows),
      changes: Number(values['scale-changes']),
      loadFiles: Number(values['load-files']),
      cdcFiles: Number(values['cdc-files']),
      seed: 42,
    },
    cache: values.cache ?? defaultCache(),
    work: scaleWork(),
    node: values['scale-node']!.split(' ').filter((x) => x !== ''),
    log,
  })
}
if (cases.has('scale') || cases.has('poll')) {
  results.poll = runPollCase({
    rows: values['poll-rows']!.split(',')
      .filter((x) => x !== '')
      .map(Number),
    files: Number(values['poll-files']),
    changes: Number(values['poll-changes']),
    work: scaleWork(),
    log,
  })
}

const report = {
  machine: { ...machine, ...(base ? { csvMB: landingMB(csvLanding), parquetMB: landingMB(pqLanding) } : {}) },
  results,
}
if (values.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n')
else {
  const f = (x: unknown): string =>
    typeof x === 'number' ? (Number.isInteger(x) ? String(x) : x.toFixed(2)) : String(x)
  process.stdout.write(`machine: ${JSON.stringify(report.machine)}\n`)
  for (const [k, v] of Object.entries(results))
    for (const x of Array.isArray(v) ? (v as object[]) : [v as object])
      process.stdout.write(
        `${k.padEnd(18)} ${Object.entries(x)
          .map(([a, b]) => `${a}=${f(b)}`)
          .join('  ')}\n`,
      )
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim()
  process.stdout.write('\n' + targetsMarkdown(results, { command, changes, keys }))
}
const disagreeing = Object.entries(results).filter(
  ([, v]) =>
    (v as { agreesWithDuckdb?: boolean; agreesWithCdc?: boolean }).agreesWithDuckdb === false ||
    (v as { agreesWithCdc?: boolean }).agreesWithCdc === false,
)
if (disagreeing.length > 0) {
  log(`cdc-apply and DuckDB disagree on: ${disagreeing.map(([k]) => k).join(', ')}`)
  process.exitCode = 1
}
