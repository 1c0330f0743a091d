// The plain layout's snapshot taken slice by slice (one slice of the state per part file, each encoded when an
// encoder is free): the same part files with the same rows as the whole snapshot split afterwards, date after date
// (the state then lives in the slices); a part that fails fails the put, and the watermark does not move.
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import * as A from 'apache-arrow'
import { parseConfig, type Config } from '../src/config.js'
import { KeyedState } from '../src/apply.js'
import { ParquetFolderSink, stateRows } from '../src/curated-sink.js'
import { curatedSchema, encodeParts, putPartition, toParquet } from '../src/write.js'
import { parseDmsName } from '../src/dms-names.js'
import { parquetPool } from '../src/parquet-pool.js'
import { LocalStore } from '../src/store/local-store.js'
import type { ObjectStore } from '../src/store/object-store.js'
import { openStores, runOnce } from '../src/run.js'
import { StateStore } from '../src/state/index.js'
import { OP_DELETE, OP_INSERT, OP_UPDATE, type ChangeBatch, type TableSchema } from '../src/batch.js'
import { parquetRows, readOutputTree, tempDir } from './helpers/outputs.js'
import { Rng } from './helpers/random.js'

const SCHEMA: TableSchema = {
  fields: [
    new A.Field('id', new A.Int64(), true),
    new A.Field('ts', new A.Utf8(), true),
    new A.Field('name', new A.Utf8(), true),
    new A.Field('amount', new A.Float64(), true),
  ],
  types: [undefined, undefined, undefined, undefined],
}

function config(dir: string, rowsPerFile: number): Config {
  return parseConfig(
    {
      source: 'S',
      landing: join(dir, 'landing'),
      raw: join(dir, 'raw'),
      curated: join(dir, 'curated'),
      state: join(dir, 'state.sqlite'),
      parquet: { rowsPerFile },
      tables: [{ name: 't', path: 's/t', primaryKey: ['id'], columns: [{ name: 'id', type: 'integer' }] }],
    },
    dir,
  )
}

/** A file's batch of `n` random changes over keys below `keys` (inserts of new keys, updates, deletes). */
function batch(rng: Rng, name: string, n: number, keys: number, t0: number): ChangeBatch {
  const file = parseDmsName(`s/t/${name}`, { format: 'csv', label: 'S.t' })!
  const ops = new Uint8Array(n)
  const ids: (bigint | null)[] = []
  const ts: string[] = []
  const names: (string | null)[] = []
  const amounts: (number | null)[] = []
  for (let i = 0; i < n; i++) {
    const x = rng.int(10)
    ops[i] = file.kind === 'load' || x < 3 ? OP_INSERT : x < 8 ? OP_UPDATE : OP_DELETE
    ids.push(BigInt(file.kind === 'load' ? t0 + i : rng.int(keys)))
    ts.push(String(t0 + i).padStart(12, '0'))
    names.push(rng.int(5) === 0 ? null : `name ${rng.int(1000)}`)
    amounts.push(rng.int(7) === 0 ? null : rng.int(100000) / 100)
  }
  const cols = [
    A.vectorFromArray(ids, new A.Int64()),
    A.vectorFromArray(ts, new A.Utf8()),
    A.vectorFromArray(names, new A.Utf8()),
    A.vectorFromArray(amounts, new A.Float64()),
  ].map((v) => v.data[0]!)
  return {
    file,
    rowBase: 0,
    length: n,
    ops,
    columns: cols,
    keys: ids.map(String),
    ts,
    seq: undefined,
    tsColumn: 1,
    movedFrom: undefined,
    lines: undefined,
  }
}

/** Every part file of a date folder, by name, with its rows (in file order). */
async function parts(store: ObjectStore, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for await (const o of store.list(`${prefix}/`))
    out.set(o.key.slice(prefix.length + 1), JSON.stringify(parquetRows(await store.get(o.key))))
  return out
}

test('a snapshot taken slice by slice writes the same part files, with the same rows, as the whole snapshot split', async () => {
  const tmp = tempDir('cdc-slices-')
  try {
    // 4 part files of 30 rows (partRows keeps rowsPerFile below 100,000 rows), the last one shorter
    const cfg = config(tmp.path, 30)
    const rng = new Rng(7)
    const files = [
      ['LOAD00000001.csv', 'LOAD00000002.csv'],
      ['20240102-080000000.csv', '20240102-090000000.csv', '20240102-100000000.csv'],
      ['20240103-080000000.csv'],
      [],
    ]
    const whole = new KeyedState(SCHEMA)
    const sliced = new KeyedState(SCHEMA)
    const wholeStore = new LocalStore(join(tmp.path, 'whole'))
    const slicedStore = new LocalStore(join(tmp.path, 'sliced'))
    let t0 = 0
    for (const [d, names] of files.entries()) {
      for (const name of names) {
        const b = batch(rng, name, name.startsWith('LOAD') ? 50 : 20, 100, t0)
        t0 += 1000
        whole.apply(b)
        sliced.apply(b)
      }
      const date = `2024010${d + 1}`
      const schema = curatedSchema(SCHEMA)
      // before: the whole snapshot gathered, then split into parts
      const table = stateRows(whole, schema).all(false).table
      await new ParquetFolderSink(cfg, wholeStore, 'S/t').start(date, table).put(undefined)
      // now: one slice of the state per part
      const put = new ParquetFolderSink(cfg, slicedStore, 'S/t').start(date, stateRows(sliced, schema))
      assert.equal(put.rows, table.numRows)
      await put.put(undefined)
      const a = await parts(wholeStore, `S/t/${date}`)
      const b = await parts(slicedStore, `S/t/${date}`)
      assert.ok(a.size >= 3, `${date}: ${a.size} part(s)`)
      assert.deepEqual([...b.keys()], [...a.keys()], `${date}: part names`)
      for (const [k, rows] of a) assert.equal(b.get(k), rows, `${date} ${k}`)
      assert.equal(sliced.size, whole.size)
    }
  } finally {
    tmp.remove()
  }
})

