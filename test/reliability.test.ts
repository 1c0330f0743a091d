// Reliability: late, replayed, rewritten and vanished files; table reloads; primary-key moves; duplicates; reset;
// and one coded error for each kind of bad input, with the watermark left where it was.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { mkdirSync, rmSync, utimesSync, writeFileSync, copyFileSync, readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { join, dirname } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseConfig, loadConfig, type Config } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { resetTable } from '../src/reset.js'
import { StateStore } from '../src/state/index.js'
import { CdcError } from '../src/errors.js'
import { parquetSchema, readOutputTree, tempDir, type Row } from './helpers/outputs.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = join(root, 'bin', 'cdc-apply.js')
const TABLE = 'shop/items'

function table(extra: object = {}): object {
  return {
    name: 'items',
    path: TABLE,
    includeOpForFullLoad: true,
    columns: [{ name: 'ts' }, { name: 'id', type: 'integer' }, { name: 'name' }, { name: 'bi_id', type: 'integer' }],
    primaryKey: ['id'],
    timestampColumn: 'ts',
    ...extra,
  }
}

interface Lake {
  dir: string
  put(name: string, text: string | Uint8Array, mtime?: Date): void
  remove(name: string): void
  config(extra?: object, top?: object): Config
  run(extra?: object, top?: object): Promise<Awaited<ReturnType<typeof runOnce>>['tables'][number]>
  curated(date: string): Row[]
  wm(): { fullLoad: boolean; lpf: string } | undefined
}

function lake(t: { after: (fn: () => void) => void }): Lake {
  const tmp = tempDir('cdc-rel-')
  t.after(tmp.remove)
  const landing = join(tmp.path, 'landing')
  const l: Lake = {
    dir: tmp.path,
    put(name, text, mtime) {
      const p = join(landing, TABLE, name)
      mkdirSync(dirname(p), { recursive: true })
      writeFileSync(p, text)
      if (mtime) utimesSync(p, mtime, mtime)
    },
    remove(name) {
      rmSync(join(landing, TABLE, name))
    },
    config(extra = {}, top = {}) {
      return parseConfig(
        {
          source: 'S',
          landing,
          raw: 'out/raw',
          curated: 'out/curated',
          state: 'out/state.sqlite',
          settleSeconds: 0,
          tables: [table(extra)],
          ...top,
        },
        tmp.path,
      )
    },
    async run(extra = {}, top = {}) {
      return (await runOnce(l.config(extra, top))).tables[0]!
    },
    curated(date) {
      return readOutputTree(join(tmp.path, 'out', 'curated'))[`S/items/${date}`] ?? []
    },
    wm() {
      const s = StateStore.open(join(tmp.path, 'out', 'state.sqlite'))
      try {
        return s.get('S', 'items')
      } finally {
        s.close()
      }
    },
  }
  return l
}

const LOAD = 'I,2024-06-10 08:00:00.000000,1,apple,\nI,2024-06-10 08:00:00.000000,2,pear,\n'
const names = (rows: Row[]): string[] => rows.map((r) => `${r.id}:${r.name}`).sort()

test('a change file that arrives after the LPF moved past its name stops the table with CDC_LATE_FILE naming it; the watermark stays', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put('20240610-100000000.csv', 'U,2024-06-10 09:59:00.000000,1,apple v2,\n')
  l.put('20240611-100000000.csv', 'U,2024-06-11 09:59:00.000000,2,pear v2,\n')
  assert.equal((await l.run()).error, undefined)
  const before = l.wm()
  l.put('20240610-120000000.csv', 'U,2024-06-10 11:59:00.000000,1,apple v3,\n')
  const r = await l.run()
  assert.equal((r.error as CdcError).code, 'CDC_LATE_FILE')
  assert.match(r.error!.message, /20240610-120000000\.csv/)
  assert.deepEqual(l.wm(), before)
  // reprocess: the table is rebuilt with the late file in its place
  const again = await l.run({ lateFiles: 'reprocess' })
  assert.equal(again.error, undefined)
  assert.deepEqual(names(l.curated('20240610')), ['1:apple v3', '2:pear'])
  assert.deepEqual(names(l.curated('20240611')), ['1:apple v3', '2:pear v2'])
  assert.equal((await l.run()).status, 'unchanged')
})

