// `<curated>/<Source>/<TableName>/_cdc_apply.json`: the watermark, published beside the date folders after every
// commit, so that jobs without the SQLite file (Airflow sensors, Glue, Athena users) can tell which dates are final.
import { readFileSync } from 'node:fs'
import { joinKey, type ObjectStore, type StoreOptions } from './store/object-store.js'
import type { Watermark } from './state/index.js'
import { addDays } from './dates.js'

/** The marker's base name: the leading `_` makes Spark, Hive, Athena and DuckDB globs of `<date>/*.parquet` skip it. */
export const MARKER = '_cdc_apply.json'

export const MARKER_FORMAT = 1

export interface Marker {
  /** Format of this file: fields are only ever added within one format. */
  format: number
  /** cdc-apply's version (package.json) that wrote it. */
  version: string
  source: string
  table: string
  /** ops_table.LPF and FullLoad, as committed. */
  lpf: string
  fullLoad: boolean
  loadDate: string
  /** The newest curated date written and committed. */
  latestDate: string
  /**
   * Dates loadDate..completeThrough are final: a change file of a later date has been applied or seen, so cdc-apply
   * does not change them again (short of late files, a table reload or a reset). null while none is.
   */
  completeThrough: string | null
  /** When the watermark was committed (ISO 8601, UTC). */
  committedAt: string
}

export function markerKey(source: string, table: string): string {
  return joinKey(source, table, MARKER)
}

let version: string | undefined
function packageVersion(): string {
  if (version !== undefined) return version
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const v = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if (v.name === 'cdc-apply' && v.version) return (version = v.version)
    } catch {
      /* try the next */
    }
  }
  return (version = 'unknown')
}

/**
 * The marker after committing `date` under `wm`; `newestDate` is the date of the newest change file in the landing
 * (a later one means `date` is over).
 */
export function markerFor(wm: Watermark, date: string, newestDate: string | undefined, now = new Date()): Marker {
  const over = newestDate !== undefined && newestDate > date
  const through = over ? date : addDays(date, -1)
  return {
    format: MARKER_FORMAT,
    version: packageVersion(),
    source: wm.source,
    table: wm.table,
    lpf: wm.lpf,
    fullLoad: wm.fullLoad,
    loadDate: wm.loadDate,
    latestDate: date,
    completeThrough: through >= wm.loadDate ? through : null,
    committedAt: now.toISOString(),
  }
}

/** Writes the marker into the curated store (its encryption settings apply), replacing the previous one atomically. */
export async function writeMarker(curated: ObjectStore, m: Marker, opts: StoreOptions = {}): Promise<void> {
  await curated.put(markerKey(m.source, m.table), new TextEncoder().encode(JSON.stringify(m, null, 2) + '\n'), opts)
}
