// Guard rails on data (issue 11): a config change under a watermark, overlapping locations, symlinked write
// targets and snapshot --out, composite-key encoding, NaN ordering values, column names from the data, and the
// _cdc_apply.json marker. Each refusal is a coded error and leaves every output and the watermark untouched.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import Database from 'better-sqlite3'
import { DuckDBInstance } from '@duckdb/node-api'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { resetTable } from '../src/reset.js'
import { STATE_VERSION, StateStore } from '../src/state/index.js'
import { encodeKey } from '../src/batch.js'
import { realLocation } from '../src/locations.js'
import { runPipeline } from '../src/steps/run-steps.js'
import { snapshotAsOf } from '../src/check/snapshot.js'
import { listPartitions } from '../src/check/partitions.js'
import { LocalStore } from '../src/store/local-store.js'
import { MARKER, type Marker } from '../src/marker.js'
import { readOutputTree, tempDir, type Row } from './helpers/outputs.js'

const TABLE = 'shop/items'

interface Lake {
  dir: string
  landing: string
  put(name: string, text: string | Uint8Array): void
  config(table?: object, top?: object): Config
  run(table?: object, top?: object): Promise<Awaited<ReturnType<typeof runOnce>>['tables'][number]>
  tree(): unknown
  curated(date: string): Row[]
  ledger(): { file: string; inserts: number; updates: number; deletes: number }[]
}

const BASE_TABLE = {
  name: 'items',
  path: TABLE,
  includeOpForFullLoad: true,
  columns: [
    { name: 'ts' },
    { name: 'id', type: 'integer' },
    { name: 'name' },
    { name: 'price', type: 'decimal(10,2)' },
  ],
  primaryKey: ['id'],
  timestampColumn: 'ts',
}

function lake(t: { after: (fn: () => void) => void }): Lake {
  const tmp = tempDir('cdc-guard-')
  t.after(tmp.remove)
  const landing = join(tmp.path, 'landing')
  const l: Lake = {
    dir: tmp.path,
    landing,
    put(name, text) {
      const p = join(landing, TABLE, name)
      mkdirSync(dirname(p), { recursive: true })
      writeFileSync(p, text)
    },
    config(table = {}, top = {}) {
      return parseConfig(
        {
          source: 'S',
          landing,
          raw: 'out/raw',
          curated: 'out/curated',
          state: 'out/state.sqlite',
          settleSeconds: 0,
          tables: [{ ...BASE_TABLE, ...table }],
          ...top,
        },
        tmp.path,
      )
    },
    async run(table = {}, top = {}) {
      return (await runOnce(l.config(table, top))).tables[0]!
    },
    tree() {
      const out = join(tmp.path, 'out')
      const marker = join(out, 'curated', 'S', 'items', MARKER)
      const s = existsSync(join(out, 'state.sqlite')) ? StateStore.open(join(out, 'state.sqlite')) : undefined
      try {
        return {
          raw: existsSync(join(out, 'raw')) ? readOutputTree(join(out, 'raw')) : {},
          curated: existsSync(join(out, 'curated')) ? readOutputTree(join(out, 'curated')) : {},
          marker: existsSync(marker) ? readFileSync(marker, 'utf8') : null,
          wm: s?.get('S', 'items') ?? null,
          files: s?.processedFiles('S', 'items') ?? [],
          tombstones: s ? [...s.tombstones('S', 'items')] : [],
        }
      } finally {
        s?.close()
      }
    },
    curated(date) {
      return readOutputTree(join(tmp.path, 'out', 'curated'))[`S/items/${date}`] ?? []
    },
    ledger() {
      const s = StateStore.open(join(tmp.path, 'out', 'state.sqlite'))
      try {
        return s
          .processedFiles('S', 'items')
          .map((f) => ({ file: f.file, inserts: f.inserts, updates: f.updates, deletes: f.deletes }))
      } finally {
        s.close()
      }
    },
  }
  return l
}

const LOAD = 'I,2024-06-10 08:00:00.000000,1,apple,1.50\nI,2024-06-10 08:00:00.000000,2,pear,2.25\n'
const DAY2 = 'U,2024-06-11 09:00:00.000000,1,apple,1.75\n'

