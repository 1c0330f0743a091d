// cdc-apply verify and snapshot --as-of: verify passes on clean runs and on every bundled fixture, catches a
// tampered curated file and names the keys, finds seeded differences in an extract (CSV and Parquet, with the
// documented normalisation), and a snapshot as of every file boundary (and of commit times) equals a small
// reference model computed here from the RAW rows. The CLI bodies are called with a fake io.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import { parseConfig, type Config, type TableConfig } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { EXIT } from '../src/errors.js'
import { silentLogger } from '../src/log.js'
import { lastVerify, verify, type DateCheck, type TableCheck } from '../src/check/verify.js'
import { snapshotAsOf } from '../src/check/snapshot.js'
import { verifyCommand } from '../src/cli/verify.js'
import { snapshotCommand } from '../src/cli/snapshot.js'
import { parquetRows, parquetSchema, readOutputTree, sortRows, tempDir, type Row } from './helpers/outputs.js'
import { startMinio } from './helpers/minio.js'
import { S3Store } from '../src/store/s3-store.js'

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

// ---------------------------------------------------------------- a small DMS bucket with two tables

const ITEMS = {
  name: 'items',
  path: 'shop/items',
  columns: [
    { name: 'dms_commit_ts', type: 'timestamp' },
    { name: 'id', type: 'integer' },
    { name: 'name' },
    { name: 'price', type: 'decimal(10,2)' },
    { name: 'qty', type: 'integer' },
    { name: 'seen', type: 'date' },
    { name: 'ok', type: 'boolean' },
    { name: 'score', type: 'double' },
  ],
  primaryKey: ['id'],
  timestampColumn: 'dms_commit_ts',
}

const LINES = {
  name: 'lines',
  path: 'shop/lines',
  columns: [
    { name: 'order_id', type: 'integer' },
    { name: 'line', type: 'integer' },
    { name: 'seq', type: 'integer' },
    { name: 'item' },
  ],
  primaryKey: ['order_id', 'line'],
  sequenceColumn: 'seq',
}

const BUCKET: Record<string, string> = {
  // load date 20240301 (the greatest timestamp of the load)
  'shop/items/LOAD00000001.csv': [
    '2024-03-01 08:00:00.000000,1,Apple,1.50,10,2024-01-01,t,0.5',
    '2024-03-01 08:00:00.000000,2,Banana,0.25,20,2024-01-02,f,1.25',
    '2024-03-01 08:00:00.000000,3,Cherry,3.00,30,,t,',
    '2024-03-01 08:00:00.000000,4,,4.00,40,2024-01-04,,2.5',
    '2024-03-01 08:00:00.000000,5,"",5.00,50,2024-01-05,t,3',
  ].join('\n'),
  'shop/items/20240301-101500000.csv': [
    'U,2024-03-01 10:14:00.000000,2,Banana split,0.30,21,2024-01-02,f,1.25',
    'I,2024-03-01 10:14:30.000000,6,Fig,6.00,60,2024-01-06,t,6',
  ].join('\n'),
  'shop/items/20240302-120000000.csv': [
    'D,2024-03-02 11:59:00.000000,3,,,,,,',
    'U,2024-03-02 11:59:10.000000,1,Apple,1.55,11,2024-01-01,t,0.5',
    'U,2024-03-02 11:59:10.000000,1,Apple,1.60,12,2024-01-01,t,0.5',
  ].join('\n'),
  // no files on 20240303; a re-insert, a stale update (older timestamp), a delete and an update of an unknown key
  'shop/items/20240304-090000000.csv': [
    'I,2024-03-04 08:59:00.000000,3,Cherry again,3.50,33,2024-01-03,t,3.5',
    'U,2024-03-01 09:00:00.000000,2,Stale banana,0.10,1,2024-01-02,f,0',
    'D,2024-03-04 08:59:30.000000,6,,,,,,',
    'U,2024-03-04 08:59:40.000000,7,Ghost,7.00,70,2024-01-07,t,7',
  ].join('\n'),
  // no timestamp column: the load date is the LOAD object's modification time (set below); order by seq
  'shop/lines/LOAD00000001.csv': ['1,1,100,widget', '2,1,100,bolt'].join('\n'),
  'shop/lines/20240301-110000000.csv': ['U,1,1,101,widget v2', 'I,1,2,102,gadget'].join('\n'),
  'shop/lines/20240302-100000000.csv': ['D,1,2,103,', 'U,1,1,100,old'].join('\n'),
}

interface Setup {
  dir: string
  config: Config
  remove: () => void
}

async function setup(files: Record<string, string> = BUCKET): Promise<Setup> {
  const tmp = tempDir('cdc-apply-verify-')
  const landing = join(tmp.path, 'landing')
  for (const [key, text] of Object.entries(files)) {
    const f = join(landing, ...key.split('/'))
    mkdirSync(dirname(f), { recursive: true })
    writeFileSync(f, text + '\n')
    const when = new Date('2024-03-01T06:00:00Z')
    utimesSync(f, when, when)
  }
  const config = parseConfig(
    {
      source: 'SHOP',
      landing: 'landing',
      raw: 'out/raw',
      curated: 'out/curated',
      state: 'out/state.sqlite',
      tables: [ITEMS, LINES],
    },
    tmp.path,
  )
  config.raw = join(tmp.path, 'out', 'raw')
  config.curated = join(tmp.path, 'out', 'curated')
  config.state = join(tmp.path, 'out', 'state.sqlite')
  const summary = await runOnce(config)
  for (const t of summary.tables) assert.equal(t.error, undefined, `${t.table}: ${t.error?.message}`)
  return { dir: tmp.path, config, remove: tmp.remove }
}

function fakeIo(): { out: string; err: string; stdout(s: string): void; stderr(s: string): void } {
  return {
    out: '',
    err: '',
    stdout(s) {
      this.out += s
    },
    stderr(s) {
      this.err += s
    },
  }
}

function curatedFile(config: Config, table: string, date: string): string {
  return join(config.curated, 'SHOP', table, date, 'part-00000.parquet')
}

