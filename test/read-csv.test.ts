import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parse } from 'csv-parse/sync'
import { parseCsv } from '../src/read-csv.js'
import { columnValues } from '../src/arrow/values.js'
import { parseType, type ColumnConfig } from '../src/config.js'
import { CdcError } from '../src/errors.js'
import { Rng, seeds } from './helpers/random.js'

const cols = (...specs: string[]): ColumnConfig[] =>
  specs.map((s) => {
    const [name, type] = s.split(':')
    return { name: name!, type: parseType(type ?? 'string', name!) }
  })

function run(text: string, columns: ColumnConfig[], hasOp = true, header = false) {
  return parseCsv(Buffer.from(text), {
    label: 'S.t',
    key: 's/t/20240612-103125107.csv',
    columns,
    hasOp,
    header,
    opColumn: 'Op',
  })
}

function values(text: string, columns: ColumnConfig[], hasOp = true) {
  const r = run(text, columns, hasOp)
  return {
    ops: Array.from(r.ops, (c) => String.fromCharCode(c)),
    cols: r.columns.map(columnValues),
    lines: Array.from(r.lines),
  }
}

function code(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof CdcError, `expected a CdcError, got ${String(err)}`)
    return `${err.code} ${err.file}:${err.line}`
  }
  assert.fail('expected an error')
}

test('NULL is an empty unquoted field and "" is an empty string', () => {
  const v = values('I,1,,""\nU,2,"",\n', cols('id:integer', 'a', 'b'))
  assert.deepEqual(v.cols[1], [null, ''])
  assert.deepEqual(v.cols[2], ['', null])
})

test('quoted commas, doubled quotes and embedded newlines; line numbers are where a record starts', () => {
  const v = values(
    'I,1,"Smith, Bob","She said ""hi"""\nI,2,Carol,"line one\nline two"\nD,3,,\n',
    cols('id:integer', 'name', 'note'),
  )
  assert.deepEqual(v.cols[1], ['Smith, Bob', 'Carol', null])
  assert.deepEqual(v.cols[2], ['She said "hi"', 'line one\nline two', null])
  assert.deepEqual(v.ops, ['I', 'I', 'D'])
  assert.deepEqual(v.lines, [1, 2, 4])
})

test('full-load rows without Op are inserts; CRLF line ends are accepted; no final newline is accepted', () => {
  const v = values('1,a\r\n2,b', cols('id:integer', 'x'), false)
  assert.deepEqual(v.ops, ['I', 'I'])
  assert.deepEqual(v.cols[0], [1n, 2n])
  assert.deepEqual(v.cols[1], ['a', 'b'])
})

test('typed columns: integer, double (DMS real format), decimal, boolean, date, timestamp', () => {
  const v = values(
    'I,-42,+3.23800011e+01,-12.50,t,1996-07-04,2024-06-12 10:30:25.104667\nI,9007199254740993,0,0.05,false,2024-02-29,2024-06-12T10:30:25Z\n',
    cols('i:integer', 'd:double', 'm:decimal(10,2)', 'b:boolean', 'dt:date', 'ts:timestamp'),
  )
  assert.deepEqual(v.cols[0], [-42n, 9007199254740993n])
  assert.deepEqual(v.cols[1], [32.3800011, 0])
  assert.deepEqual(v.cols[2], ['-12.50', '0.05'])
  assert.deepEqual(v.cols[3], [true, false])
  assert.deepEqual(v.cols[4], [9681, 19782])
  assert.deepEqual(v.cols[5], [1718188225104667n, 1718188225000000n])
})

