// The Spark SQL that `cdc-apply catalog --emit spark` prints for a tableFormat "iceberg" table runs on local Spark
// 3.5 with the Iceberg runtime (spark_catalog = Iceberg's SparkSessionCatalog over an embedded Derby Hive metastore):
// register_table adopts the existing metadata file, every date tag and the live table read back the case's golden
// rows, and the RAW table its files' rows per date. Tools: scripts/setup-pyspark.sh (CDC_APPLY_PYSPARK_PYTHON) and
// scripts/setup-iceberg-spark.sh (CDC_APPLY_ICEBERG_SPARK_JAR); skipped with the reason without them, required in CI.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { main } from '../src/cli/main.js'
import { readOutputTree, sortRows, type Row } from './helpers/outputs.js'
import { CASES, caseLake } from './helpers/case-lake.js'

const SCRIPT = fileURLToPath(new URL('../../test/python/iceberg_register.py', import.meta.url))

test('the emitted Spark SQL registers an existing Iceberg table with register_table; its tags, live table and RAW read back the golden rows', async (t) => {
  const python = process.env['CDC_APPLY_PYSPARK_PYTHON']
  const jar = process.env['CDC_APPLY_ICEBERG_SPARK_JAR']
  const why =
    !python || spawnSync(python, ['-c', 'import pyspark'], { encoding: 'utf8' }).status !== 0
      ? 'pyspark is not importable (CDC_APPLY_PYSPARK_PYTHON; bash scripts/setup-pyspark.sh)'
      : !jar || !existsSync(jar)
        ? 'CDC_APPLY_ICEBERG_SPARK_JAR is not set to the Iceberg Spark runtime jar (bash scripts/setup-iceberg-spark.sh)'
        : undefined
  if (why !== undefined) {
    if (process.env['CI'] === 'true') assert.fail(`required in CI: ${why}`)
    return t.skip(why)
  }
  // RAW date folders (iceberg.raw false): catalog --emit prints RAW's projection DDL over them
  const lake = caseLake('header-csv', { tableFormat: 'iceberg', iceberg: { raw: false } })
  t.after(lake.remove)
  const cfg = join(lake.dir, 'cdc-apply.json')
  writeFileSync(cfg, JSON.stringify(lake.json))
  assert.equal(await main(['run', '-c', cfg, '--log-level', 'silent'], { stdout: () => {}, stderr: () => {} }), 0)
  let ddl = ''
  assert.equal(
    await main(['catalog', '--emit', 'spark', '--database', 'lake', '-c', cfg, '--log-level', 'silent'], {
      stdout: (s) => void (ddl += s),
      stderr: (s) => void (ddl += s),
    }),
    0,
    ddl,
  )
  const sql = join(lake.dir, 'emitted.sql')
  writeFileSync(sql, ddl)
  const work = join(lake.dir, 'spark')
  mkdirSync(work)
  const r = spawnSync(python!, [SCRIPT, sql, jar!, 'lake.hr_staff', work], {
    cwd: work,
    encoding: 'utf8',
    timeout: 900_000,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, PYSPARK_PYTHON: python, TZ: 'UTC' },
  })
  assert.equal(r.status, 0, r.stderr.slice(-4000))
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
    live: Row[]
    tags: Record<string, Row[]>
    raw: Record<string, Row[]>
  }

  const golden = join(CASES, 'header-csv', 'expected', 'curated', 'HR', 'staff')
  const dates = readdirSync(golden)
    .map((f) => f.slice(0, 8))
    .sort()
  assert.ok(dates.length >= 2, 'header-csv has several dates')
  const rows = (d: string) => sortRows(JSON.parse(readFileSync(join(golden, `${d}.json`), 'utf8')) as Row[])
  assert.deepEqual(
    Object.keys(out.tags).sort(),
    dates.map((d) => `d${d}`),
  )
  for (const d of dates) assert.deepEqual(sortRows(out.tags[`d${d}`]!), rows(d), `VERSION AS OF 'd${d}'`)
  assert.deepEqual(sortRows(out.live), rows(dates.at(-1)!), 'the live table is the newest date')
  // the tags differ from each other, so the comparison above can tell dates apart
  assert.notDeepEqual(rows(dates[0]!), rows(dates.at(-1)!))

  const files = readOutputTree(join(lake.dir, 'out', 'raw'))
  const rawDates = Object.keys(files)
    .map((p) => p.split('/')[2]!)
    .sort()
  assert.deepEqual(Object.keys(out.raw).sort(), rawDates)
  for (const d of rawDates) assert.deepEqual(sortRows(out.raw[d]!), files[`HR/staff/${d}`], `RAW partition_0=${d}`)
})
