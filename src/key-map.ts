// The live-key map of the curated state: string key → small integer, split over 16 Maps so that a table may have
// more live keys than one V8 Map holds (2^24 = 16,777,216 entries, "Map maximum size exceeded"). Pure.

const SHARDS = 16

/** The shard of a key: from its length and two of its characters (cheap; decimal keys spread over all shards). */
function shardOf(key: string): number {
  const n = key.length
  return n === 0 ? 0 : (key.charCodeAt(n - 1) * 31 + key.charCodeAt(n >> 1) + n) & (SHARDS - 1)
}

export class KeyMap {
  private readonly shards = Array.from({ length: SHARDS }, () => new Map<string, number>())

  get size(): number {
    let n = 0
    for (const s of this.shards) n += s.size
    return n
  }
  get(key: string): number | undefined {
    return this.shards[shardOf(key)]!.get(key)
  }
  has(key: string): boolean {
    return this.shards[shardOf(key)]!.has(key)
  }
  set(key: string, value: number): void {
    this.shards[shardOf(key)]!.set(key, value)
  }
  delete(key: string): boolean {
    return this.shards[shardOf(key)]!.delete(key)
  }
  /** Every entry, shard by shard (no meaningful order). */
  forEach(f: (value: number, key: string) => void): void {
    for (const s of this.shards) s.forEach(f)
  }
}
