// A folder as an ObjectStore: used for local landing and output folders and by most tests.
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { SourceError, WriteError } from '../errors.js'
import type { ObjectInfo, ObjectStore, StoreOptions } from './object-store.js'

export class LocalStore implements ObjectStore {
  readonly url: string
  readonly root: string

  constructor(root: string, url = root) {
    this.root = root
    this.url = url
  }

  private path(key: string): string {
    return join(this.root, ...key.split('/'))
  }

  async *list(prefix: string, opts: StoreOptions & { startAfter?: string } = {}): AsyncIterable<ObjectInfo> {
    // Walk only the folder that holds the prefix, then filter by the full prefix.
    const slash = prefix.lastIndexOf('/')
    const dirKey = slash < 0 ? '' : prefix.slice(0, slash)
    const keys: string[] = []
    await this.walk(dirKey, keys)
    const wanted = keys.filter((k) => k.startsWith(prefix) && (opts.startAfter === undefined || byteCompare(k, opts.startAfter) > 0))
    wanted.sort(byteCompare)
    for (const key of wanted) {
      opts.signal?.throwIfAborted()
      let st
      try {
        st = await stat(this.path(key))
      } catch (err) {
        if (isNotFound(err)) continue // deleted between readdir and stat: as S3 would not list it
        throw unavailable('stat', this.url, key, err)
      }
      yield { key, size: st.size, lastModified: st.mtime, etag: `${st.size}-${Math.trunc(st.mtimeMs)}` }
    }
  }

  private async walk(dirKey: string, out: string[]): Promise<void> {
    let entries
    try {
      entries = await readdir(this.path(dirKey), { withFileTypes: true })
    } catch (err) {
      if (isNotFound(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return
      throw unavailable('list', this.url, dirKey, err)
    }
    for (const e of entries) {
      const key = dirKey === '' ? e.name : `${dirKey}/${e.name}`
      if (e.isDirectory()) await this.walk(key, out)
      else if (e.isFile() && !e.name.includes('.tmp-')) out.push(key)
    }
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return await readFile(this.path(key))
    } catch (err) {
      if (isNotFound(err)) {
        throw new SourceError('CDC_SOURCE_NOT_FOUND', `object ${JSON.stringify(key)} not found in ${this.url}`, {
          file: key,
          cause: err,
          hint: 'the object was listed but is gone: it was deleted or renamed while cdc-apply ran; rerun',
          transient: true,
        })
      }
      throw unavailable('read', this.url, key, err)
    }
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const target = this.path(key)
    // The temp name starts with a dot so Spark, Hive and Athena skip it should a hard kill leave it behind; such
    // orphans (their writer's pid is gone) are removed by the next write into the same folder.
    const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`)
    try {
      await mkdir(dirname(target), { recursive: true })
      await removeOrphanTemps(dirname(target))
      await writeFile(tmp, body)
      await rename(tmp, target)
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined)
      throw new WriteError('CDC_WRITE_FAILED', `writing ${JSON.stringify(key)} in ${this.url} failed: ${(err as Error).message}`, {
        file: key,
        cause: err,
        transient: true,
        hint: 'check free disk space and write permission on the output folder',
      })
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      try {
        await rm(this.path(key), { force: true })
      } catch (err) {
        throw new WriteError('CDC_WRITE_FAILED', `deleting ${JSON.stringify(key)} in ${this.url} failed: ${(err as Error).message}`, {
          file: key,
          cause: err,
          transient: true,
        })
      }
    }
  }

  async close(): Promise<void> {}
}

/** Orders keys by their UTF-8 bytes, the order S3 ListObjectsV2 uses. */
export function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT'
}

function unavailable(op: string, url: string, key: string, err: unknown): SourceError {
  return new SourceError('CDC_SOURCE_UNAVAILABLE', `${op} of ${JSON.stringify(key)} in ${url} failed: ${(err as Error).message}`, {
    file: key,
    cause: err,
    transient: true,
  })
}

const TEMP = /^\..*\.tmp-(\d+)$/

function alive(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function removeOrphanTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const m = TEMP.exec(name)
    if (m && !alive(Number(m[1]))) await rm(join(dir, name), { force: true })
  }
}