/** A lake past its load date (FullLoad True): a load on 10 June and a change file on 11 June. */
async function pastLoad(t: { after: (fn: () => void) => void }): Promise<Lake> {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put('20240610-120000000.csv', 'U,2024-06-10 11:00:00.000000,2,pear,2.50\n')
  l.put('20240611-100000000.csv', DAY2)
  const r = await l.run()
  assert.equal(r.error, undefined, r.error?.message)
  assert.equal(r.fullLoad, true)
  return l
}

// ---------------------------------------------------------------- 1. the config changes under a watermark

for (const c of [
  {
    name: 'a column type change (decimal(10,2) to double)',
    table: {
      columns: [{ name: 'ts' }, { name: 'id', type: 'integer' }, { name: 'name' }, { name: 'price', type: 'double' }],
    },
    says: /column "price" changed type from decimal\(10,2\) to double/,
  },
  {
    name: 'a column type change (decimal(10,2) to integer)',
    table: {
      columns: [{ name: 'ts' }, { name: 'id', type: 'integer' }, { name: 'name' }, { name: 'price', type: 'integer' }],
    },
    says: /column "price" changed type from decimal\(10,2\) to integer/,
  },
  {
    name: 'a key column type change',
    table: { columns: [{ name: 'ts' }, { name: 'id' }, { name: 'name' }, { name: 'price', type: 'decimal(10,2)' }] },
    says: /column "id" changed type from integer to string/,
  },
  {
    name: 'an ordering column type change',
    table: {
      columns: [
        { name: 'ts', type: 'timestamp' },
        { name: 'id', type: 'integer' },
        { name: 'name' },
        { name: 'price', type: 'decimal(10,2)' },
      ],
    },
    says: /column "ts" changed type from string to timestamp/,
  },
  {
    name: 'a changed primaryKey',
    table: { primaryKey: ['id', 'name'] },
    says: /primaryKey changed from \["id"\] to \["id","name"\]/,
  },
  {
    name: 'a removed timestampColumn',
    table: { timestampColumn: undefined },
    says: /timestampColumn "ts" was removed/,
  },
  { name: 'an added sequenceColumn', table: { sequenceColumn: 'name' }, says: /sequenceColumn "name" was added/ },
]) {
  test(`${c.name} under a watermark is CDC_TABLE_CHANGED naming it, and nothing is written`, async (t) => {
    const l = await pastLoad(t)
    l.put('20240612-100000000.csv', 'U,2024-06-12 09:00:00.000000,2,pear,3.00\n')
    const before = l.tree()
    const r = await l.run(c.table)
    assert.equal(r.status, 'error')
    assert.equal((r.error as { code?: string }).code, 'CDC_TABLE_CHANGED', r.error?.message)
    assert.match(r.error!.message, c.says)
    assert.match((r.error as { hint?: string }).hint ?? '', /cdc-apply reset --table S\.items/)
    assert.deepEqual(l.tree(), before)
  })
}

test('an added column under a watermark is schema drift: allowed, NULL for earlier rows', async (t) => {
  const l = await pastLoad(t)
  l.put('20240612-100000000.csv', 'U,2024-06-12 09:00:00.000000,2,pear,3.00,red\n')
  const r = await l.run({
    columnsFrom: [{ file: '20240612-000000000', columns: [...BASE_TABLE.columns, { name: 'colour' }] }],
  })
  assert.equal(r.error, undefined, r.error?.message)
  const rows = l.curated('20240612')
  assert.deepEqual(
    rows.map((x) => [String(x.id), String(x.price), x.colour]).sort(),
    [
      ['1', '1.75', null],
      ['2', '3.00', 'red'],
    ].sort(),
  )
})

test('a type change while the table is still at its load date (FullLoad False) is taken: the load date is redone', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  assert.equal((await l.run()).fullLoad, false)
  const r = await l.run({
    columns: [{ name: 'ts' }, { name: 'id', type: 'integer' }, { name: 'name' }, { name: 'price', type: 'double' }],
  })
  assert.equal(r.error, undefined, r.error?.message)
  l.put('20240610-120000000.csv', 'U,2024-06-10 11:00:00.000000,2,pear,2.5\n')
  const r2 = await l.run({
    columns: [{ name: 'ts' }, { name: 'id', type: 'integer' }, { name: 'name' }, { name: 'price', type: 'double' }],
  })
  assert.equal(r2.error, undefined, r2.error?.message)
  assert.deepEqual(
    l
      .curated('20240610')
      .map((x) => [String(x.id), String(x.price)])
      .sort(),
    [
      ['1', '1.5'],
      ['2', '2.5'],
    ],
  )
})

