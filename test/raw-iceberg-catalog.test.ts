// `cdc-apply catalog --emit` for a RAW Iceberg table (iceberg.raw): RAW is emitted as what registers the existing
// Iceberg table (Glue input with table_type ICEBERG at its newest metadata file, Spark register_table, Athena's
// comments with the Glue call and a partition_0 query), not as the projection DDL of date folders. The Spark output
// runs on PySpark with the Iceberg runtime: the registered RAW table reads, per partition_0, the rows the plain RAW
// date folders of the same input hold.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { main } from '../src/cli/main.js'
import type { GlueTableInput } from '../src/catalog/table-def.js'
import { readOutputTree, sortRows, type Row } from './helpers/outputs.js'
import { caseLake, type CaseLake } from './helpers/case-lake.js'

const SCRIPT = fileURLToPath(new URL('../../test/python/iceberg_register.py', import.meta.url))
const RAW = ['out', 'raw', 'HR', 'staff']

function newestMetadata(lake: CaseLake, table: readonly string[]): string {
  const dir = join(lake.dir, ...table, 'metadata')
  const n = Math.max(
    ...readdirSync(dir)
      .map((f) => /^v(\d+)\.metadata\.json$/.exec(f)?.[1])
      .filter((x) => x !== undefined)
      .map(Number),
  )
  return `file://${dir}/v${n}.metadata.json`
}

async function emit(cfg: string, format: string, extra: string[] = []): Promise<string> {
  let out = ''
  const code = await main(['catalog', '--emit', format, '-c', cfg, '--log-level', 'silent', ...extra], {
    stdout: (s) => void (out += s),
    stderr: (s) => void (out += s),
  })
  assert.equal(code, 0, out)
  return out
}

/** header-csv as an Iceberg table with RAW as an Iceberg table, run once; its config file. */
async function rawIcebergLake(t: { after: (f: () => void) => void }): Promise<{ lake: CaseLake; cfg: string }> {
  const lake = caseLake('header-csv', { tableFormat: 'iceberg', iceberg: { raw: true } })
  t.after(lake.remove)
  const cfg = join(lake.dir, 'cdc-apply.json')
  writeFileSync(cfg, JSON.stringify(lake.json))
  assert.equal(await main(['run', '-c', cfg, '--log-level', 'silent'], { stdout: () => {}, stderr: () => {} }), 0)
  return { lake, cfg }
}

test('catalog --emit for a RAW Iceberg table: Glue input with table_type ICEBERG, Athena comments with a partition_0 query, Spark register_table; no projection DDL', async (t) => {
  const { lake, cfg } = await rawIcebergLake(t)
  const P = ['--database', 'lake', '--table-prefix', 'dms_']
  const newest = newestMetadata(lake, RAW)

  const inputs = JSON.parse(await emit(cfg, 'glue-json', P)) as { DatabaseName: string; TableInput: GlueTableInput }[]
  assert.deepEqual(
    inputs.map((i) => [i.DatabaseName, i.TableInput.Name]),
    [
      ['lake', 'dms_hr_staff'],
      ['lake', 'dms_hr_staff_raw'],
    ],
  )
  const raw = inputs[1]!.TableInput
  assert.deepEqual(raw.Parameters, {
    EXTERNAL: 'TRUE',
    table_type: 'ICEBERG',
    metadata_location: newest,
    'cdc_apply.table': 'HR.staff (RAW)',
    'cdc_apply.kind': 'iceberg',
  })
  assert.equal(raw.StorageDescriptor.Location, `file://${join(lake.dir, ...RAW)}`)
  const columns = raw.StorageDescriptor.Columns.map((c) => c.Name)
  assert.deepEqual(
    [columns[0], ...columns.slice(-3)],
    ['Op', 'cdc_file', 'cdc_row', 'partition_0'],
    `the RAW columns, then partition_0: ${columns.join()}`,
  )
  assert.deepEqual(raw.PartitionKeys ?? [], [], 'engines take the partitions from the metadata')

  const athena = await emit(cfg, 'athena', P)
  const parts = athena.trim().split('\n\n')
  assert.equal(parts.length, 2, athena)
  const rawComment = parts[1]!
  assert.ok(
    rawComment.split('\n').every((l) => l.startsWith('--')),
    'the RAW Iceberg part is SQL comments only',
  )
  const call = /^-- {3}aws glue create-table --database-name 'lake' --table-input '(.*)'$/m.exec(rawComment)
  assert.ok(call, rawComment)
  assert.deepEqual(JSON.parse(call[1]!), raw, 'the AWS CLI call registers the same input as glue-json')
  assert.match(rawComment, /^-- {3}SELECT \* FROM lake\.dms_hr_staff_raw WHERE partition_0 = '<YYYYMMDD>';$/m)
  assert.doesNotMatch(
    athena,
    /^CREATE EXTERNAL TABLE|projection\.enabled/m,
    'no projection DDL over the RAW Iceberg folder',
  )

  const spark = await emit(cfg, 'spark', P)
  assert.match(
    spark,
    new RegExp(
      `^CALL \`spark_catalog\`\\.system\\.register_table\\(table => 'lake\\.dms_hr_staff_raw', metadata_file => '${newest.replaceAll('.', '\\.')}'\\);$`,
      'm',
    ),
  )
  assert.doesNotMatch(
    spark,
    /ADD IF NOT EXISTS PARTITION|USING parquet/,
    'no Parquet table over the RAW Iceberg folder',
  )
})

test('the emitted Spark SQL registers the RAW Iceberg table; each partition_0 reads the plain RAW rows of its date', async (t) => {
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
  const { lake, cfg } = await rawIcebergLake(t)
  // the same input with plain RAW date folders: what each partition must read
  const plain = caseLake('header-csv', { tableFormat: 'iceberg', iceberg: { raw: false } })
  t.after(plain.remove)
  writeFileSync(join(plain.dir, 'c.json'), JSON.stringify(plain.json))
  const silent = { stdout: () => {}, stderr: () => {} }
  assert.equal(await main(['run', '-c', join(plain.dir, 'c.json'), '--log-level', 'silent'], silent), 0)
  const files = readOutputTree(join(plain.dir, 'out', 'raw'))

  const sql = join(lake.dir, 'emitted.sql')
  writeFileSync(sql, await emit(cfg, 'spark', ['--database', 'lake']))
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
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { raw: Record<string, Row[]> }
  const dates = Object.keys(files)
    .filter((p) => p.startsWith('HR/staff/'))
    .map((p) => p.split('/')[2]!)
    .sort()
  assert.ok(dates.length >= 2, 'header-csv has several RAW dates')
  assert.deepEqual(Object.keys(out.raw).sort(), dates)
  for (const d of dates) assert.deepEqual(sortRows(out.raw[d]!), files[`HR/staff/${d}`], `RAW partition_0=${d}`)
})
