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
