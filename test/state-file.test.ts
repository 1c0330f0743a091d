// The state file's schema (src/state/): the ordered migrations, the version they write, the refusal of a newer file,
// and the read-only views of files that predate the check tables.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import {
  STATE_VERSION,
  StateStore,
  lastVerify,
  pipelineRuns,
  readLedger,
  readLpf,
  recordPipelineRun,
  recordVerify,
} from '../src/state/index.js'
import type { CdcError } from '../src/errors.js'
import { tempDir } from './helpers/outputs.js'

const TABLES = [
  'catalog_tables',
  'ops_table',
  'pipeline_runs',
  'process_lock',
  'processed_files',
  'raw_parts',
  'table_runs',
  'tombstones',
  'verify_runs',
]

function inspect(path: string): { version: number; tables: string[]; lockColumns: string[] } {
  const db = new Database(path, { readonly: true })
  try {
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]
    ).map((r) => r.name)
    const lockColumns = (db.prepare('PRAGMA table_info(process_lock)').all() as { name: string }[]).map((c) => c.name)
    return { version: db.pragma('user_version', { simple: true }) as number, tables, lockColumns }
  } finally {
    db.close()
  }
}

const WATERMARK = { source: 'S', table: 'T', fullLoad: true, lpf: '20240610-100000000', loadDate: '20240609' }
const FILE = {
  file: '20240610-100000000',
  key: 'S/T/20240610-100000000.csv',
  date: '20240610',
  size: 10,
  etag: 'e',
  checksum: 'c',
  rows: 1,
  inserts: 1,
  updates: 0,
  deletes: 0,
}

test('a new state file gets every table and the version of the last migration (6)', (t) => {
  const tmp = tempDir('cdc-state-')
  t.after(tmp.remove)
  const path = join(tmp.path, 'sub', 'state.sqlite')
  StateStore.open(path).close()
  assert.equal(STATE_VERSION, 6)
  assert.deepEqual(inspect(path), {
    version: 6,
    tables: TABLES,
    lockColumns: ['Id', 'Token', 'Pid', 'Host', 'StartedAt', 'HeartbeatAt', 'Proc'],
  })
})

test('a format-2 file without the tables later builds added is migrated to the current version and keeps its watermark and ledger', (t) => {
  const tmp = tempDir('cdc-state-')
  t.after(tmp.remove)
  const path = join(tmp.path, 'state.sqlite')
  const s = StateStore.open(path)
  s.commit({
    watermark: WATERMARK,
    files: [FILE],
    tombstones: { upsert: [], remove: [] },
    reset: false,
    liveRows: 1,
    fingerprint: 'fp',
  })
  s.close()
  const db = new Database(path)
  db.exec(
    'DROP TABLE catalog_tables; DROP TABLE verify_runs; DROP TABLE pipeline_runs; ALTER TABLE process_lock DROP COLUMN Proc; ALTER TABLE table_runs DROP COLUMN SegmentFiles',
  )
  db.pragma('user_version = 2')
  db.close()
  assert.deepEqual(lastVerify(path), [], 'a reader of a file without verify_runs sees no verify')
  assert.deepEqual(pipelineRuns(path), [], 'a reader of a file without pipeline_runs sees no run')
  assert.equal(readLpf(path, 'S', 'T'), WATERMARK.lpf)
  assert.equal(inspect(path).version, 2, 'readers do not migrate')

  const again = StateStore.open(path)
  again.lock()
  assert.deepEqual(again.get('S', 'T'), WATERMARK)
  assert.deepEqual(again.meta('S', 'T'), { fingerprint: 'fp', keyFormat: 2 })
  assert.deepEqual(
    again.processedFiles('S', 'T').map((f) => f.file),
    [FILE.file],
  )
  again.close()
  const after = inspect(path)
  assert.equal(after.version, 6)
  assert.deepEqual(after.tables, TABLES)
  assert.ok(after.lockColumns.includes('Proc'))
  const check = new Database(path, { readonly: true })
  const runColumns = (check.prepare('PRAGMA table_info(table_runs)').all() as { name: string }[]).map((c) => c.name)
  check.close()
  assert.ok(runColumns.includes('SegmentFiles'), 'format 4 adds table_runs.SegmentFiles')
  assert.deepEqual([...(readLedger(path, { source: 'S', name: 'T' })?.rawDates ?? [])].sort(), ['20240609', '20240610'])
})

