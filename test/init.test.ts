// `cdc-apply init` on each input kind: header-less CSV with the DDL of each dialect or an information_schema
// export, CSV with a header, Parquet, table-mapping rules; each written config is run and its curated output
// compared with the fixture's expected rows. Plus the DDL parser, the type mapping, mismatches and 300 tables.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { main, type Io } from '../src/cli/main.js'
import { loadConfig } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { parseDdl, detectDialect } from '../src/init/sql-ddl.js'
import { configType } from '../src/init/source-types.js'
import { locatorMatches, parseTableMapping, columnsAdded } from '../src/init/table-mapping.js'
import { parseInformationSchema } from '../src/init/info-schema.js'
import { csvRecords } from '../src/init/csv-records.js'
import { CdcError } from '../src/errors.js'
import { parquetRows, tempDir } from './helpers/outputs.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const FIX = join(root, 'fixtures', 'init')
const HL = join(FIX, 'headerless')

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const io: Io = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) }
  const code = await main(args, io)
  return { code, stdout, stderr }
}

/** The rows of a table's newest curated date: the listed columns (by lower-cased name), sorted. */
function lastCurated(configFile: string, label: string, columns: string[]): unknown[][] {
  const cfg = loadConfig(configFile)
  const [source, name] = label.split('.') as [string, string]
  const dir = join(dirname(configFile), 'out', 'curated', source, name)
  const date = readdirSync(dir)
    .filter((n) => /^\d{8}$/.test(n))
    .sort()
    .at(-1)!
  const rows = readdirSync(join(dir, date)).flatMap((f) => parquetRows(readFileSync(join(dir, date, f))))
  assert.ok(cfg.tables.some((t) => `${t.source}.${t.name}` === label))
  return rows
    .map((r) => columns.map((c) => Object.entries(r).find(([k]) => k.toLowerCase() === c)![1]))
    .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1))
}

const CUSTOMER_COLS = ['id', 'name', 'city', 'balance', 'signup_at']
const ORDER_COLS = ['order_id', 'line_no', 'sku', 'qty']
/** The fixture's expected rows in the canonical forms parquetRows gives (int64 as text, timestamps as epoch µs). */
function expected(label: string, without40 = false): unknown[][] {
  const exp = JSON.parse(readFileSync(join(HL, 'expected.json'), 'utf8')) as Record<string, unknown[][]>
  let rows = exp[label]!.map((r) =>
    r.map((v, i) =>
      typeof v === 'number'
        ? String(v)
        : label === 'shop.customers' && i === 4
          ? String(Date.parse(`${String(v).replace(' ', 'T')}Z`) * 1000)
          : v,
    ),
  )
  if (without40) rows = rows.map((r) => (r[0] === '40' ? ['4', ...r.slice(1)] : r))
  return rows.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1))
}

async function initAndRun(
  t: { after: (f: () => void) => void },
  args: string[],
): Promise<{ config: string; stdout: string; json: Record<string, unknown> }> {
  const tmp = tempDir('cdc-init-')
  t.after(tmp.remove)
  const config = join(tmp.path, 'cdc-apply.json')
  const r = await cli(['init', ...args, '--out', config])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  const json = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>
  // a fresh clone's fixture files are young: a run waits settleSeconds before reading an object
  const summary = await runOnce({ ...loadConfig(config), settleSeconds: 0 })
  for (const s of summary.tables) assert.equal(s.status, 'ok', `${s.source}.${s.table}: ${s.error?.message}`)
  return { config, stdout: r.stdout, json }
}

