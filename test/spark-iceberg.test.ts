// The emitted Spark job on a tableFormat "iceberg" table, against cdc-apply on the same arrivals: the job writes the
// curated table through Spark's Iceberg catalog (org.apache.iceberg.spark.SparkCatalog, type hadoop, warehouse
// <curated>) with the cached Iceberg Spark runtime (CDC_APPLY_ICEBERG_SPARK_JAR), and RAW (an Iceberg table by
// default) through the catalog <name>_raw it derives from it (warehouse <raw>). Every tag d<YYYYMMDD> and the live
// table hold the rows of cdc-apply's own Iceberg table, and their snapshots carry the same cdc-apply summary
// properties; every RAW partition holds the rows of cdc-apply's, under the same schema (names, types, field ids) and
// partition spec; the watermark, the ledger and the tombstones equal cdc-apply's. The job refuses to start without
// the catalog. A hand-over (cdc-apply, state export, the job) continues cdc-apply's tables and equals one cdc-apply
// run; the other way (the job, state import, cdc-apply) cdc-apply continues the job's RAW partition of the
// watermark's date without losing or repeating a row, and compacts it.
// All job runs share ONE Spark session (test/python/spark_job_runs.py).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { verify } from '../src/check/verify.js'
import { StateStore, exportTable, importTable, type ProcessedFile } from '../src/state/index.js'
import { curatedSink } from '../src/curated-sink.js'
import * as A from 'apache-arrow'
import { emitSparkJob } from '../src/spark/emit-job.js'
import { checkRawHandover, readHandover, writeHandover } from '../src/spark/handover.js'
import { openStore } from '../src/store/open-store.js'
import { parquetRows, sortRows, tempDir, type Row } from './helpers/outputs.js'
import { listPartitions } from '../src/check/partitions.js'
import { openRawIceberg } from '../src/raw-iceberg.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const HARNESS = join(ROOT, 'test/python/spark_job_runs.py')
const PYTHON = process.env['CDC_APPLY_PYSPARK_PYTHON'] || 'python3'
const JAR = process.env['CDC_APPLY_ICEBERG_SPARK_JAR']
const CI = process.env['CI'] === 'true'
const TABLE = 'shop/items'
const tmp = tempDir('cdc-apply-spark-iceberg-')
let skipReason: string | undefined
let results: { exitCode: number; stdout: Record<string, unknown>[] }[] = []
let compared: {
  name: string
  tags: Record<string, { rows: number; summary: Record<string, string> }>
  errors: string[]
}[] = []

interface File {
  name: string
  lines: string[]
  mtime: string
}

const LOAD: File = {
  name: 'LOAD00000001.csv',
  lines: ['I,2024-06-10 08:00:00.000000,1,apple,1.5', 'I,2024-06-10 08:00:00.000000,2,pear,2'],
  mtime: '2024-06-10T08:00:00Z',
}
const C0610: File = {
  name: '20240610-100000000.csv',
  lines: ['U,2024-06-10 09:00:00.000000,1,apple v2,1.25', 'I,2024-06-10 09:00:01.000000,3,plum,3'],
  mtime: '2024-06-10T10:00:00Z',
}
const C0611: File = {
  name: '20240611-100000000.csv',
  lines: ['D,2024-06-11 09:00:00.000000,2,,', 'I,2024-06-11 09:00:01.000000,4,fig,4'],
  mtime: '2024-06-11T10:00:00Z',
}
// the second arrival: another file of 20240611 (the date is committed again, its tag moves), none of 20240612 (the
// tag of the current snapshot), and 20240613
const C0611B: File = {
  name: '20240611-120000000.csv',
  lines: ['U,2024-06-11 12:00:00.000000,4,fig v2,4.5', 'I,2024-06-11 12:00:01.000000,2,pear again,2.5'],
  mtime: '2024-06-11T12:00:00Z',
}
const C0613: File = {
  name: '20240613-100000000.csv',
  lines: ['D,2024-06-13 09:00:00.000000,1,,', 'I,2024-06-13 09:00:01.000000,5,kiwi,5'],
  mtime: '2024-06-13T10:00:00Z',
}

function landing(name: string, files: File[]): string {
  const root = join(tmp.path, 'landings', name)
  for (const f of files) {
    const p = join(root, TABLE, f.name)
    mkdirSync(dirname(p), { recursive: true })
    writeFileSync(p, f.lines.join('\n') + '\n')
    utimesSync(p, new Date(f.mtime), new Date(f.mtime))
  }
  return root
}

