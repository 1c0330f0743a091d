// The iceberg-storage case of `npm run bench -- --cases iceberg-storage`: issue 14's storage and read targets.
// Storage: a full load of --storage-rows rows, then --storage-dates dates of rows × --storage-share changes each
// (90% updates, 5% deletes, 5% inserts of new keys), each date run by `runOnce` on the plain layout and on the
// Iceberg layout with the default iceberg settings; the bytes under each curated table (every file: data, deletes,
// metadata, manifests), against the bytes of one snapshot (the plain layout's newest date folder, the data files of
// the Iceberg table's live snapshot once compacted). Read: a table of --storage-rows rows after --read-polls warm
// watch polls of --read-changes changes without compaction (thresholds out of reach), then `cdc-apply compact`;
// pyiceberg (and Spark, when configured) time count(*) + sum(qty) of the snapshot before the compaction and of the
// compacted one, interleaved (scripts/bench/iceberg_read.py).
import { spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { writeFileSync, writeSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig, type Config } from '../../src/config.js'
import { runOnce } from '../../src/run.js'
import { runWatch } from '../../src/watch.js'
import { compactTables } from '../../src/compact.js'
import { storeUri } from '../../src/iceberg-sink.js'
import { LocalStore } from '../../src/store/local-store.js'
import { IcebergTable } from '../../src/iceberg/table.js'
import { benchConfig } from './gen.js'
import { Rng } from '../../test/helpers/random.js'

export interface StorageOptions {
  work: string
  rows: number
  dates: number
  share: number
  log: (s: string) => void
}

export interface LayoutBytes {
  totalBytes: number
  /** Bytes by kind: data, deletes, metadataJson, manifestLists, manifests, other. */
  byKind: Record<string, number>
  dataFiles: number
  deleteFiles: number
}

export interface StorageResult {
  liveRows: number
  dates: number
  changesPerDate: number
  plain: LayoutBytes & { oneSnapshotBytes: number; ratio: number }
  iceberg: LayoutBytes & {
    /** The data files of the live snapshot after `cdc-apply compact` (one compacted snapshot). */
    oneSnapshotBytes: number
    ratio: number
    /** The Iceberg table's bytes against the plain layout's one date folder. */
    ratioVsPlainSnapshot: number
    snapshotsKept: number
    compactionsKept: number
    metadataVersions: number
  }
  plainRunMs: number
  icebergRunMs: number
  loadavg: string
}

export interface ReadOptions {
  work: string
  rows: number
  polls: number
  changes: number
  rounds: number
  log: (s: string) => void
}

export interface EngineRead {
  engine: string
  uncompactedMs: number
  compactedMs: number
  ratio: number
  rows: number
  agrees: boolean
}

export interface ReadResult {
  liveRows: number
  polls: number
  changesPerPoll: number
  uncompacted: { dataFiles: number; deleteFiles: number; deletedRows: number; rowsInDataFiles: number }
  compacted: { dataFiles: number; deleteFiles: number }
  pollsMs: number
  compactMs: number
  engines: EngineRead[]
  skipped: string[]
  loadavg: string
}

const row = (rng: Rng, op: string, ts: string, id: number): string =>
  op === 'D'
    ? `D,${ts},${id},,,,,,,,\n`
    : `${op},${ts},${id},${rng.int(1000)},${rng.int(100000)}.25,C${rng.int(50)},Name ${rng.int(977)},"note, ${rng.int(10000)}",delhi,${rng.int(10000) / 100},2021-01-0${1 + rng.int(9)}\n`

/** The live keys of the generated table and the next new key. */
interface Keys {
  live: Uint8Array
  list: number[]
  next: number
}

/** Writes the full load of `rows` rows (chunks: a large table is more characters than one JS string holds). */
function writeLoad(table: string, rows: number, rng: Rng): Keys {
  mkdirSync(table, { recursive: true })
  const fd = openSync(join(table, 'LOAD00000001.csv'), 'w')
  for (let id = 0; id < rows;) {
    let chunk = ''
    for (const end = Math.min(rows, id + 50_000); id < end; id++)
      chunk += row(rng, 'I', '2024-06-10 08:00:00.000000', id)
    writeSync(fd, chunk)
  }
  closeSync(fd)
  const live = new Uint8Array(rows * 2 + 16)
  live.fill(1, 0, rows)
  return { live, list: Array.from({ length: rows }, (_, i) => i), next: rows }
}

/** One change file: 90% updates and 5% deletes of distinct live keys, 5% inserts of new keys. */
function writeChanges(file: string, ts: string, n: number, keys: Keys, rng: Rng): void {
  let out = ''
  const touched = new Set<number>()
  for (let i = 0; i < n; i++) {
    const k = i % 20
    if (k === 19) {
      const id = keys.next++
      if (id >= keys.live.length) throw new Error('bench: too many inserts for the key space')
      keys.live[id] = 1
      keys.list.push(id)
      touched.add(id)
      out += row(rng, 'I', ts, id)
      continue
    }
    let id = keys.list[rng.int(keys.list.length)]!
    for (let tries = 0; (keys.live[id] === 0 || touched.has(id)) && tries < 100; tries++)
      id = keys.list[rng.int(keys.list.length)]!
    touched.add(id)
    if (k === 18) {
      keys.live[id] = 0
      out += row(rng, 'D', ts, id)
    } else out += row(rng, 'U', ts, id)
  }
  writeFileSync(file, out)
}

function dayOf(base: number, d: number): { stem: string; ts: string } {
  const iso = new Date(base + d * 86_400_000).toISOString()
  return { stem: `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}`, ts: iso.slice(0, 10) }
}

function walk(dir: string, f: (path: string, name: string, size: number) => void): void {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n)
    const s = statSync(p)
    if (s.isDirectory()) walk(p, f)
    else f(p, n, s.size)
  }
}

