// Upkeep of curated Iceberg tables: `cdc-apply compact` (compaction on demand under the state lock, a no-op for
// plain tables), orphan removal after a crash (files a killed commit wrote are deleted once older than
// iceberg.orphanMinAgeSeconds, nothing a kept snapshot reads is), and old metadata versions deleted past
// iceberg.keepMetadataVersions. Every ref must still read what the plain layout (or an uninterrupted run) holds.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { main } from '../src/cli/main.js'
import { StateStore } from '../src/state/index.js'
import { LocalStore } from '../src/store/local-store.js'
import { IcebergTable } from '../src/iceberg/table.js'
import { storeUri } from '../src/iceberg-sink.js'
import { generate, benchConfig, DEFAULT_GEN } from '../scripts/bench/gen.js'
import { readOutputTree, tempDir } from './helpers/outputs.js'
import { tableRows } from './helpers/iceberg-cases.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = join(root, 'bin', 'cdc-apply.js')
const tmp = tempDir('cdc-iceberg-ops-')
test.after(tmp.remove)

const src = join(tmp.path, 'src')
const gen = generate({ ...DEFAULT_GEN, dir: src, changes: 1200, keys: 200, rowsPerFile: 200, dates: 3 })
const keys = gen.files.map((f) => f.key)
const half = Math.ceil(keys.length / 2)

interface Lake {
  dir: string
  landing: string
  cfg: string
}

/** A landing with the given files and a config (Iceberg unless `format` says otherwise) writing under dir/out. */
function lake(name: string, files: string[], iceberg: object = {}, format = 'iceberg'): Lake {
  const dir = join(tmp.path, name)
  rmSync(dir, { recursive: true, force: true })
  const landing = join(dir, 'landing')
  mkdirSync(landing, { recursive: true })
  deliver(landing, files)
  const cfg = join(dir, 'c.json')
  writeConfig(cfg, dir, landing, iceberg, format)
  return { dir, landing, cfg }
}

function writeConfig(cfg: string, dir: string, landing: string, iceberg: object, format = 'iceberg'): void {
  writeFileSync(cfg, JSON.stringify({ ...benchConfig(landing, join(dir, 'out'), 'csv'), tableFormat: format, iceberg }))
}

function deliver(landing: string, files: string[]): void {
  for (const k of files) {
    mkdirSync(dirname(join(landing, k)), { recursive: true })
    copyFileSync(join(src, k), join(landing, k))
  }
}

function run(cfg: string, env: Record<string, string> = {}): { status: number | null; signal: string | null } {
  const r = spawnSync(process.execPath, [bin, 'run', '-c', cfg, '--log-level', 'warn'], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  })
  if (r.signal === null && r.status !== 0) assert.fail(r.stderr)
  return { status: r.status, signal: r.signal }
}

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await main(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) })
  return { code, out, err }
}

function open(l: Lake): Promise<IcebergTable> {
  const store = new LocalStore(join(l.dir, 'out', 'curated'))
  return IcebergTable.open(store, 'BENCH/orders', `${storeUri(store)}/BENCH/orders`, 'BENCH.orders')
}

async function refs(ice: IcebergTable): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const r of Object.keys(ice.meta!.refs).sort()) out[r] = tableRows((await ice.read(r))!)
  return out
}

/**
 * The table's files (relative to its folder) that nothing in the metadata reaches: the current metadata file, the
 * versions its metadata-log lists, the hint, each kept snapshot's manifest list, its manifests and its live files.
 */
async function unreferenced(l: Lake, ice: IcebergTable): Promise<string[]> {
  const dir = join(l.dir, 'out', 'curated', 'BENCH', 'orders')
  const reached = new Set<string>([
    join(dir, 'metadata', `v${ice.version}.metadata.json`),
    join(dir, 'metadata', 'version-hint.text'),
    ...ice.meta!['metadata-log'].map((e) => fileURLToPath(e['metadata-file'])),
  ])
  for (const s of ice.meta!.snapshots) {
    reached.add(fileURLToPath(s['manifest-list']))
    const f = await ice.files(s)
    for (const m of f.manifests) reached.add(fileURLToPath(m.manifest_path))
    for (const e of [...f.data, ...f.deletes]) reached.add(fileURLToPath(e.data_file.file_path))
  }
  const present = ['data', 'metadata'].flatMap((d) => readdirSync(join(dir, d)).map((f) => join(dir, d, f)))
  for (const p of reached) statSync(p) // every reached file exists (throws ENOENT otherwise)
  return present.filter((p) => !reached.has(p)).map((p) => relative(dir, p))
}