test('a format-5 file (no raw_parts) is migrated to format 6: its watermark stays, and commits then record RAW parts', (t) => {
  const tmp = tempDir('cdc-state-')
  t.after(tmp.remove)
  const path = join(tmp.path, 'state.sqlite')
  const s = StateStore.open(path)
  s.commit({ watermark: WATERMARK, files: [FILE], tombstones: { upsert: [], remove: [] }, reset: false, liveRows: 1 })
  s.close()
  const db = new Database(path)
  db.exec('DROP TABLE raw_parts')
  db.pragma('user_version = 5')
  db.close()
  const again = StateStore.open(path)
  try {
    assert.equal(inspect(path).version, 6)
    assert.deepEqual(inspect(path).tables, TABLES)
    assert.deepEqual(again.get('S', 'T'), WATERMARK)
    assert.deepEqual(again.rawParts('S', 'T', '20240610'), [], 'a migrated file knows no part: its dates are legacy')
    const part = { name: 'part-a-b-00000.parquet', rows: 3, first: 'a', last: 'b' }
    again.commit({
      watermark: WATERMARK,
      files: [],
      tombstones: { upsert: [], remove: [] },
      reset: false,
      liveRows: 1,
      raw: { date: '20240610', parts: [part], legacy: ['part-00000.parquet'] },
    })
    assert.deepEqual(
      again.rawParts('S', 'T', '20240610').map((p) => [p.name, p.rows, p.step]),
      [
        ['part-00000.parquet', undefined, 1],
        ['part-a-b-00000.parquet', 3, 2],
      ],
      'legacy parts are recorded before the write that found them',
    )
    assert.deepEqual(again.rawWork('S', 'T', '20240611').compact, ['20240610'], 'a closed date of two writes is due')
    again.resetTable('S', 'T')
    assert.deepEqual(again.rawParts('S', 'T', '20240610'), [], 'reset forgets the parts')
  } finally {
    again.close()
  }
})

test('a file of a newer version is refused with CDC_STATE_VERSION and left as it is', (t) => {
  const tmp = tempDir('cdc-state-')
  t.after(tmp.remove)
  const path = join(tmp.path, 'state.sqlite')
  StateStore.open(path).close()
  const db = new Database(path)
  db.pragma(`user_version = ${STATE_VERSION + 1}`)
  db.close()
  assert.throws(
    () => StateStore.open(path),
    (e: CdcError) =>
      e.code === 'CDC_STATE_VERSION' &&
      e.message ===
        `state file ${JSON.stringify(path)} has schema version ${STATE_VERSION + 1}; this cdc-apply understands up to ${STATE_VERSION}`,
  )
  assert.throws(
    () =>
      recordPipelineRun(path, {
        pipeline: 'p',
        startedAt: 'now',
        params: {},
        status: 'Success',
        rows: 0,
        ms: 0,
        error: undefined,
      }),
    (e: CdcError) => e.code === 'CDC_STATE_VERSION',
  )
  assert.equal(inspect(path).version, STATE_VERSION + 1)
})