/** Rewrites a Parquet file with DuckDB: `select` reads the old content as the view `f`. */
async function rewriteParquet(file: string, select: string): Promise<void> {
  const inst = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    allow_community_extensions: 'false',
  })
  const conn = await inst.connect()
  try {
    await conn.run(`CREATE VIEW f AS SELECT * FROM read_parquet('${file}')`)
    await conn.run(`COPY (${select}) TO '${file}.new' (FORMAT parquet)`)
  } finally {
    conn.closeSync()
    inst.closeSync()
  }
  renameSync(`${file}.new`, file)
}

async function duckCopy(sql: string, to: string, format: 'parquet' | 'csv'): Promise<void> {
  const inst = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    allow_community_extensions: 'false',
  })
  const conn = await inst.connect()
  try {
    await conn.run(`SET TimeZone = 'UTC'`)
    await conn.run(`COPY (${sql}) TO '${to}' (FORMAT ${format}${format === 'csv' ? ', HEADER' : ''})`)
  } finally {
    conn.closeSync()
    inst.closeSync()
  }
}

function tableCheck(report: { tables: TableCheck[] }, table: string): TableCheck {
  const t = report.tables.find((x) => x.table === table)
  assert.ok(t, `no report for ${table}`)
  return t
}

function dateCheck(t: TableCheck, date: string): DateCheck {
  const d = t.dates.find((x) => x.date === date)
  assert.ok(d, `no check of ${date} in ${t.table}: ${t.dates.map((x) => x.date).join(', ')}`)
  return d
}

// ---------------------------------------------------------------- verify against RAW

test('verify: a clean multi-date run is equal on every date of every table, and the outcome is recorded', async (t) => {
  const s = await setup()
  t.after(s.remove)
  const report = await verify(s.config)
  assert.equal(report.verdict, 'equal', JSON.stringify(report, null, 1))
  const items = tableCheck(report, 'items')
  assert.deepEqual(
    items.dates.map((d) => d.date),
    ['20240301', '20240302', '20240303', '20240304'],
  )
  assert.deepEqual(
    items.dates.map((d) => d.expectedRows),
    [6, 5, 5, 6],
  )
  assert.equal(items.rawDates, 3)
  assert.equal(items.rawRows, 14)
  assert.deepEqual(items.columns.compared, [
    'dms_commit_ts',
    'id',
    'name',
    'price',
    'qty',
    'seen',
    'ok',
    'score',
    'cdc_file',
    'cdc_row',
  ])
  const lines = tableCheck(report, 'lines')
  assert.equal(lines.verdict, 'equal')
  assert.deepEqual(
    lines.dates.map((d) => [d.date, d.expectedRows]),
    [
      ['20240301', 3],
      ['20240302', 2],
    ],
  )

  const runs = lastVerify(s.config.state)
  assert.deepEqual(
    runs.map((r) => [r.source, r.table, r.date, r.verdict, r.missing, r.extra, r.differ, r.against]),
    [
      ['SHOP', 'items', '20240301..20240304', 'equal', 0, 0, 0, null],
      ['SHOP', 'lines', '20240301..20240302', 'equal', 0, 0, 0, null],
    ],
  )
  assert.ok(!Number.isNaN(Date.parse(runs[0]!.checkedAt)))

  const one = await verify(s.config, { table: 'SHOP.items', date: '20240302' })
  assert.equal(one.verdict, 'equal')
  assert.deepEqual(
    one.tables.map((x) => x.dates.map((d) => d.date)),
    [['20240302']],
  )
  assert.equal(lastVerify(s.config.state).find((r) => r.table === 'items')!.date, '20240302')
})

test('verify: a tampered curated file (a value changed, a row missing, an extra row) is a mismatch naming the keys', async (t) => {
  const s = await setup()
  t.after(s.remove)
  await rewriteParquet(
    curatedFile(s.config, 'items', '20240302'),
    `SELECT * REPLACE (CASE WHEN id = 2 THEN 'tampered' ELSE name END AS name) FROM f WHERE id <> 4
     UNION ALL SELECT * REPLACE (CAST(99 AS BIGINT) AS id) FROM f WHERE id = 1`,
  )
  const report = await verify(s.config)
  assert.equal(report.verdict, 'mismatch')
  const items = tableCheck(report, 'items')
  assert.equal(items.verdict, 'mismatch')
  assert.equal(tableCheck(report, 'lines').verdict, 'equal')
  assert.deepEqual(
    items.dates.map((d) => d.verdict),
    ['equal', 'mismatch', 'equal', 'equal'],
  )
  const d = dateCheck(items, '20240302')
  assert.deepEqual([d.expectedRows, d.curatedRows, d.missing, d.extra, d.differ, d.duplicates], [5, 5, 1, 1, 1, 0])
  assert.deepEqual(d.missingKeys, [{ id: '4' }])
  assert.deepEqual(d.extraKeys, [{ id: '99' }])
  assert.deepEqual(d.differing, [
    { key: { id: '2' }, columns: [{ column: 'name', expected: 'Banana split', curated: 'tampered' }] },
  ])
  assert.deepEqual(
    lastVerify(s.config.state).map((r) => [r.table, r.verdict, r.missing, r.extra, r.differ]),
    [
      ['items', 'mismatch', 1, 1, 1],
      ['lines', 'equal', 0, 0, 0],
    ],
  )

  // the CLI body: exit 8 and a report that names the keys
  const io = fakeIo()
  assert.equal(
    await verifyCommand(s.config, { table: 'SHOP.items', json: false }, io, silentLogger),
    EXIT.verifyMismatch,
  )
  assert.match(io.out, /20240302: missing \(recomputed from RAW, not in curated\): id=4/)
  assert.match(io.out, /20240302: extra \(in curated, not recomputed from RAW\): id=99/)
  assert.match(io.out, /id=2: name recomputed "Banana split", curated "tampered"/)
  assert.match(io.out, /verdict: MISMATCH \(1 of 4 dates differ, first 20240302\)/)
  const json = fakeIo()
  assert.equal(await verifyCommand(s.config, { json: true, limit: 0 }, json, silentLogger), EXIT.verifyMismatch)
  const parsed = JSON.parse(json.out) as { verdict: string; tables: TableCheck[] }
  assert.equal(parsed.verdict, 'mismatch')
  assert.deepEqual(dateCheck(tableCheck(parsed, 'items'), '20240302').missingKeys, [])
})

