// The plain layout's snapshot part files: from 100,000 rows a snapshot is split into at least two parts (one per
// encoding worker), each of at most parquet.rowsPerFile rows, and reading the parts back gives the rows written.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import * as pw from 'parquet-wasm'
import * as A from 'apache-arrow'
import { parseConfig } from '../src/config.js'
import { ParquetFolderSink, partRows } from '../src/curated-sink.js'
import { LocalStore } from '../src/store/local-store.js'

function config(dir: string, rowsPerFile: number) {
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

test('partRows: at most rowsPerFile, two even parts from 100,000 rows', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdc-parts-'))
  for (const rpf of [1, 7, 1000, 100_000, 1_000_000])
    for (const n of [0, 1, 99_999, 100_000, 100_001, 1_000_000, 1_500_001]) {
      const per = partRows(n, config(dir, rpf))
      assert.ok(per >= 1 && per <= rpf, `${n} rows, rowsPerFile ${rpf}: ${per}`)
      if (n >= 100_000) assert.ok(Math.ceil(n / per) >= 2, `${n} rows, rowsPerFile ${rpf}: one part`)
      else assert.equal(per, rpf)
    }
  rmSync(dir, { recursive: true, force: true })
})

test('a snapshot of 150,000 rows is written as parts of at most rowsPerFile that read back whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdc-parts-'))
  try {
    for (const rpf of [1_000_000, 60_000]) {
      const store = new LocalStore(join(dir, `curated-${rpf}`))
      const n = 150_000
      const table = A.tableFromArrays({ id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i * 3)) })
      const sink = new ParquetFolderSink(config(dir, rpf), store, 'S/t')
      const put = sink.start('20240101', table)
      assert.equal(put.rows, n)
      await put.put(undefined)
      const sizes: number[] = []
      const ids: bigint[] = []
      for await (const o of store.list('S/t/20240101/')) {
        const t = A.tableFromIPC(pw.readParquet(await store.get(o.key)).intoIPCStream())
        sizes.push(t.numRows)
        for (const v of t.getChild('id')!) ids.push(v as bigint)
      }
      assert.ok(sizes.length >= 2, `rowsPerFile ${rpf}: ${sizes.length} part(s)`)
      assert.ok(
        sizes.every((s) => s <= rpf),
        `rowsPerFile ${rpf}: ${sizes.join(',')}`,
      )
      ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      assert.deepEqual(
        ids,
        Array.from({ length: n }, (_, i) => BigInt(i * 3)),
      )
      assert.equal((await sink.read('20240101'))?.numRows, n)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
