// SQL step pipelines over a RAW Iceberg table (iceberg.raw): `raw_<source>.<table>` reads the current snapshot's data
// files of each date with partition_0 from the manifests, so a pipeline gives the same rows and columns as on the
// plain RAW date folders of the same input, although the partition folders also hold files of older snapshots (the
// inputs of a compaction, the parts a reprocess overwrote). `--emit pyspark` reads the table through the Iceberg
// Spark runtime: the script run on PySpark gives the same outputs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { runPipeline } from '../src/steps/run-steps.js'
import { emitPyspark } from '../src/steps/pyspark.js'
import { LocalStore } from '../src/store/local-store.js'
import { S3Store } from '../src/store/s3-store.js'
import { IcebergTable } from '../src/iceberg/table.js'
import { storeUri } from '../src/iceberg-sink.js'
import { parquetRows, sortRows, tempDir, type Row } from './helpers/outputs.js'
import { startMinio, type MinioServer } from './helpers/minio.js'

const tmp = tempDir('cdc-raw-iceberg-steps-')
test.after(tmp.remove)

const TABLE = 'shop/items'

/** One lake of the same input: plain RAW date folders, or a RAW Iceberg table in a folder or on S3. */
interface Lake {
  name: string
  format: 'parquet' | 'iceberg'
  /** The RAW root; default `<name>/raw` under the test folder. */
  raw?: string
  s3?: MinioServer['s3Options']
}

function lakeConfig(dir: string, lake: Lake, lateFiles?: string): Config {
  return parseConfig(
    {
      source: 'S',
      landing: join(dir, 'landing'),
      raw: lake.raw ?? `${lake.name}/raw`,
      curated: `${lake.name}/curated`,
      state: `${lake.name}/state.sqlite`,
      settleSeconds: 0,
      tableFormat: lake.format,
      iceberg: { raw: true },
      ...(lake.s3 ? { s3: lake.s3 } : {}),
      tables: [
        {
          name: 'items',
          path: TABLE,
          includeOpForFullLoad: true,
          columns: [{ name: 'ts' }, { name: 'id', type: 'integer' }, { name: 'name' }],
          primaryKey: ['id'],
          timestampColumn: 'ts',
          ...(lateFiles ? { lateFiles } : {}),
        },
      ],
    },
    dir,
  )
}

/** Runs the same change files into every lake: appends, a compaction, a reprocess of late files, a compaction. */
async function feed(dir: string, lakes: readonly Lake[]): Promise<void> {
  const put = (name: string, text: string): void => {
    const p = join(dir, 'landing', TABLE, name)
    mkdirSync(dirname(p), { recursive: true })
    writeFileSync(p, text)
  }
  const all = async (lateFiles?: string): Promise<void> => {
    for (const lake of lakes) {
      const r = (await runOnce(lakeConfig(dir, lake, lateFiles))).tables[0]!
      assert.equal(r.error, undefined, `${lake.name}: ${r.error?.message}`)
    }
  }
  put('LOAD00000001.csv', 'I,2024-06-10 08:00:00.000000,1,apple\nI,2024-06-10 08:00:00.000000,2,pear\n')
  put('20240610-100000000.csv', 'U,2024-06-10 09:59:00.000000,1,apple v2\n')
  await all()
  // a second write of 20240610, closed by 20240611: compacted
  put('20240610-110000000.csv', 'U,2024-06-10 10:59:00.000000,2,pear v2\n')
  put('20240611-100000000.csv', 'I,2024-06-11 09:59:00.000000,3,plum\n')
  await all()
  // a late file: the reprocess overwrites each date
  put('20240610-120000000.csv', 'D,2024-06-10 11:59:00.000000,1,apple v2\n')
  await all('reprocess')
  // two more writes of 20240612, closed by 20240613: compacted again
  put('20240612-100000000.csv', 'U,2024-06-12 09:59:00.000000,3,plum v2\n')
  await all()
  put('20240612-110000000.csv', 'I,2024-06-12 10:59:00.000000,4,fig\n')
  put('20240613-100000000.csv', 'U,2024-06-13 09:59:00.000000,4,fig v2\n')
  await all()
}

const MARTS = ['all', 'day', 'dates']

/** A pipeline over raw_S.items: every row, one date's rows, rows per date; each written as one file. */
function pipeline(marts: string): unknown {
  return {
    steps: [
      { fun: 'spark_sql', out: 'df1', query: 'select * from raw_S.items' },
      { fun: 'wrt', out: join(marts, 'all'), query: 'df1' },
      { fun: 'spark_sql', out: 'df2', query: "select * from raw_S.items where partition_0 = '20240612'" },
      { fun: 'wrt', out: join(marts, 'day'), query: 'df2' },
      {
        fun: 'spark_sql',
        out: 'df3',
        query: 'select partition_0, count(*) as n, max(cdc_file) as last from raw_S.items group by partition_0',
      },
      { fun: 'wrt', out: join(marts, 'dates'), query: 'df3' },
    ],
  }
}

