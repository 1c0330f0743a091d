// SQL step pipelines (docs/steps.md): validation before anything runs, parameter quoting, per-step results,
// replacing writes, the catalog, the S3 input cache, the design's example against its golden output, and the
// emitted PySpark.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { CdcError, EXIT } from '../src/errors.js'
import { LocalStore } from '../src/store/local-store.js'
import type { ObjectStore } from '../src/store/object-store.js'
import { S3Store } from '../src/store/s3-store.js'
import { lexSql, quoteDuckDb, quoteSpark, scanParams, substitute } from '../src/steps/params.js'
import { catalogEntries, catalogKey, syncToCache } from '../src/steps/catalog.js'
import { inside } from '../src/steps/plan.js'
import { runPipeline, stepSettings, type PipelineRun, type RunPipelineOptions } from '../src/steps/run-steps.js'
import { publishToStore } from '../src/steps/publish.js'
import { pipelineRuns } from '../src/state/index.js'
import { emitPyspark, rewriteTableRefs } from '../src/steps/pyspark.js'
import { transformCommand } from '../src/cli/transform.js'
import { silentLogger } from '../src/log.js'
import { tempDir } from './helpers/outputs.js'
import { MINIO_SKIP_REASON, startMinio, type MinioServer } from './helpers/minio.js'

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true'
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const FIXTURE = join(root, 'fixtures', 'pipelines')
const PIPELINE = JSON.parse(readFileSync(join(FIXTURE, 'delhi-transactions.json'), 'utf8')) as {
  steps: Record<string, unknown>[]
}
const GOLDEN = JSON.parse(readFileSync(join(FIXTURE, 'expected', 'delhi-transactions.json'), 'utf8')) as {
  params: Record<string, string>
  steps: { index: number; fun: string; name: string; status: string; rows: number }[]
  partitions: string[]
  columns: Record<string, string>
  rows: Record<string, string>[]
}
const RUN_DATE = { run_date: '20220930' }

const tmp = tempDir('cdc-steps-')
after(() => tmp.remove())

/**
 * The fixture's config with RAW, curated and state under `<dir>/out/pipelines/` (as the fixture has them under the
 * repository's out/pipelines/), so that the pipeline's relative target `../../out/pipelines/marts/...` resolved
 * from `<dir>/a/b` lands in `<dir>/out/pipelines/marts`, under the default output root `<dir>/out/pipelines`.
 */
function lakeConfig(dir: string, patch: Record<string, unknown> = {}): Config {
  const json = JSON.parse(readFileSync(join(FIXTURE, 'cdc-apply.json'), 'utf8')) as Record<string, unknown>
  const out = join(dir, 'out', 'pipelines')
  return parseConfig(
    { ...json, raw: join(out, 'raw'), curated: join(out, 'curated'), state: join(out, 'state.sqlite'), ...patch },
    FIXTURE,
  )
}

let lake: { dir: string; config: Config }

before(async () => {
  const dir = join(tmp.path, 'lake')
  const config = lakeConfig(dir)
  const summary = await runOnce(config)
  for (const t of summary.tables) assert.equal(t.error, undefined, `${t.table}: ${t.error?.message}`)
  lake = { dir, config }
})

/** Runs pipeline JSON as if its file were `<lake>/a/b/<name>.json`. */
function run(json: unknown, opts: RunPipelineOptions = {}, name = 'test'): Promise<PipelineRun> {
  return runPipeline(lake.config, { json, name, baseDir: join(lake.dir, 'a', 'b') }, { params: RUN_DATE, ...opts })
}

const marts = (name: string): string => join(lake.dir, 'out', 'pipelines', 'marts', name)

async function duck<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  const instance = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    allow_community_extensions: 'false',
  })
  const conn = await instance.connect()
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJson() as T[]
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
}

/** A written folder by content: its partition folders, the files' column types, and every row as strings. */
async function readOutput(
  dir: string,
  orderBy = 'txn_id',
): Promise<{ partitions: string[]; columns: Record<string, string>; rows: Record<string, string | null>[] }> {
  const glob = quoteDuckDb(`${dir}/**/*.parquet`)
  const partitions = readdirSync(dir)
    .filter((n) => statSync(join(dir, n)).isDirectory())
    .sort()
  const described = await duck<{ column_name: string; column_type: string }>(
    `DESCRIBE SELECT * FROM read_parquet(${glob}, hive_partitioning = false)`,
  )
  const rows = await duck(
    `SELECT * FROM read_parquet(${glob}, hive_partitioning = true, hive_types_autocast = false) ORDER BY ${orderBy}`,
  )
  return {
    partitions,
    columns: Object.fromEntries(described.map((d) => [d.column_name, d.column_type])),
    rows: rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : String(v)]))),
  }
}

function withSteps(steps: Record<string, unknown>[], extra: Record<string, unknown> = {}): unknown {
  return { ...extra, steps }
}

const SELECT_T = { fun: 'sql', out: 'a', query: 'select * from demo.transaction' }

// ---------------------------------------------------------------- the design's example

