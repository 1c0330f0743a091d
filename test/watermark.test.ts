// The design's watermark state machine (ops_table FullLoad, LPF), one test per state, on the design's restaurants
// example: what each run reads, what it rewrites, where the watermark ends, and that outputs match the DuckDB oracle.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig, type Config } from '../src/config.js'
import { openStores, runCycle, runOnce, type RunSummary } from '../src/run.js'
import { StateStore, type Watermark } from '../src/state/index.js'
import { EXIT, exitCodeFor, type CdcError } from '../src/errors.js'
import { DuckOracle, diffTrees, type Tree } from './helpers/duckdb-oracle.js'
import { readOutputTree, tempDir } from './helpers/outputs.js'
import type { GenTable } from './helpers/dms-gen.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

const TABLE: GenTable = {
  source: 'OP',
  name: 'restaurants',
  path: 'op/restaurants',
  format: 'csv',
  includeOpForFullLoad: true,
  columns: [
    { name: 'dms_commit_ts', type: 'timestamp' },
    { name: 'id', type: 'integer' },
    { name: 'name', type: 'string' },
    { name: 'city', type: 'string' },
    { name: 'rating', type: 'decimal(3,1)' },
  ],
  primaryKey: ['id'],
  timestampColumn: 'dms_commit_ts',
}

// The design's example: restaurant 1 inserted, updated and deleted; restaurant 2 inserted and updated.
const LOAD_0926 =
  'I,2022-09-26 08:00:00.000000,1,Spice Route,delhi,4.5\nI,2022-09-26 08:00:00.000000,2,Dosa Corner,mumbai,4.1\nI,2022-09-26 08:00:00.000000,3,"Curry, Inc",pune,3.9\n'
const LOAD_0926_B = 'I,2022-09-26 08:00:01.000000,4,"The ""Best"" Thali",,4.0\nI,2022-09-26 08:00:01.000000,5,"",goa,\n'
const CDC = {
  '20220926-091502118':
    'U,2022-09-26 09:14:01.000000,1,Spice Route,delhi,4.6\nI,2022-09-26 09:14:30.000000,6,Biryani Box,hyderabad,4.2\n',
  '20220926-135523276':
    'U,2022-09-26 13:54:20.120000,1,Spice Route,delhi,4.7\nU,2022-09-26 13:54:21.500000,2,Dosa Corner,delhi,4.3\n',
  '20220926-180000000': 'D,2022-09-26 17:59:01.000000,3,,,\nU,2022-09-26 17:59:02.000000,2,Dosa Corner,chennai,4.4\n',
  '20220927-091502118': 'D,2022-09-27 09:14:01.004000,1,,,\nI,2022-09-27 09:14:30.000000,7,"Tiffin, Co",delhi,3.5\n',
  '20220927-135523276':
    'U,2022-09-27 13:54:00.000000,2,Dosa Corner,"delhi\nnorth",4.5\nU,2022-09-27 13:54:00.000000,2,Dosa Corner,delhi,4.6\n',
  '20220927-180102003': 'I,2022-09-27 18:00:00.000000,1,Spice Route,delhi,4.8\nD,2022-09-27 18:00:01.000000,6,,,\n',
  '20220928-101010101': 'U,2022-09-28 10:10:00.000000,7,"Tiffin, Co",delhi,3.6\n',
  '20220929-081500000':
    'U,2022-09-29 08:14:00.000000,4,"The ""Best"" Thali",agra,4.1\nU,2022-09-27 23:00:00.000000,7,late,delhi,1.0\n',
  '20220929-120000000': 'I,2022-09-29 11:59:00.000000,8,Chaat Corner,,4.0\n',
  '20220930-090000000': 'U,2022-09-30 08:59:00.000000,8,Chaat Corner,delhi,4.1\n',
} as const

const LOAD_0927 =
  'I,2022-09-27 07:00:00.000000,1,Spice Route,delhi,4.5\nI,2022-09-27 07:00:00.000000,2,Dosa Corner,mumbai,4.1\n'
const CDC_0928 =
  'U,2022-09-28 10:00:00.000000,2,Dosa Corner,delhi,4.2\nI,2022-09-28 10:00:05.000000,3,Idli House,chennai,3.8\n'