test('a processed file delivered again unchanged (a copied folder: new mtime, same bytes) is a no-op; one whose content changed is late', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put('20240611-100000000.csv', 'U,2024-06-11 09:59:00.000000,2,pear v2,\n')
  l.put('20240612-100000000.csv', 'D,2024-06-12 09:59:00.000000,2,,\n')
  assert.equal((await l.run()).error, undefined)
  l.put('20240611-100000000.csv', 'U,2024-06-11 09:59:00.000000,2,pear v2,\n', new Date(Date.now() + 60_000))
  assert.equal((await l.run()).status, 'unchanged')
  l.put('20240611-100000000.csv', 'U,2024-06-11 09:59:00.000000,2,pear v9,\n', new Date(Date.now() + 120_000))
  assert.equal(((await l.run()).error as CdcError).code, 'CDC_LATE_FILE')
})

test('a second full load (a DMS table reload) is detected: CDC_RELOAD_DETECTED, or with onReload "reset" the table is rebuilt from it', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD, new Date('2024-06-10T08:00:00Z'))
  l.put('20240610-100000000.csv', 'I,2024-06-10 09:59:00.000000,3,plum,\n')
  l.put('20240611-100000000.csv', 'U,2024-06-11 09:59:00.000000,1,apple v2,\n')
  assert.equal((await l.run()).error, undefined)
  // the reload: the source now holds 1 and 4 only; a change after it
  l.put(
    'LOAD00000001.csv',
    'I,2024-06-12 08:00:00.000000,1,apple v2,\nI,2024-06-12 08:00:00.000000,4,fig,\n',
    new Date('2024-06-12T08:00:05Z'),
  )
  l.put('20240612-100000000.csv', 'U,2024-06-12 09:59:00.000000,4,fig v2,\n')
  const r = await l.run()
  assert.equal((r.error as CdcError).code, 'CDC_RELOAD_DETECTED')
  const again = await l.run({ onReload: 'reset' })
  assert.equal(again.error, undefined, again.error?.message)
  assert.deepEqual(names(l.curated('20240612')), ['1:apple v2', '4:fig v2'])
  // later runs do not take the superseded change files for late ones
  l.put('20240613-100000000.csv', 'D,2024-06-13 09:59:00.000000,1,,\n')
  const next = await l.run({ onReload: 'reset' })
  assert.equal(next.error, undefined, next.error?.message)
  assert.deepEqual(names(l.curated('20240613')), ['4:fig v2'])
})

test('a primary-key update with before-image columns deletes the old key; without them the old key stays (documented limitation)', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put('20240611-100000000.csv', 'U,2024-06-11 09:59:00.000000,77,apple,1\n')
  assert.equal((await l.run({ beforeImageColumns: { id: 'bi_id' } })).error, undefined)
  assert.deepEqual(names(l.curated('20240611')), ['2:pear', '77:apple'])
  const m = lake(t)
  m.put('LOAD00000001.csv', LOAD)
  m.put('20240611-100000000.csv', 'U,2024-06-11 09:59:00.000000,77,apple,1\n')
  assert.equal((await m.run()).error, undefined)
  assert.deepEqual(names(m.curated('20240611')), ['1:apple', '2:pear', '77:apple'])
})

test('a key move whose new-key row is stale still deletes the old key at its point of the order (unless the old key changed later)', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  // key 77 is inserted at 10:00; a later file brings the move 1 -> 77 committed at 09:00: its row for 77 loses to the
  // insert, but as a change of key 1 it is the newest one, so key 1 is deleted
  l.put('20240611-100000000.csv', 'I,2024-06-11 10:00:00.000000,77,kiwi,\n')
  l.put(
    '20240611-110000000.csv',
    'U,2024-06-11 09:00:00.000000,77,apple,1\nU,2024-06-11 08:00:00.000000,88,pear moved,2\nU,2024-06-11 08:30:00.000000,2,pear v2,\n',
  )
  const r = await l.run({ beforeImageColumns: { id: 'bi_id' } })
  assert.equal(r.error, undefined, r.error?.message)
  // key 2: moved to 88 at 08:00 but updated itself at 08:30, so key 2 stands with its update, and 88 lives too
  assert.deepEqual(names(l.curated('20240611')), ['2:pear v2', '77:kiwi', '88:pear moved'])
})

