// The shared landing listing: one pass serves many tables, a table never gets a pass older than its last poll,
// a failed pass is not reused, S3 falls back to per-table listings when the pass would cost more pages than
// tables; run and watch over several tables list the landing once per round and write what per-table listings do.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { SharedListing } from '../src/listing.js'
import { LocalStore } from '../src/store/local-store.js'
import { parseConfig } from '../src/config.js'
import { runWatch } from '../src/watch.js'
import { runOnce, openStores, type Stores } from '../src/run.js'
import type { ObjectInfo, ObjectStore, StoreOptions } from '../src/store/object-store.js'
import { readOutputTree, tempDir } from './helpers/outputs.js'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const HL = join(root, 'fixtures', 'init', 'headerless')

class FakeStore implements ObjectStore {
  lists: string[] = []
  fail = false
  constructor(
    readonly url: string,
    public keys: string[],
  ) {}
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.lists.push(prefix)
    if (this.fail) throw new Error('boom')
    for (const key of this.keys.filter((k) => k.startsWith(prefix)).sort())
      yield { key, size: 1, etag: 'e', lastModified: new Date(0) }
  }
  async get(): Promise<Uint8Array> {
    return new Uint8Array()
  }
  async put(): Promise<void> {}
  async delete(): Promise<void> {}
  async close(): Promise<void> {}
}

test("one pass lists the tables' common folder and hands each table its keys (startAfter applied per table)", async () => {
  const store = new FakeStore('/x', [
    'dms/a/t1/LOAD00000001.csv',
    'dms/a/t1/20240101-000000000.csv',
    'dms/a/t2/LOAD00000001.csv',
    'dms/a/t22/LOAD00000001.csv',
    'dms/b/t3/2024/01/01/20240101-000000000.csv',
    'dms/other.txt',
  ])
  const l = new SharedListing(store, ['dms/a/t1', 'dms/a/t2', 'dms/b/t3'])
  assert.deepEqual(
    (await l.list('dms/a/t1', { notBefore: -Infinity })).map((o) => o.key),
    ['dms/a/t1/20240101-000000000.csv', 'dms/a/t1/LOAD00000001.csv'],
  )
  assert.deepEqual(
    (await l.list('dms/a/t2', { notBefore: -Infinity })).map((o) => o.key),
    ['dms/a/t2/LOAD00000001.csv'],
    'not t22',
  )
  assert.deepEqual(
    (await l.list('dms/b/t3', { notBefore: -Infinity })).map((o) => o.key),
    ['dms/b/t3/2024/01/01/20240101-000000000.csv'],
  )
  assert.deepEqual(
    (await l.list('dms/a/t1', { notBefore: -Infinity, startAfter: 'dms/a/t1/20240101-000000000.csv' })).map(
      (o) => o.key,
    ),
    ['dms/a/t1/LOAD00000001.csv'],
  )
  assert.deepEqual(store.lists, ['dms/'])
})

test('a table whose last poll ended after the current pass started gets a new pass, which then serves the others', async () => {
  const store = new FakeStore('/x', ['a/t1/LOAD00000001.csv'])
  const l = new SharedListing(store, ['a/t1', 'a/t2'])
  await l.list('a/t1', { notBefore: -Infinity })
  const after = performance.now()
  store.keys.push('a/t2/LOAD00000001.csv')
  assert.deepEqual(await l.list('a/t2', { notBefore: -Infinity }), [], 'an older poll may reuse the pass')
  assert.deepEqual(
    (await l.list('a/t2', { notBefore: after })).map((o) => o.key),
    ['a/t2/LOAD00000001.csv'],
  )
  assert.equal(l.passes, 2)
  await l.list('a/t1', { notBefore: after })
  assert.equal(l.passes, 2)
})

test('a failed pass reaches its callers and is not reused', async () => {
  const store = new FakeStore('/x', ['a/t1/LOAD00000001.csv'])
  const l = new SharedListing(store, ['a/t1', 'a/t2'])
  store.fail = true
  await assert.rejects(l.list('a/t1', { notBefore: -Infinity }), /boom/)
  store.fail = false
  assert.equal((await l.list('a/t1', { notBefore: -Infinity })).length, 1)
  assert.equal(l.passes, 2)
})

test('on S3 a pass is used while its pages (1000 keys) do not outnumber the tables; folders always; one table never', async () => {
  const many = Array.from(
    { length: 2500 },
    (_, i) => `a/t${i % 2}/${20240101 + (i % 28)}-${String(i).padStart(9, '0')}.csv`,
  )
  const s3 = new SharedListing(new FakeStore('s3://b/p', many), ['a/t0', 'a/t1'])
  assert.equal(s3.worthIt(), true, 'unknown size: try it')
  await s3.list('a/t0', { notBefore: -Infinity })
  assert.equal(s3.worthIt(), false, '3 pages for 2 tables')
  const s3wide = new SharedListing(new FakeStore('s3://b/p', many), ['a/t0', 'a/t1', 'a/t2'])
  await s3wide.list('a/t0', { notBefore: -Infinity })
  assert.equal(s3wide.worthIt(), true, '3 pages for 3 tables')
  const folder = new SharedListing(new FakeStore('/x', many), ['a/t0', 'a/t1'])
  await folder.list('a/t0', { notBefore: -Infinity })
  assert.equal(folder.worthIt(), true)
  assert.equal(new SharedListing(new FakeStore('/x', many), ['a/t0']).worthIt(), false)
})

