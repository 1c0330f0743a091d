// KeyMap (the sharded live-key map of KeyedState) against a plain Map as the model, over random operations on keys
// of every shape the state makes (decimal, text, empty, composite with \u0001 separators).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { KeyMap, smallInt } from '../src/key-map.js'
import { Rng, seeds } from './helpers/random.js'

const shapes = (rng: Rng): string => {
  const k = rng.int(5)
  if (k === 0) return String(rng.int(5000))
  if (k === 1) return `key-${rng.int(3000)}`
  if (k === 2) return rng.int(50) === 0 ? '' : 'é'.repeat(1 + rng.int(3))
  if (k === 3) return `${rng.int(40)}\u0001${rng.int(40)}`
  if (k === 4 && rng.int(2) === 0) return String(-rng.int(2000) * 1e9)
  // near-integers that must stay apart from the integer they look like: leading zeros, signs, 10 digits and more
  const n = rng.int(300)
  return [`0${n}`, `+${n}`, `-${n}`, `${n}.0`, ` ${n}`, `${999_999_990 + rng.int(20)}`, `${n}`][rng.int(7)]!
}

for (const seed of seeds(4)) {
  test(`KeyMap behaves as a Map under random set/delete/get (seed ${seed})`, () => {
    const rng = new Rng(seed)
    const model = new Map<string, number>()
    const m = new KeyMap()
    for (let i = 0; i < 30_000; i++) {
      const key = shapes(rng)
      const op = rng.int(4)
      if (op === 0) assert.equal(m.delete(key), model.delete(key), `delete ${JSON.stringify(key)}`)
      else if (op === 1) assert.equal(m.has(key), model.has(key))
      else {
        m.set(key, i)
        model.set(key, i)
      }
      assert.equal(m.get(key), model.get(key))
    }
    assert.equal(m.size, model.size)
    const seen = new Map<string, number>()
    m.forEach((v, k) => {
      assert.ok(!seen.has(k), `forEach gives ${JSON.stringify(k)} once`)
      seen.set(k, v)
    })
    assert.deepEqual([...seen].sort(), [...model].sort())
  })
}

test('smallInt: the number of a canonical decimal integer key below 10^9, else -1', () => {
  for (const [key, want] of [
    ['0', 0],
    ['7', 7],
    ['123456789', 123456789],
    ['999999999', 999999999],
    ['1000000000', -1],
    ['', -1],
    ['00', -1],
    ['007', -1],
    ['-1', -1],
    ['-0', -1],
    ['+1', -1],
    ['1.0', -1],
    ['1e3', -1],
    [' 1', -1],
    ['1 ', -1],
    ['１', -1],
    ['1\u00012', -1],
  ] as const)
    assert.equal(smallInt(key), want, JSON.stringify(key))
  for (let i = 0; i < 100_000; i += 7) assert.equal(smallInt(String(i)), i)
})

test('decimal keys spread over the shards (each shard holds one Map, at most 2^24 entries)', () => {
  const m = new KeyMap()
  for (let i = 0; i < 100_000; i++) m.set(String(i * 7), i)
  const sizes = (m as unknown as { ints: Map<number, number>[] }).ints.map((s) => s.size)
  assert.equal(sizes.length, 16)
  for (const n of sizes) assert.ok(n > 100_000 / 16 / 3, `shard sizes ${sizes.join(',')}`)
  // keys of one stride (multiples of 16, of 1024) spread too: one shard would fail past 2^24 keys
  for (const stride of [16, 1024]) {
    const m = new KeyMap()
    for (let i = 0; i < 100_000; i++) m.set(String(i * stride), i)
    const sizes = (m as unknown as { ints: Map<number, number>[] }).ints.map((s) => s.size)
    for (const n of sizes) assert.ok(n > 100_000 / 16 / 3, `stride ${stride}: shard sizes ${sizes.join(',')}`)
  }
  // decimal keys of 10 digits and more are held as strings
  const big = new KeyMap()
  for (let i = 0; i < 1000; i++) big.set(String(1e10 + i * 7), i)
  const strings = (big as unknown as { shards: Map<string, number>[] }).shards.reduce((n, s) => n + s.size, 0)
  assert.equal(strings, 1000)
})