test('a state file of format 1 (no fingerprint) is migrated: the next commit records the fingerprint, then changes are refused', async (t) => {
  const l = await pastLoad(t)
  const path = join(l.dir, 'out', 'state.sqlite')
  downgradeToFormat1(path)
  const r1 = await l.run({
    columns: [
      { name: 'ts' },
      { name: 'id', type: 'integer' },
      { name: 'name' },
      { name: 'price', type: 'decimal(10,2)' },
    ],
  })
  assert.equal(r1.error, undefined, r1.error?.message)
  l.put('20240612-100000000.csv', 'U,2024-06-12 09:00:00.000000,2,pear,3.00\n')
  assert.equal((await l.run()).error, undefined)
  const db = new Database(path, { readonly: true })
  assert.equal(db.pragma('user_version', { simple: true }), STATE_VERSION, 'migrated to the version this build writes')
  assert.match(
    String((db.prepare('SELECT Fingerprint FROM ops_table').get() as { Fingerprint: string | null }).Fingerprint),
    /\["price","[^"]+","decimal\(10,2\)"\]/,
  )
  db.close()
  l.put('20240613-100000000.csv', 'U,2024-06-13 09:00:00.000000,2,pear,3.50\n')
  const r = await l.run({
    columns: [{ name: 'ts' }, { name: 'id', type: 'integer' }, { name: 'name' }, { name: 'price', type: 'double' }],
  })
  assert.equal((r.error as { code?: string } | undefined)?.code, 'CDC_TABLE_CHANGED')
})

/** Turns a state file into what cdc-apply wrote before state format 2: no Fingerprint or KeyFormat, version 1. */
function downgradeToFormat1(path: string, keys?: (key: string) => string): void {
  const db = new Database(path)
  db.exec('ALTER TABLE ops_table DROP COLUMN Fingerprint; ALTER TABLE ops_table DROP COLUMN KeyFormat')
  if (keys) {
    for (const r of db.prepare('SELECT Key FROM tombstones').all() as { Key: string }[])
      db.prepare('UPDATE tombstones SET Key = ? WHERE Key = ?').run(keys(r.Key), r.Key)
  }
  db.pragma('user_version = 1')
  db.close()
}

// ---------------------------------------------------------------- 2. locations that overlap

test('overlapping locations are CDC_CONFIG_INVALID, by text and by real path; disjoint ones are accepted', (t) => {
  const tmp = tempDir('cdc-loc-')
  t.after(tmp.remove)
  const d = tmp.path
  mkdirSync(join(d, 'landing'), { recursive: true })
  mkdirSync(join(d, 'lake', 'raw'), { recursive: true })
  symlinkSync(join(d, 'lake', 'raw'), join(d, 'alias'))
  symlinkSync(join(d, 'landing'), join(d, 'lake', 'in-landing'))
  const cfg = (top: object): Config =>
    parseConfig(
      {
        source: 'S',
        landing: 'landing',
        raw: 'lake/raw',
        curated: 'lake/curated',
        state: 'state/s.sqlite',
        settleSeconds: 0,
        tables: [BASE_TABLE],
        ...top,
      },
      d,
    )
  assert.ok(cfg({}))
  assert.ok(cfg({ raw: 'lake/raw2' }), 'a sibling whose name starts like another is disjoint')
  assert.ok(cfg({ outputs: ['marts', 'marts/sub'] }), 'outputs may overlap each other')
  const refused: [object, RegExp][] = [
    [
      { curated: 'lake/raw' },
      /\$\.raw is invalid: expected a location apart from \$\.curated, got "lake\/raw", the same location/,
    ],
    [
      { raw: 'landing/raw' },
      /\$\.landing is invalid: expected a location apart from \$\.raw, got "landing", holding \$\.raw/,
    ],
    [{ curated: 'alias' }, /\$\.raw .*the same location/],
    [{ curated: 'alias/not-yet/there' }, /\$\.raw .*holding \$\.curated/],
    [{ curated: 'lake/in-landing/curated' }, /\$\.landing .*holding \$\.curated/],
    [{ state: 'lake/curated/s.sqlite' }, /\$\.curated .*holding \$\.state/],
    [{ cache: 'landing' }, /\$\.landing .*\$\.cache/],
    [{ state: 'lake/raw/state/s.sqlite' }, /\$\.raw .*\$\.state/],
    [{ outputs: ['lake'] }, /\$\.raw .*\$\.outputs\[0\]/],
    [
      { landing: 's3://bkt/dms', raw: 's3://bkt/dms/raw', curated: 's3://bkt/lake/curated' },
      /\$\.landing .*holding \$\.raw/,
    ],
    [{ landing: 's3://bkt/dms', raw: 's3://bkt/lake/', curated: 's3://bkt/lake' }, /\$\.raw .*the same location/],
  ]
  for (const [top, re] of refused) {
    assert.throws(
      () => cfg(top),
      (e: { code?: string; message: string }) => e.code === 'CDC_CONFIG_INVALID' && re.test(e.message),
      JSON.stringify(top),
    )
  }
  assert.ok(
    cfg({ landing: 's3://bkt/dms', raw: 's3://bkt/dms2/raw', curated: 's3://ckt/dms' }),
    'S3 prefixes compared by path segments and bucket',
  )
  assert.equal(realLocation('alias/x/y', d), join(realLocation(join(d, 'lake', 'raw')), 'x', 'y'))
})