for (const dialect of ['postgres', 'mysql', 'sqlserver', 'oracle'] as const) {
  test(`init: header-less CSV with ${dialect} DDL and the table mapping writes a config whose run gives the expected tables`, async (t) => {
    const { config, stdout, json } = await initAndRun(t, [
      '--landing',
      join(HL, 'landing'),
      '--ddl',
      join(HL, `${dialect}.sql`),
      '--table-mapping',
      join(HL, 'table-mapping.json'),
    ])
    assert.match(stdout, /wrote .*: 2 table\(s\)/)
    assert.match(stdout, /\[ \] IncludeOpForFullLoad=true/)
    assert.match(stdout, /add-column dms_change_seq = \$AR_H_CHANGE_SEQ/)
    assert.equal(typeof json.$schema, 'string')
    const customers = (json.tables as Record<string, unknown>[]).find((x) => x.name === 'customers')!
    const idName = dialect === 'oracle' ? 'ID' : 'id'
    assert.deepEqual(customers.primaryKey, [idName])
    assert.deepEqual(customers.beforeImageColumns, { [idName]: `BI_${idName}` })
    assert.equal(customers.sequenceColumn, 'dms_change_seq')
    assert.deepEqual(
      (customers.columns as { name: string; type?: string }[]).map(
        (c) => `${c.name.toLowerCase()}:${c.type ?? 'string'}`,
      ),
      [
        'dms_timestamp:timestamp',
        'id:integer',
        'name:string',
        'city:string',
        'balance:decimal(10,2)',
        'signup_at:timestamp',
        'dms_change_seq:string',
        'bi_id:integer',
      ],
    )
    assert.deepEqual(lastCurated(config, 'shop.customers', CUSTOMER_COLS), expected('shop.customers'))
    assert.deepEqual(lastCurated(config, 'shop.order_lines', ORDER_COLS), expected('shop.order_lines'))
  })
}

test('init: an information_schema.columns export gives columns in ordinal order and the key from is_primary_key', async (t) => {
  const { config } = await initAndRun(t, [
    '--landing',
    join(HL, 'landing'),
    '--columns',
    join(HL, 'columns.csv'),
    '--table-mapping',
    join(HL, 'table-mapping.json'),
  ])
  assert.deepEqual(lastCurated(config, 'shop.customers', CUSTOMER_COLS), expected('shop.customers'))
  assert.deepEqual(lastCurated(config, 'shop.order_lines', ORDER_COLS), expected('shop.order_lines'))
})

test('init: CSV with a header takes the columns from the header, types and key from the DDL, and sees IncludeOpForFullLoad=false', async (t) => {
  const { config, json } = await initAndRun(t, [
    '--landing',
    join(FIX, 'header', 'landing'),
    '--ddl',
    join(HL, 'postgres.sql'),
    '--table-mapping',
    join(FIX, 'header', 'table-mapping.json'),
  ])
  const c = (json.tables as Record<string, unknown>[])[0]!
  assert.equal(c.header, true)
  assert.equal(c.includeOpForFullLoad, false)
  assert.equal(c.timestampColumn, 'dms_commit_ts')
  assert.deepEqual(lastCurated(config, 'shop.customers', CUSTOMER_COLS), expected('shop.customers', true))
})

test('init: Parquet takes the schema from the files (no columns written) and the key from the DDL', async (t) => {
  const { config, json } = await initAndRun(t, [
    '--landing',
    join(FIX, 'parquet', 'landing'),
    '--ddl',
    join(HL, 'postgres.sql'),
    '--table-mapping',
    join(HL, 'table-mapping.json'),
    '--format',
    'parquet',
  ])
  const c = (json.tables as Record<string, unknown>[])[0]!
  assert.equal(c.columns, undefined)
  assert.equal(c.format, 'parquet')
  assert.equal(c.timestampColumn, 'dms_commit_ts')
  assert.deepEqual(c.beforeImageColumns, { id: 'BI_id' })
  const rows = lastCurated(config, 'shop.customers', CUSTOMER_COLS).map((r) => [String(r[0]), ...r.slice(1)])
  assert.deepEqual(rows, expected('shop.customers', true))
})

test('init: without the table mapping the field counts do not match; each table is reported, nothing is written, exit 3', async (t) => {
  const tmp = tempDir('cdc-init-')
  t.after(tmp.remove)
  const out = join(tmp.path, 'cdc-apply.json')
  const r = await cli(['init', '--landing', join(HL, 'landing'), '--ddl', join(HL, 'postgres.sql'), '--out', out])
  assert.equal(r.code, 3)
  assert.equal(existsSync(out), false)
  assert.match(
    r.stdout,
    /shop\.customers: left out\n {4}- shop\/customers\/2024\/06\/13\/20240613-090000000\.csv has 9 fields per record; the DDL and mapping give 5 columns, so expected 6 \(Op \+ columns\) or 7 \(Op \+ TimestampColumnName \+ columns\); more fields than the DDL explains: pass --table-mapping/,
  )
  assert.match(r.stdout, /shop\.order_lines: left out/)
  assert.match(r.stderr, /CDC_INIT_TABLE_UNRESOLVED: 2 of 2 table\(s\) left out of the config/)
})

