// Lists a table's DMS objects, classifies them by name (dms-names.ts) and orders them.
import { DataError } from './errors.js'
import { tableLabel, type TableConfig } from './config.js'
import type { ObjectStore } from './store/object-store.js'
import type { SharedListing } from './listing.js'
import { isSegmentName, parseDmsName, timeOfName, type DmsFile } from './dms-names.js'

export { fileOrderKey, parseDmsName, type DmsFile } from './dms-names.js'

export interface Discovery {
  load: DmsFile[]
  cdc: DmsFile[]
  /** Objects that are not DMS data files; they are never read. */
  skipped: string[]
  /**
   * Parallel-load segments (`<segment>/LOAD…`, `SEGMENTn_LOAD…`): DMS full-load data that cdc-apply does not apply
   * (each series restarts its counter, so they have no place in the table's order). Never read.
   */
  segments: string[]
}

/**
 * Lists every object under the table's folder (date folders included) and classifies it.
 * With `startAfter` only keys after it are listed (S3 StartAfter).
 */
export async function discoverFiles(
  store: ObjectStore,
  table: TableConfig,
  opts: {
    signal?: AbortSignal
    startAfter?: string
    maxFutureSeconds?: number
    now?: number
    listing?: SharedListing
    listedAfter?: number
  } = {},
): Promise<Discovery> {
  const label = tableLabel(table)
  const out: Discovery = { load: [], cdc: [], skipped: [], segments: [] }
  const seen = new Map<string, string>()
  const listOpts =
    opts.startAfter === undefined ? { signal: opts.signal } : { signal: opts.signal, startAfter: opts.startAfter }
  // one shared pass over the landing for many tables when that is cheaper (src/listing.ts), else the table's own LIST
  const listing = opts.listing
    ? await opts.listing.list(table.path, { notBefore: opts.listedAfter ?? -Infinity, ...listOpts })
    : store.list(`${table.path}/`, listOpts)
  for await (const info of listing) {
    const f = parseDmsName(info.key, { format: table.format, label }, info)
    if (f === undefined) {
      ;(isSegmentName(info.key.slice(info.key.lastIndexOf('/') + 1)) ? out.segments : out.skipped).push(info.key)
      continue
    }
    if (f.kind === 'load' && info.key !== `${table.path}/${f.name}`) {
      // Parallel-load segments (<partition>/LOAD…, SEGMENTn_LOAD…) restart their counters: not supported yet.
      out.segments.push(info.key)
      continue
    }
    const other = seen.get(f.stem)
    if (other !== undefined) {
      throw new DataError(
        'CDC_FILE_NAME_INVALID',
        `table ${label}: objects ${JSON.stringify(other)} and ${JSON.stringify(info.key)} carry the same DMS name ${f.stem}`,
        {
          table: label,
          file: info.key,
          hint: 'remove the duplicate object; two files with one name cannot be ordered',
        },
      )
    }
    if (f.kind === 'cdc' && opts.maxFutureSeconds !== undefined)
      checkNotFuture(f, label, opts.maxFutureSeconds, opts.now ?? Date.now())
    seen.set(f.stem, info.key)
    ;(f.kind === 'load' ? out.load : out.cdc).push(f)
  }
  out.load.sort((a, b) => cmp(a.orderKey, b.orderKey))
  out.cdc.sort((a, b) => cmp(a.orderKey, b.orderKey))
  return out
}

/**
 * A change-file name far ahead of the clock would add partitions up to that date and move the watermark past every
 * real file to come (only `reset` recovers): refused. DMS names its files in UTC.
 */
function checkNotFuture(f: DmsFile, label: string, maxFutureSeconds: number, now: number): void {
  const at = timeOfName(f.stem)!
  if (at - now <= maxFutureSeconds * 1000) return
  throw new DataError(
    'CDC_FILE_NAME_INVALID',
    `table ${label}: object ${JSON.stringify(f.key)} is named ${f.stem}, ${Math.round((at - now) / 3_600_000)} hours ahead of the clock (${new Date(now).toISOString()}); expected a change-file time at most maxFutureSeconds = ${maxFutureSeconds} ahead`,
    {
      table: label,
      file: f.key,
      hint: "remove or rename the object (a clock or a copy tool gave it a wrong name), fix this machine's clock, or raise maxFutureSeconds",
    },
  )
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