test('verify: provenance (cdc_file, cdc_row), duplicated keys and composite keys are checked too', async (t) => {
  const s = await setup()
  t.after(s.remove)
  await rewriteParquet(
    curatedFile(s.config, 'items', '20240304'),
    `SELECT * REPLACE (CASE WHEN id = 3 THEN cdc_row + 1 ELSE cdc_row END AS cdc_row) FROM f UNION ALL SELECT * FROM f WHERE id = 5`,
  )
  await rewriteParquet(
    curatedFile(s.config, 'lines', '20240302'),
    `SELECT * REPLACE (CASE WHEN order_id = 2 THEN 'nut' ELSE item END AS item) FROM f`,
  )
  const report = await verify(s.config, { limit: 5 })
  const d = dateCheck(tableCheck(report, 'items'), '20240304')
  assert.deepEqual([d.missing, d.extra, d.differ, d.duplicates], [0, 0, 1, 1])
  assert.deepEqual(d.differing, [{ key: { id: '3' }, columns: [{ column: 'cdc_row', expected: '1', curated: '2' }] }])
  assert.deepEqual(d.duplicateKeys, [{ key: { id: '5' }, side: 'curated', copies: 2 }])
  const l = dateCheck(tableCheck(report, 'lines'), '20240302')
  assert.deepEqual(l.differing, [
    { key: { order_id: '2', line: '1' }, columns: [{ column: 'item', expected: 'bolt', curated: 'nut' }] },
  ])
})

test('verify: a missing curated partition is a mismatch; a missing RAW partition cannot be checked (CDC_SNAPSHOT_MISSING)', async (t) => {
  const s = await setup()
  t.after(s.remove)
  rmSync(dirname(curatedFile(s.config, 'items', '20240303')), { recursive: true })
  const r1 = await verify(s.config, { table: 'SHOP.items' })
  const d = dateCheck(tableCheck(r1, 'items'), '20240303')
  assert.equal(d.snapshotMissing, true)
  assert.equal(d.verdict, 'mismatch')
  assert.equal(d.missing, 5)
  assert.deepEqual(
    d.missingKeys.map((k) => k.id),
    ['1', '2', '4', '5', '6'],
  )

  rmSync(join(s.config.raw, 'SHOP', 'lines', '20240302'), { recursive: true })
  const r2 = await verify(s.config, { table: 'SHOP.lines' })
  const lines = tableCheck(r2, 'lines')
  assert.equal(lines.verdict, 'error')
  assert.equal((lines.error as { code?: string }).code, 'CDC_SNAPSHOT_MISSING')
  assert.match(lines.error!.message, /RAW partition of 20240302/)
  const io = fakeIo()
  assert.equal(await verifyCommand(s.config, { table: 'SHOP.lines', json: false }, io, silentLogger), EXIT.data)
  assert.match(io.out, /not checked: CDC_SNAPSHOT_MISSING/)
})

test('verify: bad arguments exit 2 with CDC_USAGE; a table never run is skipped', async (t) => {
  const s = await setup()
  t.after(s.remove)
  for (const args of [
    { table: 'SHOP.nope' },
    { date: '20240231' },
    { date: '2024-03-01' },
    { against: join(s.dir, 'nothing.csv') },
    { table: 'SHOP.items', against: join(s.dir, 'nothing.csv') },
    { limit: -1 },
  ]) {
    const io = fakeIo()
    assert.equal(
      await verifyCommand(s.config, { json: false, ...args }, io, silentLogger),
      EXIT.usage,
      JSON.stringify(args),
    )
    assert.match(io.err, /^cdc-apply: CDC_USAGE: /, JSON.stringify(args))
  }
  const io = fakeIo()
  assert.equal(
    await verifyCommand(s.config, { table: 'SHOP.items', date: '20240310', json: false }, io, silentLogger),
    EXIT.data,
  )
  assert.match(io.out, /CDC_SNAPSHOT_MISSING: table SHOP.items: there is no curated snapshot of 20240310/)

  const fresh = {
    ...s.config,
    tables: [...s.config.tables, { ...s.config.tables[0]!, name: 'never', path: 'shop/never' } as TableConfig],
  }
  const r = await verify(fresh, { table: 'SHOP.never' })
  assert.equal(r.verdict, 'equal')
  assert.equal(r.tables[0]!.verdict, 'skipped')
})

// ---------------------------------------------------------------- verify --against an extract

