// Decoding in worker threads (src/parse-pool.ts): an object decoded by a worker equals the object decoded inline
// (the oracle is the inline path), a worker's error arrives as the same error, objects decoded ahead are applied in
// order with the schema the objects before them leave, and a worker that dies fails the object with a coded error.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import { parseConfig, type TableConfig } from '../src/config.js'
import { parseDmsName, type DmsFile } from '../src/discover.js'
import { readObject, readObjects, type ObjectReadResult, type ReadOptions } from '../src/read-object.js'
import { DecodePool } from '../src/parse-pool.js'
import { CdcError } from '../src/errors.js'
import { columnValues } from '../src/arrow/values.js'
import { Rng } from './helpers/random.js'

const LIMITS = { maxRecordBytes: 1 << 20, maxObjectBytes: 1 << 30 }
const WORKER: ReadOptions = { inlineBelow: 0 }
const INLINE: ReadOptions = { inlineBelow: Number.POSITIVE_INFINITY }

function tableOf(extra: object = {}): TableConfig {
  const cfg = parseConfig(
    {
      source: 'S',
      landing: 'l',
      raw: 'r',
      curated: 'c',
      state: 's',
      tables: [
        {
          name: 'items',
          path: 'shop/items',
          includeOpForFullLoad: true,
          columns: [
            { name: 'ts' },
            { name: 'id', type: 'integer' },
            { name: 'name' },
            { name: 'amount', type: 'double' },
          ],
          primaryKey: ['id'],
          timestampColumn: 'ts',
          ...extra,
        },
      ],
    },
    '/tmp',
  )
  return cfg.tables[0]!
}

function fileOf(name: string, format: 'csv' | 'parquet' = 'csv'): DmsFile {
  return parseDmsName(`shop/items/${name}`, { format, label: 'S.items' })!
}

async function* once(b: Uint8Array): AsyncIterable<Uint8Array> {
  yield Buffer.from(b) // a copy: the worker path takes the bytes it is given
}

/** A result as plain values: every batch's columns, keys, ordering values, lines and row numbers, and the rejected rows. */
function plain(r: ObjectReadResult): unknown {
  return {
    schema: r.schema.fields.map((f) => `${f.name}:${String(f.type)}`),
    types: r.schema.types,
    spec: r.spec,
    checksum: r.checksum,
    rejected: r.rejected,
    batches: r.batches.map((b) => ({
      file: b.file.key,
      rowBase: b.rowBase,
      length: b.length,
      ops: [...b.ops],
      columns: b.columns.map((c) => columnValues(c).map((v) => (typeof v === 'bigint' ? `${v}n` : v))),
      keys: b.keys,
      ts: b.ts,
      seq: b.seq,
      tsColumn: b.tsColumn,
      seqColumn: b.seqColumn,
      movedFrom: b.movedFrom && [...b.movedFrom],
      lines: b.lines && [...b.lines],
      rowNums: b.rowNums && [...b.rowNums],
    })),
  }
}

/** A CSV change file of `n` random records (some broken when `bad`), with quoted fields and line breaks in them. */
function csv(seed: number, n: number, bad = false): Buffer {
  const rng = new Rng(seed)
  const out: string[] = []
  for (let i = 1; i <= n; i++) {
    const name = rng.int(7) === 0 ? `"multi\nline ""${i}"""` : rng.int(5) === 0 ? `"a,b ${i}"` : `n${i}`
    const op = bad && rng.int(40) === 0 ? 'X' : rng.pick(['I', 'U', 'D'])
    const id = bad && rng.int(50) === 0 ? '' : String(1 + rng.int(n))
    const amount = rng.int(4) === 0 ? '' : String(rng.int(100000) / 100)
    out.push(
      `${op},2024-06-10 08:00:${String(i % 60).padStart(2, '0')}.${String(i).padStart(6, '0')},${id},${name},${amount}\n`,
    )
  }
  return Buffer.from(out.join(''))
}