describe('the design example (fixtures/pipelines)', () => {
  it('runs the fixture pipeline and writes the hand-derived golden output', async () => {
    const r = await run(PIPELINE, {}, 'delhi-transactions')
    assert.equal(r.error, undefined, r.error?.message)
    assert.equal(r.status, 'Success')
    assert.deepEqual(r.params, GOLDEN.params)
    assert.deepEqual(
      r.results.map((s) => ({ index: s.index, fun: s.fun, name: s.name, status: s.status, rows: s.rows })),
      GOLDEN.steps,
    )
    assert.equal(r.rows, 6)
    const out = await readOutput(marts('delhi_transactions'))
    assert.deepEqual(out.partitions, GOLDEN.partitions)
    assert.deepEqual(out.columns, GOLDEN.columns)
    assert.deepEqual(out.rows, GOLDEN.rows)
  })

  it("partition_0 = '{yday}' finds yesterday's snapshot of a table that did not change yesterday", async () => {
    // restaurants has no change file dated 20220929, yet its curated partition exists and equals 20220928's.
    assert.ok(!readdirSync(join(FIXTURE, 'bucket', 'dms', 'demo', 'restaurants')).some((f) => f.startsWith('20220929')))
    const r = await run(
      withSteps([
        {
          fun: 'sql',
          out: 'y',
          query:
            "select id, city, rating::varchar as rating from demo.restaurants where partition_0 = '{yday}' order by id",
        },
        {
          fun: 'sql',
          out: 'diff1',
          query:
            "select * from demo.restaurants where partition_0 = {yday} except select * replace ({yday} as partition_0) from demo.restaurants where partition_0 = '20220928'",
        },
        {
          fun: 'sql',
          out: 'diff2',
          query:
            "select * replace ({yday} as partition_0) from demo.restaurants where partition_0 = '20220928' except select * from demo.restaurants where partition_0 = {yday}",
        },
      ]),
    )
    assert.equal(r.status, 'Success', r.error?.message)
    assert.equal(r.results[0]!.rows, 4)
    assert.equal(r.results[1]!.rows, 0)
    assert.equal(r.results[2]!.rows, 0)
  })

  it('RAW partitions are queryable as raw_<source>.<table> with Op, cdc_file, cdc_row and partition_0', async () => {
    const dir = marts('raw_copy')
    const r = await run(
      withSteps([
        {
          fun: 'sql',
          out: 'changes',
          query:
            "select Op, txn_id, cdc_file, cdc_row, partition_0 from raw_demo.transaction where partition_0 = '20220928'",
        },
        { fun: 'write', out: '../../out/pipelines/marts/raw_copy', query: 'changes' },
      ]),
    )
    assert.equal(r.status, 'Success', r.error?.message)
    const out = await readOutput(dir, 'cdc_row')
    assert.deepEqual(out.rows, [
      { Op: 'I', txn_id: '106', cdc_file: '20220928-200000000.csv', cdc_row: '1', partition_0: '20220928' },
      { Op: 'D', txn_id: '103', cdc_file: '20220928-200000000.csv', cdc_row: '2', partition_0: '20220928' },
    ])
  })

  it('a configured table without any partition yet is an empty view with its configured columns', async () => {
    const dir = join(tmp.path, 'empty')
    const config = lakeConfig(dir)
    const r = await runPipeline(
      config,
      {
        json: withSteps([{ fun: 'sql', out: 'n', query: 'select txn_id, amount, partition_0 from demo.transaction' }]),
        name: 'empty',
        baseDir: dir,
      },
      {
        params: { lpd: '20220101' },
      },
    )
    assert.equal(r.status, 'Success', r.error?.message)
    assert.equal(r.results[0]!.rows, 0)
  })

  it('records each run in pipeline_runs, which pipelineRuns reads for status', async () => {
    const statePath = stepSettings(lake.config).statePath
    await run(
      withSteps([{ fun: 'sql', out: 'one', query: 'select 1 as x' }]),
      { params: { run_date: '20220930', note: "it's" } },
      'runs-probe',
    )
    await run(withSteps([{ fun: 'sql', out: 'one', query: "select cast('x' as integer)" }]), {}, 'runs-probe')
    const latest = pipelineRuns(statePath).find((p) => p.pipeline === 'runs-probe')!
    assert.equal(latest.status, 'Error')
    assert.equal(latest.runs, 2)
    assert.match(latest.error!, /^CDC_STEP_FAILED: /)
    assert.ok(latest.lastSuccessAt !== null)
    const all = pipelineRuns(statePath, { all: true }).filter((p) => p.pipeline === 'runs-probe')
    assert.deepEqual(
      all.map((p) => [p.status, p.params]),
      [
        ['Error', { run_date: '20220930' }],
        ['Success', { run_date: '20220930', note: "it's" }],
      ],
    )
    assert.deepEqual(pipelineRuns(join(tmp.path, 'no-such-state.sqlite')), [])
  })
})

// ---------------------------------------------------------------- validation