/** The pipeline's outputs on a lake: each write's columns in order and its rows sorted. */
async function outputs(dir: string, lake: Lake): Promise<{ columns: string[][]; rows: Row[][] }> {
  const marts = join(dir, lake.name, 'marts')
  const r = await runPipeline(
    lakeConfig(dir, lake),
    { json: pipeline(marts), name: 'raw-items', baseDir: join(dir, lake.name) },
    { cacheDir: join(dir, lake.name, 'cache'), record: false },
  )
  assert.equal(r.error, undefined, `${lake.name}: ${r.error?.message}`)
  const parts = MARTS.map((m) => parquetRows(readFileSync(join(marts, m, 'part-00000.parquet'))))
  return { columns: parts.map((rows) => Object.keys(rows[0] ?? {})), rows: parts.map(sortRows) }
}

/** The plain RAW's outputs, checked to be what the input gives. */
async function plainOutputs(dir: string, lake: Lake): Promise<{ columns: string[][]; rows: Row[][] }> {
  const want = await outputs(dir, lake)
  assert.ok(want.rows[0]!.length > 0 && want.rows[1]!.length > 0, 'the plain RAW has rows on 20240612')
  assert.deepEqual(want.columns[0], ['Op', 'ts', 'id', 'name', 'cdc_file', 'cdc_row', 'partition_0'])
  assert.deepEqual(want.rows[2]!.map((r) => r['partition_0']).sort(), ['20240610', '20240611', '20240612', '20240613'])
  return want
}

const PLAIN: Lake = { name: 'parquet', format: 'parquet' }

/** The script emitted for the RAW Iceberg lake of the first test, and the plain RAW's outputs. */
let emitted: { script: string; want: { columns: string[][]; rows: Row[][] } } | undefined

