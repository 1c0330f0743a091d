// Rolling merge-on-read commits within a date (src/iceberg/roll.ts): many warm polls on one date, with deletes and
// updates of rows the date's earlier polls inserted (the tail) and re-inserts of deleted keys, leave a bounded number
// of live data and delete files, each delete file naming one data file (referenced_data_file and the file_path
// bounds), and the table equals the plain layout's date folder at every poll, read by cdc-apply's reader and, when
// installed, by pyiceberg every 10 polls (CDC_APPLY_PYICEBERG_PYTHON, scripts/setup-pyiceberg.sh) and Spark after
// the last (CDC_APPLY_PYSPARK_PYTHON, CDC_APPLY_ICEBERG_SPARK_JAR).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce, type TableMemory } from '../src/run.js'
import { LocalStore } from '../src/store/local-store.js'
import { IcebergTable } from '../src/iceberg/table.js'
import { readDeletes, FILE_PATH_ID } from '../src/iceberg/deletes.js'
import { storeUri } from '../src/iceberg-sink.js'
import { BENCH_COLUMNS, benchConfig } from '../scripts/bench/gen.js'
import { readOutputTree, tempDir } from './helpers/outputs.js'
import { tableRows } from './helpers/iceberg-cases.js'
import { Rng } from './helpers/random.js'

const CHECK = fileURLToPath(new URL('../../test/python/iceberg_check.py', import.meta.url))
const PY = process.env['CDC_APPLY_PYICEBERG_PYTHON']

const tmp = tempDir('cdc-iceberg-roll-')
test.after(tmp.remove)

const ROWS = 2000
const row = (op: string, ts: string, id: number, i: number): string =>
  op === 'D'
    ? `D,${ts},${id},,,,,,,,`
    : `${op},${ts},${id},${i % 1000},${i % 100000}.25,C${i % 50},Name ${i % 977},"note, ${i}",delhi,${(i % 10000) / 100},2021-01-0${1 + (i % 9)}`

function config(dir: string, land: string, format: 'parquet' | 'iceberg', extra: object, table: object = {}): Config {
  const json = benchConfig(land, join(dir, format), 'csv') as { tables: object[] }
  const tables = json.tables.map((t) => ({ ...t, ...table }))
  return parseConfig({ ...json, tables, tableFormat: format, ...extra }, dir)
}

async function open(c: Config): Promise<IcebergTable> {
  const store = new LocalStore(c.curated)
  return IcebergTable.open(store, 'BENCH/orders', `${storeUri(store)}/BENCH/orders`, 'BENCH.orders')
}

/** One poll's changes: updates and deletes of live keys (half of them keys the date's polls inserted), inserts of new and of deleted keys. */
function changes(
  rng: Rng,
  live: Set<number>,
  recent: number[],
  dead: number[],
  next: { id: number },
  n: number,
): number[][] {
  const out: number[][] = []
  const touched = new Set<number>()
  const pick = (from: number[]): number | undefined => {
    for (let t = 0; t < 20 && from.length > 0; t++) {
      const id = from[rng.int(from.length)]!
      if (live.has(id) && !touched.has(id)) return id
    }
    return undefined
  }
  for (let i = 0; i < n; i++) {
    const k = rng.int(10)
    if (k < 2) {
      // insert: a new key, or a key deleted earlier (a re-insert)
      const id = k === 0 && dead.length > 0 ? dead.splice(rng.int(dead.length), 1)[0]! : next.id++
      if (live.has(id) || touched.has(id)) continue
      live.add(id)
      recent.push(id)
      touched.add(id)
      out.push([0, id])
      continue
    }
    const id = pick(rng.chance(0.5) ? recent : [...live])
    if (id === undefined) continue
    touched.add(id)
    if (k < 4) {
      live.delete(id)
      dead.push(id)
      out.push([2, id])
    } else out.push([1, id])
  }
  return out
}