describe('the whole plan is validated before the first step runs', () => {
  const marker = '../../out/pipelines/marts/never'
  const cases: { name: string; json: unknown; message: RegExp; opts?: RunPipelineOptions }[] = [
    {
      name: 'no steps',
      json: { steps: [] },
      message: /\$\.steps is invalid: expected a non-empty array of steps, got an array/,
    },
    {
      name: 'unknown top-level key',
      json: { step: [] },
      message:
        /\$\.step is invalid: expected one of the keys name, description, table, params, steps, got unknown key "step"/,
    },
    {
      name: 'unknown step kind',
      json: withSteps([{ fun: 'spark_sqll', out: 'a', query: 'select 1' }]),
      message:
        /step 1 \(\$\.steps\[0\]\.fun\) is invalid: expected one of spark_sql, sql, crt_table, view, wrt, write, got "spark_sqll"/,
    },
    {
      name: 'unknown key in a step',
      json: withSteps([{ fun: 'sql', out: 'a', quer: 'select 1' }]),
      message:
        /step 1 \(\$\.steps\[0\]\.quer\) is invalid: expected one of the keys fun, out, query, partitionBy, description/,
    },
    {
      name: 'empty SQL',
      json: withSteps([{ fun: 'spark_sql', out: 'a', query: '   ' }]),
      message:
        /step 1 \(\$\.steps\[0\]\.query\) is invalid: expected SQL text \(a SELECT statement\), got an empty string/,
    },
    {
      name: 'a view of a name nothing defines',
      json: withSteps([SELECT_T, { fun: 'crt_table', out: 't1', query: 'dfx' }]),
      message:
        /step 2 \(\$\.steps\[1\]\.query\) is invalid: expected the name of an earlier step's result \(a\) or a catalog table \(demo\.restaurants, raw_demo\.restaurants, demo\.transaction, raw_demo\.transaction\), got "dfx", which no step before step 2 and no catalog table defines/,
    },
    {
      name: 'a write of a result that a later step defines',
      json: withSteps([
        { fun: 'wrt', out: marker, query: 'b' },
        { fun: 'sql', out: 'b', query: 'select 1' },
      ]),
      message:
        /step 1 \(\$\.steps\[0\]\.query\) is invalid: .* got "b", which no step before step 1 and no catalog table defines/,
    },
    {
      name: 'SQL reading a result that a later step defines',
      json: withSteps([
        { fun: 'sql', out: 'a', query: 'select * from b' },
        { fun: 'sql', out: 'b', query: 'select 1' },
      ]),
      message:
        /step 1 \(\$\.steps\[0\]\.query\) is invalid: expected tables that an earlier step or the catalog defines .*, got "b", which only step 2 defines, after this one/,
    },
    {
      name: 'SQL reading a table that is not in the catalog',
      json: withSteps([
        SELECT_T,
        { fun: 'sql', out: 'b', query: 'select * from a join demo.transactions using (txn_id)' },
      ]),
      message:
        /step 2 \(\$\.steps\[1\]\.query\) is invalid: expected tables that an earlier step or the catalog defines \(a, demo\.restaurants, .*\), got "demo\.transactions"/,
    },
    {
      name: 'duplicate outputs',
      json: withSteps([SELECT_T, { fun: 'sql', out: 'A', query: 'select 1' }]),
      message:
        /step 2 \(\$\.steps\[1\]\.out\) is invalid: expected a name no other step defines \(step 1 defines it\), got "A"/,
    },
    {
      name: 'two writes to the same target',
      json: withSteps([
        SELECT_T,
        { fun: 'write', out: marker, query: 'a' },
        { fun: 'write', out: `${marker}/`, query: 'a' },
      ]),
      message:
        /step 3 \(\$\.steps\[2\]\.out\) is invalid: expected a target that no other step writes \(step 2 writes it\)/,
    },
    {
      name: 'a write target outside the output roots',
      json: withSteps([SELECT_T, { fun: 'write', out: '/var/tmp/elsewhere', query: 'a' }]),
      message:
        /step 2 \(\$\.steps\[1\]\.out\) is invalid: expected a location below one of the output roots \(".*out\/pipelines"\), got "\/var\/tmp\/elsewhere"/,
    },
    {
      name: 'a write target inside the curated zone',
      json: withSteps([SELECT_T, { fun: 'write', out: '../../out/pipelines/curated/demo/x', query: 'a' }]),
      message:
        /step 2 \(\$\.steps\[1\]\.out\) is invalid: expected a location that neither holds nor is inside the landing, RAW, curated, state or cache location ".*curated"/,
    },
    {
      name: 'a write target that holds the RAW and curated zones',
      json: withSteps([SELECT_T, { fun: 'write', out: '../..', query: 'a' }]),
      message:
        /step 2 \(\$\.steps\[1\]\.out\) is invalid: expected a location that neither holds nor is inside the landing, RAW, curated, state or cache location ".*out\/pipelines\/raw"/,
      opts: { allowedRoots: ['/'] },
    },
    {
      name: 'parameters in a write target',
      json: withSteps([SELECT_T, { fun: 'write', out: '../../out/pipelines/marts/{run_date}', query: 'a' }]),
      message: /expected a folder or s3:\/\/ url \(parameters are not substituted in write targets\)/,
    },
    {
      name: 'partitionBy on a SQL step',
      json: withSteps([{ ...SELECT_T, partitionBy: 'x' }]),
      message:
        /step 1 \(\$\.steps\[0\]\.partitionBy\) is invalid: expected no partitionBy \(only write steps take it\)/,
    },
    {
      name: 'an unknown parameter',
      json: withSteps([{ fun: 'sql', out: 'a', query: 'select * from demo.transaction where partition_0 = {nope}' }]),
      message: /step 1 \(\$\.steps\[0\]\.query\) uses the unknown parameter \{nope\}/,
    },
    {
      name: 'a parameter inside a longer literal',
      json: withSteps([{ fun: 'sql', out: 'a', query: "select * from demo.restaurants where name like '{city}%'" }], {
        params: { city: 'x' },
      }),
      message:
        /expected parameter \{city\} alone \(\{city\} or '\{city\}'\), concatenated with \|\| if needed, got it inside the literal '\{city\}%'/,
    },
    {
      name: 'a parameter in an escape string',
      json: withSteps([{ fun: 'sql', out: 'a', query: "select E'{run_date}' as d" }]),
      message: /got it inside the literal '\{run_date\}'/,
    },
    {
      name: 'SQL DuckDB cannot parse',
      json: withSteps([{ fun: 'sql', out: 'a', query: 'select from where' }]),
      message: /expected SQL that DuckDB can parse, got syntax error at or near "where"/,
    },
    {
      name: 'two statements in one step',
      json: withSteps([{ fun: 'sql', out: 'a', query: 'select 1; select 2' }]),
      message: /expected exactly one SELECT statement, got 2 statements/,
    },
    {
      name: 'a statement that is not a query',
      json: withSteps([{ fun: 'sql', out: 'a', query: 'drop table demo.transaction' }]),
      message: /expected SQL that DuckDB can parse, got Only SELECT statements can be serialized/,
    },
    {
      name: 'a "table" that is not in the catalog',
      json: withSteps([SELECT_T], { table: 'demo.nope' }),
      message: /\$\.table is invalid: expected a catalog table/,
    },
    {
      name: 'an invalid run_date',
      json: withSteps([{ fun: 'sql', out: 'a', query: 'select {yday}' }]),
      message: /parameter run_date is invalid: expected a date YYYYMMDD, got "20220931"/,
      opts: { params: { run_date: '20220931' } },
    },
  ]
  for (const c of cases) {
    it(`${c.name} is CDC_STEP_INVALID and nothing runs`, async () => {
      const r = await run(c.json, c.opts ?? {})
      assert.ok(r.error instanceof CdcError, 'expected an error')
      assert.equal(r.error.code, 'CDC_STEP_INVALID', r.error.message)
      assert.match(r.error.message, c.message)
      assert.equal(r.status, 'Error')
      assert.ok(r.results.every((s) => s.status === 'NotExecuted'))
      assert.ok(!existsSync(marts('never')))
    })
  }

  it('{lpd} without a watermark is CDC_STEP_INVALID with a hint', async () => {
    const dir = join(tmp.path, 'no-state')
    const r = await runPipeline(
      lakeConfig(dir),
      { json: PIPELINE, name: 'p', baseDir: join(dir, 'a', 'b') },
      { params: RUN_DATE },
    )
    assert.equal(r.error?.code, 'CDC_STEP_INVALID')
    assert.match(r.error!.message, /uses \{lpd\} but demo\.transaction has no watermark yet/)
    assert.equal(r.error!.hint, 'run cdc-apply run first, or pass --param lpd=YYYYMMDD')
  })

  it('a later step failing validation stops the plan before step 1 runs', async () => {
    const r = await run(
      withSteps([
        { fun: 'write', out: '../../out/pipelines/marts/never', query: 'demo.transaction' },
        { fun: 'sql', out: 'b', query: 'select * from nowhere' },
      ]),
    )
    assert.equal(r.error?.code, 'CDC_STEP_INVALID')
    assert.ok(!existsSync(marts('never')))
  })

  it('inside() compares folders and s3 urls by path segments', () => {
    assert.ok(inside('/a/b/c', '/a/b', true))
    assert.ok(!inside('/a/b', '/a/b', true))
    assert.ok(inside('/a/b', '/a/b/', false))
    assert.ok(!inside('/a/bc', '/a/b', false))
    assert.ok(inside('s3://x/a/b', 's3://x/a', true))
    assert.ok(!inside('s3://x/ab', 's3://x/a', false))
    assert.ok(inside('s3://x/a', 's3://x', true))
    assert.ok(!inside('s3://x/a', '/x/a', false))
  })
})