/** The bytes of every file under a curated table folder, by kind (Iceberg's file names, or Parquet parts). */
function layoutBytes(dir: string): LayoutBytes {
  const byKind: Record<string, number> = {}
  let dataFiles = 0
  let deleteFiles = 0
  let totalBytes = 0
  walk(dir, (p, n, size) => {
    const kind = /-deletes(-\d+)?\.parquet$/.test(n)
      ? 'deletes'
      : n.endsWith('.parquet')
        ? 'data'
        : n.endsWith('.metadata.json')
          ? 'metadataJson'
          : n.startsWith('snap-') && n.endsWith('.avro')
            ? 'manifestLists'
            : n.endsWith('.avro')
              ? 'manifests'
              : 'other'
    if (kind === 'data') dataFiles++
    if (kind === 'deletes') deleteFiles++
    byKind[kind] = (byKind[kind] ?? 0) + size
    totalBytes += size
  })
  return { totalBytes, byKind, dataFiles, deleteFiles }
}

async function openIceberg(curated: string): Promise<IcebergTable> {
  const store = new LocalStore(curated)
  return IcebergTable.open(store, 'BENCH/orders', `${storeUri(store)}/BENCH/orders`, 'BENCH.orders')
}

const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join('/')

function ok(r: Awaited<ReturnType<typeof runOnce>>, what: string): void {
  const t = r.tables[0]!
  if (t.status !== 'ok') throw new Error(`${what}: ${t.status} ${String(t.error)}`)
}

function icebergMeta(tableDir: string): {
  versions: number
  meta: { snapshots?: { summary?: Record<string, string> }[] }
} {
  const md = join(tableDir, 'metadata')
  const vs = readdirSync(md)
    .map((n) => /^v(\d+)\.metadata\.json$/.exec(n)?.[1])
    .filter((x): x is string => x !== undefined)
    .map(Number)
  const newest = Math.max(...vs)
  return {
    versions: vs.length,
    meta: JSON.parse(readFileSync(join(md, `v${newest}.metadata.json`), 'utf8')) as {
      snapshots?: { summary?: Record<string, string> }[]
    },
  }
}