let oracle: DuckOracle
before(async () => {
  oracle = await DuckOracle.create()
})
after(() => oracle.close())

interface Counted {
  summary: RunSummary
  /** Base names of the landing objects read. */
  reads: string[]
  /** Dates of the RAW and curated partitions written. */
  rawWrites: string[]
  curatedWrites: string[]
}

/** A landing folder, output folders and a state file for the restaurants table. */
class Lake {
  readonly landing: string
  readonly statePath: string
  readonly config: Config
  readonly configFile: string

  constructor(readonly dir: string) {
    this.landing = join(dir, 'landing')
    this.statePath = join(dir, 'state.sqlite')
    const json = {
      source: 'OP',
      landing: 'landing',
      raw: 'raw',
      curated: 'curated',
      state: 'state.sqlite',
      settleSeconds: 0,
      tables: [TABLE],
    }
    this.configFile = join(dir, 'cdc-apply.json')
    writeFileSync(this.configFile, JSON.stringify(json, null, 2))
    this.config = parseConfig(json, dir)
  }

  put(stem: string, text: string): void {
    const p = join(this.landing, 'op', 'restaurants', `${stem}.csv`)
    mkdirSync(dirname(p), { recursive: true })
    writeFileSync(p, text)
  }

  remove(stem: string): void {
    rmSync(join(this.landing, 'op', 'restaurants', `${stem}.csv`))
  }

  /** One cycle as a restarted process does it (fresh state handle and stores), counting what it reads and writes. */
  async run(): Promise<Counted> {
    const state = StateStore.open(this.statePath)
    const out: Counted = { summary: { tables: [], ms: 0 }, reads: [], rawWrites: [], curatedWrites: [] }
    try {
      state.lock()
      const stores = await openStores(this.config)
      const get = stores.landing.get.bind(stores.landing)
      stores.landing.get = (key, opts) => {
        out.reads.push(basename(key))
        return get(key, opts)
      }
      for (const [store, list] of [
        [stores.raw, out.rawWrites],
        [stores.curated, out.curatedWrites],
      ] as const) {
        const put = store.put.bind(store)
        store.put = (key, body, opts) => {
          if (!key.endsWith('/_cdc_apply.json')) list.push(key.split('/').at(-2)!) // the marker is no partition
          return put(key, body, opts)
        }
      }
      try {
        out.summary = await runCycle(this.config, stores, state)
      } finally {
        await Promise.all([stores.landing.close(), stores.raw.close(), stores.curated.close()])
      }
    } finally {
      state.close()
    }
    out.reads.sort()
    out.rawWrites = [...new Set(out.rawWrites)].sort()
    out.curatedWrites = [...new Set(out.curatedWrites)].sort()
    return out
  }

  /** A run that must succeed. */
  async ok(): Promise<Counted> {
    const r = await this.run()
    const t = r.summary.tables[0]!
    assert.equal(t.error, undefined, `run failed: ${(t.error as CdcError | undefined)?.code} ${t.error?.message}`)
    return r
  }

  watermark(): Omit<Watermark, 'source' | 'table'> | undefined {
    const state = StateStore.open(this.statePath)
    try {
      const w = state.get('OP', 'restaurants')
      return w && { fullLoad: w.fullLoad, lpf: w.lpf, loadDate: w.loadDate }
    } finally {
      state.close()
    }
  }

  outputs(): { raw: Tree; curated: Tree } {
    return { raw: readOutputTree(join(this.dir, 'raw')), curated: readOutputTree(join(this.dir, 'curated')) }
  }

  /** RAW and curated equal what DuckDB computes from the landing files. */
  async matchesOracle(when: string): Promise<{ raw: Tree; curated: Tree }> {
    const expected = await oracle.expected(this.landing, [TABLE])
    const actual = this.outputs()
    const raw = diffTrees(actual.raw, expected.raw, () => ['cdc_file', 'cdc_row'])
    const curated = diffTrees(actual.curated, expected.curated, () => ['id'])
    assert.deepEqual(
      [...raw, ...curated],
      [],
      `${when}: outputs differ from the DuckDB oracle:\n${[...raw, ...curated].join('\n')}`,
    )
    return actual
  }
}