function configJson(dir: string): Record<string, unknown> {
  return {
    source: 'S',
    landing: join(tmp.path, 'landings'),
    raw: join(dir, 'raw'),
    curated: join(dir, 'curated'),
    state: join(dir, 'state.sqlite'),
    settleSeconds: 0,
    tableFormat: 'iceberg',
    tables: [
      {
        name: 'items',
        path: TABLE,
        includeOpForFullLoad: true,
        columns: [{ name: 'ts' }, { name: 'id', type: 'integer' }, { name: 'name' }, { name: 'price', type: 'double' }],
        primaryKey: ['id'],
        timestampColumn: 'ts',
      },
    ],
  }
}

const cli = join(tmp.path, 'cli')
const job = {
  raw: join(tmp.path, 'job/raw'),
  curated: join(tmp.path, 'job/curated'),
  state: join(tmp.path, 'job/state'),
}
const refusedOut = {
  raw: join(tmp.path, 'refused/raw'),
  curated: join(tmp.path, 'refused/curated'),
  state: join(tmp.path, 'refused/state'),
}

// the other way: the job on the first arrival, its state imported, cdc-apply on the second
const back = {
  dir: join(tmp.path, 'back'),
  raw: join(tmp.path, 'back/raw'),
  curated: join(tmp.path, 'back/curated'),
  state: join(tmp.path, 'back/job-state'),
}

const handed = {
  dir: join(tmp.path, 'handed'),
  raw: join(tmp.path, 'handed/raw'),
  curated: join(tmp.path, 'handed/curated'),
  state: join(tmp.path, 'handed/job-state'),
}

const folders = {
  raw: join(tmp.path, 'folders/raw'),
  curated: join(tmp.path, 'folders/curated'),
  state: join(tmp.path, 'folders/state'),
}

function catalog(name: string, warehouse: string): Record<string, string> {
  return {
    [`spark.sql.catalog.${name}`]: 'org.apache.iceberg.spark.SparkCatalog',
    [`spark.sql.catalog.${name}.type`]: 'hadoop',
    [`spark.sql.catalog.${name}.warehouse`]: `file://${warehouse}`,
  }
}