/** Issue 14's storage target: D dates of 1% changes, date by date, plain and Iceberg (default settings). */
export async function runIcebergStorageCase(o: StorageOptions): Promise<StorageResult> {
  rmSync(o.work, { recursive: true, force: true })
  const landing = join(o.work, 'landing')
  const table = join(landing, 'bench', 'orders')
  const rng = new Rng(14)
  o.log(`iceberg-storage: writing a full load of ${o.rows} rows`)
  const keys = writeLoad(table, o.rows, rng)
  const plainCfg = parseConfig(benchConfig(landing, join(o.work, 'plain'), 'csv'), o.work)
  const iceCfg = parseConfig(
    { ...benchConfig(landing, join(o.work, 'iceberg'), 'csv'), tableFormat: 'iceberg' },
    o.work,
  )
  let plainMs = 0
  let iceMs = 0
  const runBoth = async (what: string): Promise<void> => {
    let t0 = performance.now()
    ok(await runOnce(plainCfg), `plain ${what}`)
    plainMs += performance.now() - t0
    t0 = performance.now()
    ok(await runOnce(iceCfg), `iceberg ${what}`)
    iceMs += performance.now() - t0
  }
  await runBoth('load')
  const changes = Math.max(1, Math.round(o.rows * o.share))
  const base = Date.UTC(2024, 5, 10)
  for (let d = 1; d <= o.dates; d++) {
    const { stem, ts } = dayOf(base, d)
    writeChanges(join(table, `${stem}-100000000.csv`), `${ts} 10:00:00.000000`, changes, keys, rng)
    await runBoth(stem)
    o.log(
      `iceberg-storage: date ${d}/${o.dates} (${stem}): plain ${(plainMs / 1000).toFixed(1)} s, iceberg ${(iceMs / 1000).toFixed(1)} s so far, load ${load()}`,
    )
  }
  const plainDir = join(o.work, 'plain', 'curated', 'BENCH', 'orders')
  const iceDir = join(o.work, 'iceberg', 'curated', 'BENCH', 'orders')
  const plain = layoutBytes(plainDir)
  const newest = readdirSync(plainDir)
    .filter((n) => /^\d{8}$/.test(n))
    .sort()
    .at(-1)!
  const plainOne = layoutBytes(join(plainDir, newest)).totalBytes
  const ice = layoutBytes(iceDir)
  const { versions, meta } = icebergMeta(iceDir)
  const snapshots = meta.snapshots ?? []
  // one compacted snapshot: compact the live table (after the measure above) and sum its live data files
  await compactTables(iceCfg, ['BENCH.orders'])
  const t = await openIceberg(join(o.work, 'iceberg', 'curated'))
  const live = await t.files(t.current()!)
  const iceOne = live.data.reduce((a, e) => a + e.data_file.file_size_in_bytes, 0)
  return {
    liveRows: keys.list.filter((k) => keys.live[k] === 1).length,
    dates: o.dates,
    changesPerDate: changes,
    plain: { ...plain, oneSnapshotBytes: plainOne, ratio: plain.totalBytes / plainOne },
    iceberg: {
      ...ice,
      oneSnapshotBytes: iceOne,
      ratio: ice.totalBytes / iceOne,
      ratioVsPlainSnapshot: ice.totalBytes / plainOne,
      snapshotsKept: snapshots.length,
      compactionsKept: snapshots.filter((s) => s.summary?.operation === 'replace').length,
      metadataVersions: versions,
    },
    plainRunMs: Math.round(plainMs),
    icebergRunMs: Math.round(iceMs),
    loadavg: load(),
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Issue 14's read target: the live table after P polls without compaction against the same table compacted. */
export async function runIcebergReadCase(o: ReadOptions): Promise<ReadResult> {
  rmSync(o.work, { recursive: true, force: true })
  const landing = join(o.work, 'landing')
  const table = join(landing, 'bench', 'orders')
  const rng = new Rng(15)
  o.log(`iceberg-read: writing a full load of ${o.rows} rows`)
  const keys = writeLoad(table, o.rows, rng)
  const curated = join(o.work, 'out', 'curated')
  const cfg: Config = parseConfig(
    {
      ...benchConfig(landing, join(o.work, 'out'), 'csv'),
      tableFormat: 'iceberg',
      // no automatic compaction: a delete share of 1 or more never compacts, nor a data-file count out of reach
      iceberg: { compactDeleteShare: 1e9, compactDataFiles: 1e9 },
    },
    o.work,
  )
  ok(await runOnce(cfg), 'iceberg-read load')
  // the polls land on the next date (the load date's RAW is not rewritten by each poll)
  const controller = new AbortController()
  let n = 0
  let pollsMs = 0
  let t0 = 0
  const drop = (): void => {
    if (n === o.polls) {
      controller.abort()
      return
    }
    const hh = String(10 + Math.floor(n / 60)).padStart(2, '0')
    const mm = String(n % 60).padStart(2, '0')
    writeChanges(join(table, `20240611-${hh}${mm}00000.csv`), `2024-06-11 ${hh}:${mm}:00.000000`, o.changes, keys, rng)
    n++
    t0 = performance.now()
  }
  drop()
  let failed: unknown
  await runWatch(cfg, {
    signal: controller.signal,
    intervalSeconds: 0.05,
    onPoll: (r) => {
      if (r.error) {
        failed = r.error
        controller.abort()
        return
      }
      if (r.status !== 'ok') return
      pollsMs += performance.now() - t0
      if (n % 10 === 0) o.log(`iceberg-read: poll ${n}/${o.polls}, load ${load()}`)
      drop()
    },
  })
  if (failed) throw failed instanceof Error ? failed : new Error(String(failed))
  let ice = await openIceberg(curated)
  const before = ice.current()!
  const files = await ice.files(before)
  const deleted = [...(await ice.deletedPositions(files)).values()].reduce((a, s) => a + s.size, 0)
  const uncompacted = {
    dataFiles: files.data.length,
    deleteFiles: files.deletes.length,
    deletedRows: deleted,
    rowsInDataFiles: files.data.reduce((a, e) => a + e.data_file.record_count, 0),
  }
  t0 = performance.now()
  const [c] = await compactTables(cfg, ['BENCH.orders'])
  const compactMs = Math.round(performance.now() - t0)
  if (c?.status !== 'compacted') throw new Error(`iceberg-read: compact left the table ${c?.status}`)
  ice = await openIceberg(curated)
  const after = ice.current()!
  const cfiles = await ice.files(after)
  const job = join(o.work, 'read-job.json')
  writeFileSync(
    job,
    JSON.stringify({
      warehouse: curated,
      namespace: 'BENCH',
      table: 'orders',
      column: 'qty',
      rounds: o.rounds,
      snapshots: [
        { name: 'uncompacted', id: before['snapshot-id'] },
        { name: 'compacted', id: after['snapshot-id'] },
      ],
    }),
  )
  const script = join(
    fileURLToPath(new URL('.', import.meta.url)),
    '..',
    '..',
    '..',
    'scripts',
    'bench',
    'iceberg_read.py',
  )
  const engines: EngineRead[] = []
  const skipped: string[] = []
  const runEngine = (engine: string, python: string | undefined, extra: string[], env: object): void => {
    if (!python || !existsSync(python)) {
      skipped.push(`${engine}: no Python for it (source /work/wt/env.sh or the setup scripts)`)
      return
    }
    o.log(`iceberg-read: reading with ${engine}, load ${load()}`)
    const r = spawnSync(python, [script, engine, job, ...extra], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
      maxBuffer: 1 << 26,
      timeout: 1_800_000,
    })
    if (r.status !== 0) throw new Error(`${engine} read failed (${r.status ?? r.signal}): ${r.stderr.slice(-3000)}`)
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      reads: Record<string, { ms: number[]; rows: number; sum: string }>
    }
    const u = out.reads.uncompacted!
    const k = out.reads.compacted!
    engines.push({
      engine,
      uncompactedMs: median(u.ms),
      compactedMs: median(k.ms),
      ratio: median(u.ms) / median(k.ms),
      rows: k.rows,
      agrees: u.rows === k.rows && u.sum === k.sum,
    })
  }
  runEngine('pyiceberg', process.env.CDC_APPLY_PYICEBERG_PYTHON, [], {})
  const jar = process.env.CDC_APPLY_ICEBERG_SPARK_JAR
  if (jar && existsSync(jar)) {
    const py = process.env.CDC_APPLY_PYSPARK_PYTHON
    runEngine('spark', py, [jar], { PYSPARK_PYTHON: py })
  } else skipped.push('spark: CDC_APPLY_ICEBERG_SPARK_JAR is not set (bash scripts/setup-iceberg-spark.sh)')
  skipped.push('duckdb: its iceberg extension is a download (INSTALL iceberg), not available offline')
  return {
    liveRows: Number(after.summary['total-records'] ?? 0),
    polls: o.polls,
    changesPerPoll: o.changes,
    uncompacted,
    compacted: { dataFiles: cfiles.data.length, deleteFiles: cfiles.deletes.length },
    pollsMs: Math.round(pollsMs),
    compactMs,
    engines,
    skipped,
    loadavg: load(),
  }
}
