// The RAW part writer (src/raw-sink.ts): after an error, `settled` waits for every part put under way, so that none
// lands after the next attempt has pruned the date folder.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import * as A from 'apache-arrow'
import { RawSink } from '../src/raw-sink.js'
import { LocalStore } from '../src/store/local-store.js'
import type { ObjectStore } from '../src/store/object-store.js'
import { tempDir } from './helpers/outputs.js'

test('settled waits for the parts still being put (slow puts land before it returns)', async () => {
  const dir = tempDir('cdc-raw-sink-')
  try {
    const local = new LocalStore(dir.path)
    let landed = 0
    const slow: ObjectStore = Object.create(local) as ObjectStore
    slow.put = async (key, body) => {
      await new Promise((r) => setTimeout(r, 150))
      await local.put(key, body)
      landed++
    }
    const opts = { compression: 'snappy' as const, rowsPerFile: 10, rowGroupSize: 10 }
    const sink = new RawSink(slow, 'S/t/20240101', '20240101-000000000', '20240101-010000000', opts, undefined)
    const rows = A.tableFromArrays({ id: Int32Array.from({ length: 25 }, (_, i) => i) })
    await sink.addRecords(rows.schema, rows.batches) // two full parts are encoded and being put
    assert.equal(sink.parts.length, 2)
    assert.equal(landed, 0, 'the puts are still under way')
    await sink.settled()
    assert.equal(landed, 2)
    assert.equal(readdirSync(join(dir.path, 'S', 't', '20240101')).length, 2)
  } finally {
    dir.remove()
  }
})

test('a part of other column types is refused, never merged mistyped (CDC_SCHEMA_MISMATCH naming the part)', async () => {
  const dir = tempDir('cdc-raw-sink-')
  try {
    const opts = { compression: 'snappy' as const, rowsPerFile: 100, rowGroupSize: 100 }
    const sink = new RawSink(new LocalStore(dir.path), 'S/t/20240101', 'a', 'b', opts, undefined, { compacted: true })
    const newest = A.tableFromArrays({ id: BigInt64Array.from([1n, 2n]), name: ['x', 'y'] })
    // as another engine may write it: id as a 32-bit integer, a column fewer (that one is NULL, as before)
    const other = A.tableFromArrays({ id: Int32Array.from([3]) })
    const same = A.tableFromArrays({ id: BigInt64Array.from([4n]) })
    await sink.addRecords(newest.schema, same.batches, 'S/t/20240101/part-same.parquet')
    await assert.rejects(
      sink.addRecords(newest.schema, other.batches, 'S/t/20240101/part-other.parquet'),
      (e: Error & { code?: string }) =>
        e.code === 'CDC_SCHEMA_MISMATCH' &&
        /"id" is Int32 in S\/t\/20240101\/part-other\.parquet but Int64/.test(e.message),
    )
  } finally {
    dir.remove()
  }
})
