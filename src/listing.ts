// One listing pass over the landing for many tables: instead of one LIST per table folder per poll, the folders'
// common prefix is listed once and its keys handed to each table. A pass is reused by every table whose previous
// poll ended before the pass started, so it always contains every object that table saw before (a table never
// sees an older listing than its last one: the watermark logic downstream is the same as with its own LIST).
import { byteCompare } from './store/local-store.js'
import type { ObjectInfo, ObjectStore } from './store/object-store.js'

/** Keys per ListObjectsV2 page: what a shared pass costs on S3, against one request per table. */
const S3_PAGE = 1000

interface Pass {
  startedAt: number
  done: Promise<Map<string, ObjectInfo[]>>
}

export class SharedListing {
  private readonly paths: Set<string>
  private readonly depths: number[]
  private readonly prefix: string
  private current: Pass | undefined
  /** Keys the last complete pass listed (also those outside every table folder), to price the next one. */
  private lastKeys = 0
  /** Passes started, for tests and the bench. */
  passes = 0

  constructor(
    private readonly store: ObjectStore,
    tablePaths: readonly string[],
  ) {
    this.paths = new Set(tablePaths)
    this.depths = [...new Set(tablePaths.map((p) => p.split('/').length))]
    this.prefix = commonFolder(tablePaths)
  }

  /**
   * Whether a shared pass is cheaper than one listing per table folder: always for folders (the walk is the same
   * work in one go); on S3 while the pass's pages do not outnumber the tables it serves.
   */
  worthIt(): boolean {
    const tables = this.paths.size
    if (tables < 2) return false
    return !this.store.url.startsWith('s3://') || Math.ceil(this.lastKeys / S3_PAGE) <= tables
  }

  /**
   * The objects under `<path>/` (after `startAfter` when given), from a pass that started after `notBefore`
   * (a `performance.now()` time): the current pass when it is recent enough, else a new one.
   */
  async list(
    path: string,
    opts: { notBefore: number; startAfter?: string; signal?: AbortSignal },
  ): Promise<ObjectInfo[]> {
    if (!this.paths.has(path)) {
      // a table folder this listing was not built for (a config reloaded with a new path): its own LIST
      const own: ObjectInfo[] = []
      for await (const o of this.store.list(`${path}/`, {
        ...(opts.startAfter !== undefined ? { startAfter: opts.startAfter } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      }))
        own.push(o)
      return own
    }
    let pass = this.current
    if (pass === undefined || pass.startedAt <= opts.notBefore) pass = this.start(opts.signal)
    const all = (await pass.done).get(path) ?? []
    return opts.startAfter === undefined ? all : all.filter((o) => byteCompare(o.key, opts.startAfter!) > 0)
  }

  private start(signal: AbortSignal | undefined): Pass {
    const pass: Pass = { startedAt: performance.now(), done: this.run(signal) }
    this.passes++
    this.current = pass
    // a failed pass is not reused: the next caller starts a new one (each waiting table gets the error)
    pass.done.catch(() => {
      if (this.current === pass) this.current = undefined
    })
    return pass
  }

  private async run(signal: AbortSignal | undefined): Promise<Map<string, ObjectInfo[]>> {
    const out = new Map<string, ObjectInfo[]>()
    let keys = 0
    for await (const o of this.store.list(this.prefix, signal ? { signal } : {})) {
      keys++
      const parts = o.key.split('/')
      for (const d of this.depths) {
        if (parts.length <= d) continue
        const path = parts.slice(0, d).join('/')
        if (!this.paths.has(path)) continue
        let list = out.get(path)
        if (!list) out.set(path, (list = []))
        list.push(o) // nested table folders each get the key, as their own LIST would
      }
    }
    this.lastKeys = keys
    return out
  }
}

/** The deepest folder (with its trailing '/') that holds every table folder; '' for the landing root. */
function commonFolder(paths: readonly string[]): string {
  if (paths.length === 0) return ''
  const split = paths.map((p) => p.split('/'))
  const first = split[0]!
  let n = 0
  while (n < first.length - 1 && split.every((s) => s.length - 1 > n && s[n] === first[n])) n++
  return n === 0 ? '' : `${first.slice(0, n).join('/')}/`
}