test('init: header-less CSV without DDL, a table missing from the DDL and --format mismatches are reported per table', async (t) => {
  const tmp = tempDir('cdc-init-')
  t.after(tmp.remove)
  const none = await cli(['init', '--landing', join(HL, 'landing'), '--out', join(tmp.path, 'a.json')])
  assert.equal(none.code, 3)
  assert.match(none.stdout, /header-less CSV \(AddColumnName=false\): pass --ddl schema\.sql or --columns columns\.csv/)
  const ddl = join(tmp.path, 'only-customers.sql')
  writeFileSync(
    ddl,
    'CREATE TABLE shop.customers (id integer PRIMARY KEY, name text, city text, balance numeric(10,2), signup_at timestamp);\n',
  )
  const partial = await cli([
    'init',
    '--landing',
    join(HL, 'landing'),
    '--ddl',
    ddl,
    '--table-mapping',
    join(HL, 'table-mapping.json'),
    '--out',
    join(tmp.path, 'b.json'),
  ])
  assert.equal(partial.code, 3)
  assert.match(partial.stdout, /wrote .*b\.json: 1 table\(s\)/)
  assert.match(
    partial.stdout,
    /shop\.order_lines: left out\n {4}- no CREATE TABLE or information_schema rows for shop\.order_lines/,
  )
  const fmt = await cli([
    'init',
    '--landing',
    join(HL, 'landing'),
    '--ddl',
    ddl,
    '--format',
    'parquet',
    '--out',
    join(tmp.path, 'c.json'),
  ])
  assert.match(fmt.stdout, /--format parquet but the files are \.csv/)
  const exists = await cli(['init', '--landing', join(HL, 'landing'), '--ddl', ddl, '--out', join(tmp.path, 'b.json')])
  assert.equal(exists.code, 2)
  assert.match(exists.stderr, /exists; pass --force/)
})

test('init: an empty landing is CDC_INIT_NO_TABLES; broken DDL is CDC_INIT_INPUT_INVALID with file and line', async (t) => {
  const tmp = tempDir('cdc-init-')
  t.after(tmp.remove)
  mkdirSync(join(tmp.path, 'empty'))
  const r = await cli(['init', '--landing', join(tmp.path, 'empty'), '--out', join(tmp.path, 'x.json')])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /CDC_INIT_NO_TABLES: no DMS table folders under/)
  assert.throws(
    () => parseDdl('CREATE TABLE t (\n  id int,\n  name varchar(10)\n', 'bad.sql'),
    (e: CdcError) =>
      e.code === 'CDC_INIT_INPUT_INVALID' && /^bad\.sql:\d+: expected \) closing CREATE TABLE t/.test(e.message),
  )
  assert.throws(
    () => parseDdl("CREATE TABLE t (id int DEFAULT 'x);", 'q.sql'),
    (e: CdcError) =>
      e.code === 'CDC_INIT_INPUT_INVALID' && e.message === "q.sql:1: a string literal is not closed: expected '",
  )
  assert.throws(
    () => parseInformationSchema('table_name,column_name\nt,a\n', 'c.csv'),
    (e: CdcError) =>
      e.code === 'CDC_INIT_INPUT_INVALID' && /^c\.csv:1: expected a column table_schema in the header/.test(e.message),
  )
  assert.throws(
    () => parseTableMapping('{"rules": 3}', 'm.json'),
    (e: CdcError) =>
      e.code === 'CDC_INIT_INPUT_INVALID' && e.message === 'm.json: expected an object with a "rules" array',
  )
})