async function withLake(fn: (lake: Lake) => Promise<void>): Promise<void> {
  const dir = tempDir()
  try {
    await fn(new Lake(dir.path))
  } finally {
    dir.remove()
  }
}

const P = 'OP/restaurants'

test('state (True, 20220927-135523276): a CDC-only run rewrites from the LPF date through the newest date', () =>
  withLake(async (lake) => {
    lake.put('LOAD00000001', LOAD_0926)
    for (const s of ['20220926-135523276', '20220927-091502118', '20220927-135523276'] as const) lake.put(s, CDC[s])
    await lake.ok()
    assert.deepEqual(lake.watermark(), { fullLoad: true, lpf: '20220927-135523276', loadDate: '20220926' })
    const before = await lake.matchesOracle('first run')

    lake.put('20220927-180102003', CDC['20220927-180102003'])
    lake.put('20220929-081500000', CDC['20220929-081500000'])
    const r = await lake.ok()
    assert.deepEqual(lake.watermark(), { fullLoad: true, lpf: '20220929-081500000', loadDate: '20220926' })
    // Only the new files (RAW gets parts for them; processed files are not read again): no LOAD, nothing of 0926.
    assert.deepEqual(r.reads, ['20220927-180102003.csv', '20220929-081500000.csv'])
    assert.deepEqual(r.rawWrites, ['20220927', '20220929'])
    assert.deepEqual(r.curatedWrites, ['20220927', '20220928', '20220929'])
    const now = await lake.matchesOracle('CDC-only run')
    assert.deepEqual(now.raw[`${P}/20220926`], before.raw[`${P}/20220926`])
    assert.deepEqual(now.curated[`${P}/20220926`], before.curated[`${P}/20220926`])
    assert.equal(now.raw[`${P}/20220927`]!.length, 6, 'RAW 20220927 holds the rows of its three files once each')
    // The date without files carries the previous date's table.
    assert.deepEqual(now.curated[`${P}/20220928`], now.curated[`${P}/20220927`])
  }))

test('state (True, 20220927-000000000): the load date had no change files, later dates did', () =>
  withLake(async (lake) => {
    lake.put('LOAD00000001', LOAD_0927)
    // The later file is unreadable at first, so the run stops right after committing the full load.
    lake.put('20220928-101010101', 'X,2022-09-28 10:00:00.000000,2,Dosa Corner,delhi,4.2\n')
    const bad = await lake.run()
    assert.equal((bad.summary.tables[0]!.error as CdcError | undefined)?.code, 'CDC_ROW_INVALID_OP')
    assert.deepEqual(lake.watermark(), { fullLoad: true, lpf: '20220927-000000000', loadDate: '20220927' })
    const first = lake.outputs()
    assert.deepEqual(Object.keys(first.raw), [`${P}/20220927`])
    assert.deepEqual(Object.keys(first.curated), [`${P}/20220927`])
    assert.equal(first.raw[`${P}/20220927`]!.length, 2)

    lake.put('20220928-101010101', CDC_0928)
    lake.put('20220930-090000000', 'D,2022-09-30 08:59:00.000000,1,,,\n')
    const r = await lake.ok()
    assert.deepEqual(lake.watermark(), { fullLoad: true, lpf: '20220930-090000000', loadDate: '20220927' })
    // CDC from the LPF's date: the load date has nothing new, so neither LOAD files nor its RAW are touched.
    assert.deepEqual(r.reads, ['20220928-101010101.csv', '20220930-090000000.csv'])
    assert.deepEqual(r.rawWrites, ['20220928', '20220930'])
    assert.deepEqual(r.curatedWrites, ['20220928', '20220929', '20220930'])
    const now = await lake.matchesOracle('after the fix')
    assert.deepEqual(
      now.raw[`${P}/20220927`],
      first.raw[`${P}/20220927`],
      'RAW of the load date holds only the load rows',
    )
  }))