/** The live data and delete files of the current snapshot; asserts each delete file names exactly one live data file. */
async function files(c: Config, what: string): Promise<{ data: number; deletes: number }> {
  const ice = await open(c)
  const live = await ice.files(ice.current()!)
  const paths = new Set(live.data.map((e) => e.data_file.file_path))
  for (const d of live.deletes) {
    const f = d.data_file
    const ref = f.referenced_data_file
    assert.ok(ref !== null && paths.has(ref), `${what}: delete file ${f.file_path} names a live data file (${ref})`)
    const bound = (b: typeof f.lower_bounds): string | undefined =>
      b?.find((x) => x.key === FILE_PATH_ID)?.value.toString('utf8')
    assert.equal(bound(f.lower_bounds), ref, `${what}: the file_path lower bound is the data file`)
    assert.equal(bound(f.upper_bounds), ref, `${what}: the file_path upper bound is the data file`)
    const got = new Map<string, Set<number>>()
    readDeletes(await ice.store.get(ice.keyOf(f.file_path)), got)
    assert.deepEqual([...got.keys()], [ref], `${what}: the delete file's rows name only that file`)
  }
  return { data: live.data.length, deletes: live.deletes.length }
}

/** Reads the table with an independent engine (pyiceberg, or Spark with the Iceberg runtime) when installed. */
function reader(engine: 'pyiceberg' | 'spark', dir: string, c: Config, plain: Config, what: string): void {
  const python = engine === 'pyiceberg' ? PY : process.env['CDC_APPLY_PYSPARK_PYTHON']
  const jar = process.env['CDC_APPLY_ICEBERG_SPARK_JAR']
  if (!python || (engine === 'spark' && !jar)) return
  const job = join(dir, 'job.json')
  writeFileSync(
    job,
    JSON.stringify([
      {
        name: what,
        warehouse: c.curated,
        namespace: 'BENCH',
        table: 'orders',
        plain: join(plain.curated, 'BENCH', 'orders'),
      },
    ]),
  )
  const r = spawnSync(python, [CHECK, engine, job, ...(engine === 'spark' ? [jar!] : [])], {
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, PYSPARK_PYTHON: python },
  })
  const line = r.stdout.trim().split('\n').pop() ?? ''
  assert.equal(r.status, 0, `${what}: ${engine}: ${line} ${r.stderr.slice(-2000)}`)
  assert.deepEqual((JSON.parse(line) as { errors: string[] }).errors, [], `${what}: ${engine}`)
}

/** The load file and `polls` change files of 60 changes on 2024-06-11 (name and content), seeded. */
function stream(polls: number): { load: string; files: { name: string; content: string }[] } {
  const load: string[] = []
  for (let id = 0; id < ROWS; id++) load.push(row('I', '2024-06-10 08:00:00.000000', id, id))
  const rng = new Rng(polls * 31 + ROWS)
  const live = new Set(Array.from({ length: ROWS }, (_, i) => i))
  const recent: number[] = []
  const dead: number[] = []
  const next = { id: ROWS }
  const files: { name: string; content: string }[] = []
  for (let p = 0; p < polls; p++) {
    const mm = String(p).padStart(2, '0')
    const ts = `2024-06-11 10:${mm}:00.000000`
    const lines = changes(rng, live, recent, dead, next, 60).map(([op, id], i) =>
      row(['I', 'U', 'D'][op!]!, ts, id!, p * 100 + i),
    )
    files.push({ name: `20240611-10${mm}00000.csv`, content: lines.join('\n') + '\n' })
  }
  return { load: load.join('\n') + '\n', files }
}

