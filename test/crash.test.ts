// Crash safety, proven: the process is killed abruptly (SIGKILL) at every boundary of a multi-date, multi-file run,
// then rerun; RAW, curated and the watermark must equal those of an uninterrupted run. Also kill -9 at random moments.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spawnSync, spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import { StateStore } from '../src/state/index.js'
import { generate, benchConfig, DEFAULT_GEN } from '../scripts/bench/gen.js'
import { readOutputTree, tempDir } from './helpers/outputs.js'
import { Rng, seeds } from './helpers/random.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = join(root, 'bin', 'cdc-apply.js')
const POINTS = ['after-read', 'after-raw-write', 'after-curated-write', 'before-commit', 'inside-commit'] as const
// The boundaries of streaming RAW (src/raw-sink.ts, src/raw-compact.ts): a part put, a date pruned, a closed date's
// compaction before and after its commit. The first few hits of each are killed (parts are put many times a run).
const RAW_POINTS = ['after-raw-part', 'after-prune', 'before-compaction-commit', 'after-compaction-commit'] as const
const RAW_HITS = 3

const tmp = tempDir('cdc-crash-')
test.after(tmp.remove)

// The scenario: a full load and change files over three dates, delivered in two arrivals (so both the full-load
// phase and the CDC phase run, and the second run rewrites the LPF's date).
const src = join(tmp.path, 'src')
const gen = generate({ ...DEFAULT_GEN, dir: src, changes: 2400, keys: 300, rowsPerFile: 200, dates: 3 })
const keys = gen.files.map((f) => f.key)
const arrivals = [keys.slice(0, Math.ceil(keys.length / 2)), keys.slice(Math.ceil(keys.length / 2))]

function setup(name: string): { dir: string; landing: string; cfg: string } {
  const dir = join(tmp.path, name)
  rmSync(dir, { recursive: true, force: true })
  const landing = join(dir, 'landing')
  mkdirSync(landing, { recursive: true })
  const cfg = join(dir, 'c.json')
  writeFileSync(cfg, JSON.stringify(benchConfig(landing, join(dir, 'out'), 'csv')))
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

function snapshot(dir: string): unknown {
  const state = join(dir, 'out', 'state.sqlite')
  let wm: unknown = null
  let ledger: unknown = null
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
    // the ledger's counts too: a rerun after a crash must count each change as the uninterrupted run did
    ledger = s
      .status()
      .map((r) => s.processedFiles(r.source, r.table).map((f) => [f.file, f.rows, f.inserts, f.updates, f.deletes]))
    s.close()
  }
  return {
    raw: readOutputTree(join(dir, 'out', 'raw')),
    curated: readOutputTree(join(dir, 'out', 'curated')),
    wm,
    ledger,
  }
}

// the uninterrupted reference, and how often each point is reached in each arrival
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
const expected = snapshot(ref.dir)

test('the reference run reaches every fault point', () => {
  for (const p of POINTS) assert.ok((hits[0]![p] ?? 0) + (hits[1]![p] ?? 0) > 0, `point ${p} never reached`)
})

test('the reference run reaches every RAW boundary: parts, prunes, and the compaction of the date the second run closes', () => {
  for (const p of RAW_POINTS) assert.ok((hits[0]![p] ?? 0) + (hits[1]![p] ?? 0) > 0, `point ${p} never reached`)
  assert.equal(hits[0]!['before-compaction-commit'] ?? 0, 0, 'a first run writes each date once: nothing to compact')
})

test('in the reference run, every unit of work passes each boundary once, every date is committed and every file is in the ledger', () => {
  const curatedDates = readdirSync(join(ref.dir, 'out', 'curated', 'BENCH', 'orders')).filter((n) => /^\d{8}$/.test(n))
  assert.ok(curatedDates.length >= 3, `curated dates: ${curatedDates.join(', ')}`)
  let commits = 0
  for (const [arrival, counts] of hits.entries()) {
    // a date's unit of work: RAW written, curated written, then the commit (before and inside its transaction)
    const unit = POINTS.slice(1).map((p) => counts[p] ?? 0)
    assert.ok(
      unit.every((n) => n === unit[0]) && unit[0]! > 0,
      `run ${arrival + 1}: ${POINTS.slice(1).join(', ')} reached ${unit.join(', ')} times`,
    )
    assert.ok((counts['after-read'] ?? 0) > 0, `run ${arrival + 1}: nothing read`)
    commits += unit[0]!
  }
  // every curated date was committed at least once, and every delivered file is in the ledger
  assert.ok(commits >= curatedDates.length, `${commits} commits for ${curatedDates.length} curated dates`)
  const s = StateStore.open(join(ref.dir, 'out', 'state.sqlite'))
  try {
    assert.equal(
      s.status().reduce((n, r) => n + r.files, 0),
      keys.length,
    )
  } finally {
    s.close()
  }
})

for (const [arrival, counts] of hits.entries()) {
  for (const point of [...POINTS, ...RAW_POINTS]) {
    const last = (RAW_POINTS as readonly string[]).includes(point)
      ? Math.min(RAW_HITS, counts[point] ?? 0)
      : (counts[point] ?? 0)
    for (let n = 1; n <= last; n++) {
      test(`killed at ${point} #${n} of run ${arrival + 1}, then rerun: outputs and watermark equal an uninterrupted run`, () => {
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
        assert.deepEqual(snapshot(c.dir), expected)
        rmSync(c.dir, { recursive: true, force: true })
      })
    }
  }
}

for (const seed of seeds(3)) {
  test(`kill -9 at a random moment, then rerun, gives the uninterrupted outputs (seed ${seed})`, async () => {
    const rng = new Rng(seed)
    const c = setup(`random-${seed}`)
    deliver(c.landing, keys)
    const child = spawn(process.execPath, [bin, 'run', '-c', c.cfg, '--log-level', 'warn'], { stdio: 'ignore' })
    const exited = once(child, 'exit')
    await new Promise((r) => setTimeout(r, 100 + rng.int(900)))
    child.kill('SIGKILL')
    await exited
    const again = run(c.cfg)
    assert.equal(again.status, 0, again.stderr)
    // one arrival instead of two: compare with a single uninterrupted run over all files
    const single = setup(`random-ref-${seed}`)
    deliver(single.landing, keys)
    assert.equal(run(single.cfg).status, 0)
    assert.deepEqual(snapshot(c.dir), snapshot(single.dir))
  })
}
