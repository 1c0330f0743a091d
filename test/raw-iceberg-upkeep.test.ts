// The upkeep of a RAW Iceberg table: snapshot expiry after each commit (iceberg.keepSnapshots; RAW has no tags),
// old metadata versions deleted (keepMetadataVersions), and what expiry and orphan removal never delete: a file a
// kept snapshot references (RAW partition commits list kept files again, as EXISTING entries of a new manifest), or
// a part the state file lists as committed.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spawnSync } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { LocalStore } from '../src/store/local-store.js'
import { StateStore } from '../src/state/index.js'
import { IcebergTable } from '../src/iceberg/table.js'
import { decodeManifest, decodeManifestList } from '../src/iceberg/avro.js'
import { expireSnapshots } from '../src/iceberg/expire.js'
import { storeUri } from '../src/iceberg-sink.js'
import { RAW_PARTITION, rawKeepFile } from '../src/raw-iceberg.js'
import { generate, benchConfig, DEFAULT_GEN } from '../scripts/bench/gen.js'
import { parquetRows, readOutputTree, sortRows, tempDir, type Row } from './helpers/outputs.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = join(root, 'bin', 'cdc-apply.js')
const tmp = tempDir('cdc-raw-upkeep-')
test.after(tmp.remove)

const canon = (rows: Row[]): Row[] =>
  sortRows(rows.map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== null))))

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

/** The current snapshot's rows by date (every data file it names is read: a missing one fails). */
async function icebergRaw(ice: IcebergTable): Promise<Record<string, Row[]>> {
  const out: Record<string, Row[]> = {}
  for (const e of (await ice.files(ice.current()!)).data) {
    const date = e.data_file.partition[RAW_PARTITION]!
    ;(out[date] ??= []).push(...parquetRows(readFileSync(fileURLToPath(e.data_file.file_path))))
  }
  for (const k of Object.keys(out)) out[k] = canon(out[k]!)
  return out
}