for (const [name, extra, polls] of [
  ['default settings', {}, 40],
  // a small rowsPerFile: the load spans several data files and the tail reaches its cap (min(rowsPerFile, 100,000))
  ['parquet.rowsPerFile 700', { parquet: { rowsPerFile: 700 } }, 30],
] as const) {
  test(`${name}: ${polls} warm polls on one date roll the date's delete files and tail; files stay bounded, each delete file names one data file, every poll equals the plain layout`, async () => {
    const dir = join(tmp.path, name.replace(/\W+/g, '-'))
    const table = join(dir, 'landing', 'bench', 'orders')
    mkdirSync(table, { recursive: true })
    const { load, files: polled } = stream(polls)
    writeFileSync(join(table, 'LOAD00000001.csv'), load)
    const land = join(dir, 'landing')
    const iceberg = { compactDeleteShare: 1e9, compactDataFiles: 1e9 }
    const ice = config(dir, land, 'iceberg', { ...extra, iceberg })
    const plain = config(dir, land, 'parquet', extra)
    const memory = [new Map<string, TableMemory>(), new Map<string, TableMemory>()]
    const both = async (what: string): Promise<void> => {
      for (const [k, c] of [ice, plain].entries()) {
        const r = await runOnce(c, { memory: memory[k] })
        assert.equal(r.tables[0]!.status, 'ok', `${what}: ${String(r.tables[0]!.error)}`)
      }
    }
    await both('load')
    const loadFiles = (await files(ice, 'load')).data
    let most = { data: 0, deletes: 0 }
    let removals = 0
    for (const [p, poll] of polled.entries()) {
      writeFileSync(join(table, poll.name), poll.content)
      const what = `poll ${p}`
      await both(what)
      const t = await open(ice)
      const want = readOutputTree(plain.curated)['BENCH/orders/20240611']
      assert.deepEqual(tableRows((await t.read('main'))!), want, `${what}: the live table`)
      assert.deepEqual(tableRows((await t.read('d20240611'))!), want, `${what}: the date tag`)
      assert.deepEqual(
        tableRows((await t.read('d20240610'))!),
        readOutputTree(plain.curated)['BENCH/orders/20240610'],
        `${what}: the load date's tag`,
      )
      const f = await files(ice, what)
      most = { data: Math.max(most.data, f.data), deletes: Math.max(most.deletes, f.deletes) }
      const s = t.current()!.summary
      removals += Number(s['deleted-data-files']) + Number(s['removed-delete-files'])
      if (Number(s['deleted-data-files']) > 0) assert.equal(s.operation, 'overwrite', `${what}: the operation`)
      if (p % 10 === 9 || p === polls - 1) reader('pyiceberg', dir, ice, plain, what)
      if (p === polls - 1) reader('spark', dir, ice, plain, what)
    }
    assert.ok(removals > polls, `rolling commits removed the files they replaced (${removals})`)
    // the load's files, the poll's tail files (a new one each time the tail passes its cap) and their delete files
    const tails = 'parquet' in extra ? Math.ceil((polls * 60) / 700) + 1 : 1
    assert.ok(most.data <= loadFiles + tails, `live data files stay bounded: ${most.data} <= ${loadFiles} + ${tails}`)
    assert.ok(most.deletes <= most.data, `at most one delete file per data file: ${most.deletes}`)
  })
}