test('verify --against a CSV extract: seeded differences are found, normalised values are equal, unmatched columns are reported', async (t) => {
  const s = await setup()
  t.after(s.remove)
  // The curated table at 20240304: 1 Apple 1.60 12, 2 Banana split, 3 Cherry again 33, 4 (name NULL), 5 (name ""), 7 Ghost.
  const csv = join(s.dir, 'extract.csv')
  writeFileSync(
    csv,
    [
      'ID,name,price,qty,dms_commit_ts,ok,score,region',
      '1,Apple,1.6,12.0,2024-03-02T11:59:10Z,true,0.50,north', // equal after normalisation
      '2,Banana split,0.30,21,2024-03-01 11:14:00+01:00,f,1.25,north', // equal: the offset is converted to UTC
      '3,Cherry again,3.50,34,2024-03-04 08:59:00,t,3.5,south', // qty differs
      '4,"",4.00,abc,2024-03-01 08:00:00,,2.5,south', // name "" vs NULL, qty unreadable
      '5,"",5.00,50,2024-03-01 08:00:00.000000,t,3,east', // "" equals the empty string
      '8,Kiwi,8.00,80,2024-03-04 09:00:00,t,8,east', // only in the extract
    ].join('\n') + '\n',
  )
  const report = await verify(s.config, { table: 'SHOP.items', against: csv })
  const items = tableCheck(report, 'items')
  assert.equal(items.mode, 'extract')
  assert.equal(items.verdict, 'mismatch')
  assert.deepEqual(items.columns, {
    compared: ['dms_commit_ts', 'id', 'name', 'price', 'qty', 'ok', 'score'],
    onlyExpected: ['region'],
    onlyCurated: ['seen'],
    typeDiffers: [],
  })
  const d = dateCheck(items, '20240304')
  assert.deepEqual([d.expectedRows, d.curatedRows, d.missing, d.extra, d.differ, d.duplicates], [6, 6, 1, 1, 2, 0])
  assert.deepEqual(d.missingKeys, [{ id: '8' }])
  assert.deepEqual(d.extraKeys, [{ id: '7' }])
  assert.deepEqual(d.differing, [
    { key: { id: '3' }, columns: [{ column: 'qty', expected: '34', curated: '33' }] },
    {
      key: { id: '4' },
      columns: [
        { column: 'name', expected: '', curated: null },
        { column: 'qty', expected: 'abc', curated: '40' },
      ],
    },
  ])
  const run = lastVerify(s.config.state).find((r) => r.table === 'items')!
  assert.deepEqual(
    [run.date, run.verdict, run.missing, run.extra, run.differ, run.against],
    ['20240304', 'mismatch', 1, 1, 2, csv],
  )

  const io = fakeIo()
  assert.equal(
    await verifyCommand(
      s.config,
      { table: 'SHOP.items', against: csv, date: '20240304', json: false },
      io,
      silentLogger,
    ),
    EXIT.verifyMismatch,
  )
  assert.match(io.out, /against extract .*extract\.csv \(curated snapshot of 20240304\)/)
  assert.match(io.out, /id=4: name extract "", curated NULL; qty extract "abc", curated "40"/)
  assert.match(io.out, /columns only in the extract \(not compared\): region/)
  assert.match(io.out, /columns only in curated \(not compared\): seen/)

  // An extract of an older date: against the curated snapshot of that date.
  const old = join(s.dir, 'old.csv')
  writeFileSync(old, 'id,name\n1,Apple\n2,Banana split\n4,\n5,""\n6,Fig\n')
  const r2 = await verify(s.config, { table: 'SHOP.items', against: old, date: '20240302' })
  assert.equal(r2.verdict, 'equal', JSON.stringify(r2.tables[0]!.dates))
})

test('verify --against a folder of Parquet files: types are normalised (TIMESTAMPTZ, DOUBLE), NULL and "" stay distinct', async (t) => {
  const s = await setup()
  t.after(s.remove)
  const cur = curatedFile(s.config, 'items', '20240304')
  const folder = join(s.dir, 'extract')
  mkdirSync(folder)
  await duckCopy(
    `SELECT * EXCLUDE (cdc_file, cdc_row) REPLACE (CAST(dms_commit_ts AS TIMESTAMPTZ) AS dms_commit_ts, CAST(price AS DOUBLE) AS price) FROM read_parquet('${cur}') WHERE id <= 3`,
    join(folder, 'a.parquet'),
    'parquet',
  )
  await duckCopy(
    `SELECT * EXCLUDE (cdc_file, cdc_row) REPLACE (CASE WHEN id = 4 THEN '' ELSE name END AS name, CASE WHEN id = 7 THEN qty + 1 ELSE qty END AS qty) FROM read_parquet('${cur}') WHERE id > 3`,
    join(folder, 'b.parquet'),
    'parquet',
  )
  const report = await verify(s.config, { table: 'SHOP.items', against: folder })
  const d = dateCheck(tableCheck(report, 'items'), '20240304')
  assert.deepEqual([d.expectedRows, d.curatedRows, d.missing, d.extra, d.differ], [6, 6, 0, 0, 2])
  assert.deepEqual(d.differing, [
    { key: { id: '4' }, columns: [{ column: 'name', expected: '', curated: null }] },
    { key: { id: '7' }, columns: [{ column: 'qty', expected: '71', curated: '70' }] },
  ])
  assert.deepEqual(tableCheck(report, 'items').columns.onlyCurated, [])

  // the extract equal to the curated table
  rmSync(folder, { recursive: true })
  mkdirSync(folder)
  await duckCopy(
    `SELECT * EXCLUDE (cdc_file, cdc_row) FROM read_parquet('${cur}')`,
    join(folder, 'all.parquet'),
    'parquet',
  )
  const io = fakeIo()
  assert.equal(
    await verifyCommand(s.config, { table: 'SHOP.items', against: folder, json: true }, io, silentLogger),
    EXIT.ok,
  )
  assert.equal((JSON.parse(io.out) as { verdict: string }).verdict, 'equal')
})

// ---------------------------------------------------------------- the bundled fixtures

interface CaseSpec {
  runs?: (string | string[] | { folders: string[]; without?: string[] })[]
  mtime?: string
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })
}

/** Every fixture with a config and no expected error, run as test/cases.test.ts runs it (case.json runs, mtime). */
function fixtureDirs(): string[] {
  const cases = join(ROOT, 'fixtures', 'cases')
  const dirs = [
    join(ROOT, 'fixtures', 'demo'),
    ...(existsSync(cases) ? readdirSync(cases).map((n) => join(cases, n)) : []),
  ]
  return dirs
    .filter(
      (d) =>
        statSync(d).isDirectory() &&
        existsSync(join(d, 'cdc-apply.json')) &&
        !existsSync(join(d, 'expected', 'error.json')),
    )
    .sort()
}

async function runFixture(caseDir: string, tmp: string): Promise<Config> {
  const json = JSON.parse(readFileSync(join(caseDir, 'cdc-apply.json'), 'utf8')) as Record<string, unknown>
  const spec: CaseSpec = existsSync(join(caseDir, 'case.json'))
    ? (JSON.parse(readFileSync(join(caseDir, 'case.json'), 'utf8')) as CaseSpec)
    : {}
  const landing = String(json.landing)
  const copied = spec.runs !== undefined || spec.mtime !== undefined
  const config = parseConfig(json, caseDir)
  config.settleSeconds = 0 // fixtures are copied just before the run
  config.landing = copied ? join(tmp, landing) : join(caseDir, landing)
  config.raw = join(tmp, 'raw')
  config.curated = join(tmp, 'curated')
  config.state = join(tmp, 'state.sqlite')
  for (const entry of spec.runs ?? ['bucket']) {
    const folders = typeof entry === 'string' ? [entry] : Array.isArray(entry) ? entry : entry.folders
    const without = typeof entry === 'object' && !Array.isArray(entry) ? (entry.without ?? []) : []
    if (copied) {
      rmSync(join(tmp, 'bucket'), { recursive: true, force: true })
      for (const folder of folders) cpSync(join(caseDir, folder), join(tmp, 'bucket'), { recursive: true })
      for (const f of walk(join(tmp, 'bucket'))) {
        if (without.includes(basename(f))) rmSync(f)
        else if (spec.mtime !== undefined) utimesSync(f, new Date(spec.mtime), new Date(spec.mtime))
      }
    }
    const summary = await runOnce(config)
    for (const r of summary.tables)
      assert.equal(r.error, undefined, `${basename(caseDir)}: ${r.table}: ${r.error?.message}`)
  }
  return config
}