// ---------------------------------------------------------------- 3. and 4. guards on real paths

test('a pipeline write into a folder that is a symlink into the landing is CDC_STEP_INVALID and the landing is intact', async (t) => {
  const l = await pastLoad(t)
  const before = listTree(l.landing)
  // the default output root is the folder holding raw and curated: <dir>/out
  symlinkSync(join(l.landing, 'shop'), join(l.dir, 'out', 'marts'))
  const pipeline = {
    steps: [
      { fun: 'sql', out: 'a', query: 'select * from S.items' },
      { fun: 'wrt', out: join(l.dir, 'out', 'marts', 'items'), query: 'a' },
    ],
  }
  const r = await runPipeline(l.config(), { json: pipeline, name: 'p', baseDir: l.dir }, { record: false })
  assert.equal(r.error?.code, 'CDC_STEP_INVALID', r.error?.message)
  assert.match(r.error!.message, /symlinks resolved/)
  assert.deepEqual(listTree(l.landing), before)
  // a target leaving its output root through a symlink is refused too
  mkdirSync(join(l.dir, 'elsewhere'))
  symlinkSync(join(l.dir, 'elsewhere'), join(l.dir, 'out', 'away'))
  const r2 = await runPipeline(
    l.config(),
    {
      json: { steps: [pipeline.steps[0], { ...pipeline.steps[1], out: join(l.dir, 'out', 'away', 'items') }] },
      name: 'p',
      baseDir: l.dir,
    },
    { record: false },
  )
  assert.equal(r2.error?.code, 'CDC_STEP_INVALID', r2.error?.message)
  assert.match(r2.error!.message, /below one of the output roots/)
  assert.deepEqual(readdirSync(join(l.dir, 'elsewhere')), [])
})

test('snapshot --out into a curated partition, RAW, the landing or through a symlink into one is CDC_USAGE and writes nothing', async (t) => {
  const l = await pastLoad(t)
  symlinkSync(join(l.landing, 'shop'), join(l.dir, 'link'))
  const before = { landing: listTree(l.landing), out: listTree(join(l.dir, 'out')) }
  for (const out of [
    join(l.dir, 'out', 'curated', 'S', 'items', '20240611'),
    join(l.dir, 'out', 'curated', 'S', 'items', '20240611', 'part-00000.parquet'),
    join(l.dir, 'out', 'raw'),
    join(l.dir, 'out'),
    join(l.landing, 'shop', 'snap.parquet'),
    join(l.dir, 'link', 'items'),
    join(l.dir, 'out', 'state.sqlite'),
  ]) {
    await assert.rejects(
      snapshotAsOf(l.config(), { table: 'S.items', asOf: '20240611-100000000', out }),
      (e: { code?: string; message: string }) =>
        e.code === 'CDC_USAGE' &&
        /--out .* is invalid: expected a location outside the (landing|raw|curated|state) location/.test(e.message),
      out,
    )
  }
  assert.deepEqual({ landing: listTree(l.landing), out: listTree(join(l.dir, 'out')) }, before)
  const ok = await snapshotAsOf(l.config(), {
    table: 'S.items',
    asOf: '20240611-100000000',
    out: join(l.dir, 'snaps', 'x.parquet'),
  })
  assert.equal(ok.rows, 2)
})