function sameRaw(got: Record<string, Row[]>, want: Record<string, Row[]>, what: string): void {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${what}: dates`)
  for (const d of Object.keys(want))
    assert.equal(JSON.stringify(got[d]), JSON.stringify(want[d]), `${what} ${d}: ${got[d]?.length} rows`)
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]))
}

/** The table's files that its kept snapshots reference: manifest lists, manifests, live data files. */
async function referenced(ice: IcebergTable, tableDir: string): Promise<{ data: Set<string>; meta: Set<string> }> {
  const data = new Set<string>()
  const meta = new Set<string>()
  const rel = (uri: string): string => relative(tableDir, fileURLToPath(uri))
  for (const s of ice.meta!.snapshots) {
    meta.add(rel(s['manifest-list']))
    for (const m of await decodeManifestList(readFileSync(fileURLToPath(s['manifest-list'])))) {
      meta.add(rel(m.manifest_path))
      for (const e of (await decodeManifest(readFileSync(fileURLToPath(m.manifest_path)))).entries)
        if (e.status !== 2) data.add(rel(e.data_file.file_path))
    }
  }
  return { data, meta }
}

const TABLE = 'shop/items'
const DATES = ['20240610', '20240611', '20240612', '20240613']

test('a RAW Iceberg table polled many times keeps keepSnapshots snapshots and keepMetadataVersions versions; every date reads as the plain RAW', async () => {
  const dir = join(tmp.path, 'polls')
  const landing = join(dir, 'landing')
  const put = (name: string, text: string): void => {
    const p = join(landing, TABLE, name)
    mkdirSync(dirname(p), { recursive: true })
    writeFileSync(p, text)
  }
  const KEEP = 3
  const VERSIONS = 2
  const config = (format: 'parquet' | 'iceberg'): ReturnType<typeof parseConfig> =>
    parseConfig(
      {
        source: 'S',
        landing,
        raw: `${format}/raw`,
        curated: `${format}/curated`,
        state: `${format}/state.sqlite`,
        settleSeconds: 0,
        tableFormat: format,
        iceberg: { raw: true, keepSnapshots: KEEP, keepMetadataVersions: VERSIONS, orphanMinAgeSeconds: 0 },
        tables: [
          {
            name: 'items',
            path: TABLE,
            includeOpForFullLoad: true,
            columns: [{ name: 'ts' }, { name: 'id', type: 'integer' }, { name: 'name' }],
            primaryKey: ['id'],
            timestampColumn: 'ts',
          },
        ],
      },
      dir,
    )
  put('LOAD00000001.csv', 'I,2024-06-10 08:00:00.000000,1,apple\nI,2024-06-10 08:00:00.000000,2,pear\n')
  const tableDir = join(dir, 'iceberg', 'raw', 'S', 'items')
  let polls = 0
  const ops = new Set<string>()
  // one change file per poll, four per date: each poll is one RAW write; a date closes (and is compacted, a
  // replace that rewrites the other dates' files as EXISTING entries) at the first poll of the next date
  for (const date of DATES) {
    for (let k = 0; k < 4; k++) {
      const [y, m, d] = [date.slice(0, 4), date.slice(4, 6), date.slice(6)]
      const ts = `${y}-${m}-${d} ${String(10 + k).padStart(2, '0')}:00:00.000000`
      put(`${date}-${10 + k}0000000.csv`, `U,${ts},${1 + (k % 2)},v${date}-${k}\nI,${ts},${100 + polls},n${polls}\n`)
      for (const f of ['parquet', 'iceberg'] as const) {
        const r = (await runOnce(config(f))).tables[0]!
        assert.equal(r.error, undefined, `${f} poll ${polls}: ${r.error?.message}`)
      }
      polls++
      const ice = await openRaw(join(dir, 'iceberg', 'raw'), 'S/items')
      for (const s of ice.meta!.snapshots) ops.add(s.summary.operation!)
      // the current snapshot's files are all there and hold the plain RAW, poll after poll
      sameRaw(await icebergRaw(ice), plainRaw(join(dir, 'parquet', 'raw'), 'S/items'), `poll ${polls}`)
      assert.ok(ice.meta!.snapshots.length <= KEEP, `poll ${polls}: ${ice.meta!.snapshots.length} snapshots`)
      assert.ok(ice.meta!['metadata-log'].length <= VERSIONS)
      const versions = readdirSync(join(tableDir, 'metadata')).filter((n) => n.endsWith('.metadata.json'))
      assert.ok(versions.length <= VERSIONS + 1, `poll ${polls}: ${versions.join()}`)
      // nothing on storage but what the kept snapshots reference (expiry deletes the rest; no crash left orphans)
      const refs = await referenced(ice, tableDir)
      const onDisk = walk(tableDir).map((p) => relative(tableDir, p))
      assert.deepEqual(
        onDisk.filter((p) => p.startsWith('data/')).sort(),
        [...refs.data].sort(),
        `poll ${polls}: data files`,
      )
      assert.deepEqual(
        onDisk.filter((p) => p.endsWith('.avro')).sort(),
        [...refs.meta].sort(),
        `poll ${polls}: manifests and manifest lists`,
      )
    }
  }
  assert.equal(polls, 16)
  assert.ok(ops.has('replace') && ops.has('append'), [...ops].join())
  const dates = Object.keys(plainRaw(join(dir, 'parquet', 'raw'), 'S/items'))
  assert.deepEqual(dates.sort(), DATES)
})

test('expiry and orphan removal keep the parts the state file lists: a compaction killed before its state commit is redone', async () => {
  const src = join(tmp.path, 'gen')
  const gen = generate({ ...DEFAULT_GEN, dir: src, changes: 600, keys: 100, rowsPerFile: 100, dates: 3 })
  const keys = gen.files.map((f) => f.key)
  const second = gen.files.filter((f) => f.date === [...new Set(gen.files.map((g) => g.date))].sort()[1])
  const cut = gen.files.indexOf(second[Math.floor(second.length / 2)]!)
  assert.ok(second.length >= 2 && cut > 0)
  const setup = (name: string): { dir: string; landing: string; cfg: string } => {
    const dir = join(tmp.path, name)
    rmSync(dir, { recursive: true, force: true })
    const landing = join(dir, 'landing')
    mkdirSync(landing, { recursive: true })
    const cfg = join(dir, 'c.json')
    const base = benchConfig(landing, join(dir, 'out'), 'csv')
    const iceberg = { raw: true, keepSnapshots: 1, orphanMinAgeSeconds: 0 }
    writeFileSync(cfg, JSON.stringify({ ...base, tableFormat: 'iceberg', iceberg }))
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
  const clean = setup('keep-clean')
  for (const a of [keys.slice(0, cut), keys.slice(cut)]) {
    deliver(clean.landing, a)
    assert.equal(run(clean.cfg).status, 0)
  }
  const want = await icebergRaw(await openRaw(join(clean.dir, 'out', 'raw'), 'BENCH/orders'))

  const c = setup('keep-crash')
  deliver(c.landing, keys.slice(0, cut))
  assert.equal(run(c.cfg).status, 0)
  deliver(c.landing, keys.slice(cut))
  // the second run closes the second date: killed after the compaction's replace snapshot, before the state file's
  const r = run(c.cfg, { CDC_APPLY_FAULT: 'before-compaction-commit:1' })
  assert.equal(r.signal, 'SIGKILL')
  const rawRoot = join(c.dir, 'out', 'raw')
  const ice = await openRaw(rawRoot, 'BENCH/orders')
  assert.equal(ice.current()!.summary.operation, 'replace')
  const state = StateStore.open(join(c.dir, 'out', 'state.sqlite'))
  const date = ice.current()!.summary['cdc-apply.date']!
  const inputs = state.rawParts('BENCH', 'orders', date)
  assert.ok(inputs.length >= 2, 'the state file still lists the compaction inputs')
  const tableDir = join(rawRoot, 'BENCH', 'orders')
  const inputPath = (n: string): string => join(tableDir, 'data', `${RAW_PARTITION}=${date}`, n)
  // the current snapshot no longer holds the inputs, and keepSnapshots 1 expires the snapshots that did
  const live = new Set((await ice.files(ice.current()!)).data.map((e) => fileURLToPath(e.data_file.file_path)))
  assert.ok(inputs.every((p) => !live.has(inputPath(p.name))))
  const done = await expireSnapshots(ice, 1, undefined, true, rawKeepFile(state, 'BENCH', 'orders'))
  state.close()
  assert.ok(done.snapshots > 0, 'older snapshots expired')
  for (const p of inputs) assert.ok(existsSync(inputPath(p.name)), `${p.name} is kept: the state file lists it`)
  // the rerun compacts the date again from its inputs and gives the uninterrupted run's RAW
  assert.equal(run(c.cfg).status, 0)
  const after = StateStore.open(join(c.dir, 'out', 'state.sqlite'))
  const steps = new Set(after.rawParts('BENCH', 'orders', date).map((p) => p.step))
  after.close()
  assert.equal(steps.size, 1, 'the date is compacted')
  const again = await openRaw(rawRoot, 'BENCH/orders')
  const got = await icebergRaw(again)
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort())
  for (const d of Object.keys(want)) assert.equal(JSON.stringify(got[d]), JSON.stringify(want[d]), d)
  assert.equal(again.meta!.snapshots.length, 1)
})
