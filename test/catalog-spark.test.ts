// The Spark SQL that `cdc-apply catalog --emit spark` prints, run on local Spark (the pinned PySpark of
// scripts/setup-pyspark.sh, with an embedded Derby Hive metastore in a temp folder): for every golden case below,
// each RAW and curated date read through the registered tables returns exactly the rows of that date's files, and
// curated also equals the case's hand-derived expected rows. Skipped with a reason without PySpark; required in CI.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runOnce } from '../src/run.js'
import { main } from '../src/cli/main.js'
import { readOutputTree, sortRows, tempDir, type Row } from './helpers/outputs.js'
import { CASES, caseLake } from './helpers/case-lake.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/**
 * Single-run golden cases (no case.json "runs") covering every column type the outputs have (bigint, int, decimal,
 * date, timestamp, boolean, string), CSV and Parquet landings, composite keys, header CSV and dates without changes.
 */
const SPARK_CASES = ['realistic-csv', 'design-example', 'composite-key', 'header-csv', 'parquet-load-only']

function pyspark(): string | undefined {
  const python = process.env['CDC_APPLY_PYSPARK_PYTHON'] || 'python3'
  return spawnSync(python, ['-c', 'import pyspark'], { encoding: 'utf8' }).status === 0 ? python : undefined
}

function expectedCurated(name: string): Record<string, Row[]> {
  const dir = join(CASES, name, 'expected', 'curated')
  const out: Record<string, Row[]> = {}
  for (const source of readdirSync(dir)) {
    for (const table of readdirSync(join(dir, source))) {
      for (const f of readdirSync(join(dir, source, table)))
        out[`${source}/${table}/${f.slice(0, -'.json'.length)}`] = sortRows(
          JSON.parse(readFileSync(join(dir, source, table, f), 'utf8')) as Row[],
        )
    }
  }
  return out
}

test("the emitted Spark DDL registers every golden case's RAW and curated tables; every date reads back the rows of its files", async (t) => {
  const python = pyspark()
  if (python === undefined) {
    if (process.env['CI'] === 'true')
      throw new Error('PySpark is required in CI: set CDC_APPLY_PYSPARK_PYTHON=$(bash scripts/setup-pyspark.sh)')
    return t.skip(
      'pyspark is not importable (set CDC_APPLY_PYSPARK_PYTHON to the python printed by bash scripts/setup-pyspark.sh)',
    )
  }
  const work = tempDir('cdc-spark-catalog-')
  t.after(work.remove)
  const statements: string[] = []
  const queries: { key: string; table: string; date: string }[] = []
  const files: Record<string, Row[]> = {}
  const golden: Record<string, Row[]> = {}
  for (const name of SPARK_CASES) {
    assert.ok(existsSync(join(CASES, name)), `fixtures/cases/${name} is gone: update SPARK_CASES`)
    const lake = caseLake(name)
    t.after(lake.remove)
    const r = await runOnce(lake.config)
    assert.ok(
      r.tables.every((x) => x.error === undefined),
      `${name}: ${r.tables.map((x) => x.error?.message).join('; ')}`,
    )
    const cfg = join(lake.dir, 'cdc-apply.json')
    writeFileSync(cfg, JSON.stringify(lake.json))
    const prefix = `${name.replace(/[^a-z0-9]/g, '_')}_`
    let ddl = ''
    const code = await main(
      [
        'catalog',
        '--emit',
        'spark',
        '--database',
        'lake',
        '--table-prefix',
        prefix,
        '-c',
        cfg,
        '--log-level',
        'silent',
      ],
      { stdout: (s) => void (ddl += s), stderr: (s) => void (ddl += s) },
    )
    assert.equal(code, 0, ddl)
    statements.push(
      ...ddl
        .split(/;\n/)
        .map((s) => s.trim())
        .filter((s) => s !== '' && !s.startsWith('--')),
    )
    for (const kind of ['curated', 'raw'] as const) {
      for (const [part, rows] of Object.entries(readOutputTree(join(lake.dir, 'out', kind)))) {
        if (part.startsWith('_quarantine/')) continue
        const [source, table, date] = part.split('/') as [string, string, string]
        const glue = `lake.${prefix}${source.toLowerCase()}_${table.toLowerCase()}${kind === 'raw' ? '_raw' : ''}`
        const key = `${name}:${kind}:${part}`
        queries.push({ key, table: glue, date })
        files[key] = rows
      }
    }
    for (const [part, rows] of Object.entries(expectedCurated(name))) golden[`${name}:curated:${part}`] = rows
  }
  mkdirSync(join(work.path, 'spark'), { recursive: true })
  const spec = join(work.path, 'spec.json')
  writeFileSync(spec, JSON.stringify({ work: join(work.path, 'spark'), statements, queries }))
  const r = spawnSync(python, [join(ROOT, 'test', 'python', 'spark_catalog.py'), spec], {
    cwd: join(work.path, 'spark'),
    encoding: 'utf8',
    timeout: 900_000,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, PYSPARK_PYTHON: python, TZ: 'UTC' },
  })
  assert.equal(r.status, 0, r.stderr.slice(-4000))
  const out = JSON.parse(r.stdout) as { catalog: string; dates: Record<string, string[]>; rows: Record<string, Row[]> }
  t.diagnostic(`Spark catalog: ${out.catalog} (${statements.length} statements, ${queries.length} partitions read)`)
  assert.equal(
    out.catalog,
    'hive',
    'the pinned pyspark wheel ships Hive support: the DDL must run against a Hive metastore',
  )
  assert.deepEqual(
    Object.keys(out.rows).filter((k) => k.includes(':unexpected:')),
    [],
    'rows in a partition that has no date folder',
  )
  for (const q of queries) assert.deepEqual(sortRows(out.rows[q.key]!), files[q.key], q.key)
  for (const [key, rows] of Object.entries(golden))
    assert.deepEqual(sortRows(out.rows[key] ?? []), rows, `${key} (golden)`)
  // Spark sees exactly the date folders as partitions, no more
  const byTable = new Map<string, string[]>()
  for (const q of queries) byTable.set(q.table, [...(byTable.get(q.table) ?? []), q.date].sort())
  for (const [table, dates] of byTable) assert.deepEqual(out.dates[table], dates, table)
})