test('raw_<source>.<table> on a RAW Iceberg table reads the current snapshot per date: the same rows and columns as the plain RAW', async () => {
  const dir = join(tmp.path, 'local')
  const ICE: Lake = { name: 'iceberg', format: 'iceberg' }
  await feed(dir, [PLAIN, ICE])

  // the RAW Iceberg table went through appends, replaces and overwrites, and its partition folders hold files that
  // the current snapshot no longer has
  const rawRoot = join(dir, ICE.name, 'raw')
  const store = new LocalStore(rawRoot)
  const ice = await IcebergTable.open(store, 'S/items', `${storeUri(store)}/S/items`, 'S.items (RAW)')
  const ops = new Set(ice.meta!.snapshots.map((s) => s.summary.operation))
  for (const op of ['append', 'replace', 'overwrite']) assert.ok(ops.has(op), `a ${op} snapshot: ${[...ops].join()}`)
  const live = new Set((await ice.files(ice.current()!)).data.map((e) => ice.keyOf(e.data_file.file_path)))
  const data = join(rawRoot, 'S', 'items', 'data')
  const stale = readdirSync(data).flatMap((p) =>
    readdirSync(join(data, p))
      .filter((f) => f.endsWith('.parquet') && !live.has(`S/items/data/${p}/${f}`))
      .map((f) => join(data, p, f)),
  )
  const staleDates = new Set(stale.map((f) => dirname(f)))
  assert.ok(staleDates.size >= 2, `stale files in at least two partitions: ${stale.join()}`)
  assert.ok(
    stale.some((f) => parquetRows(readFileSync(f)).length > 0),
    'the stale files hold rows (a reader of the folders would return them)',
  )

  const want = await plainOutputs(dir, PLAIN)
  assert.deepEqual(await outputs(dir, ICE), want, 'the same columns and rows as on the plain RAW')

  // --emit pyspark reads the RAW Iceberg table through the Iceberg Spark runtime (run below on PySpark)
  const script = await emitPyspark(lakeConfig(dir, ICE), {
    json: pipeline(join(dir, ICE.name, 'marts')),
    name: 'raw-items',
    baseDir: dir,
  })
  assert.match(script, /^register_iceberg\("raw_S__items", args\.raw \+ "\/S\/items", ".*"\) {2}# raw_S\.items$/m)
  assert.doesNotMatch(script, /^def register\(/m, 'no date folder reader when every table read is Iceberg')
  emitted = { script, want }
  // the plain layout still emits
  assert.match(
    await emitPyspark(lakeConfig(dir, PLAIN), {
      json: pipeline(join(dir, PLAIN.name, 'marts')),
      name: 'raw-items',
      baseDir: dir,
    }),
    /register\("raw_S__items"/,
  )
})

test('--emit pyspark on a RAW Iceberg table: the script run on PySpark with the Iceberg runtime gives the plain RAW outputs', (t) => {
  const py = process.env['CDC_APPLY_PYSPARK_PYTHON']
  const jar = process.env['CDC_APPLY_ICEBERG_SPARK_JAR']
  const usable = py && existsSync(py) && jar && existsSync(jar) && spawnSync(py, ['-c', 'import pyspark']).status === 0
  if (!usable) {
    if (process.env['CI']) assert.fail('CDC_APPLY_PYSPARK_PYTHON and CDC_APPLY_ICEBERG_SPARK_JAR are required in CI')
    return t.skip(
      'PySpark or the Iceberg Spark runtime is not set up (scripts/setup-pyspark.sh, setup-iceberg-spark.sh)',
    )
  }
  assert.ok(emitted, 'the first test emitted the script')
  const dir = join(tmp.path, 'pyspark')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'raw-items.py')
  writeFileSync(file, emitted.script)
  const out = (m: string): string => join(dir, 'out', m)
  // the RAW root passed as an argument: the lake's, as the script's default would be
  const raw = join(tmp.path, 'local', 'iceberg', 'raw')
  const args = ['--raw', raw, '--target-2', out('all'), '--target-4', out('day'), '--target-6', out('dates')]
  const r = spawnSync(py, [file, ...args], {
    encoding: 'utf8',
    timeout: 900_000,
    env: {
      ...process.env,
      PYSPARK_PYTHON: py,
      TZ: 'UTC',
      PYSPARK_SUBMIT_ARGS: `--jars ${jar} --conf spark.ui.enabled=false --conf spark.driver.bindAddress=127.0.0.1 --conf spark.driver.host=127.0.0.1 --conf spark.sql.shuffle.partitions=1 pyspark-shell`,
    },
  })
  assert.equal(r.status, 0, r.stderr.slice(-4000))
  const parts = MARTS.map((m) =>
    readdirSync(out(m))
      .filter((f) => f.endsWith('.parquet'))
      .flatMap((f) => parquetRows(readFileSync(join(out(m), f)))),
  )
  const got = { columns: parts.map((rows) => Object.keys(rows[0] ?? {})), rows: parts.map(sortRows) }
  assert.deepEqual(got, emitted.want, 'the same columns and rows as DuckDB on the plain RAW')
})

test('raw_<source>.<table> on a RAW Iceberg table on S3 (MinIO): only the current snapshot files are cached, the same output', async (t) => {
  const minio = await startMinio(t)
  if (!minio) return
  try {
    await minio.createBucket('raw-steps')
    const dir = join(tmp.path, 's3')
    const ICE: Lake = { name: 'iceberg-s3', format: 'iceberg', raw: 's3://raw-steps/lake/raw', s3: minio.s3Options }
    await feed(dir, [PLAIN, ICE])
    const want = await plainOutputs(dir, PLAIN)
    assert.deepEqual(await outputs(dir, ICE), want, 'the same columns and rows as on the plain RAW')
    // the cache holds exactly the current snapshot's data files, while the bucket holds more
    const store = new S3Store('s3://raw-steps/lake/raw', { s3: minio.s3Options })
    try {
      const ice = await IcebergTable.open(store, 'S/items', 's3://raw-steps/lake/raw/S/items', 'S.items (RAW)')
      const live = (await ice.files(ice.current()!)).data.map((e) =>
        ice.keyOf(e.data_file.file_path).slice('S/items/'.length),
      )
      const stored: string[] = []
      for await (const o of store.list('S/items/data/')) stored.push(o.key)
      assert.ok(stored.length > live.length, `stale objects on S3: ${stored.length} objects, ${live.length} live`)
      const cache = join(dir, ICE.name, 'cache')
      const top = readdirSync(cache).find((d) => d.startsWith('raw-iceberg-'))
      assert.ok(top, readdirSync(cache).join())
      const tableDir = join(cache, top, 'S', 'items')
      const cached = readdirSync(join(tableDir, 'data')).flatMap((p) =>
        readdirSync(join(tableDir, 'data', p)).map((f) => `data/${p}/${f}`),
      )
      assert.deepEqual(cached.sort(), live.sort())
    } finally {
      await store.close()
    }
  } finally {
    await minio.stop()
  }
})