test('state (True, 20220927-000000000) in one run: load date without change files, later dates processed at once', () =>
  withLake(async (lake) => {
    lake.put('LOAD00000001', LOAD_0927)
    lake.put('20220928-101010101', CDC_0928)
    lake.put('20220930-090000000', 'D,2022-09-30 08:59:00.000000,1,,,\n')
    const r = await lake.ok()
    assert.deepEqual(lake.watermark(), { fullLoad: true, lpf: '20220930-090000000', loadDate: '20220927' })
    assert.deepEqual(r.reads, ['20220928-101010101.csv', '20220930-090000000.csv', 'LOAD00000001.csv'])
    assert.deepEqual(r.rawWrites, ['20220927', '20220928', '20220930'])
    assert.deepEqual(r.curatedWrites, ['20220927', '20220928', '20220929', '20220930'])
    await lake.matchesOracle('one run')
  }))

test('a change file named before the load date belongs to the load date, also when a run stops after the full load', () =>
  withLake(async (lake) => {
    // The source clock is ahead of UTC: the evening full load carries timestamps of 20220927 (the load date),
    // and the change file DMS names at 21:00 UTC the same evening is dated 20220926.
    lake.put(
      'LOAD00000001',
      'I,2022-09-27 01:30:00.000000,1,Spice Route,delhi,4.5\nI,2022-09-27 01:30:00.000000,2,Dosa Corner,mumbai,4.1\n',
    )
    lake.put('20220926-210000000', 'U,2022-09-27 02:29:00.000000,1,Spice Route,delhi,4.6\n')
    lake.put('20220928-100000000', 'X,2022-09-28 15:29:00.000000,2,Dosa Corner,delhi,4.2\n')
    const bad = await lake.run()
    assert.equal((bad.summary.tables[0]!.error as CdcError | undefined)?.code, 'CDC_ROW_INVALID_OP')
    const wm = lake.watermark()
    assert.equal(wm?.loadDate, '20220927')
    assert.equal(wm?.fullLoad, true)
    const first = lake.outputs()
    assert.deepEqual(
      Object.keys(first.raw),
      [`${P}/20220927`],
      'RAW of the load date holds the load and the earlier-named change file',
    )
    assert.equal(first.raw[`${P}/20220927`]!.length, 3)

    lake.put('20220928-100000000', 'U,2022-09-28 15:29:00.000000,2,Dosa Corner,delhi,4.2\n')
    await lake.ok()
    assert.deepEqual(lake.watermark(), { fullLoad: true, lpf: '20220928-100000000', loadDate: '20220927' })
    await lake.matchesOracle('after the stopped run')
  }))

test('state (False, 20220927-000000000): a change file named before the load date arriving after the full load redoes the load date', () =>
  withLake(async (lake) => {
    // As above: the evening full load carries timestamps of 20220927; the change file written after it is named
    // at 21:00 UTC on 20220926 and belongs to the load date. It is not late: the load date is not over yet.
    lake.put(
      'LOAD00000001',
      'I,2022-09-27 01:30:00.000000,1,Spice Route,delhi,4.5\nI,2022-09-27 01:30:00.000000,2,Dosa Corner,mumbai,4.1\n',
    )
    await lake.ok()
    assert.deepEqual(lake.watermark(), { fullLoad: false, lpf: '20220927-000000000', loadDate: '20220927' })

    lake.put('20220926-210000000', 'U,2022-09-27 02:29:00.000000,1,Spice Route,delhi,4.6\n')
    const r = await lake.ok()
    assert.equal(lake.watermark()?.fullLoad, false)
    assert.equal(lake.watermark()?.loadDate, '20220927')
    assert.deepEqual(r.reads, ['20220926-210000000.csv', 'LOAD00000001.csv'])
    const now = await lake.matchesOracle('the change file of the load date')
    assert.deepEqual(Object.keys(now.raw), [`${P}/20220927`])
    assert.equal(now.raw[`${P}/20220927`]!.length, 3)
  }))