async function both(t: TableConfig, f: DmsFile, bytes: Buffer, opts: ReadOptions = {}) {
  const settle = (p: Promise<ObjectReadResult>) =>
    p.then(
      (r) => ({ ok: plain(r) }),
      (e: unknown) => ({ error: errorFields(e) }),
    )
  const inline = await settle(readObject(t, f, once(bytes), undefined, LIMITS, { ...opts, ...INLINE }))
  const worker = await settle(readObject(t, f, once(bytes), undefined, LIMITS, { ...opts, ...WORKER }))
  return { inline, worker }
}

function errorFields(e: unknown): unknown {
  if (!(e instanceof CdcError)) return { notCoded: String(e) }
  return { cls: e.name, code: e.code, message: e.message, file: e.file, line: e.line, row: e.row, hint: e.hint }
}

test('a CSV object decoded by a worker equals it decoded inline, whole and in pieces, with quarantined rows', async () => {
  for (const seed of [1, 2, 3]) {
    const bytes = csv(seed, 3000, true)
    for (const pieceBytes of [1 << 24, 20_000]) {
      const t = tableOf({ onBadRow: 'quarantine' })
      const { inline, worker } = await both(t, fileOf('20240610-100000000.csv'), bytes, { pieceBytes })
      assert.ok('ok' in inline, JSON.stringify(inline))
      assert.ok(((inline as { ok: { rejected: unknown[] } }).ok.rejected.length ?? 0) > 0, 'some rows are quarantined')
      assert.deepEqual(worker, inline, `seed ${seed}, pieces of ${pieceBytes} bytes`)
    }
  }
})

test('an error raised in a worker arrives as the same class, code, message, file and line', async () => {
  const good = csv(4, 2000)
  const cases: [string, Buffer, object][] = [
    ['bad Op', Buffer.concat([good, Buffer.from('X,2024-06-10 08:00:00.000000,5,n,1\n')]), {}],
    ['NULL key', Buffer.concat([good, Buffer.from('I,2024-06-10 08:00:00.000000,,n,1\n')]), {}],
    ['field count', Buffer.concat([good, Buffer.from('I,2024-06-10 08:00:00.000000,5\n')]), {}],
    ['invalid UTF-8', Buffer.concat([good, Buffer.from([0x49, 0x2c, 0xff, 0xfe, 0x0a])]), {}],
    ['unterminated quote', Buffer.concat([good, Buffer.from('I,2024-06-10 08:00:00.000000,5,"open\n')]), {}],
  ]
  for (const [what, bytes, extra] of cases) {
    for (const pieceBytes of [1 << 24, 30_000]) {
      const { inline, worker } = await both(tableOf(extra), fileOf('20240610-100000000.csv'), bytes, { pieceBytes })
      assert.ok('error' in inline, `${what}: the inline decode fails`)
      assert.equal((inline.error as { cls: string }).cls, 'DataError', what)
      assert.deepEqual(worker, inline, `${what}, pieces of ${pieceBytes} bytes`)
    }
  }
})

test('a Parquet object decoded by a worker equals it decoded inline (several record batches, a bad Op quarantined)', async () => {
  const n = 70_000
  const ops = Array.from({ length: n }, (_, i) => (i === 777 ? 'Z' : i % 3 === 0 ? 'I' : 'U'))
  const table = new A.Table({
    Op: A.vectorFromArray(ops, new A.Utf8()),
    ts: A.vectorFromArray(
      Array.from({ length: n }, (_, i) => `2024-06-10 08:00:00.${String(i).padStart(6, '0')}`),
      new A.Utf8(),
    ),
    id: A.vectorFromArray(
      Array.from({ length: n }, (_, i) => BigInt(i % 5000)),
      new A.Int64(),
    ),
    name: A.vectorFromArray(
      Array.from({ length: n }, (_, i) => (i % 9 === 0 ? null : `n${i}`)),
      new A.Utf8(),
    ),
  })
  const bytes = Buffer.from(pw.writeParquet(pw.Table.fromIPCStream(A.tableToIPC(table, 'stream'))))
  const t = tableOf({ format: 'parquet', columns: [], onBadRow: 'quarantine' })
  const { inline, worker } = await both(t, fileOf('20240610-100000000.parquet', 'parquet'), bytes)
  assert.ok('ok' in inline, JSON.stringify(inline).slice(0, 500))
  assert.ok((inline.ok as { batches: unknown[] }).batches.length > 1, 'several record batches')
  assert.deepEqual(worker, inline)
})