test('cdc-apply compact rewrites the live rows of an Iceberg table into fresh data files as a replace snapshot carrying its tags; every ref reads as the plain layout; a second compact and a plain table are no-ops', async () => {
  // compactDeleteShare 1: the run itself never compacts, so the table ends with merge-on-read delete files
  const ice0 = lake('compact', keys, { compactDeleteShare: 1, keepSnapshots: 1, orphanMinAgeSeconds: 0 })
  const plain = lake('compact-plain', keys, {}, 'parquet')
  run(ice0.cfg)
  run(plain.cfg)
  const before = await open(ice0)
  const cur = before.current()!
  const beforeFiles = await before.files(cur)
  assert.ok(beforeFiles.deletes.length > 0, 'the table has delete files to compact')
  const beforeRefs = await refs(before)
  const moved = Object.entries(before.meta!.refs)
    .filter(([, r]) => r['snapshot-id'] === cur['snapshot-id'])
    .map(([n]) => n)

  const r = await cli('compact', '-c', ice0.cfg, '--table', 'BENCH.orders')
  assert.equal(r.code, 0, r.err)
  assert.match(
    r.out,
    /^compact BENCH\.orders: \d+ rows rewritten from \d+ data files and \d+ delete files into 1 data file /,
  )
  const after = await open(ice0)
  const snap = after.current()!
  assert.equal(snap.summary.operation, 'replace')
  assert.equal(snap['parent-snapshot-id'], cur['snapshot-id'])
  for (const k of ['cdc-apply.lpf', 'cdc-apply.date', 'cdc-apply.full-load'])
    assert.equal(snap.summary[k], cur.summary[k], `${k} carried over`)
  for (const n of moved) assert.equal(after.meta!.refs[n]!['snapshot-id'], snap['snapshot-id'], `${n} moved`)
  const files = await after.files(snap)
  assert.equal(files.deletes.length, 0)
  assert.equal(files.data.length, 1, `${snap.summary['total-records']} rows fit one file of rowsPerFile rows`)
  assert.deepEqual(await refs(after), beforeRefs, 'every ref reads the same rows')
  const tree = readOutputTree(join(plain.dir, 'out', 'curated'))
  const dates = Object.keys(tree).sort()
  for (const d of dates) assert.deepEqual(beforeRefs[`d${d.split('/').at(-1)}`], tree[d], d)
  assert.deepEqual(beforeRefs['main'], tree[dates.at(-1)!])
  assert.deepEqual(await unreferenced(ice0, after), [], 'expiry left no unreferenced file')

  const again = await cli('compact', '-c', ice0.cfg)
  assert.equal(again.code, 0, again.err)
  assert.match(again.out, /^compact BENCH\.orders: already compact \(1 data file and 0 delete files\)/)
  assert.equal((await open(ice0)).version, after.version, 'nothing to rewrite or expire: no new metadata version')

  const p = await cli('compact', '-c', plain.cfg, '--json')
  assert.equal(p.code, 0, p.err)
  assert.deepEqual(JSON.parse(p.out), { tables: [{ table: 'BENCH.orders', status: 'plain' }] })
  const none = await cli('compact', '-c', plain.cfg, '--table', 'NOPE.*')
  assert.equal(none.code, 2, 'a glob that matches nothing is a usage error')
})

test('cdc-apply compact takes the state lock: with another process holding it, it exits 7 and changes nothing', async () => {
  const l = lake('locked', keys.slice(0, half), { compactDeleteShare: 1 })
  run(l.cfg)
  const version = (await open(l)).version
  // a lock taken by a live process of this host (this one, through another connection) is held
  const other = StateStore.open(join(l.dir, 'out', 'state.sqlite'))
  other.lock()
  try {
    const r = await cli('compact', '-c', l.cfg)
    assert.equal(r.code, 7, r.err)
    assert.match(r.err, /CDC_STATE_LOCKED/)
  } finally {
    other.close()
  }
  assert.equal((await open(l)).version, version)
})

