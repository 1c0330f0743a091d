// RAW as an Iceberg table (tableFormat "iceberg" with iceberg.raw): the same input run with plain RAW date folders
// and with the RAW Iceberg table gives the same rows per date (content, not bytes), read by cdc-apply's reader and by
// pyiceberg (with a partition filter, so the manifests' partition values and summaries are used); writes are
// appends, closed dates are compacted by replace snapshots, a reprocess overwrites each date it rewrites; a crash
// between the RAW snapshot and the watermark commit, and one inside a compaction, leave the same table after a rerun.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { verify } from '../src/check/verify.js'
import { snapshotAsOf } from '../src/check/snapshot.js'
import { LocalStore } from '../src/store/local-store.js'
import { IcebergTable } from '../src/iceberg/table.js'
import { decodeManifest, decodeManifestList } from '../src/iceberg/avro.js'
import { storeUri } from '../src/iceberg-sink.js'
import { RAW_PARTITION } from '../src/raw-iceberg.js'
import { generate, benchConfig, DEFAULT_GEN } from '../scripts/bench/gen.js'
import { parquetRows, readOutputTree, sortRows, tempDir, type Row } from './helpers/outputs.js'
import { runStream, type TwinRun } from './helpers/iceberg-cases.js'
import { seeds } from './helpers/random.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = join(root, 'bin', 'cdc-apply.js')
const CHECK = fileURLToPath(new URL('../../test/python/raw_iceberg_check.py', import.meta.url))

const tmp = tempDir('cdc-raw-iceberg-')
test.after(tmp.remove)

/** Rows without their NULL values (a part written before a column was added lacks it), sorted. */
const canon = (rows: Row[]): Row[] =>
  sortRows(rows.map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== null))))

/** The plain RAW layout's rows of a table by date. */
function plainRaw(rawRoot: string, table: string): Record<string, Row[]> {
  const out: Record<string, Row[]> = {}
  for (const [key, rows] of Object.entries(readOutputTree(rawRoot)))
    if (key.startsWith(table + '/')) out[key.slice(table.length + 1)] = canon(rows)
  return out
}

async function openRaw(rawRoot: string, table: string): Promise<IcebergTable> {
  const store = new LocalStore(rawRoot)
  return IcebergTable.open(store, table, `${storeUri(store)}/${table}`, table)
}

/** The RAW Iceberg table's live rows by partition value, read with cdc-apply's reader. */
async function icebergRaw(rawRoot: string, table: string): Promise<Record<string, Row[]>> {
  const ice = await openRaw(rawRoot, table)
  const snap = ice.current()
  assert.ok(snap, `${table}: the RAW Iceberg table has a snapshot`)
  const out: Record<string, Row[]> = {}
  for (const e of (await ice.files(snap)).data) {
    const date = e.data_file.partition[RAW_PARTITION]
    assert.ok(typeof date === 'string', `${e.data_file.file_path} has a partition value`)
    assert.ok(e.data_file.file_path.includes(`/data/${RAW_PARTITION}=${date}/`), e.data_file.file_path)
    ;(out[date] ??= []).push(...parquetRows(readFileSync(fileURLToPath(e.data_file.file_path))))
  }
  for (const k of Object.keys(out)) out[k] = canon(out[k]!)
  return out
}