test('rows repeated in a later file (a task restart) do not change the data', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  const changes = 'U,2024-06-11 09:59:00.000000,1,apple v2,\nD,2024-06-11 09:59:01.000000,2,,\n'
  l.put('20240611-100000000.csv', changes)
  l.put('20240611-110000000.csv', changes)
  assert.equal((await l.run()).error, undefined)
  assert.deepEqual(names(l.curated('20240611')), ['1:apple v2'])
})

test('a table folder that disappears (DMS TRUNCATE/DROP) is CDC_TABLE_FOLDER_MISSING, or no-files when marked gone on purpose; its outputs are left as they were', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put('20240611-100000000.csv', 'U,2024-06-11 09:59:00.000000,1,apple v2,\n')
  assert.equal((await l.run()).error, undefined)
  const before = readOutputTree(join(l.dir, 'out', 'curated'))
  rmSync(join(l.dir, 'landing', TABLE), { recursive: true })
  const r = await l.run()
  assert.equal((r.error as CdcError).code, 'CDC_TABLE_FOLDER_MISSING')
  assert.deepEqual(readOutputTree(join(l.dir, 'out', 'curated')), before)
  const ignored = await l.run({ missingFolder: 'ignore' })
  assert.equal(ignored.status, 'no-files')
  assert.deepEqual(readOutputTree(join(l.dir, 'out', 'curated')), before)
})

test('reset forgets a table: outputs, watermark and ledger go, and the next run reprocesses it', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put('20240611-100000000.csv', 'U,2024-06-11 09:59:00.000000,1,apple v2,\n')
  assert.equal((await l.run()).error, undefined)
  const cfgPath = join(l.dir, 'c.json')
  writeFileSync(
    cfgPath,
    JSON.stringify({
      source: 'S',
      landing: 'landing',
      raw: 'out/raw',
      curated: 'out/curated',
      state: 'out/state.sqlite',
      settleSeconds: 0,
      tables: [table()],
    }),
  )
  const refused = spawnSync(process.execPath, [bin, 'reset', '-c', cfgPath, '--table', 'S.items'], { encoding: 'utf8' })
  assert.equal(refused.status, 2)
  const r = spawnSync(process.execPath, [bin, 'reset', '-c', cfgPath, '--table', 'S.items', '--yes'], {
    encoding: 'utf8',
  })
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(readOutputTree(join(l.dir, 'out', 'curated')), {})
  assert.equal(l.wm(), undefined)
  assert.equal((await runOnce(loadConfig(cfgPath))).tables[0]!.files, 2)
  await assert.rejects(resetTable(loadConfig(cfgPath), 'S.nope'), (e: CdcError) => e.code === 'CDC_USAGE')
})

// ---------------------------------------------------------------- bad input: one coded error each, at file:line

const BAD: [string, string, (l: Lake) => void, RegExp][] = [
  [
    'truncated gzip',
    'CDC_GZIP_INVALID',
    (l) =>
      l.put(
        '20240612-100000000.csv.gz',
        gzipSync(Buffer.from('U,2024-06-11 09:59:00.000000,1,x,\n'.repeat(50))).subarray(0, 30),
      ),
    /20240612-100000000\.csv\.gz/,
  ],
  ['zero-byte file', 'CDC_FILE_EMPTY', (l) => l.put('20240612-100000000.csv', ''), /20240612-100000000\.csv is empty/],
  [
    'malformed DMS-looking name',
    'CDC_FILE_NAME_INVALID',
    (l) => l.put('20241311-100000000.csv', 'U,2024-06-11 09:59:00.000000,1,x,\n'),
    /20241311-100000000\.csv/,
  ],
  [
    'unterminated quote at the end of the file',
    'CDC_CSV_UNTERMINATED_QUOTE',
    (l) =>
      l.put('20240612-100000000.csv', 'U,2024-06-12 09:59:00.000000,1,x,\nU,2024-06-12 09:59:00.000000,2,"open,\n'),
    /20240612-100000000\.csv:2/,
  ],
  [
    'invalid UTF-8',
    'CDC_CSV_INVALID_UTF8',
    (l) =>
      l.put(
        '20240612-100000000.csv',
        Buffer.concat([Buffer.from('U,2024-06-12 09:59:00.000000,1,'), Buffer.from([0xc3, 0x28]), Buffer.from(',\n')]),
      ),
    /20240612-100000000\.csv:1/,
  ],
]

