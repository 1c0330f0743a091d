// A smoke run of `npm run bench`: it runs every local case on a small input and cdc-apply's outputs agree with
// DuckDB's. No assertion on time: the benchmark measures, the tests do not.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tempDir } from './helpers/outputs.js'

const bench = join(dirname(fileURLToPath(import.meta.url)), '..', 'scripts', 'bench', 'bench.js')

test('the benchmark runs its cases and its cdc-apply outputs agree with the DuckDB equivalent', (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const r = spawnSync(
    process.execPath,
    [
      bench,
      '--changes',
      '6000',
      '--rounds',
      '1',
      '--cases',
      'csv,parquet,incremental',
      '--json',
      '--dir',
      join(tmp.path, 'w'),
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    },
  )
  assert.equal(r.status, 0, r.stderr)
  const report = JSON.parse(r.stdout) as {
    machine: { changes: number; cores: number }
    results: Record<string, Record<string, number | boolean>>
  }
  assert.equal(report.machine.changes, 6000)
  assert.deepEqual(Object.keys(report.results).sort(), ['backfill_csv', 'backfill_parquet', 'incremental'])
  for (const k of ['backfill_csv', 'backfill_parquet']) {
    const x = report.results[k]!
    assert.equal(x.agreesWithDuckdb, true, k)
    for (const f of ['cdcMs', 'duckdb2Ms', 'duckdb1Ms', 'ratioVsDuckdb2', 'cdcPeakRssMB', 'liveTableArrowMB'])
      assert.ok((x[f] as number) > 0, `${k}.${f} = ${x[f]}`)
  }
  // the incremental case: the warm poll applied the new file's 10,000 changes (cdc-apply's count, not the bench's
  // literal) and the live table it left equals DuckDB's recompute from RAW plus the file
  const incr = report.results.incremental!
  assert.equal(incr.newChanges, 10_000)
  assert.equal(incr.agreesWithDuckdb, true)
})

test('the scale case generates its data once into the cache, agrees with DuckDB and measures the warm poll', (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const run = (): { results: Record<string, unknown>; stderr: string } => {
    const r = spawnSync(
      process.execPath,
      [
        bench,
        ...['--cases', 'scale', '--rows', '20000', '--scale-changes', '3000', '--load-files', '3', '--cdc-files', '6'],
        ...['--poll-rows', '2000,4000', '--poll-files', '2', '--poll-changes', '300', '--json'],
        ...['--cache', join(tmp.path, 'cache')],
      ],
      { encoding: 'utf8', env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } },
    )
    assert.equal(r.status, 0, r.stderr)
    return { results: (JSON.parse(r.stdout) as { results: Record<string, unknown> }).results, stderr: r.stderr }
  }
  const first = run()
  const scale = first.results.scale as Record<string, number | boolean>
  assert.equal(scale.agreesWithDuckdb, true)
  assert.equal(scale.loadObjects, 3)
  assert.equal(scale.cdcObjects, 6)
  for (const f of ['cdcMs', 'duckdb2Ms', 'cdcPeakRssMB', 'duckdbPeakRssMB']) assert.ok((scale[f] as number) > 0, f)
  const polls = first.results.poll as { liveRows: number; files: number; medianMs: number }[]
  assert.deepEqual(
    polls.map((p) => [p.liveRows, p.files]),
    [
      [2000, 2],
      [4000, 2],
    ],
  )
  assert.match(first.stderr, /scale data: generating/)
  // a rerun reuses the generated data
  assert.match(run().stderr, /scale data: reusing/)
})

test('the iceberg-storage case measures storage after dates of changes and reads before and after compaction', (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const r = spawnSync(
    process.execPath,
    [
      bench,
      ...['--cases', 'iceberg-storage', '--storage-rows', '3000', '--storage-dates', '3', '--storage-share', '0.02'],
      ...['--read-polls', '3', '--read-changes', '50', '--read-rounds', '1', '--json', '--dir', join(tmp.path, 'w')],
    ],
    {
      encoding: 'utf8',
      // Spark starts in tens of seconds: the smoke run reads with pyiceberg only (when it is installed)
      env: {
        ...process.env,
        CDC_APPLY_ICEBERG_SPARK_JAR: '',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    },
  )
  assert.equal(r.status, 0, r.stderr)
  const { storage, read } = (
    JSON.parse(r.stdout) as {
      results: {
        icebergStorage: {
          storage: {
            dates: number
            changesPerDate: number
            plain: { totalBytes: number; oneSnapshotBytes: number; ratio: number; dataFiles: number }
            iceberg: { totalBytes: number; oneSnapshotBytes: number; dataFiles: number; byKind: Record<string, number> }
          }
          read: {
            polls: number
            uncompacted: { dataFiles: number; deleteFiles: number; deletedRows: number }
            compacted: { dataFiles: number; deleteFiles: number }
            engines: { engine: string; agrees: boolean; rows: number }[]
            skipped: string[]
          }
        }
      }
    }
  ).results.icebergStorage
  assert.equal(storage.dates, 3)
  assert.equal(storage.changesPerDate, 60)
  // the plain layout: one full copy per date (the load date and 3 more), each part a data file
  assert.equal(storage.plain.dataFiles, 4)
  assert.ok(storage.plain.ratio > 3.5 && storage.plain.ratio < 4.5, `plain ratio ${storage.plain.ratio}`)
  for (const k of ['data', 'deletes', 'metadataJson', 'manifestLists', 'manifests'])
    assert.ok((storage.iceberg.byKind[k] ?? 0) > 0, `iceberg ${k} bytes`)
  assert.ok(storage.iceberg.oneSnapshotBytes > 0)
  // polls of one date without compaction roll (docs/iceberg.md, merge-on-read commits): the load's data file, one
  // tail file of the date's polls and one delete file of the load's file; compacted: one data file
  assert.equal(read.polls, 3)
  assert.deepEqual(read.compacted, { dataFiles: 1, deleteFiles: 0 })
  assert.ok(read.uncompacted.dataFiles === 2 && read.uncompacted.deleteFiles === 1, JSON.stringify(read.uncompacted))
  assert.ok(read.uncompacted.deletedRows > 0)
  for (const e of read.engines) assert.equal(e.agrees, true, e.engine)
  assert.ok(read.skipped.some((s) => s.startsWith('duckdb')))
})