before(
  async () => {
    const probe = spawnSync(PYTHON, ['-c', 'import pyspark'], { encoding: 'utf8' })
    const why =
      probe.status !== 0
        ? `pyspark is not importable by ${PYTHON} (source /work/wt/env.sh or set CDC_APPLY_PYSPARK_PYTHON)`
        : !JAR || !existsSync(JAR)
          ? 'CDC_APPLY_ICEBERG_SPARK_JAR is not set to the Iceberg Spark runtime jar (bash scripts/setup-iceberg-spark.sh)'
          : undefined
    if (why !== undefined) {
      if (CI) assert.fail(`required in CI: ${why}`)
      skipReason = why
      return
    }
    const json = configJson(cli)
    const cfg = (j: Record<string, unknown>): Config => parseConfig(j, tmp.path)
    const jobPy = join(tmp.path, 'job.py')
    writeFileSync(jobPy, emitSparkJob(cfg(json)))
    const arrivals = [landing('a1', [LOAD, C0610, C0611]), landing('a2', [LOAD, C0610, C0611, C0611B, C0613])]
    for (const l of arrivals) {
      const s = await runOnce(cfg({ ...json, landing: l }))
      assert.equal(s.tables[0]!.error, undefined, s.tables[0]!.error?.message)
    }
    const argv = (l: string, out: typeof job, extra: string[] = []): string[] => [
      '--landing',
      l,
      '--raw',
      out.raw,
      '--curated',
      out.curated,
      '--state',
      out.state,
      ...extra,
    ]
    const runs = [
      // refused: no catalog of that name; a catalog whose warehouse is not the curated root
      { job: jobPy, argv: argv(arrivals[0]!, refusedOut, ['--iceberg-catalog', 'nocat']) },
      {
        job: jobPy,
        argv: argv(arrivals[0]!, refusedOut, ['--iceberg-catalog', 'elsewhere']),
        conf: catalog('elsewhere', join(tmp.path, 'elsewhere')),
      },
      ...arrivals.map((l) => ({
        job: jobPy,
        argv: argv(l, job, ['--iceberg-catalog', 'jobcat']),
        conf: catalog('jobcat', job.curated),
      })),
    ]
    // the hand-over: cdc-apply on the first arrival, its state exported, the job on the second (it continues
    // cdc-apply's Iceberg table from the tag of the watermark's date)
    {
      const s = await runOnce(cfg({ ...configJson(handed.dir), landing: arrivals[0]! }))
      assert.equal(s.tables[0]!.error, undefined, s.tables[0]!.error?.message)
      const st = StateStore.open(join(handed.dir, 'state.sqlite'))
      const h = exportTable(st, 'S', 'items', false)!
      st.close()
      const store = await openStore(handed.state, { baseDir: tmp.path })
      await writeHandover(store, h)
      await store.close()
      runs.push({
        job: jobPy,
        argv: argv(arrivals[1]!, handed, ['--iceberg-catalog', 'handedcat']),
        conf: catalog('handedcat', handed.curated),
      })
    }
    runs.push({
      job: jobPy,
      argv: argv(arrivals[0]!, back, ['--iceberg-catalog', 'backcat']),
      conf: catalog('backcat', back.curated),
    })
    // an existing deployment: the table was run by a job emitted with RAW date folders (iceberg.raw false); the job
    // emitted with the default (RAW Iceberg) refuses to continue it in a second RAW layout
    const foldersPy = join(tmp.path, 'job-folders.py')
    writeFileSync(foldersPy, emitSparkJob(cfg({ ...json, iceberg: { raw: false } })))
    runs.push(
      {
        job: foldersPy,
        argv: argv(arrivals[0]!, folders, ['--iceberg-catalog', 'folderscat']),
        conf: catalog('folderscat', folders.curated),
      },
      { job: jobPy, argv: argv(arrivals[1]!, folders, ['--iceberg-catalog', 'folderscat']) },
    )
    const side = (root: string): object => ({ warehouse: `file://${root}`, namespace: 'S', table: 'items' })
    const plan = {
      runs,
      jars: JAR,
      iceberg: [
        { name: 'job vs cdc-apply', a: side(job.curated), b: side(join(cli, 'curated')) },
        { name: 'cdc-apply then the job vs cdc-apply', a: side(handed.curated), b: side(join(cli, 'curated')) },
      ],
    }
    writeFileSync(join(tmp.path, 'plan.json'), JSON.stringify(plan))
    const r = spawnSync(
      PYTHON,
      [HARNESS, join(tmp.path, 'plan.json'), join(tmp.path, 'results.json'), join(tmp.path, 'compared.json')],
      { encoding: 'utf8', timeout: 1_800_000, env: { ...process.env, PYSPARK_PYTHON: PYTHON }, maxBuffer: 1 << 28 },
    )
    assert.equal(r.status, 0, `the Spark harness failed: ${r.stderr.split('\n').slice(-40).join('\n')}`)
    results = JSON.parse(readFileSync(join(tmp.path, 'results.json'), 'utf8')) as typeof results
    compared = JSON.parse(readFileSync(join(tmp.path, 'compared.json'), 'utf8')) as typeof compared
  },
  { timeout: 2_400_000 },
)

function ledgerForm(files: ProcessedFile[]): string[] {
  return files
    .map((f) =>
      JSON.stringify([f.file, f.key, f.date, f.size, f.etag, f.checksum, f.rows, f.inserts, f.updates, f.deletes]),
    )
    .sort()
}

test('the job refuses to start without the Iceberg catalog (CDC_SPARK_UNSUPPORTED, exit 2), writing nothing', (t) => {
  if (skipReason !== undefined) return t.skip(skipReason)
  for (const [k, what] of [
    [0, 'spark.sql.catalog.nocat is null'],
    [1, 'warehouse is'],
  ] as const) {
    const r = results[k]!
    assert.equal(r.exitCode, 2, JSON.stringify(r.stdout))
    assert.equal(r.stdout[0]?.['code'], 'CDC_SPARK_UNSUPPORTED')
    assert.ok(String(r.stdout[0]?.['message']).includes(what), String(r.stdout[0]?.['message']))
  }
  for (const d of Object.values(refusedOut)) assert.ok(!existsSync(d), `${d} was not written`)
  assert.ok(!existsSync(join(tmp.path, 'elsewhere')), 'nothing went to the other warehouse')
})