// ---------------------------------------------------------------- parameters

describe('parameters', () => {
  it('a value with quotes cannot change the query: the injection attempt matches no city', async () => {
    const evil = "x' or '1'='1"
    const r = await run(PIPELINE, { params: { ...RUN_DATE, city: evil } }, 'delhi-evil')
    assert.equal(r.status, 'Success', r.error?.message)
    assert.equal(r.params.city, evil)
    assert.equal(r.results[2]!.rows, 0)
    assert.equal(r.rows, 0)
    const ok = await run(PIPELINE, { params: { ...RUN_DATE, city: 'delhi' } }, 'delhi-again')
    assert.equal(ok.results[2]!.rows, 6)
  })

  it('a value is compared as the exact text, backslashes and quotes included', async () => {
    const value = "it's \\ a 'test'"
    const r = await run(
      withSteps([
        {
          fun: 'sql',
          out: 'v',
          query: "select {v} as a, '{v}' as b where {v} = 'it''s \\ a ''test''' and length({v}) = 15",
        },
      ]),
      { params: { v: value } },
    )
    assert.equal(r.status, 'Success', r.error?.message)
    assert.equal(r.results[0]!.rows, 1)
  })

  it("{name} and '{name}' both become one quoted literal; comments and identifiers are untouched", () => {
    const sql = `select {a}, '{a}', "{a}" -- {a}\n /* '{a}' */ from t where x = '{a}'`
    assert.equal(
      substitute(sql, { a: "o'k" }, quoteDuckDb),
      `select 'o''k', 'o''k', "{a}" -- {a}\n /* '{a}' */ from t where x = 'o''k'`,
    )
    assert.equal(substitute("select '{a}'", { a: "\\'; drop" }, quoteSpark), "select '\\\\\\'; drop'")
    assert.deepEqual(scanParams("select {a}, '{b}', 'c{d}', $${e}$$, E'{f}', $t${g}$t$").names, ['a', 'b'])
    assert.deepEqual(
      scanParams("select 'c{d}', $${e}$$, E'{f}', $t${g}$t$").misplaced.map((m) => m.name),
      ['d', 'e', 'f', 'g'],
    )
    assert.deepEqual(
      lexSql(`a 'b''c' "d""e" $$f$$ -- g`).map((s) => s.kind),
      ['code', 'string', 'code', 'identifier', 'code', 'dollar', 'code', 'comment'],
    )
  })

  it('run_date moves today and yday; a --param overrides a built-in such as lpd', async () => {
    const r = await run(
      withSteps([{ fun: 'sql', out: 'p', query: "select {run_date} as r, {today} as t, '{yday}' as y, {lpd} as l" }], {
        table: 'demo.restaurants',
      }),
      {
        params: { run_date: '20220301' },
      },
    )
    assert.deepEqual(r.params, { run_date: '20220301', today: '20220301', yday: '20220228', lpd: '20220930' })
    const o = await run(PIPELINE, { params: { ...RUN_DATE, lpd: '20220928' } })
    // Snapshots 20220928..30: every transaction seen since, in its latest version; 103 was deleted on the 28th.
    assert.equal(o.results[0]!.rows, 5 + 7 + 10)
    assert.equal(o.results[2]!.rows, 6)
  })
})

// ---------------------------------------------------------------- results