test('verify and pipeline runs round-trip through the state file; verify never creates one', (t) => {
  const tmp = tempDir('cdc-state-')
  t.after(tmp.remove)
  const path = join(tmp.path, 'state.sqlite')
  recordVerify(path, {
    source: 'S',
    table: 'T',
    date: '20240610',
    verdict: 'equal',
    missing: 0,
    extra: 0,
    differ: 0,
    against: null,
  })
  assert.deepEqual(lastVerify(path), [])
  recordPipelineRun(path, {
    pipeline: 'p',
    startedAt: '2024-06-10T00:00:00.000Z',
    params: { a: '1' },
    status: 'Error',
    rows: 2,
    ms: 3,
    error: { code: 'CDC_STEP_FAILED', message: 'boom' },
  })
  recordVerify(path, {
    source: 'S',
    table: 'T',
    date: '20240610',
    verdict: 'mismatch',
    missing: 1,
    extra: 2,
    differ: 3,
    against: 'x.csv',
  })
  const [v] = lastVerify(path)
  assert.deepEqual(
    { ...v, checkedAt: undefined },
    {
      source: 'S',
      table: 'T',
      date: '20240610',
      verdict: 'mismatch',
      missing: 1,
      extra: 2,
      differ: 3,
      checkedAt: undefined,
      against: 'x.csv',
    },
  )
  assert.deepEqual(pipelineRuns(path), [
    {
      pipeline: 'p',
      startedAt: '2024-06-10T00:00:00.000Z',
      params: { a: '1' },
      status: 'Error',
      rows: 2,
      ms: 3,
      error: 'CDC_STEP_FAILED: boom',
      runs: 1,
      lastSuccessAt: null,
    },
  ])
})

test('readLedger: undefined only when there is no ledger yet; a damaged or unreadable state file is CDC_STATE_UNAVAILABLE', (t) => {
  const tmp = tempDir('cdc-state-')
  t.after(tmp.remove)
  const T = { source: 'S', name: 'T' }
  assert.equal(readLedger(join(tmp.path, 'none.sqlite'), T), undefined, 'no state file')
  const empty = join(tmp.path, 'empty.sqlite')
  new Database(empty).close()
  assert.equal(readLedger(empty, T), undefined, 'a file whose tables are not created yet')
  const fresh = join(tmp.path, 'fresh.sqlite')
  StateStore.open(fresh).close()
  assert.equal(readLedger(fresh, T), undefined, 'the table never ran')

  const unavailable = (err: unknown): boolean =>
    (err as CdcError).code === 'CDC_STATE_UNAVAILABLE' && (err as CdcError).name === 'StateError'
  const damaged = join(tmp.path, 'damaged.sqlite')
  writeFileSync(damaged, 'this is not an SQLite database, it only has the name of one'.repeat(100))
  assert.throws(() => readLedger(damaged, T), unavailable)
  const odd = join(tmp.path, 'odd.sqlite')
  const db = new Database(odd)
  db.exec('CREATE TABLE ops_table (Source TEXT, TableName TEXT); CREATE TABLE processed_files (Source TEXT)')
  db.close()
  assert.throws(() => readLedger(odd, T), unavailable, 'a schema the reader cannot read')
})

test('tombstones written in multi-row statements: more than one chunk of upserts and removals, values as given', () => {
  const tmp = tempDir('cdc-tomb-chunks-')
  const s = StateStore.open(join(tmp.path, 'state.sqlite'))
  s.lock()
  const wm = { source: 'S', table: 'T', fullLoad: true, lpf: '20240610-000000000', loadDate: '20240610' }
  const values = ['20221234567890123456789012345600001', 1.5, 42, null, Number.POSITIVE_INFINITY, '']
  const expected = new Map<string, { ts: unknown; seq: unknown; file: string; row: number }>()
  const commit = (
    upsert: [string, { ts: string | number | null; seq: string | number | null; file: string; row: number }][],
    remove: string[],
  ) => {
    s.commit({ watermark: wm, files: [], tombstones: { upsert, remove }, reset: false, liveRows: 0 })
    for (const [k, o] of upsert) expected.set(k, o)
    for (const k of remove) expected.delete(k)
  }
  const batch = (from: number, n: number, file: string) =>
    Array.from({ length: n }, (_, i) => {
      const k = from + i
      return [
        `k${(k * 7919) % 100003}`,
        { ts: values[k % values.length]!, seq: values[(k + 1) % values.length]!, file, row: k },
      ] as [string, { ts: string | number | null; seq: string | number | null; file: string; row: number }]
    })
  commit(batch(0, 2_345, 'f1'), [])
  const first = [...expected.keys()]
  commit(batch(1_000, 2_001, 'f2'), [...first.slice(0, 1_500), 'absent'])
  const got = new Map([...s.tombstones('S', 'T')].map(([k, o]) => [k, o]))
  assert.equal(got.size, expected.size)
  assert.deepEqual(got, expected)
  s.close()
  tmp.remove()
})