for (const [what, code, make, where] of BAD) {
  test(`bad input, ${what}: ${code} naming the object, watermark unchanged, no partial output`, async (t) => {
    const l = lake(t)
    l.put('LOAD00000001.csv', LOAD)
    l.put('20240610-100000000.csv', 'U,2024-06-10 09:59:00.000000,1,apple v2,\n')
    l.put('20240610-235900000.csv', 'U,2024-06-10 23:58:00.000000,2,pear v2,\n')
    assert.equal((await l.run()).error, undefined)
    // past the full load's date, so that the failing run has nothing else to commit
    l.put('20240611-000100000.csv', 'U,2024-06-11 00:00:30.000000,2,pear v3,\n')
    assert.equal((await l.run()).error, undefined)
    assert.equal(l.wm()!.fullLoad, true)
    const before = {
      wm: l.wm(),
      curated: readOutputTree(join(l.dir, 'out', 'curated')),
      raw: readOutputTree(join(l.dir, 'out', 'raw')),
    }
    make(l)
    const r = await l.run()
    assert.equal((r.error as CdcError)?.code, code, r.error?.message)
    assert.match(r.error!.message, where)
    assert.match(r.error!.message, /S\.items/)
    assert.deepEqual(
      {
        wm: l.wm(),
        curated: readOutputTree(join(l.dir, 'out', 'curated')),
        raw: readOutputTree(join(l.dir, 'out', 'raw')),
      },
      before,
    )
  })
}

test('bad Parquet input: a truncated file is CDC_PARQUET_INVALID, a file missing a configured column is CDC_PARQUET_COLUMN_MISSING', async (t) => {
  const fixture = join(root, 'fixtures', 'cases', 'realistic-parquet', 'bucket')
  const cfgJson = JSON.parse(
    readFileSync(join(root, 'fixtures', 'cases', 'realistic-parquet', 'cdc-apply.json'), 'utf8'),
  )
  const tbl = cfgJson.tables[0]
  const tmp = tempDir('cdc-rel-pq-')
  t.after(tmp.remove)
  const src = join(fixture, 'dms', tbl.path)
  const { readdirSync } = await import('node:fs')
  const files = readdirSync(src).sort()
  const landing = join(tmp.path, 'landing')
  mkdirSync(join(landing, tbl.path), { recursive: true })
  for (const f of files) copyFileSync(join(src, f), join(landing, tbl.path, f))
  const last = files.filter((f) => !f.startsWith('LOAD')).pop()!
  writeFileSync(join(landing, tbl.path, last), readFileSync(join(src, last)).subarray(0, 100))
  const cfg = (extra: object) =>
    parseConfig(
      {
        ...cfgJson,
        landing,
        raw: 'out/raw',
        curated: 'out/curated',
        state: 'out/state.sqlite',
        settleSeconds: 0,
        tables: [{ ...tbl, ...extra }],
      },
      tmp.path,
    )
  const r = (await runOnce(cfg({}))).tables[0]!
  assert.equal((r.error as CdcError).code, 'CDC_PARQUET_INVALID')
  assert.match(r.error!.message, new RegExp(last.replace('.', '\\.')))
  copyFileSync(join(src, last), join(landing, tbl.path, last))
  const fileCols = parquetSchema(readFileSync(join(src, 'LOAD00000001.parquet')))
    .map((c) => c.split(':')[0]!)
    .filter((c) => c !== 'Op')
  const withExtra = [...fileCols.map((name) => ({ name })), { name: 'not_in_files' }]
  const r2 = (
    await runOnce(
      parseConfig(
        {
          ...cfgJson,
          landing,
          raw: 'out2/raw',
          curated: 'out2/curated',
          state: 'out2/state.sqlite',
          settleSeconds: 0,
          tables: [{ ...tbl, columns: withExtra }],
        },
        tmp.path,
      ),
    )
  ).tables[0]!
  assert.equal((r2.error as CdcError).code, 'CDC_PARQUET_COLUMN_MISSING')
  assert.match(r2.error!.message, /not_in_files/)
})