test('verify is equal on every bundled fixture (fixtures/demo and fixtures/cases/* without an expected error)', async (t) => {
  const dirs = fixtureDirs()
  assert.ok(dirs.length >= 2, 'fixtures found')
  for (const dir of dirs) {
    await t.test(basename(dir), async () => {
      const tmp = tempDir('cdc-apply-verify-fixture-')
      try {
        const config = await runFixture(dir, tmp.path)
        const report = await verify(config)
        const bad = report.tables.filter((x) => x.verdict !== 'equal' && x.verdict !== 'skipped')
        assert.deepEqual(
          bad.map((x) => `${x.source}.${x.table}: ${x.verdict} ${x.error?.message ?? ''}`),
          [],
          JSON.stringify(bad, null, 1),
        )
        assert.ok(
          report.tables.some((x) => x.verdict === 'equal' && x.dates.length > 0),
          'at least one table was checked',
        )
      } finally {
        tmp.remove()
      }
    })
  }
})

// ---------------------------------------------------------------- snapshot --as-of against a reference model

type Cmp = string | number | bigint | null

interface Change {
  op: string
  key: string
  ts: Cmp
  seq: Cmp
  kind: number
  stem: string
  row: bigint
  /** The RAW partition the change is in. */
  date: string
  /** The row as the curated output holds it: data columns, cdc_file, cdc_row. */
  values: Row
}

function cmp(a: Cmp, b: Cmp): number {
  if (a === b) return 0
  if (a === null) return -1
  if (b === null) return 1
  return a < b ? -1 : a > b ? 1 : 0
}

/** The order (ts, seq, file rank, row), NULL lowest: the greater change wins. */
function later(a: Change, b: Change): boolean {
  return (cmp(a.ts, b.ts) || cmp(a.seq, b.seq) || a.kind - b.kind || cmp(a.stem, b.stem) || cmp(a.row, b.row)) > 0
}

/**
 * The reference model, from docs/semantics.md: per key (a Map) the greatest change by (ts, seq, file rank, row)
 * among the included changes, RAW date by date; a date after the first whose RAW holds full-load rows is a table
 * reload and starts the map again (unless none of its full-load rows is included: the reload had not started).
 * Live = the winners that are not deletes.
 */
function model(changes: Change[], include: (c: Change) => boolean, lastDate?: string): Row[] {
  const dates = [...new Set(changes.map((c) => c.date))].sort()
  let best = new Map<string, Change>()
  // The table's columns: those of the RAW dates read so far (a column joins the table with the first date that has it).
  let columns = new Set<string>()
  for (const [i, d] of dates.entries()) {
    if (lastDate !== undefined && d > lastDate) break
    const rows = changes.filter((c) => c.date === d)
    if (i > 0 && rows.some((c) => c.kind === 0)) {
      if (!rows.some((c) => c.kind === 0 && include(c))) break
      best = new Map()
      columns = new Set()
    }
    for (const c of rows) {
      if (!include(c)) continue
      if (c.op !== 'D' || Object.keys(c.values).length > 0) for (const k of Object.keys(c.values)) columns.add(k)
      const w = best.get(c.key)
      if (w === undefined || later(c, w)) best.set(c.key, c)
    }
  }
  const live = [...best.values()].filter((c) => c.op !== 'D')
  return sortRows(live.map((c) => Object.fromEntries([...columns].map((k) => [k, c.values[k] ?? null]))))
}

/** A canonical value (readOutputTree's form) as something that orders like the typed value. */
function orderable(v: Row[string] | undefined, arrowType: string | undefined): Cmp {
  if (v === null || v === undefined) return null
  if (typeof v === 'boolean') return v ? 1 : 0
  if (arrowType !== undefined && /^(Int|Uint|Timestamp)/.test(arrowType) && typeof v === 'string') return BigInt(v)
  return v
}

/** `2024-03-01 08:00:00.5+01:00` → microseconds since the epoch (UTC when no zone); null when not a timestamp. */
function textMicros(s: string): bigint | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})?$/.exec(s.trim())
  if (!m) return null
  let us =
    BigInt(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) * 1000n + BigInt((m[7] ?? '').padEnd(6, '0'))
  if (m[8] && m[8] !== 'Z') {
    const sign = m[8].startsWith('-') ? -1n : 1n
    const digits = m[8].slice(1).replace(':', '')
    us -= sign * (BigInt(Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000_000n)
  }
  return us
}

function microsText(us: bigint): string {
  const ms = us / 1000n
  const iso = new Date(Number(ms)).toISOString()
  return `${iso.slice(0, 19)}.${(us % 1_000_000n).toString().padStart(6, '0')}Z`
}