function listTree(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n)
      const st = statSync(p)
      if (st.isDirectory()) walk(p)
      else out.push(`${p.slice(dir.length)}:${st.size}:${st.mtimeMs}`)
    }
  }
  walk(dir)
  return out
}

// ---------------------------------------------------------------- 5. composite keys

test('composite keys are unambiguous: ("a\\x01b","c") and ("a","b\\x01c") are two rows', async (t) => {
  assert.notEqual(encodeKey(['a\u0001b', 'c']), encodeKey(['a', 'b\u0001c']))
  assert.notEqual(encodeKey(['a\u0000', '\u0001b']), encodeKey(['a\u0000\u0001', 'b']))
  assert.equal(encodeKey(['a', 'b']), 'a\u0001b', 'plain parts keep the format-1 encoding')
  const l = lake(t)
  const table = {
    columns: [{ name: 'k1' }, { name: 'k2' }, { name: 'v' }],
    primaryKey: ['k1', 'k2'],
    timestampColumn: undefined,
  }
  l.put('LOAD00000001.csv', 'I,a\u0001b,c,first\nI,a,b\u0001c,second\n')
  const r = await l.run(table)
  assert.equal(r.error, undefined, r.error?.message)
  assert.equal(r.liveRows, 2)
  assert.deepEqual(
    l
      .curated(r.lpf!.slice(0, 8))
      .map((x) => x.v)
      .sort(),
    ['first', 'second'],
  )
})

test('tombstones of a composite-key table saved in state format 1 stay in force after the upgrade', async (t) => {
  const l = lake(t)
  const table = { columns: [{ name: 'ts' }, { name: 'k1' }, { name: 'k2' }, { name: 'v' }], primaryKey: ['k1', 'k2'] }
  l.put('LOAD00000001.csv', 'I,2024-06-10 08:00:00.000000,a\u0000x,b,one\nI,2024-06-10 08:00:00.000000,p,q,two\n')
  l.put('20240610-120000000.csv', 'D,2024-06-10 11:00:00.000000,a\u0000x,b,\n')
  l.put('20240611-100000000.csv', 'U,2024-06-11 09:00:00.000000,p,q,three\n')
  assert.equal((await l.run(table)).error, undefined)
  const path = join(l.dir, 'out', 'state.sqlite')
  // format 1 joined the parts unescaped: the tombstone key of ("a\0x","b") was "a\0x\u0001b"
  const s = StateStore.open(path)
  assert.deepEqual(
    [...s.tombstones('S', 'items', true)].map(([k]) => k),
    ['a\u0000\u0000x\u0001b'],
  )
  s.close()
  downgradeToFormat1(path, (k) => k.replace(/\u0000\u0000/g, '\u0000'))
  // an older insert of the deleted key arrives: the format-1 tombstone must still beat it
  l.put(
    '20240612-100000000.csv',
    'I,2024-06-10 10:00:00.000000,a\u0000x,b,zombie\nU,2024-06-12 09:00:00.000000,p,q,four\n',
  )
  const r = await l.run(table)
  assert.equal(r.error, undefined, r.error?.message)
  assert.equal(r.stale, 1)
  assert.deepEqual(
    l.curated('20240612').map((x) => x.v),
    ['four'],
  )
  const after = StateStore.open(path)
  assert.deepEqual(
    [...after.tombstones('S', 'items', true)].map(([k]) => k),
    ['a\u0000\u0000x\u0001b'],
    'converted in place at the commit',
  )
  after.close()
})

// ---------------------------------------------------------------- 6. NaN in a double ordering column