test('state (False, 20220926-135523276): new files of the load date redo the load date', () =>
  withLake(async (lake) => {
    lake.put('LOAD00000001', LOAD_0926)
    lake.put('LOAD00000002', LOAD_0926_B)
    lake.put('20220926-091502118', CDC['20220926-091502118'])
    lake.put('20220926-135523276', CDC['20220926-135523276'])
    await lake.ok()
    assert.deepEqual(lake.watermark(), { fullLoad: false, lpf: '20220926-135523276', loadDate: '20220926' })
    await lake.matchesOracle('first run')

    lake.put('20220926-180000000', CDC['20220926-180000000'])
    const r = await lake.ok()
    assert.deepEqual(lake.watermark(), { fullLoad: false, lpf: '20220926-180000000', loadDate: '20220926' })
    assert.deepEqual(r.reads, [
      '20220926-091502118.csv',
      '20220926-135523276.csv',
      '20220926-180000000.csv',
      'LOAD00000001.csv',
      'LOAD00000002.csv',
    ])
    assert.deepEqual(r.rawWrites, ['20220926'])
    assert.deepEqual(r.curatedWrites, ['20220926'])
    const now = await lake.matchesOracle('redo of the load date')
    // RAW of the load date: the load rows and every change row of the date, each once.
    const raw = now.raw[`${P}/20220926`]!
    assert.equal(raw.length, 3 + 2 + 2 + 2 + 2)
    assert.equal(
      new Set(raw.map((x) => `${String(x.cdc_file)}#${String(x.cdc_row)}`)).size,
      raw.length,
      'no duplicate rows',
    )
    assert.deepEqual(Object.keys(now.curated), [`${P}/20220926`])

    // A file of a later date ends the full load's date: FullLoad becomes True.
    lake.put('20220927-091502118', CDC['20220927-091502118'])
    await lake.ok()
    assert.deepEqual(lake.watermark(), { fullLoad: true, lpf: '20220927-091502118', loadDate: '20220926' })
    await lake.matchesOracle('first later file')
  }))

test('state (False, 20220926-000000000): a full load alone, then a change file of a later date', () =>
  withLake(async (lake) => {
    lake.put('LOAD00000001', LOAD_0926)
    lake.put('LOAD00000002', LOAD_0926_B)
    await lake.ok()
    assert.deepEqual(lake.watermark(), { fullLoad: false, lpf: '20220926-000000000', loadDate: '20220926' })
    const first = await lake.matchesOracle('full load')
    assert.deepEqual(Object.keys(first.raw), [`${P}/20220926`])
    assert.equal(first.raw[`${P}/20220926`]!.length, 5)
    assert.ok(first.raw[`${P}/20220926`]!.every((x) => x.Op === 'I'))

    lake.put('20220927-091502118', CDC['20220927-091502118'])
    const r = await lake.ok()
    assert.deepEqual(lake.watermark(), { fullLoad: true, lpf: '20220927-091502118', loadDate: '20220926' })
    assert.deepEqual(r.reads, ['20220927-091502118.csv', 'LOAD00000001.csv', 'LOAD00000002.csv'])
    assert.ok(r.rawWrites.includes('20220927') && r.curatedWrites.includes('20220927'))
    const now = await lake.matchesOracle('first change file')
    assert.deepEqual(now.raw[`${P}/20220926`], first.raw[`${P}/20220926`])
  }))

test('state (False, 20220926-000000000): a LOAD file written after the first run (the full load still going) redoes the load date', () =>
  withLake(async (lake) => {
    // DMS cuts LOAD files at MaxFileSize while the full load runs; a run may see LOAD00000001 before LOAD00000002.
    lake.put('LOAD00000001', LOAD_0926)
    await lake.ok()
    assert.deepEqual(lake.watermark(), { fullLoad: false, lpf: '20220926-000000000', loadDate: '20220926' })

    lake.put('LOAD00000002', LOAD_0926_B)
    const r = await lake.ok()
    assert.deepEqual(lake.watermark(), { fullLoad: false, lpf: '20220926-000000000', loadDate: '20220926' })
    assert.deepEqual(r.reads, ['LOAD00000001.csv', 'LOAD00000002.csv'])
    const now = await lake.matchesOracle('second LOAD file')
    assert.equal(now.raw[`${P}/20220926`]!.length, 5)
  }))

