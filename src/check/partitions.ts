// RAW partitions of a table: listing them by date, and local paths DuckDB can read (S3 objects are downloaded).
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TableConfig } from '../config.js'
import { joinKey, type ObjectStore } from '../store/object-store.js'
import { LocalStore } from '../store/local-store.js'

/** Every `<Source>/<TableName>/<YYYYMMDD>/*.parquet` object of a table, by date (ascending). */
export async function listPartitions(
  store: ObjectStore,
  t: Pick<TableConfig, 'source' | 'name'>,
  signal?: AbortSignal,
): Promise<Map<string, string[]>> {
  const prefix = joinKey(t.source, t.name)
  const byDate = new Map<string, string[]>()
  for await (const o of store.list(`${prefix}/`, signal ? { signal } : {})) {
    const rest = o.key.slice(prefix.length + 1).split('/')
    if (rest.length !== 2 || !/^\d{8}$/.test(rest[0]!) || !rest[1]!.endsWith('.parquet')) continue
    const keys = byDate.get(rest[0]!) ?? []
    keys.push(o.key)
    byDate.set(rest[0]!, keys)
  }
  return new Map([...byDate].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/**
 * Local paths of objects for DuckDB: the files themselves in a folder store; for S3, copies downloaded into
 * `dir` (remove them with `cleanup` once DuckDB has read them).
 */
export async function localPaths(
  store: ObjectStore,
  keys: readonly string[],
  dir: string,
  signal?: AbortSignal,
): Promise<{ paths: string[]; cleanup: () => Promise<void> }> {
  if (store instanceof LocalStore)
    return { paths: keys.map((k) => join(store.root, ...k.split('/'))), cleanup: async () => undefined }
  await mkdir(dir, { recursive: true })
  const paths: string[] = []
  for (const [i, key] of keys.entries()) {
    signal?.throwIfAborted()
    const body = await store.get(key, signal ? { signal } : {})
    const path = join(dir, `${String(i).padStart(5, '0')}-${key.slice(key.lastIndexOf('/') + 1)}`)
    await writeFile(path, body)
    paths.push(path)
  }
  return { paths, cleanup: () => rm(dir, { recursive: true, force: true }) }
}