/** Every change in the table's RAW, plus the deletes of moved keys (primary-key updates with before-image columns). */
function rawChanges(config: Config, t: TableConfig): Change[] {
  const rawDir = join(config.raw, t.source, t.name)
  const files = walk(rawDir).filter((x) => x.endsWith('.parquet'))
  const types = new Map<string, string>()
  for (const f of files)
    for (const s of parquetSchema(readFileSync(f))) types.set(s.slice(0, s.indexOf(':')), s.slice(s.indexOf(':') + 1))
  const bi = (t as TableConfig & { beforeImageColumns?: Record<string, string> }).beforeImageColumns
  const changes: Change[] = []
  for (const f of files) {
    const date = basename(dirname(f))
    for (const r of parquetRows(readFileSync(f))) {
      const { Op, ...values } = r
      const file = String(values.cdc_file)
      const c: Change = {
        op: String(Op),
        key: JSON.stringify(t.primaryKey.map((k) => values[k] ?? null)),
        ts: t.timestampColumn === undefined ? null : orderable(values[t.timestampColumn], types.get(t.timestampColumn)),
        seq: t.sequenceColumn === undefined ? null : orderable(values[t.sequenceColumn], types.get(t.sequenceColumn)),
        kind: file.startsWith('LOAD') ? 0 : 1,
        stem: file.slice(0, file.indexOf('.')),
        row: BigInt(String(values.cdc_row)),
        date,
        values,
      }
      changes.push(c)
      if (bi !== undefined && c.op === 'U') {
        const old = t.primaryKey.map((k) => values[bi[k]!] ?? null)
        if (old.every((v) => v !== null) && JSON.stringify(old) !== c.key)
          changes.push({ ...c, op: 'D', key: JSON.stringify(old), values: {} })
      }
    }
  }
  return changes
}

/** Checks snapshot --as-of at every file boundary (and at several commit times) against the model. */
async function checkAsOf(config: Config, t: TableConfig, tmp: string, timePicks = Infinity): Promise<number> {
  const label = `${t.source}.${t.name}`
  const changes = rawChanges(config, t)
  const first = changes.reduce((m, c) => (c.date < m ? c.date : m), '99999999')
  // File boundaries: every change file, and the LOAD files of the first full load (a LOAD name means that one).
  const byStem = new Map<string, { kind: number; stem: string; name: string }>()
  for (const c of changes)
    if (c.kind === 1 || c.date === first)
      byStem.set(c.stem, { kind: c.kind, stem: c.stem, name: String(c.values.cdc_file) })
  const files = [...byStem.values()].sort((a, b) => a.kind - b.kind || cmp(a.stem, b.stem))
  let checks = 0
  for (const [i, f] of files.entries()) {
    const out = join(tmp, `${label}-file-${i}.parquet`)
    const r = await snapshotAsOf(config, { table: label, asOf: i % 2 === 0 ? f.name : f.stem, out })
    const lastDate = f.kind === 0 ? first : f.stem.slice(0, 8) > first ? f.stem.slice(0, 8) : first
    const expected = model(changes, (c) => c.kind < f.kind || (c.kind === f.kind && c.stem <= f.stem), lastDate)
    assert.deepEqual(sortRows(parquetRows(readFileSync(out))), expected, `${label} as of ${f.name}`)
    assert.equal(r.rows, expected.length)
    assert.equal(r.kind, 'file')
    checks++
  }
  const types = new Map(
    parquetSchema(readFileSync(walk(join(config.raw, t.source, t.name)).find((x) => x.endsWith('.parquet'))!)).map(
      (s) => [s.slice(0, s.indexOf(':')), s.slice(s.indexOf(':') + 1)],
    ),
  )
  const tsType = t.timestampColumn === undefined ? undefined : types.get(t.timestampColumn)
  if (tsType !== undefined && (/^Timestamp/.test(tsType) || tsType === 'Utf8')) {
    const micros = (c: Change): bigint | null =>
      c.ts === null ? null : typeof c.ts === 'bigint' ? c.ts : textMicros(String(c.ts))
    const times = [...new Set(changes.map(micros).filter((x): x is bigint => x !== null))].sort((a, b) =>
      a < b ? -1 : a > b ? 1 : 0,
    )
    // Just before the first commit (nothing), then spread over the commit times, always including the last.
    const step = Math.max(1, Math.ceil(times.length / Math.max(1, timePicks - 2)))
    const picks = [...new Set([times[0]! - 1n, ...times.filter((_, i) => i % step === 0), times.at(-1)!])]
    for (const [i, us] of picks.entries()) {
      const out = join(tmp, `${label}-time-${i}.parquet`)
      const r = await snapshotAsOf(config, { table: label, asOf: microsText(us), out })
      const expected = model(changes, (c) => {
        const m = micros(c)
        return m === null || m <= us
      })
      assert.deepEqual(sortRows(parquetRows(readFileSync(out))), expected, `${label} at ${microsText(us)}`)
      assert.equal(r.kind, 'time')
      checks++
    }
  }
  return checks
}

test('snapshot --as-of every file boundary and several commit times equals the reference model (own bucket)', async (t) => {
  const s = await setup()
  t.after(s.remove)
  let checks = 0
  for (const table of s.config.tables) checks += await checkAsOf(s.config, table, s.dir)
  assert.ok(checks >= 8, `checks: ${checks}`)

  // As of the last file of a date, the snapshot equals the curated snapshot of that date.
  const out = join(s.dir, 'asof-0302.parquet')
  await snapshotAsOf(s.config, { table: 'SHOP.items', asOf: '20240302-120000000.csv', out })
  assert.deepEqual(sortRows(parquetRows(readFileSync(out))), readOutputTree(s.config.curated)['SHOP/items/20240302'])
})

test('snapshot --as-of equals the reference model at every file boundary of every bundled fixture', async (t) => {
  for (const dir of fixtureDirs()) {
    await t.test(basename(dir), async () => {
      const tmp = tempDir('cdc-apply-asof-fixture-')
      try {
        const config = await runFixture(dir, tmp.path)
        for (const table of config.tables) {
          if (!existsSync(join(config.raw, table.source, table.name))) continue
          await checkAsOf(config, table, tmp.path, 4)
        }
      } finally {
        tmp.remove()
      }
    })
  }
})

// ---------------------------------------------------------------- the rules beyond the chain

