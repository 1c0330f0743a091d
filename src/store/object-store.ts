// The only I/O contract for landing and output locations: a folder or an S3 prefix.

export interface ObjectInfo {
  /** Key relative to the store's root, '/'-separated, no leading slash. */
  key: string
  size: number
  lastModified: Date
  /** S3 ETag or, for folders, a size+mtime fingerprint. */
  etag: string
}

export interface StoreOptions {
  signal?: AbortSignal
}

export interface ObjectStore {
  /** The location this store was opened on, as the user wrote it (a path or s3://bucket/prefix). */
  readonly url: string
  /**
   * Every object whose key starts with `prefix` (recursively), in ascending key order (UTF-8 byte order, as S3 lists).
   * With `startAfter`, only keys sorting strictly after it.
   */
  list(prefix: string, opts?: StoreOptions & { startAfter?: string }): AsyncIterable<ObjectInfo>
  /** The whole object. Throws SourceError CDC_SOURCE_NOT_FOUND when it does not exist. */
  get(key: string, opts?: StoreOptions): Promise<Uint8Array>
  /** Writes the object so that readers see either the old or the new content, never a partial one. */
  put(key: string, body: Uint8Array, opts?: StoreOptions): Promise<void>
  /** Deletes the objects; missing ones are ignored. */
  delete(keys: readonly string[], opts?: StoreOptions): Promise<void>
  /** Releases clients and sockets. */
  close(): Promise<void>
  /** The object as a stream of chunks (objects of any size); stores without it are read whole with `get`. */
  getStream?(key: string, opts?: StoreOptions): AsyncIterable<Uint8Array>
  /** True for folders: a listed object may still be being written (see settleSeconds); S3 objects appear whole. */
  readonly settles?: boolean
  /** Folders: symbolic links met while listing (skipped, never followed) that were not reported before. */
  newSymlinks?(): string[]
  /** Names of the sub-folders (or common prefixes) directly under `prefix` ('' for the root), for suggestions. */
  folders?(prefix: string, opts?: StoreOptions): Promise<string[]>
}

/** The object in chunks: streamed when the store can, else read whole. */
export function objectChunks(store: ObjectStore, key: string, opts: StoreOptions = {}): AsyncIterable<Uint8Array> {
  if (store.getStream) return store.getStream(key, opts)
  return (async function* () {
    yield await store.get(key, opts)
  })()
}

/** Joins key parts with '/', dropping empty parts and duplicate slashes. */
export function joinKey(...parts: string[]): string {
  return parts
    .flatMap((p) => p.split('/'))
    .filter((p) => p.length > 0)
    .join('/')
}

/** One object to put: its key (relative to the store's root) and its bytes. */
export interface Part {
  key: string
  body: Uint8Array
}

/**
 * Replaces what lies under `prefix` ('' for the store's root) by `parts`, in the order that keeps readers safe:
 * every part is put first (each put is atomic), then the prefix is listed and every other object is deleted (with
 * `only`, just the other objects it accepts). A crash in between leaves the new parts next to some old objects,
 * never a partial part and never fewer than the new parts; the next replacement deletes the leftovers.
 */
export async function replacePrefix(
  store: ObjectStore,
  prefix: string,
  parts: Iterable<Part> | AsyncIterable<Part>,
  opts: StoreOptions & { only?: (key: string) => boolean } = {},
): Promise<void> {
  const put = new Set<string>()
  for await (const p of parts) {
    opts.signal?.throwIfAborted()
    await store.put(p.key, p.body, opts.signal ? { signal: opts.signal } : {})
    put.add(p.key)
  }
  await deletePrefix(store, prefix, { ...opts, keep: put })
}

/** Deletes every object under `prefix` ('' for the root) but those in `keep` (with `only`, just those it accepts); returns how many. */
export async function deletePrefix(
  store: ObjectStore,
  prefix: string,
  opts: StoreOptions & { keep?: ReadonlySet<string>; only?: (key: string) => boolean } = {},
): Promise<number> {
  const signal = opts.signal ? { signal: opts.signal } : {}
  const stale: string[] = []
  for await (const o of store.list(prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`, signal)) {
    if (opts.keep?.has(o.key) || (opts.only && !opts.only(o.key))) continue
    stale.push(o.key)
  }
  if (stale.length > 0) await store.delete(stale, signal)
  return stale.length
}
