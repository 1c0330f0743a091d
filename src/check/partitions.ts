// RAW partitions of a table: listing them by date, and local paths DuckDB can read (S3 objects are downloaded).
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TableConfig } from '../config.js'
import { joinKey, type ObjectStore } from '../store/object-store.js'
import { LocalStore } from '../store/local-store.js'
import { storeUri } from '../iceberg-sink.js'
import { IcebergTable } from '../iceberg/table.js'
import { RAW_PARTITION } from '../raw-iceberg.js'

/**
 * Every `<Source>/<TableName>/<YYYYMMDD>/*.parquet` object of a table, by date (ascending); for a RAW Iceberg table
 * (partitioned by partition_0), the data files of its current snapshot by partition value.
 */
export async function listPartitions(
  store: ObjectStore,
  t: Pick<TableConfig, 'source' | 'name'>,
  signal?: AbortSignal,
): Promise<Map<string, string[]>> {
  const prefix = joinKey(t.source, t.name)
  const byDate = (await icebergPartitions(store, prefix, signal)) ?? (await folderPartitions(store, prefix, signal))
  return new Map([...byDate].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/** The current snapshot's data files by partition_0, or undefined when `prefix` is no table partitioned by it. */
async function icebergPartitions(
  store: ObjectStore,
  prefix: string,
  signal?: AbortSignal,
): Promise<Map<string, string[]> | undefined> {
  const ice = await IcebergTable.open(store, prefix, `${storeUri(store)}/${prefix}`, prefix, signal ? { signal } : {})
  if (!ice.spec().some((f) => f.name === RAW_PARTITION)) return undefined
  const byDate = new Map<string, string[]>()
  const snap = ice.current()
  if (!snap) return byDate
  for (const e of (await ice.files(snap, signal)).data) {
    const date = e.data_file.partition[RAW_PARTITION]
    if (typeof date !== 'string') continue
    const keys = byDate.get(date) ?? []
    keys.push(ice.keyOf(e.data_file.file_path))
    byDate.set(date, keys)
  }
  return byDate
}

async function folderPartitions(
  store: ObjectStore,
  prefix: string,
  signal?: AbortSignal,
): Promise<Map<string, string[]>> {
  const byDate = new Map<string, string[]>()
  for await (const o of store.list(`${prefix}/`, signal ? { signal } : {})) {
    const rest = o.key.slice(prefix.length + 1).split('/')
    if (rest.length !== 2 || !/^\d{8}$/.test(rest[0]!) || !rest[1]!.endsWith('.parquet')) continue
    const keys = byDate.get(rest[0]!) ?? []
    keys.push(o.key)
    byDate.set(rest[0]!, keys)
  }
  return byDate
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
