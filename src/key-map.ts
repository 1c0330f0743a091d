// The live-key map of the curated state: string key → small integer, split over 16 Maps so that a table may have
// more live keys than one V8 Map holds (2^24 = 16,777,216 entries, "Map maximum size exceeded"). A key that is a
// canonical decimal integer below 10^9 (the usual one-column integer key) is held by its number instead: V8 keeps
// such a key inline in the Map entry (no string kept alive per key, no string compare on a lookup). Pure.

const SHARDS = 16

/** The shard of a string key: from its length and two of its characters (cheap; spreads decimal-like keys). */
function shardOf(key: string): number {
  const n = key.length
  return n === 0 ? 0 : (key.charCodeAt(n - 1) * 31 + key.charCodeAt(n >> 1) + n) & (SHARDS - 1)
}

/** The shard of a number key: its bits mixed (Fibonacci hashing), so that keys of one stride spread too. */
function intShard(i: number): number {
  return Math.imul(i, 0x9e3779b1) >>> 28
}

/**
 * The number a key stands for when it is the canonical decimal form of an integer in [0, 10^9) ("0", "17", not
 * "017", "+1", "-0", "1.0" or " 1"), else -1: such keys and numbers are one-to-one, so either form identifies it.
 */
export function smallInt(key: string): number {
  const n = key.length
  if (n === 0 || n > 9) return -1
  let v = 0
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i) - 48
    if (c < 0 || c > 9 || (c === 0 && i === 0 && n > 1)) return -1
    v = v * 10 + c
  }
  return v
}

export class KeyMap {
  private readonly shards = Array.from({ length: SHARDS }, () => new Map<string, number>())
  private readonly ints = Array.from({ length: SHARDS }, () => new Map<number, number>())

  get size(): number {
    let n = 0
    for (const s of this.shards) n += s.size
    for (const s of this.ints) n += s.size
    return n
  }
  get(key: string): number | undefined {
    const i = smallInt(key)
    return i < 0 ? this.shards[shardOf(key)]!.get(key) : this.ints[intShard(i)]!.get(i)
  }
  has(key: string): boolean {
    const i = smallInt(key)
    return i < 0 ? this.shards[shardOf(key)]!.has(key) : this.ints[intShard(i)]!.has(i)
  }
  set(key: string, value: number): void {
    const i = smallInt(key)
    if (i < 0) this.shards[shardOf(key)]!.set(key, value)
    else this.ints[intShard(i)]!.set(i, value)
  }
  delete(key: string): boolean {
    const i = smallInt(key)
    return i < 0 ? this.shards[shardOf(key)]!.delete(key) : this.ints[intShard(i)]!.delete(i)
  }
  /** Every entry, shard by shard (no meaningful order). */
  forEach(f: (value: number, key: string) => void): void {
    for (const s of this.shards) s.forEach(f)
    for (const s of this.ints) s.forEach((v, k) => f(v, String(k)))
  }
}