describe('per-step results', () => {
  it("a failing step is Error with DuckDB's message, later steps are NotExecuted, earlier ones Success", async () => {
    const r = await run(
      withSteps([
        SELECT_T,
        { fun: 'sql', out: 'b', query: "select cast('abc' as integer) as x from a" },
        { fun: 'view', out: 'c', query: 'b' },
        { fun: 'write', out: '../../out/pipelines/marts/never', query: 'c' },
      ]),
    )
    assert.equal(r.status, 'Error')
    assert.deepEqual(
      r.results.map((s) => [s.index, s.kind, s.status]),
      [
        [1, 'sql', 'Success'],
        [2, 'sql', 'Error'],
        [3, 'view', 'NotExecuted'],
        [4, 'write', 'NotExecuted'],
      ],
    )
    // every snapshot of demo.transaction: 3 + 5 + 5 + 7 + 10 rows on 20220926..30
    assert.equal(r.results[0]!.rows, 30)
    assert.equal(r.results[1]!.error?.code, 'CDC_STEP_FAILED')
    assert.match(r.results[1]!.error!.message, /^Conversion Error: Could not convert string 'abc' to INT32/)
    assert.equal(r.error?.code, 'CDC_STEP_FAILED')
    assert.match(r.error!.message, /step 2 \(sql b\) failed: Conversion Error: Could not convert string 'abc' to INT32/)
    assert.ok(!existsSync(marts('never')))
  })

  it('SQL can read only the catalog: other files are refused by DuckDB', async () => {
    const r = await run(withSteps([{ fun: 'sql', out: 'x', query: "select * from read_csv('/etc/passwd')" }]))
    assert.equal(r.results[0]!.status, 'Error')
    assert.match(r.results[0]!.error!.message, /Permission Error: Cannot access file "\/etc\/passwd"/)
  })
})

// ---------------------------------------------------------------- writes

describe('write', () => {
  it('replaces what was there, partitioned or not', async () => {
    const dir = marts('replace')
    mkdirSync(join(dir, 'old=1'), { recursive: true })
    writeFileSync(join(dir, 'old=1', 'stale.parquet'), 'junk')
    writeFileSync(join(dir, 'notes.txt'), 'junk')
    const step = (partitionBy?: string): unknown =>
      withSteps([
        { fun: 'sql', out: 'r', query: 'select id, city from demo.restaurants where partition_0 = {d}' },
        { fun: 'write', out: '../../out/pipelines/marts/replace', query: 'r', ...(partitionBy ? { partitionBy } : {}) },
      ])
    let r = await run(step('city'), { params: { d: '20220926' } })
    assert.equal(r.status, 'Success', r.error?.message)
    assert.deepEqual(readdirSync(dir).sort(), ['city=delhi', 'city=gurgaon', 'city=mumbai'])
    r = await run(step('city'), { params: { d: '20220930' } })
    assert.equal(r.status, 'Success', r.error?.message)
    assert.deepEqual(readdirSync(dir).sort(), ['city=delhi', 'city=gurgaon', 'city=mumbai'])
    assert.deepEqual(
      (await readOutput(dir, 'id')).rows.map((x) => [x.id, x.city]),
      [
        ['1', 'delhi'],
        ['2', 'mumbai'],
        ['3', 'gurgaon'],
        ['5', 'delhi'],
      ],
    )
    r = await run(step(), { params: { d: '20220927' } })
    assert.equal(r.results[1]!.rows, 5)
    assert.deepEqual(readdirSync(dir), ['part-00000.parquet'])
    assert.deepEqual(
      readdirSync(dirname(dir)).filter((n) => n.startsWith('.replace')),
      [],
    )
  })

  it('a catalog table can be written directly, and an empty result still writes a file with the schema', async () => {
    const dir = marts('empty-result')
    const r = await run(
      withSteps([
        { fun: 'sql', out: 'none', query: "select * from demo.restaurants where city = 'nowhere'" },
        { fun: 'write', out: '../../out/pipelines/marts/empty-result', query: 'none' },
      ]),
    )
    assert.equal(r.status, 'Success', r.error?.message)
    assert.equal(r.results[1]!.rows, 0)
    assert.deepEqual(Object.keys((await readOutput(dir, 'id')).columns), [
      'dms_commit_ts',
      'id',
      'name',
      'city',
      'rating',
      'cdc_file',
      'cdc_row',
      'partition_0',
    ])
  })

  it('publishToStore uploads every file and deletes the objects the new output does not have', async () => {
    const staging = join(tmp.path, 'publish', 'staging')
    mkdirSync(join(staging, 'k=1'), { recursive: true })
    writeFileSync(join(staging, 'k=1', 'part-0.parquet'), 'new')
    const target = new LocalStore(join(tmp.path, 'publish', 'target'))
    await target.put('k=2/part-0.parquet', Buffer.from('old'))
    await target.put('k=1/part-0.parquet', Buffer.from('old'))
    await publishToStore(staging, target)
    const keys: string[] = []
    for await (const o of target.list('')) keys.push(o.key)
    assert.deepEqual(keys, ['k=1/part-0.parquet'])
    assert.equal(readFileSync(join(tmp.path, 'publish', 'target', 'k=1', 'part-0.parquet'), 'utf8'), 'new')
  })
})

// ---------------------------------------------------------------- catalog and cache

