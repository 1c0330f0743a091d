// Lists a table's DMS objects, parses their names (LOAD<hex8>, YYYYMMDD-HHmmssSSS) and orders them.
import { DataError } from './errors.js'
import { tableLabel, type TableConfig } from './config.js'
import type { ObjectInfo, ObjectStore } from './store/object-store.js'
import type { SharedListing } from './listing.js'

export interface DmsFile {
  /** Key relative to the landing store. */
  key: string
  /** The object's base name, e.g. `LOAD0000000A.csv.gz` or `20220927-135523276.csv`. */
  name: string
  /** `LOAD0000000A` or `20220927-135523276`: the name without extensions. */
  stem: string
  kind: 'load' | 'cdc'
  /** `YYYYMMDD` of a CDC file (from its name); empty for full-load files (their date comes from the data). */
  date: string
  /** Orders every file of a table: all full-load files (by hex counter) before all CDC files (by name). */
  orderKey: string
  format: 'csv' | 'parquet'
  gzip: boolean
  size: number
  etag: string
  lastModified: Date
}

export interface Discovery {
  load: DmsFile[]
  cdc: DmsFile[]
  /** Objects that are not DMS data files; they are never read. */
  skipped: string[]
}

const LOAD_RE = /^LOAD([0-9A-F]{8})\.(csv|parquet)(\.gz)?$/
const CDC_RE = /^(\d{8})-(\d{9})\.(csv|parquet)(\.gz)?$/
/** Names that claim to be DMS data files: malformed ones are errors, not silently skipped. */
const LOOKS_DMS_RE = /^(LOAD[0-9A-Fa-f]*|\d{8}-\d*)\.(csv|parquet)(\.gz)?$/i

/** The order key for a file stem; exported for tests and the oracle. */
export function fileOrderKey(stem: string): string {
  return stem.startsWith('LOAD') ? `0:${stem}` : `1:${stem}`
}

export function parseDmsName(key: string, table: Pick<TableConfig, 'format'> & { label: string }, info?: ObjectInfo): DmsFile | undefined {
  const name = key.slice(key.lastIndexOf('/') + 1)
  const meta = { key, name, size: info?.size ?? 0, etag: info?.etag ?? '', lastModified: info?.lastModified ?? new Date(0) }
  const load = LOAD_RE.exec(name)
  if (load) {
    const stem = `LOAD${load[1]}`
    return { ...meta, stem, kind: 'load', date: '', orderKey: fileOrderKey(stem), format: checkFormat(load[2]!, table, key), gzip: load[3] !== undefined }
  }
  const cdc = CDC_RE.exec(name)
  if (cdc && validDate(cdc[1]!) && validTime(cdc[2]!)) {
    const stem = `${cdc[1]}-${cdc[2]}`
    return { ...meta, stem, kind: 'cdc', date: cdc[1]!, orderKey: fileOrderKey(stem), format: checkFormat(cdc[3]!, table, key), gzip: cdc[4] !== undefined }
  }
  if (LOOKS_DMS_RE.test(name)) {
    throw new DataError('CDC_FILE_NAME_INVALID', `table ${table.label}: object ${JSON.stringify(key)} looks like a DMS file but its name is malformed: expected LOAD<8 uppercase hex digits> or YYYYMMDD-HHmmssSSS (a valid date and time) with .csv or .parquet, optionally .gz`, {
      table: table.label,
      file: key,
      hint: 'rename or remove the object; cdc-apply refuses to guess its place in the change order',
    })
  }
  return undefined
}

function checkFormat(ext: string, table: Pick<TableConfig, 'format'> & { label: string }, key: string): 'csv' | 'parquet' {
  if (ext !== table.format) {
    throw new DataError('CDC_FILE_NAME_INVALID', `table ${table.label}: object ${JSON.stringify(key)} is .${ext} but the table is configured with format ${JSON.stringify(table.format)}`, {
      table: table.label,
      file: key,
      hint: 'set the table\'s "format" to match the DMS endpoint\'s DataFormat',
    })
  }
  return ext
}

function validDate(d: string): boolean {
  const y = Number(d.slice(0, 4))
  const m = Number(d.slice(4, 6))
  const day = Number(d.slice(6, 8))
  if (m < 1 || m > 12 || day < 1) return false
  return day <= new Date(Date.UTC(y, m, 0)).getUTCDate()
}

function validTime(t: string): boolean {
  return Number(t.slice(0, 2)) < 24 && Number(t.slice(2, 4)) < 60 && Number(t.slice(4, 6)) < 61
}

/**
 * Lists every object under the table's folder (date folders included) and classifies it.
 * With `startAfter` only keys after it are listed (S3 StartAfter).
 */
export async function discoverFiles(store: ObjectStore, table: TableConfig, opts: { signal?: AbortSignal; startAfter?: string; maxFutureSeconds?: number; now?: number; listing?: SharedListing; listedAfter?: number } = {}): Promise<Discovery> {
  const label = tableLabel(table)
  const out: Discovery = { load: [], cdc: [], skipped: [] }
  const seen = new Map<string, string>()
  const listOpts = opts.startAfter === undefined ? { signal: opts.signal } : { signal: opts.signal, startAfter: opts.startAfter }
  // one shared pass over the landing for many tables when that is cheaper (src/listing.ts), else the table's own LIST
  const listing = opts.listing
    ? await opts.listing.list(table.path, { notBefore: opts.listedAfter ?? -Infinity, ...listOpts })
    : store.list(`${table.path}/`, listOpts)
  for await (const info of listing) {
    const f = parseDmsName(info.key, { format: table.format, label }, info)
    if (f === undefined) {
      out.skipped.push(info.key)
      continue
    }
    if (f.kind === 'load' && info.key !== `${table.path}/${f.name}`) {
      // Parallel-load segments (<partition>/LOAD…, SEGMENTn_LOAD…) restart their counters: not supported yet.
      out.skipped.push(info.key)
      continue
    }
    const other = seen.get(f.stem)
    if (other !== undefined) {
      throw new DataError('CDC_FILE_NAME_INVALID', `table ${label}: objects ${JSON.stringify(other)} and ${JSON.stringify(info.key)} carry the same DMS name ${f.stem}`, {
        table: label,
        file: info.key,
        hint: 'remove the duplicate object; two files with one name cannot be ordered',
      })
    }
    if (f.kind === 'cdc' && opts.maxFutureSeconds !== undefined) checkNotFuture(f, label, opts.maxFutureSeconds, opts.now ?? Date.now())
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
  const s = f.stem
  const at = Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8), +s.slice(9, 11), +s.slice(11, 13), +s.slice(13, 15), +s.slice(15, 18))
  if (at - now <= maxFutureSeconds * 1000) return
  throw new DataError('CDC_FILE_NAME_INVALID', `table ${label}: object ${JSON.stringify(f.key)} is named ${f.stem}, ${Math.round((at - now) / 3_600_000)} hours ahead of the clock (${new Date(now).toISOString()}); expected a change-file time at most maxFutureSeconds = ${maxFutureSeconds} ahead`, {
    table: label,
    file: f.key,
    hint: 'remove or rename the object (a clock or a copy tool gave it a wrong name), fix this machine\'s clock, or raise maxFutureSeconds',
  })
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