const RULE_TABLES = [
  {
    // primary-key updates: a U row with a different before-image key moves the row
    name: 'people',
    path: 'r/people',
    columns: [
      { name: 'ts', type: 'timestamp' },
      { name: 'id', type: 'integer' },
      { name: 'name' },
      { name: 'BI_id', type: 'integer' },
    ],
    primaryKey: ['id'],
    timestampColumn: 'ts',
    beforeImageColumns: { id: 'BI_id' },
  },
  {
    // schema drift: a header CSV whose later files carry a new column
    name: 'staff',
    path: 'r/staff',
    header: true,
    columns: [{ name: 'ts', type: 'timestamp' }, { name: 'id', type: 'integer' }, { name: 'name' }],
    primaryKey: ['id'],
    timestampColumn: 'ts',
  },
  {
    // bad rows set aside: RAW holds the other rows with their row numbers
    name: 'bad',
    path: 'r/bad',
    columns: [
      { name: 'ts', type: 'timestamp' },
      { name: 'id', type: 'integer' },
      { name: 'qty', type: 'integer' },
    ],
    primaryKey: ['id'],
    timestampColumn: 'ts',
    onBadRow: 'quarantine',
  },
  {
    // a DMS table reload: the table starts again from the new full load
    name: 'reloaded',
    path: 'r/reloaded',
    columns: [{ name: 'ts', type: 'timestamp' }, { name: 'id', type: 'integer' }, { name: 'v' }],
    primaryKey: ['id'],
    timestampColumn: 'ts',
    onReload: 'reset',
  },
]

const RULE_FILES: Record<string, string> = {
  'r/people/LOAD00000001.csv': '2024-03-01 08:00:00,1,Ann,\n2024-03-01 08:00:00,2,Bob,',
  'r/people/20240301-120000000.csv': 'U,2024-03-01 11:00:00,77,Ann,1\nU,2024-03-01 11:00:01,2,Bobby,2',
  'r/people/20240302-100000000.csv':
    'U,2024-03-02 09:00:00,88,Bobby,2\nI,2024-03-01 10:00:00,1,Ann late,\nU,2024-03-02 09:30:00,88,Bobby B,',
  'r/staff/LOAD00000001.csv': 'ts,id,name\n2024-03-01 08:00:00,1,a',
  'r/staff/20240302-100000000.csv': 'Op,ts,id,name,phone\nU,2024-03-02 09:00:00,1,b,555\nI,2024-03-02 09:00:01,2,c,',
  'r/bad/LOAD00000001.csv': '2024-03-01 08:00:00,1,10\n2024-03-01 08:00:00,2,20',
  'r/bad/20240302-100000000.csv':
    'U,2024-03-02 09:00:00,1,11\nU,2024-03-02 09:00:01,2\nU,2024-03-02 09:00:02,2,oops\nI,2024-03-02 09:00:03,3,30',
  'r/reloaded/LOAD00000001.csv': '2024-03-01 08:00:00,1,old1\n2024-03-01 08:00:00,2,old2\n2024-03-01 08:00:00,3,old3',
  'r/reloaded/20240301-120000000.csv': 'U,2024-03-01 11:00:00,1,old1b',
  'r/reloaded/20240302-120000000.csv': 'D,2024-03-02 11:00:00,2,\nI,2024-03-02 11:00:01,4,old4',
}

/** After the first run: the table is reloaded on 3 March at 16:00 (key 3 is gone from the source by then). */
const RELOAD_FILES: Record<string, string> = {
  'r/reloaded/LOAD00000001.csv': '2024-03-03 15:59:00,1,new1\n2024-03-03 15:59:00,4,new4\n2024-03-03 15:59:00,5,new5',
  'r/reloaded/20240303-100000000.csv': 'U,2024-03-03 09:59:00,3,superseded', // written before the reload: superseded
  'r/reloaded/20240303-170000000.csv': 'U,2024-03-03 16:59:00,5,new5b',
  'r/reloaded/20240304-090000000.csv': 'D,2024-03-04 08:59:00,1,\nI,2024-03-04 08:59:01,6,new6',
}

/** Chosen columns of rows, ordered by the numeric id. */
function pick(rows: Row[] | undefined, ...cols: string[]): unknown[][] {
  return (rows ?? []).map((r) => cols.map((c) => r[c] ?? null)).sort((a, b) => Number(a[0]) - Number(b[0]))
}

function writeLanding(landing: string, files: Record<string, string>, mtime: string): void {
  for (const [key, text] of Object.entries(files)) {
    const f = join(landing, ...key.split('/'))
    mkdirSync(dirname(f), { recursive: true })
    writeFileSync(f, text + '\n')
    utimesSync(f, new Date(mtime), new Date(mtime))
  }
}

test('verify and snapshot --as-of follow primary-key moves, schema drift, quarantined rows and table reloads', async (t) => {
  const tmp = tempDir('cdc-apply-verify-rules-')
  t.after(tmp.remove)
  const landing = join(tmp.path, 'landing')
  writeLanding(landing, RULE_FILES, '2024-03-02T13:00:00Z')
  const config = parseConfig(
    {
      source: 'R',
      landing,
      raw: join(tmp.path, 'raw'),
      curated: join(tmp.path, 'curated'),
      state: join(tmp.path, 'state.sqlite'),
      tables: RULE_TABLES,
    },
    tmp.path,
  )
  const run = async (): Promise<void> => {
    const summary = await runOnce(config)
    for (const r of summary.tables) assert.equal(r.error, undefined, `${r.table}: ${r.error?.message}`)
  }
  await run()
  const check = async (when: string): Promise<void> => {
    const report = await verify(config)
    assert.deepEqual(
      report.tables.map((x) => [x.table, x.verdict]),
      RULE_TABLES.map((x) => [x.name, 'equal']),
      `${when}: ${JSON.stringify(
        report.tables.filter((x) => x.verdict !== 'equal'),
        null,
        1,
      )}`,
    )
    for (const table of config.tables) await checkAsOf(config, table, tmp.path, 4)
  }
  await check('first run')
  const curated = readOutputTree(config.curated)
  assert.deepEqual(pick(curated['R/people/20240302'], 'id', 'name'), [
    ['77', 'Ann'],
    ['88', 'Bobby B'],
  ])
  assert.deepEqual(pick(curated['R/staff/20240302'], 'id', 'phone'), [
    ['1', '555'],
    ['2', null],
  ])
  assert.deepEqual(pick(curated['R/bad/20240302'], 'id', 'qty'), [
    ['1', '11'],
    ['2', '20'],
    ['3', '30'],
  ])

  writeLanding(landing, RELOAD_FILES, '2024-03-03T16:00:00Z')
  await run()
  await check('after the reload')
  const reloaded = readOutputTree(config.curated)
  assert.deepEqual(pick(reloaded['R/reloaded/20240302'], 'id', 'v'), [
    ['1', 'old1b'],
    ['3', 'old3'],
    ['4', 'old4'],
  ])
  assert.deepEqual(pick(reloaded['R/reloaded/20240303'], 'id', 'v'), [
    ['1', 'new1'],
    ['4', 'new4'],
    ['5', 'new5b'],
  ])

  // A file superseded by the reload is not in RAW any more.
  const io = fakeIo()
  assert.equal(
    await snapshotCommand(
      config,
      { table: 'R.reloaded', asOf: '20240303-100000000.csv', out: join(tmp.path, 'x.parquet'), json: false },
      io,
      silentLogger,
    ),
    EXIT.usage,
  )
  assert.match(io.err, /superseded by a table reload/)
  // As of a time before the reload: the old history.
  const before = join(tmp.path, 'before.parquet')
  await snapshotAsOf(config, { table: 'R.reloaded', asOf: '2024-03-03T12:00:00Z', out: before })
  assert.deepEqual(sortRows(parquetRows(readFileSync(before))), reloaded['R/reloaded/20240302'])
})