test("the job's Iceberg table equals cdc-apply's: every tag, the live table, the snapshot summaries", async (t) => {
  if (skipReason !== undefined) return t.skip(skipReason)
  for (const r of results.slice(2, 4)) assert.equal(r.exitCode, 0, JSON.stringify(r.stdout))
  const c = compared[0]!
  assert.deepEqual(c.errors, [], JSON.stringify(c))
  assert.deepEqual(Object.keys(c.tags).sort(), ['d20240610', 'd20240611', 'd20240612', 'd20240613', 'main'])
  assert.deepEqual(c.tags['d20240611']!.summary, {
    'cdc-apply.date': '20240611',
    'cdc-apply.lpf': '20240611-120000000',
    'cdc-apply.full-load': 'true',
  })
  assert.deepEqual(c.tags['d20240612']!.summary, c.tags['d20240611']!.summary, 'a date without files: its tag only')
  // RAW: the same rows in every partition, the same schema (ids, types) and spec; one snapshot per date written,
  // with cdc-apply's summary; data files named as cdc-apply names a write's parts, without partition_0
  const want = await rawRows(join(cli, 'raw'))
  assert.deepEqual(Object.keys(want), ['20240610', '20240611', '20240613'])
  assert.deepEqual(await rawRows(job.raw), want, 'RAW')
  const [jm, cm] = [rawMeta(job.raw), rawMeta(join(cli, 'raw'))]
  assert.deepEqual(jm.schema, cm.schema, 'RAW schema')
  assert.deepEqual(jm.spec, cm.spec, 'RAW partition spec')
  assert.deepEqual(
    jm.snapshots.map((x) => [
      x.summary['cdc-apply.date'],
      x.summary['cdc-apply.raw-write'],
      x.summary['cdc-apply.raw-files'],
    ]),
    [
      ['20240610', 'LOAD00000001-20240610-100000000', '2'],
      ['20240611', '20240611-100000000-20240611-100000000', '1'],
      ['20240611', '20240611-100000000-20240611-120000000', '2'],
      ['20240613', '20240613-100000000-20240613-100000000', '1'],
    ],
  )
  for (const f of jm.files) assert.match(f, /^partition_0=\d{8}\/part-[0-9A-Z-]+-[0-9a-f]{8}-\d{5}\.parquet$/)
  const anyPart = join(job.raw, 'S', 'items', 'data', jm.files.at(-1)!)
  assert.ok(
    !Object.keys(parquetRows(readFileSync(anyPart))[0] ?? {}).includes('partition_0'),
    'no partition_0 in files',
  )
  const st = StateStore.open(join(cli, 'state.sqlite'))
  const store = await openStore(job.state, { baseDir: tmp.path })
  try {
    const ref = exportTable(st, 'S', 'items', false)!
    const h = (await readHandover(store, 'S', 'items'))!
    assert.deepEqual(h.watermark, ref.watermark, 'watermark')
    assert.deepEqual(ledgerForm(h.ledger), ledgerForm(ref.ledger), 'ledger')
    const tomb = (x: { key: string; file: string; row: number }): string => `${x.key}@${x.file}:${x.row}`
    assert.deepEqual(h.tombstones.map(tomb).sort(), ref.tombstones.map(tomb).sort(), 'tombstones')
  } finally {
    st.close()
    await store.close()
  }
})

test("cdc-apply then the job (state export): the job continues cdc-apply's Iceberg table from its tag", async (t) => {
  if (skipReason !== undefined) return t.skip(skipReason)
  const r = results[4]!
  assert.equal(r.exitCode, 0, JSON.stringify(r.stdout))
  const c = compared[1]!
  assert.deepEqual(c.errors, [], JSON.stringify(c))
  assert.deepEqual(Object.keys(c.tags).sort(), ['d20240610', 'd20240611', 'd20240612', 'd20240613', 'main'])
  assert.deepEqual(await rawRows(handed.raw), await rawRows(join(cli, 'raw')), 'RAW')
  const st = StateStore.open(join(cli, 'state.sqlite'))
  const store = await openStore(handed.state, { baseDir: tmp.path })
  try {
    const ref = exportTable(st, 'S', 'items', false)!
    const h = (await readHandover(store, 'S', 'items'))!
    assert.deepEqual(h.watermark, ref.watermark, 'watermark')
    assert.deepEqual(ledgerForm(h.ledger), ledgerForm(ref.ledger), 'ledger')
  } finally {
    st.close()
    await store.close()
  }
})