const CONFIGS: [string, unknown, RegExp][] = [
  ['unknown key', { landing: 'a', raw: 'b', curated: 'c', state: 'd', tables: [], colour: 1 }, /\$\.colour/],
  [
    'wrong type',
    { landing: 'a', raw: 'b', curated: 'c', state: 'd', tables: {} },
    /\$\.tables is invalid: expected an array/,
  ],
  [
    'duplicate tables',
    { source: 'S', landing: 'a', raw: 'b', curated: 'c', state: 'd', tables: [table(), table()] },
    /\$\.tables\[1\]/,
  ],
  [
    'a table path escaping the landing',
    { source: 'S', landing: 'a', raw: 'b', curated: 'c', state: 'd', tables: [table({ path: '../x' })] },
    /\$\.tables\[0\]\.path/,
  ],
  [
    'a source name with a slash',
    { source: 'S/..', landing: 'a', raw: 'b', curated: 'c', state: 'd', tables: [table()] },
    /\$\.tables\[0\]\.source/,
  ],
  [
    'a table name with ..',
    { source: 'S', landing: 'a', raw: 'b', curated: 'c', state: 'd', tables: [table({ name: '..' })] },
    /\$\.tables\[0\]\.name/,
  ],
]
for (const [what, json, where] of CONFIGS) {
  test(`invalid config, ${what}: CDC_CONFIG_INVALID with the JSON path`, () => {
    assert.throws(
      () => parseConfig(json, '/tmp'),
      (e: CdcError) => e.code === 'CDC_CONFIG_INVALID' && where.test(e.message),
    )
  })
}

test('a config file that is not JSON is CDC_CONFIG_INVALID and the CLI exits 2', (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  writeFileSync(join(tmp.path, 'c.json'), '{ "landing": ')
  const r = spawnSync(process.execPath, [bin, 'run', '-c', join(tmp.path, 'c.json')], { encoding: 'utf8' })
  assert.equal(r.status, 2)
  assert.match(r.stderr, /CDC_CONFIG_INVALID/)
  const missing = spawnSync(process.execPath, [bin, 'status', '-c', join(tmp.path, 'nope.json')], { encoding: 'utf8' })
  assert.equal(missing.status, 2)
  assert.match(missing.stderr, /CDC_CONFIG_NOT_FOUND/)
  const usage = spawnSync(process.execPath, [bin, 'run', '--bogus'], { encoding: 'utf8' })
  assert.equal(usage.status, 2)
  assert.match(usage.stderr, /CDC_USAGE/)
})

test('onBadRow "quarantine": bad rows go to RAW\'s _quarantine with the reason and position, good rows are applied, status counts them', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put(
    '20240611-100000000.csv',
    [
      'U,2024-06-11 09:59:00.000000,1,apple v2,',
      'X,2024-06-11 09:59:01.000000,2,bad op,',
      'U,2024-06-11 09:59:02.000000,,no key,',
      'U,2024-06-11 09:59:03.000000,2,"quoted, fine",',
      'U,2024-06-11 09:59:04.000000,notanint,bad value,',
      'U,2024-06-11 09:59:05.000000,2,too,,many',
      'I,2024-06-11 09:59:06.000000,3,"multi',
      'line",',
    ].join('\n') + '\n',
  )
  const failed = await l.run()
  assert.equal((failed.error as CdcError).code, 'CDC_ROW_INVALID_OP')
  const r = await l.run({ onBadRow: 'quarantine' })
  assert.equal(r.error, undefined, r.error?.message)
  assert.equal(r.quarantined, 4)
  assert.deepEqual(names(l.curated('20240611')), ['1:apple v2', '2:quoted, fine', '3:multi\nline'])
  const q = readOutputTree(join(l.dir, 'out', 'raw', '_quarantine'))['S/items/20240611']!
  assert.deepEqual(q.map((x) => [x.code, x.line]).sort(), [
    ['CDC_CSV_FIELD_COUNT', '6'],
    ['CDC_PK_MISSING', '3'],
    ['CDC_ROW_INVALID_OP', '2'],
    ['CDC_VALUE_INVALID', '5'],
  ])
  assert.ok(
    q.every((x) => x.cdc_file === '20240611-100000000.csv' && String(x.reason).includes('20240611-100000000.csv')),
  )
  assert.equal(q.find((x) => x.code === 'CDC_ROW_INVALID_OP')!.record, 'X,2024-06-11 09:59:01.000000,2,bad op,')
  // RAW keeps the good rows with their row numbers in the file
  const raw = readOutputTree(join(l.dir, 'out', 'raw'))['S/items/20240611']!
  assert.deepEqual(raw.map((x) => x.cdc_row).sort(), ['1', '4', '7'])
  const s = StateStore.open(join(l.dir, 'out', 'state.sqlite'))
  assert.equal(s.status()[0]!.quarantined, 4)
  s.close()
})