test('landing behind the watermark: CDC_LANDING_BEHIND_WATERMARK, exit code 6, nothing changed (API and CLI)', () =>
  withLake(async (lake) => {
    lake.put('LOAD00000001', LOAD_0926)
    for (const s of ['20220926-135523276', '20220927-091502118', '20220927-135523276'] as const) lake.put(s, CDC[s])
    await lake.ok()
    const wm = lake.watermark()
    assert.deepEqual(wm, { fullLoad: true, lpf: '20220927-135523276', loadDate: '20220926' })
    const before = await lake.matchesOracle('first run')

    lake.remove('20220927-135523276')
    const r = await lake.run()
    const err = r.summary.tables[0]!.error
    assert.equal((err as CdcError | undefined)?.code, 'CDC_LANDING_BEHIND_WATERMARK')
    assert.equal(exitCodeFor(err), 6)
    assert.equal(exitCodeFor(err), EXIT.behindWatermark)
    assert.deepEqual(r.rawWrites, [])
    assert.deepEqual(r.curatedWrites, [])
    assert.deepEqual(lake.watermark(), wm)
    assert.deepEqual(lake.outputs(), before)

    // runOnce reports it the same way.
    const once = await runOnce(lake.config)
    assert.equal((once.tables[0]!.error as CdcError | undefined)?.code, 'CDC_LANDING_BEHIND_WATERMARK')

    if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js')))
      execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' })
    const cli = spawnSync(
      process.execPath,
      [join(ROOT, 'bin', 'cdc-apply.js'), 'run', '--config', lake.configFile, '--json'],
      { encoding: 'utf8' },
    )
    assert.equal(cli.status, 6, `CLI exit code (stderr: ${cli.stderr.slice(0, 2000)})`)
    const out = JSON.parse(cli.stdout) as { tables: { error?: { code: string } }[] }
    assert.equal(out.tables[0]!.error?.code, 'CDC_LANDING_BEHIND_WATERMARK')
    assert.deepEqual(lake.watermark(), wm)
    assert.deepEqual(lake.outputs(), before)
  }))

test("restart: a run after a multi-date run reads only the LPF date's files and the new ones", () =>
  withLake(async (lake) => {
    lake.put('LOAD00000001', LOAD_0926)
    const history = [
      '20220926-091502118',
      '20220926-135523276',
      '20220927-091502118',
      '20220927-135523276',
      '20220928-101010101',
      '20220929-081500000',
    ] as const
    for (const s of history) lake.put(s, CDC[s])
    await lake.ok()
    assert.deepEqual(lake.watermark(), { fullLoad: true, lpf: '20220929-081500000', loadDate: '20220926' })
    await lake.matchesOracle('history')

    // A new file on the LPF's date: only it is read (RAW gets a part for it), nothing earlier.
    lake.put('20220929-120000000', CDC['20220929-120000000'])
    const same = await lake.ok()
    assert.deepEqual(same.reads, ['20220929-120000000.csv'])
    assert.deepEqual(same.rawWrites, ['20220929'])
    assert.deepEqual(same.curatedWrites, ['20220929'])
    assert.deepEqual(lake.watermark(), { fullLoad: true, lpf: '20220929-120000000', loadDate: '20220926' })
    await lake.matchesOracle('new file on the LPF date')

    // A new file on a later date: only it is read; the state comes from the LPF date's curated snapshot.
    lake.put('20220930-090000000', CDC['20220930-090000000'])
    const later = await lake.ok()
    assert.deepEqual(later.reads, ['20220930-090000000.csv'])
    // 20220929, made of two writes, is closed by this commit: its RAW is compacted (read back from RAW, not the landing).
    assert.deepEqual(later.rawWrites, ['20220929', '20220930'])
    assert.deepEqual(later.curatedWrites, ['20220930'])
    assert.deepEqual(lake.watermark(), { fullLoad: true, lpf: '20220930-090000000', loadDate: '20220926' })
    await lake.matchesOracle('new file on a later date')

    // Nothing new: nothing read, nothing written.
    const idle = await lake.ok()
    assert.deepEqual(idle.reads, [])
    assert.deepEqual([...idle.rawWrites, ...idle.curatedWrites], [])
  }))