// killed between a merge commit's data and delete files and its manifests, and between its manifest list and the
// metadata file: the killed commit's files are orphans after the rerun
// RAW date folders (iceberg.raw false): the kill points are the curated commit's (a RAW Iceberg table commits first and
// would take them; its crashes are test/raw-iceberg.test.ts's)
for (const point of ['iceberg-after-delta', 'iceberg-before-metadata']) {
  test(`killed at ${point}, rerun, compact: the killed commit's orphans are deleted once older than iceberg.orphanMinAgeSeconds; the refs read as an uninterrupted run`, async () => {
    const ref = lake(`ref-${point}`, keys.slice(0, half), { compactDeleteShare: 1, raw: false })
    run(ref.cfg)
    deliver(ref.landing, keys.slice(half))
    run(ref.cfg)
    const expected = await refs(await open(ref))

    const l = lake(`kill-${point}`, keys.slice(0, half), { compactDeleteShare: 1, raw: false })
    run(l.cfg)
    deliver(l.landing, keys.slice(half))
    assert.equal(run(l.cfg, { CDC_APPLY_FAULT: `${point}:1` }).signal, 'SIGKILL')
    run(l.cfg)
    const orphans = await unreferenced(l, await open(l))
    assert.ok(orphans.length > 0, 'the killed commit left unreferenced files')

    // the default safety age (1 hour) keeps files this young
    const kept = await cli('compact', '-c', l.cfg, '--json')
    assert.equal(kept.code, 0, kept.err)
    assert.deepEqual(
      (await unreferenced(l, await open(l))).filter((f) => orphans.includes(f)),
      orphans,
      'younger than iceberg.orphanMinAgeSeconds: kept',
    )
    writeConfig(l.cfg, l.dir, l.landing, { compactDeleteShare: 1, orphanMinAgeSeconds: 0, raw: false })
    const r = await cli('compact', '-c', l.cfg, '--json')
    assert.equal(r.code, 0, r.err)
    const res = (JSON.parse(r.out) as { tables: { expired: { orphans: number } }[] }).tables[0]!
    assert.ok(res.expired.orphans >= orphans.length, `${res.expired.orphans} orphans deleted`)
    const ice = await open(l)
    assert.deepEqual(await unreferenced(l, ice), [], 'no unreferenced file remains')
    assert.deepEqual(await refs(ice), expected, 'every ref reads as after an uninterrupted run')
  })
}

test('iceberg.keepMetadataVersions: older vN.metadata.json files are deleted after each commit, the metadata-log lists the kept ones, the properties record it', async () => {
  const l = lake('versions', keys, { keepMetadataVersions: 2 })
  run(l.cfg)
  const ice = await open(l)
  assert.ok(ice.version > 3, `the run wrote ${ice.version} metadata versions`)
  const dir = join(l.dir, 'out', 'curated', 'BENCH', 'orders', 'metadata')
  const versions = readdirSync(dir)
    .filter((f) => /^v\d+\.metadata\.json$/.test(f))
    .sort()
  assert.deepEqual(versions, [ice.version - 2, ice.version - 1, ice.version].map((v) => `v${v}.metadata.json`).sort())
  assert.deepEqual(
    ice.meta!['metadata-log'].map((e) => relative(dir, fileURLToPath(e['metadata-file']))),
    [`v${ice.version - 2}.metadata.json`, `v${ice.version - 1}.metadata.json`],
  )
  assert.equal(ice.meta!.properties['write.metadata.previous-versions-max'], '2')
  assert.equal(ice.meta!.properties['write.metadata.delete-after-commit.enabled'], 'true')
  const dflt = lake('versions-default', keys.slice(0, half))
  run(dflt.cfg)
  assert.equal((await open(dflt)).meta!.properties['write.metadata.previous-versions-max'], '100')
})
