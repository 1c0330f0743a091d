// `cdc-apply init` on header-less CSV whose layout changes between files: columnsFrom is written when the DDL's
// ALTER TABLE history or the table mapping explains the change, and the run of that config gives the expected rows;
// when nothing (or more than one thing) explains it, the table is reported and no config is written.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { main, type Io } from '../src/cli/main.js'
import { loadConfig } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { parseDdl } from '../src/init/sql-ddl.js'
import { earlierLayout } from '../src/init/layouts.js'
import { csvRecords } from '../src/init/csv-records.js'
import { parquetRows, tempDir } from './helpers/outputs.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const FIX = join(root, 'fixtures', 'init', 'layouts')

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const io: Io = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) }
  const code = await main(args, io)
  return { code, stdout, stderr }
}

/** The newest curated date's rows of a table: the listed columns, as text (NULL as null), sorted. */
function lastCurated(dir: string, table: string, columns: string[]): (string | null)[][] {
  const base = join(dir, 'out', 'curated', 'app', table)
  const date = readdirSync(base)
    .filter((n) => /^\d{8}$/.test(n))
    .sort()
    .at(-1)!
  assert.equal(date, table === 'accounts' ? '20240613' : '20240612')
  const rows = readdirSync(join(base, date)).flatMap((f) => parquetRows(readFileSync(join(base, date, f))))
  return rows
    .map((r) => columns.map((c) => (r[c] === null || r[c] === undefined ? null : String(r[c]))))
    .sort((a, b) => Number(a[0]) - Number(b[0]))
}

test("init: layouts explained by the DDL's ALTER TABLE history (MySQL AFTER included) and by a later add-column rule become columnsFrom; the run gives the expected rows", async (t) => {
  const tmp = tempDir('cdc-init-layouts-')
  t.after(tmp.remove)
  const out = join(tmp.path, 'cdc-apply.json')
  const r = await cli([
    'init',
    '--landing',
    join(FIX, 'landing'),
    '--ddl',
    join(FIX, 'schema.sql'),
    '--table-mapping',
    join(FIX, 'table-mapping.json'),
    '--out',
    out,
  ])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  const json = JSON.parse(readFileSync(out, 'utf8')) as {
    tables: {
      name: string
      columns: { name: string }[]
      columnsFrom?: { file: string; columns: { name: string; type?: string }[] }[]
    }[]
  }
  const accounts = json.tables.find((x) => x.name === 'accounts')!
  const names = (cols: { name: string }[]): string[] => cols.map((c) => c.name)
  assert.deepEqual(names(accounts.columns), ['dms_timestamp', 'id', 'name', 'balance'])
  // the first file of each layout, found among six change files of which init first sampled two
  assert.deepEqual(
    accounts.columnsFrom!.map((l) => [l.file, names(l.columns)]),
    [
      ['20240612-090000000', ['dms_timestamp', 'id', 'name', 'email', 'balance']],
      ['20240613-090000000', ['dms_timestamp', 'id', 'name', 'email', 'balance', 'tier']],
    ],
  )
  assert.equal(accounts.columnsFrom![1]!.columns.find((c) => c.name === 'tier')!.type, 'integer')
  const events = json.tables.find((x) => x.name === 'events')!
  assert.deepEqual(names(events.columns), ['dms_timestamp', 'id', 'kind', 'qty'])
  assert.deepEqual(
    events.columnsFrom!.map((l) => [l.file, names(l.columns)]),
    [['20240612-090000000', ['dms_timestamp', 'id', 'kind', 'qty', 'dms_change_seq']]],
  )

  const summary = await runOnce({ ...loadConfig(out), settleSeconds: 0 })
  for (const s of summary.tables) assert.equal(s.status, 'ok', `${s.source}.${s.table}: ${s.error?.message}`)
  assert.deepEqual(lastCurated(tmp.path, 'accounts', ['id', 'name', 'email', 'balance', 'tier']), [
    ['1', 'ann', 'ann@x.org', '12.00', '1'],
    ['2', 'bob', 'bob@x.org', '21.00', null],
    ['3', 'cy', 'cy@x.org', '30.00', '2'],
    ['5', 'eve', 'eve@x.org', '50.00', null],
  ])
  assert.deepEqual(lastCurated(tmp.path, 'events', ['id', 'kind', 'qty', 'dms_change_seq']), [
    ['1', 'click', '2', null],
    ['2', 'view', '6', '00000000000000000000000000000000001'],
  ])
})