/** RAW by date equal to another (no deep diff of thousands of rows: the first differing date and its counts). */
function sameRaw(got: Record<string, Row[]>, want: Record<string, Row[]>, what: string): void {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${what}: dates`)
  for (const d of Object.keys(want)) {
    const [g, w] = [got[d]!, want[d]!]
    assert.ok(
      g.length === w.length && JSON.stringify(g) === JSON.stringify(w),
      `${what} ${d}: ${g.length} rows, want ${w.length}`,
    )
  }
}

const rawRoots = (run: TwinRun): { plain: string; iceberg: string } => ({
  plain: join(dirname(run.plain), 'raw'),
  iceberg: join(dirname(run.iceberg), 'raw'),
})

/** The spec's partition metadata: an identity spec on partition_0 (field id 1000) and manifest-list summaries. */
async function checkPartitionMetadata(rawRoot: string, table: string): Promise<void> {
  const ice = await openRaw(rawRoot, table)
  const meta = ice.meta!
  const source = meta.schemas.at(-1)!.fields.find((f) => f.name === RAW_PARTITION)
  assert.ok(source, 'partition_0 is a column of the schema')
  assert.deepEqual(meta['partition-specs'], [
    {
      'spec-id': 0,
      fields: [{ name: RAW_PARTITION, transform: 'identity', 'source-id': source.id, 'field-id': 1000 }],
    },
  ])
  assert.equal(meta['last-partition-id'], 1000)
  const snap = ice.current()!
  const files = await ice.files(snap)
  const lists = await decodeManifestList(readFileSync(fileURLToPath(snap['manifest-list'])))
  for (const m of lists.filter((l) => l.content === 0)) {
    assert.equal(m.partitions?.length, 1, `${m.manifest_path} summarises its partition field`)
    const s = m.partitions[0]!
    assert.equal(s.contains_null, false)
    assert.ok(s.lower_bound && s.upper_bound && String(s.lower_bound) <= String(s.upper_bound))
  }
  // every snapshot's manifests (spec "Manifests"): the partition struct of the spec's field, the spec in the header,
  // counts that match the entries, EXISTING entries with their sequence numbers written (only ADDED may inherit)
  for (const sn of meta.snapshots) {
    for (const m of await decodeManifestList(readFileSync(fileURLToPath(sn['manifest-list'])))) {
      const bytes = readFileSync(fileURLToPath(m.manifest_path))
      const { entries, meta: header } = await decodeManifest(bytes)
      assert.deepEqual(JSON.parse(header['partition-spec']!), meta['partition-specs'][0]!.fields)
      const schema = JSON.parse(header['avro.schema']!) as { fields: { name: string; type: unknown }[] }
      const df = schema.fields.find((f) => f.name === 'data_file')!.type as {
        fields: { name: string; type: { fields?: { name: string; 'field-id': number }[] } }[]
      }
      const part = df.fields.find((f) => f.name === 'partition')!.type.fields!
      assert.deepEqual(
        part.map((f) => [f.name, f['field-id']]),
        [[RAW_PARTITION, 1000]],
      )
      const count = (st: number): number => entries.filter((e) => e.status === st).length
      assert.deepEqual(
        [m.added_files_count, m.existing_files_count, m.deleted_files_count],
        [count(1), count(0), count(2)],
      )
      for (const e of entries) {
        assert.ok(/^\d{8}$/.test(e.data_file.partition[RAW_PARTITION] ?? ''), 'each entry has its date')
        if (e.status !== 1) assert.ok(e.sequence_number !== null && e.file_sequence_number !== null)
      }
    }
  }
  const dates = files.data.map((e) => e.data_file.partition[RAW_PARTITION]!).sort()
  const lo = lists.map((m) => String(m.partitions?.[0]?.lower_bound)).sort()[0]
  assert.equal(lo, dates[0], 'the lowest lower bound is the lowest date')
}

function python(): string | undefined {
  const p = process.env['CDC_APPLY_PYICEBERG_PYTHON']
  if (!p || !existsSync(p)) return undefined
  return spawnSync(p, ['-c', 'import pyiceberg'], { encoding: 'utf8' }).status === 0 ? p : undefined
}

/** The jobs of the tests below, for the Spark test at the end. */
const sparkJobs: object[] = []

/** pyiceberg reads every partition (row filter partition_0 = date) and the whole table; each equals the plain RAW. */
function pyicebergCheck(t: { skip: (m: string) => void }, jobs: object[]): void {
  const py = python()
  if (!py) {
    if (process.env['CI']) assert.fail('CDC_APPLY_PYICEBERG_PYTHON is not set up (scripts/setup-pyiceberg.sh)')
    t.skip('pyiceberg not installed: scripts/setup-pyiceberg.sh, then CDC_APPLY_PYICEBERG_PYTHON')
    return
  }
  const file = join(tmp.path, `jobs-${Date.now()}.json`)
  writeFileSync(file, JSON.stringify(jobs))
  sparkJobs.push(jobs[0]!)
  const r = spawnSync(py, [CHECK, file], { encoding: 'utf8', timeout: 600_000 })
  assert.equal(r.status, 0, `pyiceberg check failed:\n${r.stdout}\n${r.stderr}`)
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { name: string; dates: number; errors: string[] })
  assert.equal(lines.length, jobs.length)
  for (const l of lines) {
    assert.deepEqual(l.errors, [], l.name)
    assert.ok(l.dates > 0, `${l.name}: some dates were checked`)
  }
}

test('RAW Iceberg tables hold the plain RAW rows per date (cdc-apply reader and pyiceberg), appends and replace snapshots', async (t) => {
  const jobs: object[] = []
  const ops = new Set<string>()
  for (const seed of seeds(2)) {
    const run = await runStream(seed, join(tmp.path, `seed-${seed}`), { raw: true })
    const roots = rawRoots(run)
    for (const table of run.tables) {
      const plain = plainRaw(roots.plain, table)
      assert.ok(Object.keys(plain).length > 0)
      sameRaw(await icebergRaw(roots.iceberg, table), plain, `seed ${seed} ${table}`)
      assert.ok(!existsSync(join(roots.iceberg, table, Object.keys(plain)[0]!)), 'no plain date folder')
      await checkPartitionMetadata(roots.iceberg, table)
      const ice = await openRaw(roots.iceberg, table)
      for (const s of ice.meta!.snapshots) ops.add(s.summary.operation!)
      const [ns, name] = table.split('/')
      jobs.push({
        name: `seed ${seed} ${table}`,
        table: join(roots.iceberg, ns!, name!),
        plain: join(roots.plain, table),
      })
    }
  }
  // several arrivals: writes append; a date closed after more than one write is compacted (replace)
  assert.ok(ops.has('append'), [...ops].join())
  assert.ok(ops.has('replace'), [...ops].join())
  pyicebergCheck(t, jobs)
})

const TABLE = 'shop/items'
const LOAD = 'I,2024-06-10 08:00:00.000000,1,apple\nI,2024-06-10 08:00:00.000000,2,pear\n'

test('a reprocess overwrites each date it rewrites in one snapshot; the RAW Iceberg table equals the plain RAW', async (t) => {
  const dir = join(tmp.path, 'late')
  const landing = join(dir, 'landing')
  const put = (name: string, text: string): void => {
    const p = join(landing, TABLE, name)
    mkdirSync(dirname(p), { recursive: true })
    writeFileSync(p, text)
  }
  const config = (format: 'parquet' | 'iceberg', lateFiles?: string): ReturnType<typeof parseConfig> =>
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
    for (const f of ['parquet', 'iceberg'] as const) {
      const r = (await runOnce(config(f, lateFiles))).tables[0]!
      assert.equal(r.error, undefined, `${f}: ${r.error?.message}`)
    }
  }
  put('LOAD00000001.csv', LOAD)
  put('20240610-100000000.csv', 'U,2024-06-10 09:59:00.000000,1,apple v2\n')
  put('20240611-100000000.csv', 'U,2024-06-11 09:59:00.000000,2,pear v2\n')
  await both()
  const before = (await openRaw(join(dir, 'iceberg', 'raw'), 'S/items')).meta!.snapshots.length
  put('20240610-120000000.csv', 'U,2024-06-10 11:59:00.000000,1,apple v3\n')
  await both('reprocess')
  const plain = plainRaw(join(dir, 'parquet', 'raw'), 'S/items')
  assert.equal(plain['20240610']!.length, 4, 'the late file is in RAW')
  sameRaw(await icebergRaw(join(dir, 'iceberg', 'raw'), 'S/items'), plain, 'after the reprocess')
  const v = await verify(config('iceberg'), { record: false })
  assert.equal(v.verdict, 'equal', JSON.stringify(v.tables[0]!.error ?? v.tables[0]!.columns))
  const p = (await verify(config('parquet'), { record: false })).tables[0]!
  assert.deepEqual(
    [v.tables[0]!.rawDates, v.tables[0]!.rawRows],
    [p.rawDates, p.rawRows],
    'verify reads the same RAW dates and rows from the Iceberg table',
  )
  assert.ok(p.rawRows > 0)
  // snapshot --as-of a time rebuilds from RAW: the same rows and RAW dates from the Iceberg table
  const asOf: Record<string, unknown> = {}
  for (const f of ['parquet', 'iceberg'] as const) {
    const out = join(dir, `as-of-${f}.parquet`)
    const r = await snapshotAsOf(config(f), { table: 'S.items', asOf: '2024-06-11 12:00:00', out })
    assert.equal(r.kind, 'time')
    asOf[f] = { dates: r.datesRead, raw: r.rawRows, rows: sortRows(parquetRows(readFileSync(out))) }
  }
  assert.deepEqual(asOf['iceberg'], asOf['parquet'], 'snapshot --as-of reads RAW from the Iceberg table')
  assert.equal((asOf['parquet'] as { dates: string[] }).dates.length, 2)
  const ice = await openRaw(join(dir, 'iceberg', 'raw'), 'S/items')
  const after = ice.meta!.snapshots.slice(before)
  // the rebuild rewrites both dates: one overwrite snapshot each, removing the date's earlier files only
  assert.deepEqual(
    after.map((s) => [s.summary['cdc-apply.date'], s.summary.operation]),
    [
      ['20240610', 'overwrite'],
      ['20240611', 'overwrite'],
    ],
  )
  for (const s of after) assert.equal(s.summary['deleted-data-files'], '1', JSON.stringify(s.summary))
  pyicebergCheck(t, [
    { name: 'late', table: join(dir, 'iceberg', 'raw', 'S', 'items'), plain: join(dir, 'parquet', 'raw', 'S/items') },
  ])
})

// Crash safety at the new boundaries: killed after the RAW snapshot but before the watermark (the rerun must not
// append the date's rows twice), and inside a compaction after its replace snapshot, before the state file's commit.
const CRASH_POINTS = ['after-raw-iceberg-commit', 'before-compaction-commit', 'iceberg-before-metadata'] as const

test('a crash at a RAW Iceberg boundary and a rerun give the same RAW rows as an uninterrupted run', async () => {
  const src = join(tmp.path, 'gen')
  const gen = generate({ ...DEFAULT_GEN, dir: src, changes: 600, keys: 100, rowsPerFile: 100, dates: 3 })
  const keys = gen.files.map((f) => f.key)
  // cut inside the second date's files: that date gets two writes, and the second run compacts it once it closes
  const second = gen.files.filter((f) => f.date === [...new Set(gen.files.map((g) => g.date))].sort()[1])
  const cut = gen.files.indexOf(second[Math.floor(second.length / 2)]!)
  assert.ok(second.length >= 2 && cut > 0)
  const arrivals = [keys.slice(0, cut), keys.slice(cut)]
  const setup = (name: string): { dir: string; landing: string; cfg: string } => {
    const dir = join(tmp.path, name)
    rmSync(dir, { recursive: true, force: true })
    const landing = join(dir, 'landing')
    mkdirSync(landing, { recursive: true })
    const cfg = join(dir, 'c.json')
    const base = benchConfig(landing, join(dir, 'out'), 'csv')
    writeFileSync(cfg, JSON.stringify({ ...base, tableFormat: 'iceberg', iceberg: { raw: true } }))
    return { dir, landing, cfg }
  }
  const deliver = (landing: string, files: string[]): void => {
    for (const k of files) {
      mkdirSync(dirname(join(landing, k)), { recursive: true })
      copyFileSync(join(src, k), join(landing, k))
    }
  }
  const run = (cfg: string, env: Record<string, string> = {}): { status: number | null; signal: string | null } =>
    spawnSync(process.execPath, [bin, 'run', '-c', cfg, '--log-level', 'warn'], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    })
  const rawOf = (dir: string): Promise<Record<string, Row[]>> => icebergRaw(join(dir, 'out', 'raw'), 'BENCH/orders')
  const clean = setup('clean')
  for (const a of arrivals) {
    deliver(clean.landing, a)
    assert.equal(run(clean.cfg).status, 0)
  }
  const want = await rawOf(clean.dir)
  assert.ok(Object.keys(want).length >= 3, 'the run wrote several dates')
  for (const point of CRASH_POINTS) {
    const c = setup(`crash-${point}`)
    let killed = false
    for (const a of arrivals) {
      deliver(c.landing, a)
      // the second arrival closes the first's last date: a compaction runs after its first commit
      const r = run(c.cfg, { CDC_APPLY_FAULT: `${point}:1` })
      if (r.signal === 'SIGKILL') killed = true
      else assert.equal(r.status, 0)
      if (r.signal === 'SIGKILL') assert.equal(run(c.cfg).status, 0)
    }
    assert.ok(killed, `${point} was reached`)
    sameRaw(await rawOf(c.dir), want, point)
  }
})

test("Spark 3.5 with the Iceberg runtime reads each RAW partition (WHERE partition_0 = '<date>') as the plain RAW", (t) => {
  const py = process.env['CDC_APPLY_PYSPARK_PYTHON']
  const jar = process.env['CDC_APPLY_ICEBERG_SPARK_JAR']
  const usable = py && existsSync(py) && jar && existsSync(jar) && spawnSync(py, ['-c', 'import pyspark']).status === 0
  if (!usable) {
    if (process.env['CI']) assert.fail('CDC_APPLY_PYSPARK_PYTHON and CDC_APPLY_ICEBERG_SPARK_JAR are required in CI')
    return t.skip(
      'PySpark or the Iceberg Spark runtime is not set up (scripts/setup-pyspark.sh, setup-iceberg-spark.sh)',
    )
  }
  assert.ok(sparkJobs.length > 0, 'the tests above made RAW Iceberg tables')
  const file = join(tmp.path, 'spark-jobs.json')
  writeFileSync(file, JSON.stringify(sparkJobs))
  const r = spawnSync(py, [CHECK, file, 'spark', jar], {
    encoding: 'utf8',
    timeout: 900_000,
    env: { ...process.env, PYSPARK_PYTHON: py },
  })
  assert.equal(r.status, 0, `Spark check failed:\n${r.stdout}\n${r.stderr.slice(-3000)}`)
  const lines = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { name: string; dates: number; errors: string[] })
  assert.equal(lines.length, sparkJobs.length)
  for (const l of lines) {
    assert.deepEqual(l.errors, [], l.name)
    assert.ok(l.dates > 0, l.name)
  }
})
