// SQL step pipelines over curated Iceberg tables: the design's example pipeline (fixtures/pipelines) run on the
// fixture with tableFormat "iceberg" writes the same hand-derived golden output as on the plain layout; its
// `partition_0 = {yday}` join selects the date's tag. The tags are read by cdc-apply's own reader into a local
// cache of date folders (one file per tag, named by snapshot id, reused while the tag stays).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { runPipeline } from '../src/steps/run-steps.js'
import { emitPyspark } from '../src/steps/pyspark.js'
import { CdcError } from '../src/errors.js'
import { catalogEntries } from '../src/steps/catalog.js'
import { quoteDuckDb } from '../src/steps/params.js'
import { LocalStore } from '../src/store/local-store.js'
import { IcebergTable } from '../src/iceberg/table.js'
import { storeUri } from '../src/iceberg-sink.js'
import { tempDir } from './helpers/outputs.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const FIXTURE = join(root, 'fixtures', 'pipelines')
const PIPELINE = JSON.parse(readFileSync(join(FIXTURE, 'delhi-transactions.json'), 'utf8')) as unknown
const GOLDEN = JSON.parse(readFileSync(join(FIXTURE, 'expected', 'delhi-transactions.json'), 'utf8')) as {
  params: Record<string, string>
  steps: { index: number; fun: string; name: string; status: string; rows: number }[]
  partitions: string[]
  rows: Record<string, string>[]
}

const tmp = tempDir('cdc-iceberg-steps-')
test.after(tmp.remove)

function lakeConfig(dir: string): Config {
  const json = JSON.parse(readFileSync(join(FIXTURE, 'cdc-apply.json'), 'utf8')) as Record<string, unknown>
  const out = join(dir, 'out', 'pipelines')
  return parseConfig(
    {
      ...json,
      tableFormat: 'iceberg',
      raw: join(out, 'raw'),
      curated: join(out, 'curated'),
      state: join(out, 'state.sqlite'),
    },
    FIXTURE,
  )
}

async function rows(dir: string): Promise<Record<string, string | null>[]> {
  const instance = await DuckDBInstance.create(':memory:', { autoload_known_extensions: 'false' })
  const conn = await instance.connect()
  try {
    const glob = quoteDuckDb(`${dir}/**/*.parquet`)
    const r = await conn.runAndReadAll(
      `SELECT * FROM read_parquet(${glob}, hive_partitioning = true, hive_types_autocast = false) ORDER BY txn_id`,
    )
    return (r.getRowObjectsJson() as Record<string, unknown>[]).map((o) =>
      Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v === null ? null : String(v)])),
    )
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
}

test('the design example pipeline on Iceberg-curated tables writes the golden output; partition_0 selects the date tag; the tag cache is reused', async () => {
  const dir = join(tmp.path, 'lake')
  const config = lakeConfig(dir)
  for (const t of (await runOnce(config)).tables) assert.equal(t.error, undefined, String(t.error))
  const curated = catalogEntries(config).filter((e) => e.zone === 'curated')
  assert.deepEqual(
    curated.map((e) => e.name),
    ['demo.restaurants', 'demo.transaction'],
    'the curated Iceberg tables are in the catalog under their usual names',
  )
  const cacheDir = join(dir, 'cache')
  const go = (): ReturnType<typeof runPipeline> =>
    runPipeline(
      config,
      { json: PIPELINE, name: 'delhi-transactions', baseDir: join(dir, 'a', 'b') },
      { params: { run_date: '20220930' }, cacheDir, record: false },
    )
  const r = await go()
  assert.equal(r.error, undefined, r.error?.message)
  assert.deepEqual(
    r.results.map((s) => ({ index: s.index, fun: s.fun, name: s.name, status: s.status, rows: s.rows })),
    GOLDEN.steps,
  )
  assert.deepEqual(r.params, GOLDEN.params)
  const marts = join(dir, 'out', 'pipelines', 'marts', 'delhi_transactions')
  assert.deepEqual(
    readdirSync(marts)
      .filter((n) => statSync(join(marts, n)).isDirectory())
      .sort(),
    GOLDEN.partitions,
  )
  assert.deepEqual(await rows(marts), GOLDEN.rows)

  // the cache holds one file per date tag, named by the tag's snapshot id; a second run reuses them
  const store = new LocalStore(config.curated)
  const ice = await IcebergTable.open(
    store,
    'demo/restaurants',
    `${storeUri(store)}/demo/restaurants`,
    'demo.restaurants',
  )
  const cached = readdirSync(cacheDir).find((d) => d.startsWith('iceberg-'))!
  const tagDir = join(cacheDir, cached, 'demo', 'restaurants')
  const files = (): string[] =>
    readdirSync(tagDir)
      .sort()
      .map((d) => `${d}/${readdirSync(join(tagDir, d)).join(',')}`)
  const expected = Object.entries(ice.meta!.refs)
    .filter(([n]) => n !== 'main')
    .map(([n, ref]) => `${n.slice(1)}/part-${ref['snapshot-id']}.parquet`)
    .sort()
  assert.deepEqual(files(), expected)
  const mtimes = expected.map((f) => statSync(join(tagDir, f)).mtimeMs)
  const again = await go()
  assert.equal(again.error, undefined, again.error?.message)
  assert.deepEqual(
    expected.map((f) => statSync(join(tagDir, f)).mtimeMs),
    mtimes,
    'unchanged tags are not written again',
  )

  // --emit pyspark would read curated as Parquet date folders: refused with its code
  await assert.rejects(
    emitPyspark(
      config,
      { json: PIPELINE, name: 'delhi-transactions', baseDir: join(dir, 'a', 'b') },
      { params: { run_date: '20220930' } },
    ),
    (err: unknown) => err instanceof CdcError && err.code === 'CDC_SPARK_UNSUPPORTED' && /Iceberg/.test(err.message),
  )
})