describe('catalog', () => {
  it('names every configured table <source>.<table> and raw_<source>.<table>', () => {
    assert.deepEqual(
      catalogEntries(lake.config).map((e) => [e.name, e.zone]),
      [
        ['demo.restaurants', 'curated'],
        ['raw_demo.restaurants', 'raw'],
        ['demo.transaction', 'curated'],
        ['raw_demo.transaction', 'raw'],
      ],
    )
    assert.equal(catalogKey('OP', 'Restaurants'), 'op.restaurants')
  })

  it('default output roots are the folders holding RAW and curated; the zones, state and cache are protected', () => {
    const config = parseConfig(JSON.parse(readFileSync(join(FIXTURE, 'cdc-apply.json'), 'utf8')), FIXTURE)
    const s = stepSettings(config)
    assert.deepEqual(s.allowedRoots, [join(root, 'out', 'pipelines')])
    assert.deepEqual(s.protectedLocations, [
      join(FIXTURE, 'bucket', 'dms'),
      join(root, 'out', 'pipelines', 'raw'),
      join(root, 'out', 'pipelines', 'curated'),
      join(root, 'out', 'pipelines', 'cdc-apply.sqlite'),
      join(root, 'out', 'pipelines', 'cache'),
    ])
    const s3 = stepSettings(
      parseConfig(
        {
          ...JSON.parse(readFileSync(join(FIXTURE, 'cdc-apply.json'), 'utf8')),
          raw: 's3://lake/x/raw',
          curated: 's3://lake/curated',
        },
        FIXTURE,
      ),
    )
    assert.deepEqual(s3.allowedRoots, ['s3://lake/x', 's3://lake'])
    const own = stepSettings({ ...config, outputs: ['marts', 's3://lake/marts'], cache: 'tmp/cache' } as Config)
    assert.deepEqual(own.allowedRoots, [join(FIXTURE, 'marts'), 's3://lake/marts'])
    assert.equal(own.cacheDir, join(FIXTURE, 'tmp', 'cache'))
  })

  it('the S3 input cache fetches each object once and again only when its ETag changes', async () => {
    const remoteDir = join(tmp.path, 'remote')
    const remote = new LocalStore(remoteDir)
    await remote.put('demo/t/20220926/part-00000.parquet', Buffer.from('a'))
    await remote.put('demo/t/20220927/part-00000.parquet', Buffer.from('bb'))
    await remote.put('demo/u/20220927/part-00000.parquet', Buffer.from('other table'))
    let gets = 0
    const counting: ObjectStore = {
      url: remote.url,
      list: (p, o) => remote.list(p, o),
      get: (k) => (gets++, remote.get(k)),
      put: (k, b) => remote.put(k, b),
      delete: (k) => remote.delete(k),
      close: async () => {},
    }
    const cache = join(tmp.path, 'cache', 'demo', 't')
    assert.deepEqual(await syncToCache(counting, 'demo/t/', cache), { fetched: 2, reused: 0, removed: 0 })
    assert.deepEqual(await syncToCache(counting, 'demo/t/', cache), { fetched: 0, reused: 2, removed: 0 })
    assert.equal(gets, 2)
    await remote.put('demo/t/20220927/part-00000.parquet', Buffer.from('ccc'))
    const later = new Date(Date.now() + 5000)
    utimesSync(join(remoteDir, 'demo', 't', '20220927', 'part-00000.parquet'), later, later)
    await remote.delete(['demo/t/20220926/part-00000.parquet'])
    assert.deepEqual(await syncToCache(counting, 'demo/t/', cache), { fetched: 1, reused: 0, removed: 1 })
    assert.equal(readFileSync(join(cache, '20220927', 'part-00000.parquet'), 'utf8'), 'ccc')
    assert.ok(!existsSync(join(cache, '20220926', 'part-00000.parquet')))
    assert.ok(!existsSync(join(cache, 'u')))
  })
})

// ---------------------------------------------------------------- S3 end to end

describe('pipelines on S3 (MinIO)', () => {
  let minio: MinioServer | undefined
  before(async () => {
    minio = await startMinio()
  })
  after(async () => {
    await minio?.stop()
  })

  it('reads curated snapshots from S3 through the cache and writes the output to S3, replacing it', async (t) => {
    if (!minio) return t.skip(MINIO_SKIP_REASON)
    await minio.createBucket('steps-lake')
    const dir = join(tmp.path, 's3')
    const config = parseConfig(
      {
        ...JSON.parse(readFileSync(join(FIXTURE, 'cdc-apply.json'), 'utf8')),
        raw: 's3://steps-lake/lake/raw',
        curated: 's3://steps-lake/lake/curated',
        state: join(dir, 'state.sqlite'),
        s3: minio.s3Options,
      },
      FIXTURE,
    )
    const summary = await runOnce(config)
    for (const x of summary.tables) assert.equal(x.error, undefined, x.error?.message)
    const pipeline = {
      ...PIPELINE,
      steps: PIPELINE.steps.map((s) => (s.fun === 'wrt' ? { ...s, out: 's3://steps-lake/lake/marts/delhi' } : s)),
    }
    const store = new S3Store('s3://steps-lake/lake/marts/delhi', { s3: minio.s3Options })
    await store.put('stale/part-0.parquet', Buffer.from('junk'))
    const first = await runPipeline(config, { json: pipeline, name: 'delhi-s3', baseDir: dir }, { params: RUN_DATE })
    assert.equal(first.error, undefined, first.error?.message)
    assert.deepEqual(
      first.results.map((r) => r.rows),
      GOLDEN.steps.map((s) => s.rows),
    )
    const local = join(dir, 'download')
    for await (const o of store.list('')) {
      mkdirSync(dirname(join(local, o.key)), { recursive: true })
      writeFileSync(join(local, o.key), await store.get(o.key))
    }
    await store.close()
    const out = await readOutput(local)
    assert.deepEqual(out.partitions, GOLDEN.partitions)
    assert.deepEqual(out.rows, GOLDEN.rows)
    const cache = join(dir, 'cache')
    assert.ok(readdirSync(cache).some((d) => d.startsWith('curated-')))
    const second = await runPipeline(config, { json: pipeline, name: 'delhi-s3', baseDir: dir }, { params: RUN_DATE })
    assert.equal(second.status, 'Success', second.error?.message)
  })
})

// ---------------------------------------------------------------- CLI body

