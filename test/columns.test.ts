// gather with block copies over runs against the row-by-row gather and against plain values, on random sources
// and random gather orders with long and short runs (the run path is what snapshots of large tables take).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as A from 'apache-arrow'
import { findRuns, gather, nullData, utf8Column } from '../src/arrow/gather.js'
import { columnValues } from '../src/arrow/values.js'
import { Rng, seeds } from './helpers/random.js'

const TYPES: [string, A.DataType, (r: Rng) => unknown][] = [
  ['int64', new A.Int64(), (r) => BigInt(r.int(1e9) - 5e8)],
  ['float64', new A.Float64(), (r) => r.next() * 1e6],
  ['utf8', new A.Utf8(), (r) => (r.chance(0.1) ? '' : 'x'.repeat(r.int(90)) + 'é' + r.int(1000))],
  ['decimal', new A.Decimal(2, 12, 128), (r) => new Uint32Array([r.int(1e9), 0, 0, 0])],
  ['date', new A.DateDay(), (r) => new Date(Date.UTC(2000, 0, 1 + r.int(9000)))],
]

function source(r: Rng, type: A.DataType, gen: (r: Rng) => unknown, n: number, nulls: boolean): A.Data {
  if (r.chance(0.15)) return nullData(type, n)
  const b = A.makeBuilder({ type, nullValues: [null] })
  for (let i = 0; i < n; i++) b.append(nulls && r.chance(0.2) ? null : (gen(r) as never))
  const d = b.finish().flush() as A.Data
  // sometimes a slice, so that source offsets are exercised
  return r.chance(0.3) && n > 4 ? d.slice(2, n - 2) : d
}

for (const seed of seeds(12)) {
  test(`gather over runs equals the row-by-row gather (seed ${seed})`, () => {
    const r = new Rng(seed)
    for (const [name, type, gen] of TYPES) {
      const sources = Array.from({ length: 1 + r.int(5) }, () => source(r, type, gen, 20 + r.int(400), r.chance(0.5)))
      const segs: number[] = []
      const rows: number[] = []
      // a gather order in segment order, each segment read in long runs with gaps (a snapshot where few keys changed)
      sources.forEach((s, i) => {
        for (let j = 0; j < s.length; j++)
          if (!r.chance(r.chance(0.5) ? 0.02 : 0.4)) {
            segs.push(i)
            rows.push(j)
          }
      })
      const sg = Uint32Array.from(segs)
      const rw = Uint32Array.from(rows)
      const runs = findRuns(sg, rw)
      assert.equal(
        runs.len.slice(0, runs.count).reduce((a, b) => a + b, 0),
        sg.length,
      )
      const expected = segs.map((s, k) => columnValues(sources[s]!)[rows[k]!])
      const slow = gather(type, sources, sg, rw)
      const fast = gather(type, sources, sg, rw, runs)
      assert.deepEqual(columnValues(fast), expected, `${name}: runs`)
      assert.deepEqual(columnValues(slow), expected, `${name}: row by row`)
      assert.equal(fast.nullCount, slow.nullCount, name)
    }
  })
}

for (const seed of seeds(6)) {
  test(`utf8Column holds its values, runs of one value included (seed ${seed})`, () => {
    const r = new Rng(seed)
    const values: string[] = []
    while (values.length < 3000) {
      const v = r.chance(0.1) ? '' : `LOAD${r.int(30)}-é${'x'.repeat(r.int(70))}`
      for (let k = 1 + r.int(r.chance(0.5) ? 3 : 600); k > 0; k--) values.push(v)
    }
    const d = utf8Column(values)
    assert.equal(d.nullCount, 0)
    assert.deepEqual(columnValues(d), values)
    for (const n of [0, 1, 2, 7])
      assert.deepEqual(columnValues(utf8Column(values.slice(-n - 1, -1))), values.slice(-n - 1, -1))
  })
}
