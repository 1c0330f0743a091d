// SQL step pipelines over a RAW Iceberg table (iceberg.raw): `raw_<source>.<table>` reads the current snapshot's data
// files of each date with partition_0 from the manifests, so a pipeline gives the same rows and columns as on the
// plain RAW date folders of the same input, although the partition folders also hold files of older snapshots (the
// inputs of a compaction, the parts a reprocess overwrote). `--emit pyspark` refuses the table with its code.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { runPipeline } from '../src/steps/run-steps.js'
import { emitPyspark } from '../src/steps/pyspark.js'
import { CdcError } from '../src/errors.js'
import { LocalStore } from '../src/store/local-store.js'
import { IcebergTable } from '../src/iceberg/table.js'
import { storeUri } from '../src/curated-sink.js'
import { parquetRows, sortRows, tempDir, type Row } from './helpers/outputs.js'

const tmp = tempDir('cdc-raw-iceberg-steps-')
test.after(tmp.remove)

const TABLE = 'shop/items'
const FORMATS = ['parquet', 'iceberg'] as const
type Format = (typeof FORMATS)[number]

test('raw_<source>.<table> on a RAW Iceberg table reads the current snapshot per date: the same rows and columns as the plain RAW', async () => {
  const dir = tmp.path
  const landing = join(dir, 'landing')
  const put = (name: string, text: string): void => {
    const p = join(landing, TABLE, name)
    mkdirSync(dirname(p), { recursive: true })
    writeFileSync(p, text)
  }
  const config = (format: Format, lateFiles?: string): Config =>
    parseConfig(
      {
        source: 'S',
        landing,
        raw: `${format}/raw`,
        curated: `${format}/curated`,
        state: `${format}/state.sqlite`,
        settleSeconds: 0,
        tableFormat: format,
        iceberg: { raw: true },
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
  const both = async (lateFiles?: string): Promise<void> => {
    for (const f of FORMATS) {
      const r = (await runOnce(config(f, lateFiles))).tables[0]!
      assert.equal(r.error, undefined, `${f}: ${r.error?.message}`)
    }
  }
  put('LOAD00000001.csv', 'I,2024-06-10 08:00:00.000000,1,apple\nI,2024-06-10 08:00:00.000000,2,pear\n')
  put('20240610-100000000.csv', 'U,2024-06-10 09:59:00.000000,1,apple v2\n')
  await both()
  // a second write of 20240610, closed by 20240611: compacted
  put('20240610-110000000.csv', 'U,2024-06-10 10:59:00.000000,2,pear v2\n')
  put('20240611-100000000.csv', 'I,2024-06-11 09:59:00.000000,3,plum\n')
  await both()
  // a late file: the reprocess overwrites each date
  put('20240610-120000000.csv', 'D,2024-06-10 11:59:00.000000,1,apple v2\n')
  await both('reprocess')
  // two more writes of 20240612, closed by 20240613: compacted again
  put('20240612-100000000.csv', 'U,2024-06-12 09:59:00.000000,3,plum v2\n')
  await both()
  put('20240612-110000000.csv', 'I,2024-06-12 10:59:00.000000,4,fig\n')
  put('20240613-100000000.csv', 'U,2024-06-13 09:59:00.000000,4,fig v2\n')
  await both()

  // the RAW Iceberg table went through appends, replaces and overwrites, and its partition folders hold files that
  // the current snapshot no longer has
  const rawRoot = join(dir, 'iceberg', 'raw')
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

  const pipeline = (format: Format): unknown => ({
    steps: [
      { fun: 'spark_sql', out: 'df1', query: 'select * from raw_S.items' },
      { fun: 'wrt', out: join(dir, format, 'marts', 'all'), query: 'df1' },
      { fun: 'spark_sql', out: 'df2', query: "select * from raw_S.items where partition_0 = '20240612'" },
      { fun: 'wrt', out: join(dir, format, 'marts', 'day'), query: 'df2' },
      {
        fun: 'spark_sql',
        out: 'df3',
        query: 'select partition_0, count(*) as n, max(cdc_file) as last from raw_S.items group by partition_0',
      },
      { fun: 'wrt', out: join(dir, format, 'marts', 'dates'), query: 'df3' },
    ],
  })
  const out: Record<string, { columns: string[][]; rows: Row[][] }> = {}
  for (const f of FORMATS) {
    const r = await runPipeline(
      config(f),
      { json: pipeline(f), name: 'raw-items', baseDir: join(dir, f) },
      { cacheDir: join(dir, f, 'cache'), record: false },
    )
    assert.equal(r.error, undefined, `${f}: ${r.error?.message}`)
    const parts = ['all', 'day', 'dates'].map((m) =>
      parquetRows(readFileSync(join(dir, f, 'marts', m, 'part-00000.parquet'))),
    )
    out[f] = { columns: parts.map((rows) => Object.keys(rows[0] ?? {})), rows: parts.map(sortRows) }
  }
  const want = out['parquet']!
  assert.ok(want.rows[0]!.length > 0 && want.rows[1]!.length > 0, 'the plain RAW has rows on 20240612')
  assert.deepEqual(want.columns[0], ['Op', 'ts', 'id', 'name', 'cdc_file', 'cdc_row', 'partition_0'])
  assert.deepEqual(want.rows[2]!.map((r) => r['partition_0']).sort(), ['20240610', '20240611', '20240612', '20240613'])
  assert.deepEqual(out['iceberg'], want, 'the same columns and rows as on the plain RAW')

  // --emit pyspark reads RAW as Parquet date folders: refused with its code, naming the table
  await assert.rejects(
    emitPyspark(config('iceberg'), { json: pipeline('iceberg'), name: 'raw-items', baseDir: join(dir, 'iceberg') }),
    (err: unknown) =>
      err instanceof CdcError &&
      err.code === 'CDC_SPARK_UNSUPPORTED' &&
      /raw_S\.items/.test(err.message) &&
      /RAW Iceberg/.test(err.message),
  )
  // the plain layout still emits
  assert.match(
    await emitPyspark(config('parquet'), {
      json: pipeline('parquet'),
      name: 'raw-items',
      baseDir: join(dir, 'parquet'),
    }),
    /register\("raw_S__items"/,
  )
})