test('bad input gives a coded error at file:line', () => {
  const c = cols('id:integer', 'x')
  assert.equal(
    code(() => run('I,1,a\nX,2,b\n', c)),
    'CDC_ROW_INVALID_OP s/t/20240612-103125107.csv:2',
  )
  assert.equal(
    code(() => run('I,1,a\nI,2\n', c)),
    'CDC_CSV_FIELD_COUNT s/t/20240612-103125107.csv:2',
  )
  assert.equal(
    code(() => run('I,1,a\nI,2,b,c\n', c)),
    'CDC_CSV_FIELD_COUNT s/t/20240612-103125107.csv:2',
  )
  assert.equal(
    code(() => run('I,1,a\nI,2,"b\n', c)),
    'CDC_CSV_UNTERMINATED_QUOTE s/t/20240612-103125107.csv:2',
  )
  assert.equal(
    code(() => run('I,1,"a"b\n', c)),
    'CDC_CSV_MALFORMED s/t/20240612-103125107.csv:1',
  )
  assert.equal(
    code(() => run('I,1,a\nI,x,b\n', c)),
    'CDC_VALUE_INVALID s/t/20240612-103125107.csv:2',
  )
  assert.equal(
    code(() =>
      parseCsv(Buffer.from([0x49, 0x2c, 0x31, 0x2c, 0x61, 0x0a, 0x49, 0x2c, 0x32, 0x2c, 0xff, 0x0a]), {
        label: 'S.t',
        key: 'k',
        columns: c,
        hasOp: true,
        header: false,
        opColumn: 'Op',
      }),
    ),
    'CDC_CSV_INVALID_UTF8 k:2',
  )
  assert.equal(
    code(() => run('I,1,a\nI,2,b\n', cols('id:integer', 'x:date'))),
    'CDC_VALUE_INVALID s/t/20240612-103125107.csv:1',
  )
  assert.equal(
    code(() => run('I,1,9.999\n', cols('id:integer', 'x:decimal(3,2)'))),
    'CDC_VALUE_INVALID s/t/20240612-103125107.csv:1',
  )
})

test('a header row is checked against the configured columns (AddColumnName=true)', () => {
  const c = cols('id:integer', 'x')
  assert.deepEqual(Array.from(run('Op,id,x\nI,1,a\n', c, true, true).ops), [0x49])
  assert.equal(
    code(() => run('Op,x,id\nI,1,a\n', c, true, true)),
    'CDC_SCHEMA_MISMATCH s/t/20240612-103125107.csv:1',
  )
})

// Differential test against csv-parse, a well-kept library, on random DMS-like files.
const ALPHABET = ['a', 'b', ',', '"', '\n', ' ', 'é', '€', '1', '\r\n', '']
function randomField(rng: Rng): string | null {
  if (rng.chance(0.15)) return null
  const len = rng.int(6)
  let s = ''
  for (let i = 0; i < len; i++) s += rng.pick(ALPHABET)
  return s
}
function encode(v: string | null, rng: Rng): string {
  if (v === null) return ''
  const mustQuote = v === '' || /[",\n\r]/.test(v)
  return mustQuote || rng.chance(0.2) ? `"${v.replaceAll('"', '""')}"` : v
}

for (const seed of seeds(25)) {
  test(`random DMS CSV parses as csv-parse does (seed ${seed})`, () => {
    const rng = new Rng(seed)
    const width = 1 + rng.int(5)
    const rows: { op: string; fields: (string | null)[] }[] = []
    const n = 1 + rng.int(60)
    for (let r = 0; r < n; r++)
      rows.push({ op: rng.pick(['I', 'U', 'D']), fields: Array.from({ length: width }, () => randomField(rng)) })
    const text =
      rows.map((r) => [r.op, ...r.fields.map((f) => encode(f, rng))].join(',')).join('\n') +
      (rng.chance(0.8) ? '\n' : '')
    const c = Array.from({ length: width }, (_, i) => ({ name: `c${i}`, type: { kind: 'string' as const } }))
    const ours = values(text, c)
    const theirs = parse(text, {
      relax_column_count: false,
      cast: (value: string, ctx: { quoting: boolean }) => (value === '' && !ctx.quoting ? null : value),
    }) as (string | null)[][]
    assert.equal(theirs.length, n)
    assert.deepEqual(
      ours.ops,
      theirs.map((r) => r[0]),
    )
    for (let i = 0; i < width; i++)
      assert.deepEqual(
        ours.cols[i],
        theirs.map((r) => r[i + 1]),
        `column ${i}`,
      )
    assert.deepEqual(
      ours.cols.map((col) => col),
      rows[0] ? c.map((_, i) => rows.map((r) => r.fields[i])) : [],
    )
  })
}