test('NaN in a double ordering column is CDC_VALUE_INVALID at file:line, nothing is written; quarantine sets the row aside', async (t) => {
  const l = lake(t)
  const table = {
    columns: [
      { name: 'ts', type: 'double' },
      { name: 'id', type: 'integer' },
      { name: 'name' },
      { name: 'price', type: 'decimal(10,2)' },
    ],
  }
  l.put('LOAD00000001.csv', 'I,1,1,apple,1.00\nI,1,2,pear,1.00\n')
  l.put('20240610-120000000.csv', 'U,5,1,five,1.00\nU,NaN,1,nan,1.00\nU,3,2,three,1.00\n')
  const r = await l.run(table)
  assert.equal((r.error as { code?: string }).code, 'CDC_VALUE_INVALID', r.error?.message)
  assert.match(r.error!.message, /ordering column "ts" is NaN in shop\/items\/20240610-120000000\.csv:2/)
  assert.deepEqual(l.tree(), { raw: {}, curated: {}, marker: null, wm: null, files: [], tombstones: [] })
  const q = await l.run({ ...table, onBadRow: 'quarantine' })
  assert.equal(q.error, undefined, q.error?.message)
  assert.equal(q.quarantined, 1)
  const loadDate = (l.tree() as { wm: { loadDate: string } }).wm.loadDate
  assert.deepEqual(
    l
      .curated(loadDate)
      .map((x) => `${x.id}:${x.name}`)
      .sort(),
    ['1:five', '2:three'],
  )
})

// ---------------------------------------------------------------- 7. column names from the data

for (const c of [
  {
    name: 'a reserved cdc_file',
    header: 'Op,ts,id,cdc_file',
    re: /column 4 \("cdc_file"\) in the header of .* is reserved/,
  },
  { name: 'a reserved cdc_row', header: 'Op,ts,id,cdc_row', re: /column 4 \("cdc_row"\) .* is reserved/ },
  { name: 'a duplicate', header: 'Op,ts,id,name,name', re: /column 5 \("name"\) .* appears twice/ },
  { name: 'an extra Op', header: 'Op,ts,id,Op', re: /column 4 \("Op"\) .* is a second Op column/ },
  { name: 'an empty name', header: 'Op,ts,id,', re: /column 4 \(""\) .* has no name/ },
]) {
  test(`a CSV header with ${c.name} is CDC_SCHEMA_MISMATCH at file:column and nothing is written`, async (t) => {
    const l = lake(t)
    l.put('LOAD00000001.csv', `${c.header}\nI,2024-06-10 08:00:00.000000,1,x\n`)
    const r = await l.run({
      header: true,
      columns: [{ name: 'ts' }, { name: 'id', type: 'integer' }],
      primaryKey: ['id'],
    })
    const e = r.error as { code?: string; file?: string; column?: string; line?: number }
    assert.equal(e.code, 'CDC_SCHEMA_MISMATCH', r.error?.message)
    assert.match(r.error!.message, c.re)
    assert.equal(e.file, `${TABLE}/LOAD00000001.csv`)
    assert.equal(e.line, 1)
    assert.deepEqual(l.tree(), { raw: {}, curated: {}, marker: null, wm: null, files: [], tombstones: [] })
  })
}

test('a Parquet file with a cdc_row column or a second Op column is CDC_SCHEMA_MISMATCH naming the column', async (t) => {
  for (const [cols, re] of [
    [{ Op: ['I'], id: [1], cdc_row: [7] }, /column 3 \("cdc_row"\) in the schema of .* is reserved/],
    [{ Op: ['I'], id: [1], op: ['I'] }, /column 1 \("Op"\) in the schema of .* is a second Op column/],
  ] as const) {
    const l = lake(t)
    l.put('LOAD00000001.parquet', parquetOf(cols as unknown as Record<string, unknown[]>))
    const r = await l.run({
      format: 'parquet',
      columns: undefined,
      primaryKey: ['id'],
      timestampColumn: undefined,
      opColumn: Object.keys(cols)[2] === 'op' ? 'op' : 'Op',
    })
    assert.equal((r.error as { code?: string }).code, 'CDC_SCHEMA_MISMATCH', r.error?.message)
    assert.match(r.error!.message, re)
    assert.deepEqual(l.tree(), { raw: {}, curated: {}, marker: null, wm: null, files: [], tombstones: [] })
  }
})

function parquetOf(cols: Record<string, unknown[]>): Uint8Array {
  const vectors: Record<string, A.Vector> = {}
  for (const [name, v] of Object.entries(cols))
    vectors[name] =
      typeof v[0] === 'number'
        ? A.vectorFromArray((v as number[]).map(BigInt), new A.Int64())
        : A.vectorFromArray(v as string[], new A.Utf8())
  return pw.writeParquet(pw.Table.fromIPCStream(A.tableToIPC(new A.Table(vectors), 'stream')))
}