test("the job then cdc-apply (state import): verify holds on the job's Iceberg table, cdc-apply continues it (Hadoop's paths, Java's 63-bit snapshot ids), every tag equals one cdc-apply run", async (t) => {
  if (skipReason !== undefined) return t.skip(skipReason)
  assert.equal(results[5]!.exitCode, 0, JSON.stringify(results[5]!.stdout))
  const st = StateStore.open(join(back.dir, 'state.sqlite'))
  const store = await openStore(back.state, { baseDir: tmp.path })
  try {
    const h = (await readHandover(store, 'S', 'items'))!
    const c = parseConfig({ ...configJson(back.dir), landing: landing('a2', []) }, tmp.path)
    // the RAW partition of the watermark's date must hold exactly the parts watermark.json names: a hand-over
    // naming none (an older version's, or a job stopped between its RAW commit and watermark.json) is refused
    assert.deepEqual(h.raw?.date, '20240611')
    await assert.rejects(
      checkRawHandover(c, c.tables[0]!, { ...h, raw: undefined }),
      (e: Error & { code?: string }) =>
        e.code === 'CDC_HANDOVER_INVALID' && /partition_0=20240611 holds 1 file/.test(e.message),
    )
    await checkRawHandover(c, c.tables[0]!, h)
    importTable(st, h, 0)
  } finally {
    st.close()
    await store.close()
  }
  const metaDir = join(back.curated, 'S', 'items', 'metadata')
  const jobIds =
    readFileSync(
      join(metaDir, `v${readFileSync(join(metaDir, 'version-hint.text'), 'utf8').trim()}.metadata.json`),
      'utf8',
    ).match(/"snapshot-id" *: *\d{16,}/g) ?? []
  assert.ok(jobIds.length > 0, 'the job wrote 63-bit snapshot ids')
  const backConfig = parseConfig({ ...configJson(back.dir), landing: landing('a2', []) }, tmp.path)
  // verify on the job's outputs (its Iceberg tags recomputed from its RAW), before and after cdc-apply continues
  const checked = async (when: string): Promise<void> => {
    const v = await verify(backConfig, { record: false })
    const t0 = v.tables[0]!
    assert.equal(
      v.verdict,
      'equal',
      `${when}: ${t0.error?.message ?? JSON.stringify(t0.dates.filter((d) => d.verdict !== 'equal'))}`,
    )
    assert.ok(t0.dates.length >= 2, `${when}: ${t0.dates.length} dates checked`)
  }
  await checked('the job’s table')
  const s = await runOnce(backConfig)
  assert.equal(s.tables[0]!.error, undefined, s.tables[0]!.error?.message)
  await checked('continued by cdc-apply')
  // cdc-apply's own write of 20240611 (before the compaction that closing the date made) kept the job's parts: its
  // snapshot's partition holds the whole date, although the job named its files by Hadoop's file:/ paths
  {
    const rawStore = await openStore(back.raw, { baseDir: tmp.path })
    try {
      const ice = await openRawIceberg(rawStore, 'S', 'items', backConfig, undefined)
      const write = ice
        .meta!.snapshots.filter(
          (x) => x.summary['cdc-apply.date'] === '20240611' && x.summary['cdc-apply.raw-compaction'] === undefined,
        )
        .at(-1)!
      const rows: Row[] = []
      for (const e of (await ice.files(write)).data)
        if (e.data_file.partition['partition_0'] === '20240611')
          rows.push(...parquetRows(await rawStore.get(ice.keyOf(e.data_file.file_path))))
      assert.deepEqual(sortRows(rows), (await rawRows(join(cli, 'raw')))['20240611'], "cdc-apply's write of 20240611")
    } finally {
      await rawStore.close()
    }
  }
  const tagRows = async (root: string): Promise<Record<string, string[]>> => {
    const c = parseConfig(configJson(root), tmp.path)
    const sink = curatedSink(c, c.tables[0]!, await openStore(join(root, 'curated'), { baseDir: tmp.path }))
    const out: Record<string, string[]> = {}
    for (const d of ['20240610', '20240611', '20240612', '20240613']) {
      const table = await sink.read(d)
      out[d] = table ? rowsOf(table) : []
    }
    return out
  }
  const want = await tagRows(cli)
  assert.ok(want['20240613']!.length > 0)
  assert.deepEqual(await tagRows(back.dir), want)
  // the job's parts of 20240611 (the watermark's date) were imported as committed: cdc-apply's write of the date kept
  // them, and once 20240613 closed the date its compaction read them with cdc-apply's own parts (same types)
  assert.deepEqual(await rawRows(back.raw), await rawRows(join(cli, 'raw')), 'RAW')
  const live = (
    await listPartitions(await openStore(back.raw, { baseDir: tmp.path }), { source: 'S', name: 'items' })
  ).get('20240611')!
  assert.ok(live.length > 0 && live.every((k) => /-c\d{5}\.parquet$/.test(k)), `20240611 compacted: ${live.join(', ')}`)
})