test('DDL parser: quoting, inline and table keys, multi-word and array types, storage clauses, unqualified names', () => {
  const pg = parseDdl(
    `CREATE TABLE IF NOT EXISTS "Sales"."Order Items" (\n "Id" bigserial PRIMARY KEY,\n tags text[],\n price double precision,\n at timestamp with time zone,\n amount numeric,\n CONSTRAINT ck CHECK (price > 0)\n) PARTITION BY RANGE (at);\nCREATE TABLE x AS SELECT 1;`,
    'a.sql',
  )
  assert.equal(pg.length, 1)
  assert.deepEqual(
    { schema: pg[0]!.schema, name: pg[0]!.name, pk: pg[0]!.primaryKey, where: pg[0]!.where },
    { schema: 'Sales', name: 'Order Items', pk: ['Id'], where: 'a.sql:1' },
  )
  assert.deepEqual(
    pg[0]!.columns.map((c) => [c.name, c.type, c.args]),
    [
      ['Id', 'bigserial', []],
      ['tags', 'text []', []],
      ['price', 'double precision', []],
      ['at', 'timestamp with time zone', []],
      ['amount', 'numeric', []],
    ],
  )
  const my = parseDdl(
    'CREATE TABLE `a` (\n `n` bigint unsigned NOT NULL,\n `s` varchar(5) CHARACTER SET latin1,\n `b` tinyint(1),\n UNIQUE KEY `u` (`s`),\n PRIMARY KEY (`n`, `s`(3))\n) ENGINE=InnoDB;',
    'm.sql',
  )
  assert.deepEqual(my[0]!.primaryKey, ['n', 's'])
  assert.deepEqual(
    my[0]!.columns.map((c) => c.type),
    ['bigint unsigned', 'varchar', 'tinyint'],
  )
  assert.equal(detectDialect('CREATE TABLE `a` (`x` int) ENGINE=InnoDB;'), 'mysql')
  assert.equal(detectDialect('CREATE TABLE [dbo].[a]([x] [int])\nGO\n'), 'sqlserver')
  assert.equal(detectDialect('CREATE TABLE "A"."B" ("X" NUMBER(5,0), "Y" VARCHAR2(3));'), 'oracle')
  assert.equal(detectDialect('CREATE TABLE a (x integer);'), 'postgres')
})

test('source types map to config types by what DMS writes; anything inexact stays a string', () => {
  const ty = (
    type: string,
    args: number[] = [],
    dialect: 'postgres' | 'mysql' | 'sqlserver' | 'oracle' = 'postgres',
  ): string => configType({ name: 'c', type, args, lob: false }, dialect)
  const cases: [string, number[], 'postgres' | 'mysql' | 'sqlserver' | 'oracle', string][] = [
    ['integer', [], 'postgres', 'integer'],
    ['bigint unsigned', [], 'mysql', 'decimal(20,0)'],
    ['numeric', [10, 2], 'postgres', 'decimal(10,2)'],
    ['numeric', [12, 0], 'postgres', 'integer'],
    ['numeric', [40, 2], 'postgres', 'string'],
    ['numeric', [], 'postgres', 'string'],
    ['number', [-1, 0], 'oracle', 'decimal(38,0)'],
    ['number', [], 'oracle', 'string'],
    ['date', [], 'postgres', 'date'],
    ['date', [], 'oracle', 'timestamp'],
    ['timestamp with time zone', [], 'postgres', 'string'],
    ['datetime2', [6], 'sqlserver', 'timestamp'],
    ['bit', [], 'sqlserver', 'boolean'],
    ['boolean', [], 'postgres', 'boolean'],
    ['money', [], 'sqlserver', 'decimal(19,4)'],
    ['double precision', [], 'postgres', 'double'],
    ['uuid', [], 'postgres', 'string'],
    ['integer []', [], 'postgres', 'string'],
    ['float', [], 'oracle', 'string'],
    ['binary_double', [], 'oracle', 'double'],
  ]
  for (const [type, args, dialect, want] of cases)
    assert.equal(ty(type, args, dialect), want, `${dialect} ${type}(${args.join(',')})`)
})