test('a part that fails to encode fails the put: later parts are not taken and nothing is deleted', async () => {
  const tmp = tempDir('cdc-slices-')
  try {
    const store = new LocalStore(join(tmp.path, 'curated'))
    await store.put('S/t/20240101/part-00009.parquet', new Uint8Array([1]))
    const opts = config(tmp.path, 10).parquet
    const built: number[] = []
    const part = (i: number) => () => {
      built.push(i)
      if (i === 2) throw new Error('part 2 failed')
      return A.tableFromArrays({ id: Int32Array.from({ length: 10 }, (_, j) => i * 10 + j) })
    }
    const encoded = encodeParts([0, 1, 2, 3, 4, 5].map(part), 60, opts, 2)
    assert.deepEqual(built, [0, 1], 'two parts ahead of the put')
    await assert.rejects(putPartition(store, 'S/t/20240101', encoded), /part 2 failed/)
    assert.deepEqual(built, [0, 1, 2, 3], 'no part is built past the failed one and the one ahead of it')
    const left = readdirSync(join(tmp.path, 'curated', 'S', 't', '20240101')).sort()
    assert.deepEqual(left, ['part-00000.parquet', 'part-00001.parquet', 'part-00009.parquet'])
  } finally {
    tmp.remove()
  }
})

test('a curated part whose write fails leaves the watermark where it was; the next run writes every part', async () => {
  const tmp = tempDir('cdc-slices-')
  try {
    const dir = join(tmp.path, 'landing', 's', 't')
    mkdirSync(dir, { recursive: true })
    const lines = (from: number, n: number, op: string): string =>
      Array.from(
        { length: n },
        (_, i) => `${op},2024-01-01 0${op === 'I' ? 1 : 2}:00:00.${String(i).padStart(6, '0')},${from + i}\n`,
      ).join('')
    writeFileSync(join(dir, 'LOAD00000001.csv'), lines(0, 95, 'I'))
    const cfg = parseConfig(
      {
        source: 'S',
        landing: join(tmp.path, 'landing'),
        raw: join(tmp.path, 'raw'),
        curated: join(tmp.path, 'curated'),
        state: join(tmp.path, 'state.sqlite'),
        parquet: { rowsPerFile: 20 },
        settleSeconds: 0,
        tables: [
          {
            name: 't',
            path: 's/t',
            primaryKey: ['id'],
            includeOpForFullLoad: true,
            timestampColumn: 'ts',
            columns: [
              { name: 'ts', type: 'timestamp' },
              { name: 'id', type: 'integer' },
            ],
          },
        ],
      },
      tmp.path,
    )
    const first = await runOnce(cfg)
    assert.equal(first.tables[0]?.status, 'ok', JSON.stringify(first.tables[0]))
    const wm = (): string | undefined => {
      const s = StateStore.open(cfg.state)
      try {
        return s.get('S', 't')?.lpf
      } finally {
        s.close()
      }
    }
    const before = wm()
    assert.ok(before !== undefined)
    writeFileSync(join(dir, '20240101-030000000.csv'), lines(90, 10, 'U'))
    // the curated store refuses the third part file of the run
    const stores = await openStores(cfg)
    let puts = 0
    const curated: ObjectStore = Object.create(stores.curated) as ObjectStore
    curated.put = async (key, body, opts) => {
      if (key.endsWith('.parquet') && ++puts === 3) throw new Error('injected: part write failed')
      return stores.curated.put(key, body, opts)
    }
    const state = StateStore.open(cfg.state)
    try {
      const { runCycle } = await import('../src/run.js')
      const failed = await runCycle(cfg, { ...stores, curated }, state)
      assert.notEqual(failed.tables[0]?.status, 'ok', 'the run fails')
    } finally {
      state.close()
      await Promise.all([stores.landing.close(), stores.raw.close(), stores.curated.close()])
    }
    assert.equal(wm(), before, 'the watermark did not move')
    const again = await runOnce(cfg)
    assert.equal(again.tables[0]?.status, 'ok', JSON.stringify(again.tables[0]))
    assert.notEqual(wm(), before)
    const tree = readOutputTree(join(tmp.path, 'curated'))
    const date = Object.keys(tree).filter((k) => k.includes('20240101'))
    assert.ok(date.length > 0, Object.keys(tree).join(','))
    const rows = date.flatMap((k) => tree[k]!)
    assert.equal(rows.length, 100)
  } finally {
    tmp.remove()
  }
})

test('a Parquet worker whose WebAssembly memory grew past the limit is ended once idle; the next part starts another', async () => {
  const limit = parquetPool.retireBytes
  const opts = config('/tmp', 1_000_000).parquet
  const table = A.tableFromArrays({ id: Float64Array.from({ length: 50_000 }, (_, i) => i) })
  try {
    await toParquet(table, opts) // a worker with some memory
    parquetPool.retireBytes = 1
    const { started, retired } = parquetPool
    const bytes = await toParquet(table, opts)
    assert.equal(parquetPool.retired, retired + 1, 'the worker was retired')
    const again = await toParquet(table, opts)
    assert.equal(parquetPool.started, started + 1, 'a new worker encoded the next part')
    assert.deepEqual(parquetRows(again), parquetRows(bytes))
  } finally {
    parquetPool.retireBytes = limit
  }
})
