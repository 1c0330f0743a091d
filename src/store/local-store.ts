// A folder as an ObjectStore: used for local landing and output folders and by most tests.
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { SourceError, WriteError, type CdcError } from '../errors.js'
import type { ObjectInfo, ObjectStore, StoreOptions } from './object-store.js'

export class LocalStore implements ObjectStore {
  readonly url: string
  readonly root: string
  /** Folder objects can be half-written while listed (a copy in progress): readers wait for them to settle. */
  readonly settles = true
  /** Symbolic links met while listing (never followed), not yet handed out by `newSymlinks`. */
  private links = new Set<string>()
  private reportedLinks = new Set<string>()

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
    const wanted = keys.filter(
      (k) => k.startsWith(prefix) && (opts.startAfter === undefined || byteCompare(k, opts.startAfter) > 0),
    )
    wanted.sort(byteCompare)
    for (const key of wanted) {
      opts.signal?.throwIfAborted()
      let st
      try {
        st = await stat(this.path(key), { bigint: true })
      } catch (err) {
        if (isNotFound(err)) continue // deleted between readdir and stat: as S3 would not list it
        throw unavailable('stat', this.url, key, err)
      }
      // The etag: size and whole milliseconds, truncated from the nanoseconds (as Java's File.lastModified, which the
      // Spark job's listing uses); `mtimeMs` is a double that Node 22+ may round up to the next millisecond.
      const size = Number(st.size)
      yield { key, size, lastModified: st.mtime, etag: `${size}-${st.mtimeNs / 1_000_000n}` }
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
      if (e.isSymbolicLink() && !this.reportedLinks.has(key)) this.links.add(key)
      if (e.isDirectory()) await this.walk(key, out)
      else if (e.isFile() && !e.name.includes('.tmp-')) out.push(key)
    }
  }

  /** Symbolic links listed since the last call that were never reported: they are skipped, the caller warns once. */
  newSymlinks(): string[] {
    const out = [...this.links].sort(byteCompare)
    for (const k of out) this.reportedLinks.add(k)
    this.links.clear()
    return out
  }

  async folders(prefix: string): Promise<string[]> {
    try {
      const entries = await readdir(this.path(prefix), { withFileTypes: true })
      return entries
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort()
    } catch {
      return []
    }
  }

  /** Whether the root folder exists; throws a permanent coded error when it is missing or not a folder. */
  async checkRoot(): Promise<void> {
    try {
      const st = await stat(this.root)
      if (!st.isDirectory()) throw Object.assign(new Error(`${this.root} is not a folder`), { code: 'ENOTDIR' })
    } catch (err) {
      if (isNotFound(err) || errno(err) === 'ENOTDIR') {
        throw new SourceError(
          'CDC_SOURCE_NOT_FOUND',
          `landing folder ${JSON.stringify(this.url)} ${isNotFound(err) ? 'does not exist' : 'is not a folder'} (${this.root})`,
          { cause: err },
        )
      }
      throw unavailable('stat', this.url, '', err)
    }
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return await readFile(this.path(key))
    } catch (err) {
      throw this.readError(key, err)
    }
  }

  /** The object in chunks of 1 MiB, never as one Buffer (objects of any size, even over 2 GiB). */
  async *getStream(key: string, opts: StoreOptions = {}): AsyncIterable<Uint8Array> {
    const s = createReadStream(this.path(key), {
      highWaterMark: 1024 * 1024,
      ...(opts.signal ? { signal: opts.signal } : {}),
    })
    try {
      for await (const c of s) yield c as Buffer
    } catch (err) {
      if (opts.signal?.aborted) throw err
      throw this.readError(key, err)
    } finally {
      s.destroy()
    }
  }

  private readError(key: string, err: unknown): CdcError {
    if (isNotFound(err)) {
      return new SourceError('CDC_SOURCE_NOT_FOUND', `object ${JSON.stringify(key)} not found in ${this.url}`, {
        file: key,
        cause: err,
        hint: 'the object was listed but is gone: it was deleted or renamed while cdc-apply ran; rerun',
        transient: true,
      })
    }
    return unavailable('read', this.url, key, err)
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
      throw writeFailed(`writing ${JSON.stringify(key)} in ${this.url}`, key, err)
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      try {
        await rm(this.path(key), { force: true })
      } catch (err) {
        throw writeFailed(`deleting ${JSON.stringify(key)} in ${this.url}`, key, err)
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

/**
 * Local errors by errno: those that waiting cannot fix are permanent (watch mode stops the table instead of retrying
 * forever); running out of descriptors, a busy or interrupted call and unknown I/O errors are transient.
 */
export const PERMANENT_ERRNO = new Set(['EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'EROFS', 'ELOOP', 'ENAMETOOLONG'])

function errno(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? ''
}

function unavailable(op: string, url: string, key: string, err: unknown): SourceError {
  const code = errno(err)
  const message = `${op} of ${JSON.stringify(key)} in ${url} failed: ${(err as Error).message}`
  if (code === 'EACCES' || code === 'EPERM') {
    return new SourceError('CDC_SOURCE_ACCESS_DENIED', message, {
      file: key,
      cause: err,
      hint: 'give the user cdc-apply runs as read permission on the landing folder and its sub-folders',
    })
  }
  const permanent = PERMANENT_ERRNO.has(code)
  return new SourceError('CDC_SOURCE_UNAVAILABLE', message, {
    file: key,
    cause: err,
    transient: !permanent,
    ...(permanent
      ? {
          hint:
            code === 'EISDIR' || code === 'ENOTDIR'
              ? 'a folder stands where a file is expected, or a file where a folder is: fix the landing layout'
              : 'fix the path or its permissions; retrying will not help',
        }
      : {}),
  })
}

function writeFailed(what: string, key: string, err: unknown): WriteError {
  const code = errno(err)
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new WriteError('CDC_DISK_FULL', `${what} failed: ${(err as Error).message}`, {
      file: key,
      cause: err,
      transient: true,
      hint: 'the output disk is full (or the quota is used up): free space; nothing was committed, the next run redoes the same work',
    })
  }
  const permanent = PERMANENT_ERRNO.has(code)
  return new WriteError('CDC_WRITE_FAILED', `${what} failed: ${(err as Error).message}`, {
    file: key,
    cause: err,
    transient: !permanent,
    hint: permanent
      ? 'the output folder is not writable (permissions, a read-only mount, or a file where a folder should be): fix it; retrying will not help'
      : 'check free disk space and write permission on the output folder',
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
