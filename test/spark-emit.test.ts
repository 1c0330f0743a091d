// `cdc-apply spark` and `cdc-apply state export|import` without Spark: what the job is given, and
// that a table's state survives export then import exactly (watermark, ledger, tombstones). The job itself runs on
// PySpark in test/spark-job.test.ts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { main } from '../src/cli/main.js'
import { StateStore, exportTable } from '../src/state/index.js'
import { tempDir } from './helpers/outputs.js'

const CASE = fileURLToPath(new URL('../../fixtures/cases/order-precedence/', import.meta.url))

async function cli(words: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await main([...words, '--log-level', 'warn'], {
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
  })
  return { code, out, err }
}

function lake(): { dir: string; config: string; remove: () => void } {
  const tmp = tempDir('cdc-apply-spark-emit-')
  cpSync(CASE, join(tmp.path, 'case'), { recursive: true })
  const json = JSON.parse(readFileSync(join(CASE, 'cdc-apply.json'), 'utf8')) as Record<string, unknown>
  const config = join(tmp.path, 'case', 'cdc-apply.json')
  writeFileSync(
    config,
    JSON.stringify({ ...json, settleSeconds: 0, curated: 'out/curated', raw: 'out/raw', state: 'out/state.sqlite' }),
  )
  return { dir: join(tmp.path, 'case'), config, remove: tmp.remove }
}

test("spark writes a valid Python job with the tables and the config's locations, and no credentials", async (t) => {
  const l = lake()
  t.after(l.remove)
  const out = join(l.dir, 'job.py')
  const r = await cli(['spark', '--config', l.config, '--out', out, '--s3-scheme', 's3a'])
  assert.equal(r.code, 0, r.err)
  const text = readFileSync(out, 'utf8')
  const line = text.split('\n').find((x) => x.startsWith('CONFIG = '))!
  const job = JSON.parse(JSON.parse(line.slice(line.indexOf('loads(') + 6, -1)) as string) as {
    defaults: Record<string, string>
    tables: { label: string; sequenceColumn: string }[]
  }
  assert.equal(job.defaults['curated'], join(l.dir, 'out/curated'))
  assert.equal(job.defaults['state'], join(l.dir, 'out/cdc-apply-state'))
  assert.equal(job.defaults['s3Scheme'], 's3a')
  assert.deepEqual(
    job.tables.map((x) => [x.label, x.sequenceColumn]),
    [['LAB.events', 'dms_change_seq']],
  )
  assert.ok(!/secret|accessKey|password/i.test(text), 'no credential words in the job')
  const py = spawnSync(
    process.env['CDC_APPLY_PYSPARK_PYTHON'] || 'python3',
    ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', out],
    { encoding: 'utf8' },
  )
  if (py.error) return t.skip('no python3 on this machine: the script was not parsed')
  assert.equal(py.status, 0, py.stderr)
})

test('spark emits onBadRow "quarantine" and Iceberg tables (the refusals are gone) and refuses an unknown table', async (t) => {
  const l = lake()
  t.after(l.remove)
  const json = JSON.parse(readFileSync(l.config, 'utf8')) as { tables: Record<string, unknown>[] }
  json.tables[0]!['onBadRow'] = 'quarantine'
  json.tables[0]!['tableFormat'] = 'iceberg'
  writeFileSync(l.config, JSON.stringify(json))
  const out = join(l.dir, 'job.py')
  const r = await cli(['spark', '--config', l.config, '--out', out])
  assert.equal(r.code, 0, r.err)
  const line = readFileSync(out, 'utf8')
    .split('\n')
    .find((x) => x.startsWith('CONFIG = '))!
  const job = JSON.parse(JSON.parse(line.slice(line.indexOf('loads(') + 6, -1)) as string) as {
    tables: Record<string, unknown>[]
  }
  const table = job.tables[0]!
  assert.equal(table['onBadRow'], 'quarantine')
  assert.equal(table['tableFormat'], 'iceberg')
  const u = await cli(['spark', '--config', l.config, '--out', join(l.dir, 'job.py'), '--table', 'LAB.nope'])
  assert.equal(u.code, 2)
  assert.match(u.err, /CDC_USAGE/)
  // RAW follows tableFormat: an Iceberg table (iceberg.raw defaults to true) the job writes; false opts out
  assert.equal(table['rawIceberg'], true)
  writeFileSync(l.config, JSON.stringify({ ...json, iceberg: { raw: false } }))
  const raw = await cli(['spark', '--config', l.config, '--out', join(l.dir, 'job2.py')])
  assert.equal(raw.code, 0, raw.err)
  const line2 = readFileSync(join(l.dir, 'job2.py'), 'utf8')
    .split('\n')
    .find((x) => x.startsWith('CONFIG = '))!
  const job2 = JSON.parse(JSON.parse(line2.slice(line2.indexOf('loads(') + 6, -1)) as string) as {
    tables: Record<string, unknown>[]
  }
  assert.equal(job2.tables[0]!['rawIceberg'], false)
})

test('state export then import gives back the same watermark, ledger and tombstones', async (t) => {
  const l = lake()
  t.after(l.remove)
  assert.equal((await cli(['run', '--config', l.config, '--no-progress'])).code, 0)
  const state = join(l.dir, 'out/state.sqlite')
  const before = StateStore.open(state)
  const was = exportTable(before, 'LAB', 'events', false)!
  before.close()
  assert.ok(was.tombstones.length > 0, 'the case leaves tombstones (keys g and h)')
  const e = await cli([
    'state',
    'export',
    '--config',
    l.config,
    '--table',
    'LAB.events',
    join(l.dir, 'handover'),
    '--json',
  ])
  assert.equal(e.code, 0, e.err)
  assert.equal((JSON.parse(e.out) as { tombstones: number }).tombstones, was.tombstones.length)
  // a second export replaces the first one's tombstones folder
  assert.equal(
    (await cli(['state', 'export', '--config', l.config, '--table', 'LAB.events', join(l.dir, 'handover')])).code,
    0,
  )
  // into a fresh state file
  const json = JSON.parse(readFileSync(l.config, 'utf8')) as Record<string, unknown>
  const other = join(l.dir, 'other.json')
  writeFileSync(other, JSON.stringify({ ...json, state: 'out/other.sqlite' }))
  const i = await cli(['state', 'import', '--config', other, '--table', 'LAB.events', join(l.dir, 'handover')])
  assert.equal(i.code, 0, i.err)
  const after = StateStore.open(join(l.dir, 'out/other.sqlite'))
  const now = exportTable(after, 'LAB', 'events', false)!
  after.close()
  assert.deepEqual(now.watermark, was.watermark)
  assert.deepEqual(now.ledger, was.ledger)
  assert.deepEqual(
    [...now.tombstones].sort((a, b) => (a.key < b.key ? -1 : 1)),
    [...was.tombstones].sort((a, b) => (a.key < b.key ? -1 : 1)),
  )
  // nothing to import from an empty location; nothing to export for a table without a watermark
  const none = await cli(['state', 'import', '--config', other, '--table', 'LAB.events', join(l.dir, 'nowhere')])
  assert.equal(none.code, 3)
  assert.match(none.err, /CDC_HANDOVER_INVALID/)
})
