// Crash safety of curated Iceberg tables: the process is killed (SIGKILL) at every boundary of a multi-date run,
// including between an Iceberg commit's files and its metadata file and between the metadata file and the
// watermark commit, then rerun; RAW, the watermark and what the Iceberg table answers (the live table and every
// date tag) must equal an uninterrupted run's. Snapshot ids and file names differ between runs by design.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { StateStore } from '../src/state/index.js'
import { LocalStore } from '../src/store/local-store.js'
import { IcebergTable } from '../src/iceberg/table.js'
import { storeUri } from '../src/iceberg-sink.js'
import { generate, benchConfig, DEFAULT_GEN } from '../scripts/bench/gen.js'
import { readOutputTree, tempDir } from './helpers/outputs.js'
import { tableRows } from './helpers/iceberg-cases.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = join(root, 'bin', 'cdc-apply.js')
const POINTS = [
  'after-raw-write',
  'iceberg-after-delta',
  'iceberg-before-metadata',
  'iceberg-after-metadata',
  'after-curated-write',
  'before-commit',
  'inside-commit',
] as const

const tmp = tempDir('cdc-iceberg-crash-')
test.after(tmp.remove)

const src = join(tmp.path, 'src')
const gen = generate({ ...DEFAULT_GEN, dir: src, changes: 1200, keys: 200, rowsPerFile: 200, dates: 3 })
const keys = gen.files.map((f) => f.key)
const arrivals = [keys.slice(0, Math.ceil(keys.length / 2)), keys.slice(Math.ceil(keys.length / 2))]

function setup(name: string): { dir: string; landing: string; cfg: string } {
  const dir = join(tmp.path, name)
  rmSync(dir, { recursive: true, force: true })
  const landing = join(dir, 'landing')
  mkdirSync(landing, { recursive: true })
  const cfg = join(dir, 'c.json')
  // RAW date folders (iceberg.raw false): these are the curated commit's kill points (RAW Iceberg's: raw-iceberg.test.ts)
  writeFileSync(
    cfg,
    JSON.stringify({
      ...benchConfig(landing, join(dir, 'out'), 'csv'),
      tableFormat: 'iceberg',
      iceberg: { raw: false },
    }),
  )
  return { dir, landing, cfg }
}

function deliver(landing: string, files: string[]): void {
  for (const k of files) {
    mkdirSync(dirname(join(landing, k)), { recursive: true })
    copyFileSync(join(src, k), join(landing, k))
  }
}

function run(
  cfg: string,
  env: Record<string, string> = {},
): { status: number | null; signal: string | null; stderr: string } {
  const r = spawnSync(process.execPath, [bin, 'run', '-c', cfg, '--log-level', 'warn'], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  })
  return { status: r.status, signal: r.signal, stderr: r.stderr }
}

async function snapshot(dir: string): Promise<unknown> {
  const state = join(dir, 'out', 'state.sqlite')
  let wm: unknown = null
  if (existsSync(state)) {
    const s = StateStore.open(state)
    wm = s.status().map((r) => ({
      fullLoad: r.fullLoad,
      lpf: r.lpf,
      loadDate: r.loadDate,
      files: r.files,
      rows: r.rows,
      live: r.liveRows,
    }))
    s.close()
  }
  const store = new LocalStore(join(dir, 'out', 'curated'))
  const ice = await IcebergTable.open(store, 'BENCH/orders', `${storeUri(store)}/BENCH/orders`, 'BENCH.orders')
  const refs: Record<string, unknown> = {}
  for (const ref of Object.keys(ice.meta?.refs ?? {}).sort()) refs[ref] = tableRows((await ice.read(ref))!)
  return { raw: readOutputTree(join(dir, 'out', 'raw')), refs, wm }
}

const ref = setup('reference')
const hits: Record<string, number>[] = []
for (const files of arrivals) {
  deliver(ref.landing, files)
  const log = join(ref.dir, `points-${hits.length}.log`)
  const r = run(ref.cfg, { CDC_APPLY_FAULT_LOG: log })
  assert.equal(r.status, 0, r.stderr)
  const counts: Record<string, number> = {}
  for (const p of readFileSync(log, 'utf8').trim().split('\n')) counts[p] = (counts[p] ?? 0) + 1
  hits.push(counts)
}
const expected = await snapshot(ref.dir)

test('the reference run reaches every fault point, Iceberg ones included', () => {
  for (const p of POINTS) assert.ok((hits[0]![p] ?? 0) + (hits[1]![p] ?? 0) > 0, `point ${p} never reached`)
  assert.ok(Object.keys((expected as { refs: object }).refs).length >= 3, 'main and at least two date tags')
})

for (const [arrival, counts] of hits.entries()) {
  for (const point of POINTS) {
    // the first time each point is reached in each run (test/crash.test.ts kills the plain layout at every hit)
    for (const n of (counts[point] ?? 0) > 0 ? [1] : []) {
      test(`iceberg: killed at ${point} #${n} of run ${arrival + 1}, then rerun: the table's tags, live rows, RAW and watermark equal an uninterrupted run`, async () => {
        const c = setup(`kill-${arrival}-${point}-${n}`)
        for (let a = 0; a < arrival; a++) {
          deliver(c.landing, arrivals[a]!)
          assert.equal(run(c.cfg).status, 0)
        }
        deliver(c.landing, arrivals[arrival]!)
        const killed = run(c.cfg, { CDC_APPLY_FAULT: `${point}:${n}` })
        assert.equal(killed.signal, 'SIGKILL', `the process was not killed: ${killed.stderr}`)
        const again = run(c.cfg)
        assert.equal(again.status, 0, again.stderr)
        for (let a = arrival + 1; a < arrivals.length; a++) {
          deliver(c.landing, arrivals[a]!)
          assert.equal(run(c.cfg).status, 0)
        }
        assert.deepEqual(await snapshot(c.dir), expected)
        rmSync(c.dir, { recursive: true, force: true })
      })
    }
  }
}