test('table mapping: % and _ locators, rule order, before-image filters, prefix and suffix, remove-column', () => {
  assert.equal(locatorMatches('ord%', 'orders'), true)
  assert.equal(locatorMatches('ord%', 'Orders'), false)
  assert.equal(locatorMatches('a_c', 'abc'), true)
  const rules = parseTableMapping(
    JSON.stringify({
      rules: [
        {
          'rule-type': 'transformation',
          'rule-id': '1',
          'rule-action': 'add-column',
          'rule-target': 'column',
          'object-locator': { 'schema-name': '%', 'table-name': '%' },
          value: 'ts',
          expression: '$AR_H_TIMESTAMP',
          'data-type': { type: 'datetime' },
        },
        {
          'rule-type': 'transformation',
          'rule-id': '2',
          'rule-action': 'add-before-image-columns',
          'rule-target': 'column',
          'object-locator': { 'schema-name': 's', 'table-name': 't' },
          'before-image-def': { 'column-filter': 'non-lob', 'column-prefix': '', 'column-suffix': '_old' },
        },
        {
          'rule-type': 'transformation',
          'rule-id': '3',
          'rule-action': 'remove-column',
          'rule-target': 'column',
          'object-locator': { 'schema-name': 's', 'table-name': 't', 'column-name': 'secret' },
        },
      ],
    }),
    'm.json',
  )
  const src = parseDdl('CREATE TABLE s.t (id int PRIMARY KEY, note text, secret varchar(5), v int);', 'x.sql')[0]!
  const r = columnsAdded(rules, 's', 't', src)
  assert.deepEqual(
    r.kept!.map((c) => c.name),
    ['id', 'note', 'v'],
  )
  assert.deepEqual(
    r.added.map((a) => `${a.name}:${a.type}:${a.role}`),
    ['ts:timestamp:header-timestamp', 'id_old:string:before-image', 'v_old:string:before-image'],
  )
})

test('csv records: quoted commas, doubled quotes, embedded newlines, NULL vs "", a record cut off by the sample', () => {
  const recs = csvRecords('a,"b, c","say ""hi""",\n"x\ny",,""\n"cut', Infinity, false)
  assert.deepEqual(
    recs.map((r) => [r.line, r.fields.map((f) => `${f.quoted ? 'q' : 'u'}:${f.text}`)]),
    [
      [1, ['u:a', 'q:b, c', 'q:say "hi"', 'u:']],
      [2, ['q:x\ny', 'u:', 'q:']],
    ],
  )
})

test('init over 300 tables writes a config that validates and runs every table', async (t) => {
  const tmp = tempDir('cdc-init-300-')
  t.after(tmp.remove)
  const landing = join(tmp.path, 'landing')
  let ddl = ''
  for (let i = 0; i < 300; i++) {
    const dir = join(landing, 'app', `t${String(i).padStart(3, '0')}`)
    mkdirSync(dir, { recursive: true })
    writeFileSync(
      join(dir, 'LOAD00000001.csv'),
      `I,2024-06-12 10:00:00.000001,1,a${i}\nI,2024-06-12 10:00:00.000002,2,b${i}\n`,
    )
    writeFileSync(join(dir, '20240612-110000000.csv'), `U,2024-06-12 10:59:00.000000,2,c${i}\n`)
    ddl += `CREATE TABLE app.t${String(i).padStart(3, '0')} (id integer NOT NULL, v text, PRIMARY KEY (id));\n`
  }
  writeFileSync(join(tmp.path, 'schema.sql'), ddl)
  cpSync(join(HL, 'table-mapping.json'), join(tmp.path, 'unused.json'))
  const config = join(tmp.path, 'cdc-apply.json')
  const r = await cli(['init', '--landing', landing, '--ddl', join(tmp.path, 'schema.sql'), '--out', config, '--json'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  const cfg = loadConfig(config)
  assert.equal(cfg.tables.length, 300)
  const s = await runOnce({ ...cfg, settleSeconds: 0, concurrency: { ...cfg.concurrency, tables: 4 } })
  assert.deepEqual([...new Set(s.tables.map((x) => `${x.status}:${x.liveRows}`))], ['ok:2'])
})