test('snapshotCommand: writes a file or a folder, prints what it wrote; bad arguments exit 2', async (t) => {
  const s = await setup()
  t.after(s.remove)
  const io = fakeIo()
  const folder = join(s.dir, 'snap-folder')
  assert.equal(
    await snapshotCommand(
      s.config,
      { table: 'SHOP.items', asOf: '2024-03-02T11:59:05Z', out: folder, json: false },
      io,
      silentLogger,
    ),
    EXIT.ok,
  )
  assert.match(
    io.out,
    /^SHOP\.items at 2024-03-02 11:59:05 UTC \(the changes committed at or before it\): 5 rows \(1 deleted keys left out\) written to .*part-00000\.parquet/,
  )
  assert.deepEqual(
    parquetRows(readFileSync(join(folder, 'part-00000.parquet'))).map((r) => r.id),
    ['1', '2', '4', '5', '6'],
  ) // ordered by key

  const json = fakeIo()
  const file = join(s.dir, 'lines.parquet')
  assert.equal(
    await snapshotCommand(
      s.config,
      { table: 'SHOP.lines', asOf: 'LOAD00000001', out: file, json: true },
      json,
      silentLogger,
    ),
    EXIT.ok,
  )
  const r = JSON.parse(json.out) as { rows: number; kind: string; asOf: string; datesRead: string[]; written: string }
  assert.deepEqual([r.rows, r.kind, r.asOf, r.datesRead, r.written], [2, 'file', 'LOAD00000001', ['20240301'], file])

  for (const [args, pattern] of [
    [{ table: 'SHOP.lines', asOf: '2024-03-01T00:00:00Z', out: file }, /needs the table's timestampColumn/],
    [{ table: 'SHOP.items', asOf: '20240305-000000000.csv', out: file }, /is not in RAW/],
    [{ table: 'SHOP.items', asOf: 'yesterday', out: file }, /neither a DMS file name nor a timestamp/],
    [{ table: 'SHOP.nope', asOf: 'LOAD00000001', out: file }, /is not configured/],
    [{ table: 'SHOP.items', asOf: 'LOAD00000001', out: '' }, /--out is required/],
  ] as const) {
    const e = fakeIo()
    assert.equal(
      await snapshotCommand(s.config, { ...args, json: false }, e, silentLogger),
      EXIT.usage,
      JSON.stringify(args),
    )
    assert.match(e.err, pattern)
  }
})

test('on S3 (MinIO): verify against RAW and against an s3:// extract, snapshot to an s3:// file and folder', async (t) => {
  const minio = await startMinio(t)
  if (minio === undefined) return
  const s = await setup()
  t.after(async () => {
    await minio.stop()
    s.remove()
  })
  await minio.createBucket('lake')
  await minio.upload(s.config.raw, 'lake', 'raw')
  await minio.upload(s.config.curated, 'lake', 'curated')
  const extract = join(s.dir, 'export')
  mkdirSync(extract)
  writeFileSync(join(extract, 'items.csv'), 'id,name\n1,Apple\n2,Banana split\n3,Cherry again\n4,\n5,""\n7,Ghost\n')
  await minio.upload(extract, 'lake', 'export')
  const config: Config = { ...s.config, raw: 's3://lake/raw', curated: 's3://lake/curated', s3: minio.s3Options }

  const report = await verify(config)
  assert.equal(
    report.verdict,
    'equal',
    JSON.stringify(report.tables.map((x) => [x.table, x.verdict, x.error?.message])),
  )
  assert.deepEqual(
    report.tables.map((x) => x.dates.length),
    [4, 2],
  )
  for (const against of ['s3://lake/export/items.csv', 's3://lake/export', 's3://lake/export/']) {
    const r = await verify(config, { table: 'SHOP.items', against })
    assert.equal(
      r.verdict,
      'equal',
      `${against}: ${JSON.stringify(r.tables[0]!.dates[0] ?? r.tables[0]!.error?.message)}`,
    )
  }

  const local = join(s.dir, 'local.parquet')
  await snapshotAsOf(s.config, { table: 'SHOP.items', asOf: '20240302-120000000', out: local })
  const file = await snapshotAsOf(config, {
    table: 'SHOP.items',
    asOf: '20240302-120000000',
    out: 's3://lake/snapshots/items-0302.parquet',
  })
  assert.equal(file.written, 's3://lake/snapshots/items-0302.parquet')
  const folder = await snapshotAsOf(config, {
    table: 'SHOP.items',
    asOf: '20240302-120000000',
    out: 's3://lake/snapshots/items',
  })
  assert.equal(folder.written, 's3://lake/snapshots/items/part-00000.parquet')
  const store = new S3Store('s3://lake/snapshots', { s3: minio.s3Options })
  try {
    const expected = sortRows(parquetRows(readFileSync(local)))
    assert.deepEqual(sortRows(parquetRows(await store.get('items-0302.parquet'))), expected)
    assert.deepEqual(sortRows(parquetRows(await store.get('items/part-00000.parquet'))), expected)
  } finally {
    await store.close()
  }
})