/** A table's rows as sorted JSON lines (content, not bytes). */
function rowsOf(table: A.Table): string[] {
  return table
    .toArray()
    .map((r) => JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)))
    .sort()
}

test('the job refuses a table whose RAW is date folders of an earlier run (CDC_RAW_LAYOUT_CHANGED, exit 2), writing nothing', async (t) => {
  if (skipReason !== undefined) return t.skip(skipReason)
  assert.equal(results[6]!.exitCode, 0, JSON.stringify(results[6]!.stdout))
  const dir = join(folders.raw, 'S', 'items')
  assert.deepEqual(readdirSync(dir).sort(), ['20240610', '20240611'])
  const r = results[7]!
  assert.equal(r.exitCode, 2, JSON.stringify(r.stdout))
  assert.equal(r.stdout[0]?.['code'], 'CDC_RAW_LAYOUT_CHANGED')
  assert.match(
    String(r.stdout[0]?.['message']),
    /table S\.items: its RAW .* is Parquet date folders \(20240610\.\.20240611\)/,
  )
  assert.deepEqual(readdirSync(dir).sort(), ['20240610', '20240611'], 'no RAW Iceberg table was started')
  const store = await openStore(folders.state, { baseDir: tmp.path })
  try {
    assert.equal((await readHandover(store, 'S', 'items'))!.watermark.lpf, '20240611-100000000', 'the watermark stayed')
  } finally {
    await store.close()
  }
})

/** A RAW Iceberg table's rows by date (the current snapshot's files of each partition_0), as cdc-apply reads them. */
async function rawRows(root: string): Promise<Record<string, Row[]>> {
  const store = await openStore(root, { baseDir: tmp.path })
  try {
    const out: Record<string, Row[]> = {}
    for (const [date, keys] of await listPartitions(store, { source: 'S', name: 'items' })) {
      const rows: Row[] = []
      for (const k of keys) rows.push(...parquetRows(await store.get(k)))
      out[date] = sortRows(rows)
    }
    return out
  } finally {
    await store.close()
  }
}

/** A RAW Iceberg table's current metadata: its schema as [name, id, type], its partition spec, its snapshots. */
function rawMeta(root: string): {
  schema: [string, number, unknown][]
  spec: unknown
  snapshots: { summary: Record<string, string> }[]
  files: string[]
} {
  const dir = join(root, 'S', 'items', 'metadata')
  const n = Math.max(...readdirSync(dir).map((f) => Number(/^v(\d+)\.metadata\.json$/.exec(f)?.[1] ?? 0)))
  const m = JSON.parse(
    readFileSync(join(dir, `v${n}.metadata.json`), 'utf8').replace(/"snapshot-id" *: *(\d+)/g, '"snapshot-id":"$1"'),
  ) as {
    'current-schema-id': number
    'default-spec-id': number
    schemas: { 'schema-id': number; fields: { name: string; id: number; type: unknown }[] }[]
    'partition-specs': { 'spec-id': number; fields: unknown[] }[]
    snapshots: { summary: Record<string, string> }[]
  }
  const cur = m.schemas.find((x) => x['schema-id'] === m['current-schema-id'])!
  const files: string[] = []
  for (const d of readdirSync(join(root, 'S', 'items', 'data')))
    for (const f of readdirSync(join(root, 'S', 'items', 'data', d)))
      if (f.endsWith('.parquet')) files.push(`${d}/${f}`)
  return {
    schema: cur.fields.map((f) => [f.name, f.id, f.type]),
    spec: m['partition-specs'].find((x) => x['spec-id'] === m['default-spec-id'])!.fields,
    snapshots: m.snapshots,
    files,
  }
}

after(() => tmp.remove())