test('init: a layout change nothing explains (MySQL DDL without the ALTER history) is reported per file and the table left out, exit 3', async (t) => {
  const tmp = tempDir('cdc-init-layouts-')
  t.after(tmp.remove)
  const out = join(tmp.path, 'cdc-apply.json')
  const r = await cli([
    'init',
    '--landing',
    join(FIX, 'landing'),
    '--ddl',
    join(FIX, 'schema-final.sql'),
    '--table-mapping',
    join(FIX, 'table-mapping.json'),
    '--out',
    out,
  ])
  assert.equal(r.code, 3, r.stdout + r.stderr)
  // the config holds the tables that could be decided: events (its layout change is the add-column rule)
  assert.equal(existsSync(out), true)
  assert.deepEqual(
    (JSON.parse(readFileSync(out, 'utf8')) as { tables: { name: string }[] }).tables.map((x) => x.name),
    ['events'],
  )
  assert.match(
    r.stdout,
    /app\.accounts: left out\n(.*\n)*?\s+- app\/accounts\/LOAD00000001\.csv: its files have 2 fields fewer than the DDL and mapping give, and nothing says which columns they lack \(MySQL ADD COLUMN may insert anywhere/,
  )
  assert.match(r.stdout, /app\/accounts\/20240612-090000000\.csv: its files have 1 field fewer/)
  assert.doesNotMatch(r.stdout, /app\.events: left out/)
  assert.match(r.stderr, /CDC_INIT_TABLE_UNRESOLVED: 1 of 2 table\(s\) left out/)
})

test('DDL parser: ALTER TABLE … ADD [COLUMN] in each form appends (or places, MySQL FIRST/AFTER) and records the history', () => {
  const [pg] = parseDdl(
    'CREATE TABLE s.t (id integer PRIMARY KEY, a text);\nALTER TABLE ONLY s.t ADD COLUMN IF NOT EXISTS b integer, ADD c numeric(10,2);\nALTER TABLE s.t ADD CONSTRAINT u UNIQUE (a);',
    'pg.sql',
  )
  assert.deepEqual(
    pg!.columns.map((c) => c.name),
    ['id', 'a', 'b', 'c'],
  )
  assert.deepEqual(pg!.addedLater, ['b', 'c'])
  const [my] = parseDdl(
    'CREATE TABLE `t` (`id` int, `a` int, PRIMARY KEY (`id`)) ENGINE=InnoDB;\nALTER TABLE `t` ADD COLUMN `z` int FIRST;\nALTER TABLE `t` ADD COLUMN (`b` int, `c` int);\nALTER TABLE `t` ADD `m` int AFTER `id`;',
    'my.sql',
  )
  assert.deepEqual(
    my!.columns.map((c) => c.name),
    ['z', 'id', 'm', 'a', 'b', 'c'],
  )
  assert.deepEqual(my!.addedLater, ['z', 'b', 'c', 'm'])
  const [ss] = parseDdl(
    'CREATE TABLE [dbo].[t] ([id] int NOT NULL, CONSTRAINT pk PRIMARY KEY CLUSTERED ([id]))\nGO\nALTER TABLE [dbo].[t] ADD [x] nvarchar(10) NULL, [y] int NULL\nGO\nALTER TABLE [dbo].[t] ADD DEFAULT ((0)) FOR [y]\nGO',
    'ss.sql',
  )
  assert.deepEqual(
    ss!.columns.map((c) => c.name),
    ['id', 'x', 'y'],
  )
  assert.deepEqual(ss!.primaryKey, ['id'])
  const [ora] = parseDdl(
    'CREATE TABLE "S"."T" ("ID" NUMBER(10,0), PRIMARY KEY ("ID"));\nALTER TABLE "S"."T" ADD ("A" VARCHAR2(10), "B" NUMBER(5,0));',
    'ora.sql',
  )
  assert.deepEqual(
    ora!.columns.map((c) => c.name),
    ['ID', 'A', 'B'],
  )
  assert.throws(
    () => parseDdl('CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN id int;', 'dup.sql'),
    /dup\.sql:2: expected a column t does not have yet/,
  )
  assert.throws(
    () => parseDdl('ALTER TABLE nowhere ADD COLUMN b int;', 'x.sql'),
    /a table created earlier in the file \(ALTER TABLE nowhere ADD\)/,
  )
})

test('earlier layouts: one explanation that fits the sampled values is taken; several, or none that fits, are reported', () => {
  const rows = (text: string, offset = 2): { records: ReturnType<typeof csvRecords>; offset: number }[] => [
    { records: csvRecords(text), offset },
  ]
  const types: Record<string, string> = {
    id: 'integer',
    kind: 'string',
    qty: 'integer',
    price: 'decimal(10,2)',
    dms_change_seq: 'string',
  }
  const typeOf = (n: string): string => types[n] ?? 'string'
  // PostgreSQL ADD COLUMN appends: the last source column is the one missing
  assert.deepEqual(
    earlierLayout(
      { kept: ['id', 'kind', 'qty'], added: [], addedLater: undefined, dialect: 'postgres', typeOf },
      1,
      rows('U,2024-06-11 09:00:00,1,click\n'),
    ),
    { columns: ['id', 'kind'] },
  )
  // the same count explained by appending qty or by the later dms_change_seq rule: both fit, so it is reported
  const both = earlierLayout(
    { kept: ['id', 'kind', 'qty'], added: ['dms_change_seq'], addedLater: undefined, dialect: 'postgres', typeOf },
    1,
    rows('U,2024-06-11 09:00:00,1,click,2\n'),
  )
  assert.ok('problem' in both && /more than one explanation fits/.test(both.problem), JSON.stringify(both))
  // ... unless the values rule one out: "abc" is no price, so price cannot be what the earlier files still have
  assert.deepEqual(
    earlierLayout(
      { kept: ['id', 'kind', 'price'], added: ['dms_change_seq'], addedLater: undefined, dialect: 'sqlserver', typeOf },
      1,
      rows('U,2024-06-11 09:00:00,1,click,abc\n'),
    ),
    { columns: ['id', 'kind', 'dms_change_seq'] },
  )
  // values that fit no explanation
  const none = earlierLayout(
    { kept: ['id', 'qty', 'price'], added: [], addedLater: undefined, dialect: 'oracle', typeOf },
    1,
    rows('U,2024-06-11 09:00:00,1,lots\n'),
  )
  assert.ok('problem' in none && /fit none of the explanations/.test(none.problem), JSON.stringify(none))
  // MySQL without history: nothing says where the column was
  const my = earlierLayout(
    { kept: ['id', 'kind', 'qty'], added: [], addedLater: undefined, dialect: 'mysql', typeOf },
    1,
    rows('U,2024-06-11 09:00:00,1,click\n'),
  )
  assert.ok('problem' in my && /MySQL ADD COLUMN may insert anywhere/.test(my.problem), JSON.stringify(my))
  // with history, MySQL's column in the middle
  assert.deepEqual(
    earlierLayout(
      { kept: ['id', 'kind', 'qty'], added: [], addedLater: ['kind'], dialect: 'mysql', typeOf },
      1,
      rows('U,2024-06-11 09:00:00,1,7\n'),
    ),
    { columns: ['id', 'qty'] },
  )
})