test('onBadRow "quarantine" still fails a file that cannot be read at all', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put('20240611-100000000.csv', 'U,2024-06-11 09:59:00.000000,1,"never closed,\n')
  assert.equal(((await l.run({ onBadRow: 'quarantine' })).error as CdcError).code, 'CDC_CSV_UNTERMINATED_QUOTE')
})

// ---------------------------------------------------------------- schema drift

test('header-less CSV: a column list in force from a given file on (DMS appended a column); older rows read NULL', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put('20240611-100000000.csv', 'U,2024-06-11 09:59:00.000000,1,apple v2,\n')
  const columnsFrom = [
    {
      file: '20240612-000000000',
      columns: [
        { name: 'ts' },
        { name: 'id', type: 'integer' },
        { name: 'name' },
        { name: 'bi_id', type: 'integer' },
        { name: 'colour' },
      ],
    },
  ]
  assert.equal((await l.run({ columnsFrom })).error, undefined)
  l.put('20240612-100000000.csv', 'U,2024-06-12 09:59:00.000000,2,pear v2,,green\n')
  const r = await l.run({ columnsFrom })
  assert.equal(r.error, undefined, r.error?.message)
  const cur = l.curated('20240612')
  assert.deepEqual(cur.map((x) => [x.id, x.name, x.colour]).sort(), [
    ['1', 'apple v2', null],
    ['2', 'pear v2', 'green'],
  ])
  const raw = readOutputTree(join(l.dir, 'out', 'raw'))
  assert.deepEqual(
    raw['S/items/20240612']!.map((x) => x.colour),
    ['green'],
  )
  assert.ok(raw['S/items/20240611']!.every((x) => x.colour === null))
  // an old-layout file after the switch is a field-count error that names the file
  l.put('20240613-100000000.csv', 'U,2024-06-13 09:59:00.000000,2,pear v3,\n')
  assert.equal(((await l.run({ columnsFrom })).error as CdcError).code, 'CDC_CSV_FIELD_COUNT')
})

test('header CSV: a column added mid-stream appears in RAW and curated from then on, also after a restart', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', 'Op,ts,id,name,bi_id\n' + LOAD)
  l.put('20240611-100000000.csv', 'Op,ts,id,name,bi_id\nU,2024-06-11 09:59:00.000000,1,apple v2,\n')
  assert.equal((await l.run({ header: true })).error, undefined)
  l.put('20240612-100000000.csv', 'Op,ts,id,name,bi_id,colour\nU,2024-06-12 09:59:00.000000,2,pear v2,,green\n')
  assert.equal((await l.run({ header: true })).error, undefined)
  assert.deepEqual(
    l
      .curated('20240612')
      .map((x) => [x.id, x.colour])
      .sort(),
    [
      ['1', null],
      ['2', 'green'],
    ],
  )
  // a later run restores the state from the snapshot and keeps the column
  l.put('20240613-100000000.csv', 'Op,ts,id,name,bi_id\nU,2024-06-13 09:59:00.000000,1,apple v3,\n')
  const r = await l.run({ header: true })
  assert.equal(r.error, undefined, r.error?.message)
  assert.deepEqual(
    l
      .curated('20240613')
      .map((x) => [x.id, x.name, x.colour])
      .sort(),
    [
      ['1', 'apple v3', null],
      ['2', 'pear v2', 'green'],
    ],
  )
})