// ---------------------------------------------------------------- 10. counts after a crash before a commit

test("after a crash between a date's curated write and its commit, the ledger counts equal an uninterrupted run", async (t) => {
  // The crash is simulated exactly: run 2's outputs are written, its commit is undone by restoring run 1's state file.
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put('20240611-100000000.csv', DAY2)
  assert.equal((await l.run()).error, undefined)
  const path = join(l.dir, 'out', 'state.sqlite')
  const saved = readFileSync(path)
  // new files of the LPF's date: key 1 updated twice (the first update is stale against the snapshot if replayed)
  l.put(
    '20240611-110000000.csv',
    'U,2024-06-11 10:00:00.000000,1,apple,1.80\nU,2024-06-11 10:30:00.000000,1,apple,1.90\nD,2024-06-11 10:40:00.000000,2,,\nI,2024-06-11 10:50:00.000000,3,fig,4.00\n',
  )
  assert.equal((await l.run()).error, undefined)
  const reference = { ledger: l.ledger(), tree: l.tree() }
  writeFileSync(path, saved)
  for (const f of ['-wal', '-shm']) rmSync(path + f, { force: true })
  assert.equal((await l.run()).error, undefined)
  assert.deepEqual(l.ledger(), reference.ledger)
  const now = l.tree() as { marker: string | null }
  const ref = reference.tree as { marker: string | null }
  assert.deepEqual({ ...now, marker: null }, { ...ref, marker: null })
  const ledger = l.ledger().find((f) => f.file === '20240611-110000000')!
  assert.deepEqual([ledger.inserts, ledger.updates, ledger.deletes], [1, 2, 1])
})

// ---------------------------------------------------------------- 21. the _cdc_apply.json marker

test('each commit writes <curated>/<Source>/<TableName>/_cdc_apply.json after the watermark; readers of date folders ignore it', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  await l.run()
  const file = join(l.dir, 'out', 'curated', 'S', 'items', MARKER)
  const m1 = JSON.parse(readFileSync(file, 'utf8')) as Marker
  assert.deepEqual(
    { ...m1, committedAt: '', version: '' },
    {
      format: 1,
      version: '',
      source: 'S',
      table: 'items',
      lpf: '20240610-000000000',
      fullLoad: false,
      loadDate: '20240610',
      latestDate: '20240610',
      completeThrough: null,
      committedAt: '',
    },
  )
  assert.match(m1.version, /^\d+\.\d+\.\d+/)
  l.put('20240611-100000000.csv', DAY2)
  l.put('20240613-100000000.csv', 'U,2024-06-13 09:00:00.000000,2,pear,2.00\n')
  await l.run()
  const m2 = JSON.parse(readFileSync(file, 'utf8')) as Marker
  const s = StateStore.open(join(l.dir, 'out', 'state.sqlite'))
  const wm = s.get('S', 'items')!
  const updatedAt = s.status()[0]!.updatedAt!
  s.close()
  assert.deepEqual(
    [m2.lpf, m2.fullLoad, m2.loadDate, m2.latestDate, m2.completeThrough],
    [wm.lpf, wm.fullLoad, '20240610', '20240613', '20240612'],
  )
  assert.ok(m2.committedAt >= updatedAt, 'written after the commit')
  // cdc-apply's own readers, and DuckDB globs of the date folders, do not take it for data
  const parts = await listPartitions(new LocalStore(join(l.dir, 'out', 'curated')), { source: 'S', name: 'items' })
  assert.deepEqual([...parts.keys()], ['20240610', '20240611', '20240612', '20240613'])
  const db = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    allow_community_extensions: 'false',
  })
  const conn = await db.connect()
  const rows = (
    await conn.runAndReadAll(
      `SELECT count(*)::INTEGER AS n FROM read_parquet('${join(l.dir, 'out', 'curated', 'S', 'items')}/*/*.parquet')`,
    )
  ).getRowObjectsJson()
  conn.closeSync()
  db.closeSync()
  assert.deepEqual(rows, [{ n: 8 }])
  // reset removes it with the table's outputs
  await resetTable(l.config(), 'S.items')
  assert.equal(existsSync(file), false)
})