describe('transformCommand', () => {
  function capture(): {
    io: { stdout(s: string): void; stderr(s: string): void }
    out: () => string
    err: () => string
  } {
    let o = ''
    let e = ''
    return { io: { stdout: (s) => void (o += s), stderr: (s) => void (e += s) }, out: () => o, err: () => e }
  }
  function pipelineFile(name: string, json: unknown): string {
    const file = join(lake.dir, 'a', 'b', `${name}.json`)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, JSON.stringify(json))
    return file
  }

  it('prints the step table and exits 0', async () => {
    const c = capture()
    const code = await transformCommand(
      lake.config,
      { pipeline: pipelineFile('cli-ok', PIPELINE), params: RUN_DATE, json: false },
      c.io,
      silentLogger,
    )
    assert.equal(code, EXIT.ok, c.err())
    const lines = c.out().split('\n')
    assert.match(lines[0]!, /^STEP\s+FUN\s+NAME\s+STATUS\s+ROWS\s+MS\s+ERROR$/)
    assert.match(lines[1]!, /^1\s+spark_sql\s+df1\s+Success\s+10\s+\d+$/)
    assert.match(lines[4]!, /^4\s+wrt\s+\.\.\/\.\.\/out\/pipelines\/marts\/delhi_transactions\s+Success\s+6\s+\d+$/)
    assert.match(
      lines[5]!,
      /^pipeline cli-ok: Success, 6 rows written in \d+ ms \(lpd="20220930" yday="20220929" city="delhi" run_date="20220930"\)$/,
    )
  })

  it('--json prints one document; a failing step exits 5', async () => {
    const c = capture()
    const file = pipelineFile('cli-fail', withSteps([SELECT_T, { fun: 'sql', out: 'b', query: 'select nope from a' }]))
    const code = await transformCommand(lake.config, { pipeline: file, params: {}, json: true }, c.io, silentLogger)
    assert.equal(code, EXIT.step)
    const doc = JSON.parse(c.out()) as {
      status: string
      steps: { status: string; error?: { message: string } }[]
      error: { code: string }
    }
    assert.equal(doc.status, 'Error')
    assert.deepEqual(
      doc.steps.map((s) => s.status),
      ['Success', 'Error'],
    )
    assert.match(doc.steps[1]!.error!.message, /^Binder Error: Referenced column "nope" not found/)
    assert.equal(doc.error.code, 'CDC_STEP_FAILED')
    assert.equal(c.err(), '')
  })

  it('an invalid pipeline exits 5 with the error on stderr; a missing file exits 2', async () => {
    let c = capture()
    let code = await transformCommand(
      lake.config,
      {
        pipeline: pipelineFile('cli-invalid', withSteps([{ fun: 'sql', out: 'a', query: 'select {nope}' }])),
        params: {},
        json: false,
      },
      c.io,
      silentLogger,
    )
    assert.equal(code, EXIT.step)
    assert.match(
      c.err(),
      /^cdc-apply: CDC_STEP_INVALID: pipeline "cli-invalid" step 1 \(\$\.steps\[0\]\.query\) uses the unknown parameter \{nope\}\nhint: pass it as --param nope=<value>/,
    )
    assert.match(c.out(), /\n1\s+sql\s+a\s+NotExecuted\n/)
    c = capture()
    code = await transformCommand(
      lake.config,
      { pipeline: join(tmp.path, 'missing.json'), params: {}, json: false },
      c.io,
      silentLogger,
    )
    assert.equal(code, EXIT.usage)
    assert.match(c.err(), /CDC_USAGE: pipeline file ".*missing\.json" cannot be read/)
  })

  it('--emit pyspark prints the script and runs nothing', async () => {
    const c = capture()
    const code = await transformCommand(
      lake.config,
      { pipeline: pipelineFile('cli-emit', PIPELINE), params: RUN_DATE, json: false, emit: 'pyspark' },
      c.io,
      silentLogger,
    )
    assert.equal(code, EXIT.ok, c.err())
    assert.match(c.out(), /^# PySpark equivalent of the cdc-apply pipeline "cli-emit"/)
    assert.ok(!pipelineRuns(stepSettings(lake.config).statePath).some((p) => p.pipeline === 'cli-emit'))
  })
})

// ---------------------------------------------------------------- PySpark