test('Parquet: a column added mid-stream appears from then on; a column whose type changes is CDC_SCHEMA_MISMATCH', async (t) => {
  const { DuckDBInstance } = await import('@duckdb/node-api')
  const db = await (
    await DuckDBInstance.create(':memory:', {
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    })
  ).connect()
  const l = lake(t)
  const put = async (name: string, sql: string): Promise<void> => {
    const p = join(l.dir, 'landing', TABLE, name)
    mkdirSync(dirname(p), { recursive: true })
    await db.run(`COPY (${sql}) TO '${p}' (FORMAT parquet)`)
  }
  await put(
    'LOAD00000001.parquet',
    "SELECT 'I' AS Op, '2024-06-10 08:00:00' AS ts, 1::BIGINT AS id, 'apple' AS name UNION ALL SELECT 'I', '2024-06-10 08:00:00', 2, 'pear'",
  )
  await put(
    '20240611-100000000.parquet',
    "SELECT 'U' AS Op, '2024-06-11 09:59:00' AS ts, 1::BIGINT AS id, 'apple v2' AS name",
  )
  const pq = { format: 'parquet', columns: undefined }
  const cfg = (): object => ({ ...pq })
  const first = await l.run(cfg())
  assert.equal(first.error, undefined, first.error?.message)
  await put(
    '20240612-100000000.parquet',
    "SELECT 'U' AS Op, '2024-06-12 09:59:00' AS ts, 2::BIGINT AS id, 'pear v2' AS name, 3.5::DOUBLE AS weight",
  )
  const r = await l.run(cfg())
  assert.equal(r.error, undefined, r.error?.message)
  assert.deepEqual(
    l
      .curated('20240612')
      .map((x) => [x.id, x.weight])
      .sort(),
    [
      ['1', null],
      ['2', 3.5],
    ],
  )
  await put(
    '20240613-100000000.parquet',
    "SELECT 'U' AS Op, '2024-06-13 09:59:00' AS ts, 2::BIGINT AS id, 'pear v3' AS name, 'heavy' AS weight",
  )
  const bad = await l.run(cfg())
  assert.equal((bad.error as CdcError).code, 'CDC_SCHEMA_MISMATCH')
  assert.match(bad.error!.message, /"weight".*20240613-100000000\.parquet/)
})

test('a change file of the load date that vanishes while the full load is not past its date stops the table (behind the watermark)', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put('20240610-100000000.csv', 'U,2024-06-10 09:59:00.000000,1,apple v2,\n')
  assert.equal((await l.run()).error, undefined)
  const before = l.wm()
  assert.equal(before!.fullLoad, false)
  l.remove('20240610-100000000.csv')
  const r = await l.run()
  assert.equal((r.error as CdcError).code, 'CDC_LANDING_BEHIND_WATERMARK')
  assert.deepEqual(l.wm(), before)
})

test('config: a column named like the Op or provenance columns, and a state location on S3, are refused', () => {
  const base = { source: 'S', landing: 'a', raw: 'b', curated: 'c', state: 'd' }
  assert.throws(
    () =>
      parseConfig(
        {
          ...base,
          tables: [table({ opColumn: 'operation', columns: [{ name: 'id', type: 'integer' }, { name: 'Op' }] })],
        },
        '/tmp',
      ),
    (e: CdcError) => e.code === 'CDC_CONFIG_INVALID' && /"Op"/.test(e.message),
  )
  assert.throws(
    () =>
      parseConfig(
        { ...base, tables: [table({ columns: [{ name: 'id', type: 'integer' }, { name: 'cdc_row' }] })] },
        '/tmp',
      ),
    (e: CdcError) => e.code === 'CDC_CONFIG_INVALID',
  )
  assert.throws(
    () => parseConfig({ ...base, state: 's3://bucket/state.sqlite', tables: [table()] }, '/tmp'),
    (e: CdcError) => e.code === 'CDC_CONFIG_INVALID' && /\$\.state/.test(e.message),
  )
})
