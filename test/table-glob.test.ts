// --table globs for run, status, reset and verify; status --lagging, --failed and --sort.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { main, type Io } from '../src/cli/main.js'
import { globRegExp, selectTables } from '../src/table-glob.js'
import { CdcError } from '../src/errors.js'
import { tempDir } from './helpers/outputs.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const HL = join(root, 'fixtures', 'init', 'headerless')

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const io: Io = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) }
  return { code: await main(args, io), stdout, stderr }
}

test('globs: * and ? over Source.TableName, case-sensitive; a pattern matching nothing is a usage error', () => {
  const labels = ['OP.restaurants', 'OP.orders', 'HR.emp_2023', 'HR.emp_2024']
  assert.deepEqual(selectTables(labels, ['OP.*'], 'run'), ['OP.restaurants', 'OP.orders'])
  assert.deepEqual(selectTables(labels, ['*.orders', 'HR.emp_202?'], 'run'), [
    'OP.orders',
    'HR.emp_2023',
    'HR.emp_2024',
  ])
  assert.deepEqual(selectTables(labels, ['OP.orders'], 'run'), ['OP.orders'])
  assert.equal(globRegExp('op.*').test('OP.orders'), false)
  assert.equal(globRegExp('OP.r*').test('OPxr'), false, 'a dot is a dot')
  assert.throws(
    () => selectTables(labels, ['XX.*'], 'reset'),
    (e: CdcError) =>
      e.code === 'CDC_USAGE' &&
      e.message ===
        '--table "XX.*" matches no configured table; expected one of OP.restaurants, OP.orders, HR.emp_2023, HR.emp_2024',
  )
  assert.throws(
    () => selectTables(labels, ['OP.order'], 'run'),
    (e: CdcError) => e.message.startsWith('--table "OP.order" is not a configured table'),
  )
})

test('run, status, reset and verify take --table globs; status filters --failed and --lagging and sorts', async (t) => {
  const tmp = tempDir('cdc-glob-')
  t.after(tmp.remove)
  const landing = join(tmp.path, 'landing')
  cpSync(join(HL, 'landing'), landing, { recursive: true })
  const config = join(tmp.path, 'cdc-apply.json')
  assert.equal(
    (
      await cli([
        'init',
        '--landing',
        landing,
        '--ddl',
        join(HL, 'postgres.sql'),
        '--table-mapping',
        join(HL, 'table-mapping.json'),
        '--out',
        config,
      ])
    ).code,
    0,
  )
  // the landing was just copied: its objects are young, and a run waits settleSeconds before reading them
  writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(config, 'utf8')), settleSeconds: 0 }))
  const c = ['--config', config, '--log-level', 'silent']

  const one = await cli(['run', ...c, '--table', 'shop.c*', '--json'])
  assert.equal(one.code, 0, one.stderr)
  assert.deepEqual(
    (JSON.parse(one.stdout) as { tables: { table: string }[] }).tables.map((x) => x.table),
    ['customers'],
  )
  const none = await cli(['run', ...c, '--table', 'nope.*'])
  assert.equal(none.code, 2)
  assert.match(none.stderr, /CDC_USAGE: --table "nope\.\*" matches no configured table/)
  assert.equal((await cli(['run', ...c])).code, 0)

  // a change file with a wrong field count: customers fails, and trails its newest file
  writeFileSync(join(landing, 'shop', 'customers', '20240614-000000000.csv'), 'U,2024-06-13 23:59:00.000000,1,x\n')
  assert.equal((await cli(['run', ...c])).code, 3)
  const status = async (...args: string[]): Promise<string[]> => {
    const r = await cli(['status', ...c, '--json', ...args])
    assert.equal(r.code, 0, r.stderr)
    return (JSON.parse(r.stdout) as { tables: { source: string; table: string }[] }).tables.map(
      (x) => `${x.source}.${x.table}`,
    )
  }
  assert.deepEqual(await status(), ['shop.customers', 'shop.order_lines'])
  assert.deepEqual(await status('--failed'), ['shop.customers'])
  assert.deepEqual(await status('--lagging'), ['shop.customers'])
  assert.deepEqual(await status('--table', '*.order_*'), ['shop.order_lines'])
  assert.deepEqual(await status('--sort', 'live'), ['shop.customers', 'shop.order_lines'])
  assert.deepEqual(await status('--sort', 'failed', '--table', 'shop.*'), ['shop.customers', 'shop.order_lines'])
  const badSort = await cli(['status', ...c, '--sort', 'size'])
  assert.equal(badSort.code, 2)
  assert.match(badSort.stderr, /--sort must be one of name, lag, failed, rows, live, last-success/)
  const text = await cli(['status', ...c, '--failed'])
  assert.match(text.stdout, /customers .*CDC_CSV_FIELD_COUNT/)
  assert.doesNotMatch(text.stdout, /order_lines/)

  const verify = await cli(['verify', ...c, '--table', 'shop.o*', '--json'])
  assert.equal(verify.code, 0, verify.stdout + verify.stderr)
  assert.deepEqual(
    (JSON.parse(verify.stdout) as { tables: { table: string }[] }).tables.map((x) => x.table),
    ['order_lines'],
  )

  const unconfirmed = await cli(['reset', ...c, '--table', 'shop.*'])
  assert.equal(unconfirmed.code, 2)
  assert.match(
    unconfirmed.stderr,
    /reset deletes the RAW and curated outputs and the watermark of 2 tables \(shop\.customers, shop\.order_lines\); add --yes to confirm/,
  )
  assert.deepEqual(await status(), ['shop.customers', 'shop.order_lines'], 'nothing was reset without --yes')
  const reset = await cli(['reset', ...c, '--table', 'shop.*', '--yes'])
  assert.equal(reset.code, 0, reset.stderr)
  assert.match(
    reset.stdout,
    /^reset shop\.customers: \d+ output objects deleted.*\nreset shop\.order_lines: \d+ output objects deleted/,
  )
})