/** A landing store that counts list() calls. */
function counting(inner: ObjectStore): ObjectStore & { lists: number } {
  const s = {
    lists: 0,
    url: inner.url,
    list(prefix: string, opts?: StoreOptions & { startAfter?: string }) {
      s.lists++
      return inner.list(prefix, opts)
    },
    get: (k: string, o?: StoreOptions) => inner.get(k, o),
    put: (k: string, b: Uint8Array, o?: StoreOptions) => inner.put(k, b, o),
    delete: (k: readonly string[], o?: StoreOptions) => inner.delete(k, o),
    close: () => inner.close(),
  }
  return s
}

test('watch over two tables lists the landing once per round and writes the same outputs as run', async (t) => {
  const tmp = tempDir('cdc-listing-')
  t.after(tmp.remove)
  cpSync(join(HL, 'landing'), join(tmp.path, 'landing'), { recursive: true })
  const cfg = JSON.parse(
    JSON.stringify({
      source: 'shop',
      settleSeconds: 0,
      landing: 'landing',
      raw: 'w/raw',
      curated: 'w/curated',
      state: 'w/state.sqlite',
      tables: [
        {
          name: 'customers',
          path: 'shop/customers',
          includeOpForFullLoad: true,
          columns: [
            { name: 'ts', type: 'timestamp' },
            { name: 'id', type: 'integer' },
            { name: 'name' },
            { name: 'city' },
            { name: 'balance', type: 'decimal(10,2)' },
            { name: 'signup_at', type: 'timestamp' },
            { name: 'seq' },
            { name: 'bi', type: 'integer' },
          ],
          primaryKey: ['id'],
          timestampColumn: 'ts',
          sequenceColumn: 'seq',
          beforeImageColumns: { id: 'bi' },
        },
        {
          name: 'order_lines',
          path: 'shop/order_lines',
          includeOpForFullLoad: true,
          columns: [
            { name: 'ts', type: 'timestamp' },
            { name: 'order_id', type: 'integer' },
            { name: 'line_no', type: 'integer' },
            { name: 'sku' },
            { name: 'qty', type: 'integer' },
            { name: 'seq' },
          ],
          primaryKey: ['order_id', 'line_no'],
          timestampColumn: 'ts',
          sequenceColumn: 'seq',
        },
      ],
    }),
  ) as Record<string, unknown>
  const watched = parseConfig(cfg, tmp.path)
  const opened = await openStores(watched)
  const landing = counting(opened.landing)
  const stores: Stores = { ...opened, landing }
  const controller = new AbortController()
  let polls = 0
  await runWatch(watched, {
    signal: controller.signal,
    intervalSeconds: 0.2,
    stores,
    onPoll: () => {
      if (++polls === 6) controller.abort()
    },
  })
  await Promise.all([opened.raw.close(), opened.curated.close(), landing.close()])
  assert.ok(
    landing.lists <= 4,
    `3 rounds of 2 tables: at most one pass per round and a spare, got ${landing.lists} lists`,
  )
  // the same tables run once with per-table listings (one table per run) give the same outputs
  const single = parseConfig({ ...cfg, raw: 'r/raw', curated: 'r/curated', state: 'r/state.sqlite' }, tmp.path)
  for (const tb of single.tables) await runOnce({ ...single, tables: [tb] })
  const strip = (tree: Record<string, unknown>): string => JSON.stringify(tree)
  assert.equal(
    strip(readOutputTree(join(tmp.path, 'w', 'curated'))),
    strip(readOutputTree(join(tmp.path, 'r', 'curated'))),
  )
  assert.equal(strip(readOutputTree(join(tmp.path, 'w', 'raw'))), strip(readOutputTree(join(tmp.path, 'r', 'raw'))))
})

test('a shared pass over a folder lists it once and gives each table what its own LIST gives', async (t) => {
  const tmp = tempDir('cdc-listing-')
  t.after(tmp.remove)
  const store = counting(new LocalStore(join(HL, 'landing')))
  const l = new SharedListing(store, ['shop/customers', 'shop/order_lines'])
  const a = await l.list('shop/customers', { notBefore: -Infinity })
  const b = await l.list('shop/order_lines', { notBefore: -Infinity })
  assert.equal(store.lists, 1)
  const own = async (p: string): Promise<string[]> => {
    const out: string[] = []
    for await (const o of new LocalStore(join(HL, 'landing')).list(`${p}/`)) out.push(o.key)
    return out
  }
  assert.deepEqual(
    a.map((o) => o.key),
    await own('shop/customers'),
  )
  assert.deepEqual(
    b.map((o) => o.key),
    await own('shop/order_lines'),
  )
})