test('a column added within a date: the polls after it do not rewrite the tail written before it (its rows keep their columns), every poll equals the plain layout', async () => {
  const dir = join(tmp.path, 'drift')
  const table = join(dir, 'landing', 'bench', 'orders')
  mkdirSync(table, { recursive: true })
  const { load, files: polled } = stream(12)
  const land = join(dir, 'landing')
  // header CSV: from the sixth poll on, the header names a phone column after the configured ones (a new column of
  // the table from that file on; empty in a delete: NULL)
  const names = ['Op', ...BENCH_COLUMNS.map((c) => c.name)].join(',')
  const iceberg = { compactDeleteShare: 1e9, compactDataFiles: 1e9 }
  const ice = config(dir, land, 'iceberg', { iceberg }, { header: true })
  const plain = config(dir, land, 'parquet', {}, { header: true })
  const memory = [new Map<string, TableMemory>(), new Map<string, TableMemory>()]
  let rolled = 0
  for (const [p, poll] of [{ name: 'LOAD00000001.csv', content: load }, ...polled].entries()) {
    const content =
      p > 5
        ? `${names},phone\n` + poll.content.replace(/^(.+)$/gm, (l) => (l.startsWith('D,') ? `${l},` : `${l},555-${p}`))
        : `${names}\n${poll.content}`
    writeFileSync(join(table, poll.name), content)
    for (const [k, c] of [ice, plain].entries()) {
      const r = await runOnce(c, { memory: memory[k] })
      assert.equal(r.tables[0]!.status, 'ok', `poll ${p}: ${String(r.tables[0]!.error)}`)
    }
    if (p === 0) continue
    const t = await open(ice)
    const want = readOutputTree(plain.curated)['BENCH/orders/20240611']!
    assert.equal(
      want.some((r) => typeof r['phone'] === 'string'),
      p > 5,
      `poll ${p}: phone values in the plain layout`,
    )
    assert.deepEqual(tableRows((await t.read('main'))!), want, `poll ${p}: the live table`)
    assert.deepEqual(tableRows((await t.read('d20240611'))!), want, `poll ${p}: the date tag`)
    if (Number(t.current()!.summary['deleted-data-files']) > 0) rolled++
  }
  // the tail rolled before and after the new column: the test reaches the commits around the path it guards
  assert.ok(rolled >= 8, `polls that replaced the tail: ${rolled}`)
  reader('pyiceberg', dir, ice, plain, 'drift')
})

const WORKER = fileURLToPath(new URL('./helpers/roll-worker.js', import.meta.url))

for (const point of ['iceberg-after-delta', 'iceberg-before-metadata', 'iceberg-after-metadata'] as const) {
  test(`a watcher killed at ${point} in a rolling commit, then restarted: every ref equals the plain layout`, async () => {
    const dir = join(tmp.path, `crash-${point}`)
    const table = join(dir, 'landing', 'bench', 'orders')
    mkdirSync(table, { recursive: true })
    const { load, files: polled } = stream(12)
    writeFileSync(join(table, 'LOAD00000001.csv'), load)
    const land = join(dir, 'landing')
    const iceberg = { compactDeleteShare: 1e9, compactDataFiles: 1e9 }
    const cfg = join(dir, 'c.json')
    writeFileSync(
      cfg,
      JSON.stringify({ ...benchConfig(land, join(dir, 'iceberg'), 'csv'), tableFormat: 'iceberg', iceberg }),
    )
    const list = join(dir, 'files.json')
    writeFileSync(list, JSON.stringify(polled))
    const worker = (env: Record<string, string>): ReturnType<typeof spawnSync> =>
      spawnSync(process.execPath, [WORKER, cfg, list, table], { encoding: 'utf8', env: { ...process.env, ...env } })
    // the 5th time: a commit of the date's 3rd or 4th poll, after rolling commits (the load's commit reaches the
    // metadata points too)
    const killed = worker({ CDC_APPLY_FAULT: `${point}:5` })
    assert.equal(killed.signal, 'SIGKILL', `the worker was not killed: ${String(killed.stderr)}`)
    const again = worker({})
    assert.equal(again.status, 0, String(again.stderr))
    const plain = config(dir, land, 'parquet', {})
    assert.equal((await runOnce(plain)).tables[0]!.status, 'ok')
    const tree = readOutputTree(plain.curated)
    const t = await open(config(dir, land, 'iceberg', { iceberg }))
    assert.deepEqual(tableRows((await t.read('main'))!), tree['BENCH/orders/20240611'], 'the live table')
    assert.deepEqual(tableRows((await t.read('d20240611'))!), tree['BENCH/orders/20240611'], 'the date tag')
    assert.deepEqual(tableRows((await t.read('d20240610'))!), tree['BENCH/orders/20240610'], "the load date's tag")
    const removed = t.meta!.snapshots.some((s) => Number(s.summary['removed-delete-files'] ?? 0) > 0)
    assert.ok(removed, 'the restarted watcher rolled')
  })
}