describe('--emit pyspark', () => {
  async function script(
    params: Record<string, string> = RUN_DATE,
    json: unknown = PIPELINE,
    baseDir = join(lake.dir, 'a', 'b'),
  ): Promise<string> {
    return emitPyspark(lake.config, { json, name: 'delhi-transactions', baseDir }, { params })
  }

  it('registers the catalog tables, runs spark.sql per step with the same literals and writes with partitionBy', async () => {
    const s = await script()
    const curated = join(lake.dir, 'out', 'pipelines', 'curated')
    const target = join(lake.dir, 'out', 'pipelines', 'marts', 'delhi_transactions')
    for (const line of [
      '#   {lpd} = "20220930"',
      '#   {yday} = "20220929"',
      '#   {city} = "delhi"',
      '# by these names: demo.transaction -> demo__transaction, demo.restaurants -> demo__restaurants',
      'spark.conf.set("spark.sql.session.timeZone", "UTC")',
      `parser.add_argument("--curated", default=${JSON.stringify(curated)}, help="the curated root: <Source>/<TableName>/<YYYYMMDD>/*.parquet under it (default %(default)s)")`,
      `parser.add_argument("--target-4", default=${JSON.stringify(target)}, help="where step 4 (wrt of df2) writes (default %(default)s)")`,
      'args, _glue_args = parser.parse_known_args()',
      '    schema = spark.read.parquet(path + "/" + found[-1] + "/*.parquet").schema',
      '    parts = [spark.read.schema(schema).parquet(path + "/" + d + "/*.parquet").withColumn("partition_0", F.lit(d)) for d in found]',
      'register("demo__transaction", args.curated + "/demo/transaction", "`dms_commit_ts` timestamp, `txn_id` bigint, `restaurant_id` bigint, `amount` decimal(10,2), `txn_ts` timestamp, `cdc_file` string, `cdc_row` bigint")  # demo.transaction',
      "select * from `demo__transaction` where partition_0 >= '20220930'",
      '""").createOrReplaceTempView("df1")',
      'spark.table("df1").createOrReplaceTempView("t1")',
      'spark.table("df2").write.mode("overwrite").partitionBy("txn_date").parquet(args.target_4)',
    ]) {
      assert.ok(s.split('\n').includes(line), `missing line: ${line}\n---\n${s}`)
    }
    assert.match(
      s,
      /join `demo__restaurants` r on r\.id = t\.restaurant_id and r\.partition_0 = '20220929' where t\.rn = 1 and r\.city = 'delhi'/,
    )
    assert.match(
      s,
      /^register\("demo__restaurants", args\.curated \+ "\/demo\/restaurants", ".*"\) {2}# demo\.restaurants$/m,
    )
    assert.doesNotMatch(
      s,
      new RegExp(JSON.stringify(curated).slice(1, -1) + '/demo'),
      'no location is hard-coded outside the argument defaults',
    )
  })

  it('rewrites catalog names whatever the parameter text: quotes, backslashes, newlines before a table reference', async () => {
    for (const city of ["x\\'", "a\\'b' or '1'='1", 'line1\nline2 \\ "q"', "\\\\'\\", "'", '\\']) {
      const s = await script(
        { ...RUN_DATE, city },
        {
          ...PIPELINE,
          steps: [
            {
              fun: 'sql',
              out: 'a',
              query:
                'select {city} as c, r.id from demo.restaurants r where r.city = {city} and exists (select 1 from demo.transaction)',
            },
            { fun: 'wrt', out: '../../out/pipelines/marts/x', query: 'a' },
          ],
        },
      )
      assert.match(
        s,
        /from `demo__restaurants` r where r\.city = '.*' and exists \(select 1 from `demo__transaction`\)/s,
        `city ${JSON.stringify(city)}:\n${s}`,
      )
      assert.doesNotMatch(
        s.slice(s.indexOf('# step 1')),
        /demo\.(restaurants|transaction)/,
        `city ${JSON.stringify(city)}: a catalog name left as it was`,
      )
    }
  })

  it('quotes values for Spark SQL (backslash escapes) inside a Python string', async () => {
    const s = await script({ ...RUN_DATE, city: "x' or '1'='1 \\" })
    assert.ok(s.includes("r.city = 'x\\\\' or \\\\'1\\\\'=\\\\'1 \\\\\\\\'"), s)
  })

  it('the emitted script is valid Python (checked when python3 is on the machine)', async (t) => {
    const py = spawnSync('python3', ['--version'])
    if (py.status !== 0) return t.skip('python3 is not on this machine')
    const file = join(tmp.path, 'emitted.py')
    writeFileSync(file, await script({ ...RUN_DATE, city: 'x\' \\ "y"\nz\\\'' }))
    const r = spawnSync('python3', ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', file], {
      encoding: 'utf8',
    })
    assert.equal(r.status, 0, r.stderr)
  })

  it('rewriteTableRefs renames catalog references in code only', () => {
    const e = catalogEntries(lake.config)
    const views = new Map(e.map((x) => [catalogKey(x.schema, x.table), x]))
    assert.equal(
      rewriteTableRefs(
        `select demo.transaction.txn_id from DEMO . "Transaction" t, raw_demo.transaction, memory.demo.transaction where x = 'demo.transaction' -- demo.transaction`,
        views,
      ),
      "select `demo__transaction`.txn_id from `demo__transaction` t, `raw_demo__transaction`, memory.demo.transaction where x = 'demo.transaction' -- demo.transaction",
    )
  })

  it('gives the same rows as the DuckDB run on PySpark, with locations as arguments, pruned dates and any parameter text', async (t) => {
    const python = process.env['CDC_APPLY_PYSPARK_PYTHON'] || 'python3'
    const probe = spawnSync(python, ['-c', 'import pyspark'], { encoding: 'utf8' })
    if (probe.status !== 0) {
      if (process.env['CI'] === 'true' && process.env['CDC_APPLY_PYSPARK_PYTHON'])
        assert.fail(`pyspark is not importable by ${python}: ${probe.stderr}`)
      return t.skip(
        `pyspark is not importable by ${python} (set CDC_APPLY_PYSPARK_PYTHON to a Python with pyspark): the script's text is tested instead`,
      )
    }
    const dir = join(tmp.path, 'spark')
    // the curated zone copied elsewhere, passed as --curated; in the date folders that the pipeline's partition_0
    // filters exclude, a part that is not Parquet: Spark would fail on it if it read those dates
    const curated = join(dir, 'curated')
    cpSync(join(lake.dir, 'out', 'pipelines', 'curated'), curated, { recursive: true })
    for (const d of [
      'demo/transaction/20220926',
      'demo/transaction/20220929',
      'demo/restaurants/20220926',
      'demo/restaurants/20220927',
    ])
      writeFileSync(join(curated, d, 'part-99999.parquet'), 'not parquet')
    const nasty = 'it\'s \\\' a "test" \\\\ with\nnewlines and {braces} -- no comment'
    const json = {
      ...PIPELINE,
      steps: [
        ...PIPELINE.steps,
        {
          fun: 'sql',
          out: 'echo',
          query: 'select {nasty} as v, count(*) as n from demo.restaurants where partition_0 = {yday}',
        },
        { fun: 'write', out: '../../out/pipelines/marts/echo', query: 'echo' },
        // RAW passed as a folder that does not exist: an empty view with the configured columns, as in DuckDB
        { fun: 'sql', out: 'none', query: 'select count(*) as n, max(id) as m from raw_demo.restaurants' },
        { fun: 'write', out: '../../out/pipelines/marts/none', query: 'none' },
      ],
    }
    const file = join(dir, 'delhi.py')
    writeFileSync(file, await script({ ...RUN_DATE, nasty }, json))
    const target = join(dir, 'out', 'delhi')
    const echo = join(dir, 'out', 'echo')
    const none = join(dir, 'out', 'none')
    const r = spawnSync(
      python,
      [
        file,
        '--curated',
        curated,
        '--raw',
        join(dir, 'no-raw'),
        '--target-4',
        target,
        '--target-6',
        echo,
        '--target-8',
        none,
      ],
      { encoding: 'utf8', timeout: 600_000, env: { ...process.env, PYSPARK_PYTHON: python } },
    )
    assert.equal(r.status, 0, r.stderr)
    const out = await readOutput(target)
    assert.deepEqual(out.partitions, GOLDEN.partitions)
    assert.deepEqual(out.rows, GOLDEN.rows)
    assert.deepEqual(
      (await readOutput(echo, 'v')).rows,
      [{ v: nasty, n: '4' }],
      'the parameter came through Spark as the same text',
    )
    assert.deepEqual((await readOutput(none, 'n')).rows, [{ n: '0', m: null }])
  })
})
