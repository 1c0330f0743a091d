// The fixed costs an idle watch poll pays per table, made cheap (docs/benchmarks.md, Many tables) without changing
// what they do: statements prepared once per connection, the lock heartbeat written at most once a second, the
// table lookup by an index that follows changes of the tables array, one abort listener per signal for the waits.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { getEventListeners } from 'node:events'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import Database from 'better-sqlite3'
import { StateStore } from '../src/state/index.js'
import { openStateDb, prepared } from '../src/state/open.js'
import { findTable } from '../src/table-glob.js'
import { sleep } from '../src/sleep.js'
import type { Config, TableConfig } from '../src/config.js'
import { tempDir } from './helpers/outputs.js'

test('prepared statements: one per SQL text and connection', (t) => {
  const tmp = tempDir('cdc-idle-')
  t.after(tmp.remove)
  const a = openStateDb(join(tmp.path, 'a.sqlite'))
  const b = openStateDb(join(tmp.path, 'b.sqlite'))
  t.after(() => (a.close(), b.close()))
  const sql = 'SELECT COUNT(*) AS n FROM ops_table'
  assert.equal(prepared(a, sql), prepared(a, sql))
  assert.notEqual(prepared(a, sql), prepared(b, sql))
  assert.notEqual(prepared(a, sql), prepared(a, 'SELECT 1'))
  assert.deepEqual(prepared(a, sql).get(), { n: 0 })
})

test('the lock heartbeat is written at most once a second, however often it is called', async (t) => {
  const tmp = tempDir('cdc-idle-')
  t.after(tmp.remove)
  const path = join(tmp.path, 'state.sqlite')
  const state = StateStore.open(path)
  t.after(() => state.close())
  state.lock()
  const beat = (): number => {
    const db = new Database(path, { readonly: true })
    try {
      return (db.prepare('SELECT HeartbeatAt FROM process_lock').get() as { HeartbeatAt: number }).HeartbeatAt
    } finally {
      db.close()
    }
  }
  const taken = beat()
  await delay(20)
  for (let i = 0; i < 300; i++) state.heartbeat()
  assert.equal(beat(), taken)
  await delay(1050)
  state.heartbeat()
  assert.ok(beat() >= taken + 1000, `heartbeat ${beat()} after lock at ${taken}`)
})

test('findTable: by label, also after the tables array changed in place', () => {
  const table = (name: string): TableConfig => ({ source: 'S', name }) as TableConfig
  const config = { tables: [table('a'), table('b'), table('c')] } as Config
  assert.equal(findTable(config, 'S.b'), config.tables[1])
  config.tables[1] = table('x')
  assert.equal(findTable(config, 'S.x'), config.tables[1])
  assert.throws(() => findTable(config, 'S.b'), /table "S\.b" is not configured/)
  config.tables.push(table('d'))
  assert.equal(findTable(config, 'S.d'), config.tables[3])
})

test('sleep: many waits on one signal share one abort listener and all end at the abort', async () => {
  const ac = new AbortController()
  const started = Date.now()
  const waits = Array.from({ length: 200 }, () => sleep(60_000, ac.signal))
  assert.equal(getEventListeners(ac.signal, 'abort').length, 1)
  ac.abort()
  await Promise.all(waits)
  assert.ok(Date.now() - started < 5000)
  await sleep(60_000, ac.signal) // an aborted signal: at once
  const short = new AbortController()
  const t0 = Date.now()
  await sleep(30, short.signal)
  assert.ok(Date.now() - t0 >= 25)
})