/** A table whose 20220929 is made of two writes (not compacted yet: no later date); its RAW folder and parts. */
async function twoWrites0929(lake: Lake): Promise<{ folder: string; parts: string[] }> {
  lake.put('LOAD00000001', LOAD_0926)
  for (const s of ['20220926-091502118', '20220929-081500000'] as const) lake.put(s, CDC[s])
  await lake.ok()
  lake.put('20220929-120000000', CDC['20220929-120000000'])
  await lake.ok()
  const folder = join(lake.dir, 'raw', P, '20220929')
  const parts = readdirSync(folder).sort()
  assert.equal(parts.length, 2, parts.join(', '))
  return { folder, parts }
}

test('a compaction that crashed before its commit leaves parts of other names (rowsPerFile changed): the retry removes them', () =>
  withLake(async (lake) => {
    const { folder, parts } = await twoWrites0929(lake)
    // plant what a crashed compaction under a smaller rowsPerFile leaves: compacted parts (the date's rows again)
    // under names the next compaction does not write.
    const stem = /^(part-\d{8}-\d{9}-\d{8}-\d{9})-/.exec(parts[0]!)?.[1]
    assert.ok(stem !== undefined, `a streaming part name: ${parts[0]}`)
    copyFileSync(join(folder, parts[0]!), join(folder, `part-20220929-081500000-20220929-120000000-c00007.parquet`))
    copyFileSync(join(folder, parts[1]!), join(folder, `part-20220929-081500000-20220929-120000000-c00008.parquet`))

    lake.put('20220930-090000000', CDC['20220930-090000000'])
    await lake.ok()
    const after = readdirSync(folder).sort()
    assert.ok(
      after.length > 0 && after.every((n) => /-c\d{5}\.parquet$/.test(n) && !/-c0000[78]\./.test(n)),
      after.join(', '),
    )
    await lake.matchesOracle('after the compaction that found a crashed one’s parts')
  }))

test('a whole-date RAW part on a date after the committed LPF’s date (an older version or the Spark job wrote it, then crashed before its commit) is a leftover: removed, not adopted', () =>
  withLake((done) =>
    withLake(async (lake) => {
      // `done` holds the same table with 20220929 committed: its RAW part of that date is what the crash left
      lake.put('LOAD00000001', LOAD_0926)
      done.put('LOAD00000001', LOAD_0926)
      for (const s of ['20220926-091502118', '20220927-091502118', '20220929-081500000'] as const) done.put(s, CDC[s])
      await done.ok()
      for (const s of ['20220926-091502118', '20220927-091502118'] as const) lake.put(s, CDC[s])
      await lake.ok()
      // past the full load (a FullLoad False watermark redoes the load, which rebuilds every date anyway)
      assert.deepEqual(lake.watermark(), { fullLoad: true, lpf: '20220927-091502118', loadDate: '20220926' })
      const from = join(done.dir, 'raw', P, '20220929')
      const [part] = readdirSync(from)
      const to = join(lake.dir, 'raw', P, '20220929')
      mkdirSync(to, { recursive: true })
      copyFileSync(join(from, part!), join(to, 'part-00000.parquet'))

      lake.put('20220929-081500000', CDC['20220929-081500000'])
      await lake.ok()
      assert.ok(!readdirSync(to).includes('part-00000.parquet'), readdirSync(to).join(', '))
      await lake.matchesOracle('a leftover whole-date part after the LPF’s date')
    }),
  ))

test('a compaction that fails (a part it cannot read) does not stop the dates after it; a later commit compacts', () =>
  withLake(async (lake) => {
    const { folder, parts } = await twoWrites0929(lake)
    const broken = join(folder, parts[0]!)
    const good = readFileSync(broken)
    writeFileSync(broken, 'not parquet')
    lake.put('20220930-090000000', CDC['20220930-090000000'])
    const r = await lake.ok()
    assert.deepEqual(r.curatedWrites, ['20220930'])
    assert.equal(lake.watermark()?.lpf, '20220930-090000000')
    assert.deepEqual(readdirSync(folder).sort(), parts, 'not compacted')
    writeFileSync(broken, good)
    lake.put('20220930-120000000', CDC['20220930-090000000'].replace('08:59', '11:59'))
    await lake.ok()
    assert.ok(
      readdirSync(folder).every((n) => /-c\d{5}\.parquet$/.test(n)),
      readdirSync(folder).join(', '),
    )
    await lake.matchesOracle('compacted by a later commit')
  }))