test('objects decoded ahead are returned in order, each with the schema the objects before it leave', async () => {
  // header CSV whose second and fourth files add columns: a file decoded ahead saw an older schema
  const t = tableOf({ header: true })
  const head = (cols: string[]) => `Op,ts,id,name,amount${cols.map((c) => `,${c}`).join('')}\n`
  const body = (seed: number, extra: number) =>
    csv(seed, 1500)
      .toString()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l + ',x'.repeat(extra) + '\n')
      .join('')
  const texts = [
    head([]) + body(10, 0),
    head(['color']) + body(11, 1),
    head(['color']) + body(12, 1),
    head(['color', 'size']) + body(13, 2),
    head([]) + body(14, 0),
  ].map((s) => Buffer.from(s))
  const files = texts.map((_, i) => fileOf(`20240610-10000000${i}.csv`))
  // the oracle: one object after the other, inline, each with the schema the one before left
  const expected: unknown[] = []
  let schema
  for (let i = 0; i < texts.length; i++) {
    const r = await readObject(t, files[i]!, once(texts[i]!), schema, LIMITS, INLINE)
    schema = r.schema
    expected.push(plain(r))
  }
  const got: unknown[] = []
  const sources = texts.map((b, i) => ({ file: files[i]!, chunks: () => once(b), ahead: true }))
  for await (const r of readObjects(t, sources, undefined, LIMITS, WORKER)) got.push(plain(r))
  assert.deepEqual(got, expected)
  assert.deepEqual(
    (got.at(-1) as { schema: string[] }).schema.map((s) => s.split(':')[0]),
    ['ts', 'id', 'name', 'amount', 'color', 'size'],
  )
})

test('an error of an object decoded ahead is raised at its turn, after the objects before it', async () => {
  const t = tableOf()
  const texts = [
    csv(20, 800),
    Buffer.concat([csv(21, 800), Buffer.from('X,2024-06-10 08:00:00.000000,5,n,1\n')]),
    csv(22, 800),
  ]
  const files = texts.map((_, i) => fileOf(`20240610-10000000${i}.csv`))
  const sources = texts.map((b, i) => ({ file: files[i]!, chunks: () => once(b), ahead: true }))
  const seen: string[] = []
  await assert.rejects(
    async () => {
      for await (const r of readObjects(t, sources, undefined, LIMITS, WORKER)) seen.push(r.batches[0]!.file.key)
    },
    (e: unknown) => e instanceof CdcError && e.code === 'CDC_ROW_INVALID_OP' && e.file === files[1]!.key,
  )
  assert.deepEqual(seen, [files[0]!.key])
})

test('a worker that dies fails its object with CDC_WORKER_FAILED instead of hanging', async () => {
  const pool = new DecodePool(new URL('./helpers/crash-worker.js', import.meta.url), 1)
  const t = tableOf()
  const f = fileOf('20240610-100000000.csv')
  await assert.rejects(
    readObject(t, f, once(csv(30, 500)), undefined, LIMITS, { ...WORKER, pool }),
    (e: unknown) => e instanceof CdcError && e.code === 'CDC_WORKER_FAILED' && e.file === f.key && e.transient,
  )
  // the pool starts a fresh worker for the next object (which dies too)
  await assert.rejects(
    readObject(t, f, once(csv(31, 500)), undefined, LIMITS, { ...WORKER, pool }),
    /CDC_WORKER_FAILED|decoding worker stopped/,
  )
})

test('an object in Node’s shared Buffer pool goes to a worker and back (Node 22+ refuse to transfer the pool)', async () => {
  const small = csv(9, 12)
  assert.ok(small.byteLength < 4096, 'small enough for Buffer.from to take it from the pool')
  const pooled = Buffer.from(small)
  assert.notEqual(pooled.buffer.byteLength, pooled.byteLength, 'a view into the shared pool')
  for (const pieceBytes of [1 << 24, 300]) {
    const { inline, worker } = await both(tableOf(), fileOf('20240610-100000000.csv'), small, { pieceBytes })
    assert.ok('ok' in worker, JSON.stringify(worker).slice(0, 500))
    assert.deepEqual(worker, inline, `pieces of ${pieceBytes} bytes`)
  }
})
