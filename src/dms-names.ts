// The rules of DMS object names and the dates they give: LOAD<hex8> and YYYYMMDD-HHmmssSSS, their order, the time a
// name stands for, parallel-load segments, and the date a change file's rows belong to.
import { DataError } from './errors.js'
import type { TableConfig } from './config.js'
import type { ObjectInfo } from './store/object-store.js'

export interface DmsFile {
  /** Key relative to the landing store. */
  key: string
  /** The object's base name, e.g. `LOAD0000000A.csv.gz` or `20220927-135523276.csv`. */
  name: string
  /** `LOAD0000000A` or `20220927-135523276`: the name without extensions. */
  stem: string
  kind: 'load' | 'cdc'
  /**
   * `YYYYMMDD` of a CDC file, from its name; empty for full-load files (their date comes from the data). Once the
   * load date is known, the run sets it to the partition date (see `partitionDate`).
   */
  date: string
  /** Orders every file of a table: all full-load files (by hex counter) before all CDC files (by name). */
  orderKey: string
  format: 'csv' | 'parquet'
  gzip: boolean
  size: number
  etag: string
  lastModified: Date
}

const LOAD_RE = /^LOAD([0-9A-F]{8})\.(csv|parquet)(\.gz)?$/
const CDC_RE = /^(\d{8})-(\d{9})\.(csv|parquet)(\.gz)?$/
/** A parallel-load segment at the table's root; `LOAD<hex8>` in a subfolder is one too. */
const SEGMENT_RE = /^SEGMENT\d+_LOAD[0-9A-F]{8}\.(csv|parquet)(\.gz)?$/
/** Names that claim to be DMS data files: malformed ones are errors, not silently skipped. */
const LOOKS_DMS_RE = /^(LOAD[0-9A-Fa-f]*|\d{8}-\d*)\.(csv|parquet)(\.gz)?$/i
const TIME_RE = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})(\d{3})$/

/** The order key for a file stem; exported for tests and the oracle. */
export function fileOrderKey(stem: string): string {
  return stem.startsWith('LOAD') ? `0:${stem}` : `1:${stem}`
}

/** `20220927-135523276.csv.gz` → `20220927-135523276`. */
export function stemOf(name: string): string {
  const dot = name.indexOf('.')
  return dot < 0 ? name : name.slice(0, dot)
}

/** Milliseconds since the epoch of a DMS time name `YYYYMMDD-HHmmssSSS` (UTC); undefined for LOAD names. */
export function timeOfName(stem: string): number | undefined {
  const m = TIME_RE.exec(stem)
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!) : undefined
}

/** Whether a base name is a parallel-load segment written at the table's root (`SEGMENT1_LOAD00000001.csv`). */
export function isSegmentName(name: string): boolean {
  return SEGMENT_RE.test(name)
}

/**
 * The date a change file's rows belong to: the date in its name, except that a change file dated before the load
 * date belongs to the load date (DMS captures changes from the start of the full load; semantics.md, "Change files
 * dated on or before the load date").
 */
export function partitionDate(nameDate: string, loadDate: string): string {
  return nameDate < loadDate ? loadDate : nameDate
}

/** The LPF of a table whose full load was applied without any change file: `<loadDate>-000000000`. */
export function noChangeFileLpf(loadDate: string): string {
  return `${loadDate}-000000000`
}

/** Whether an LPF is the `<loadDate>-000000000` of a table that has applied no change file. */
export function isNoChangeFileLpf(lpf: string): boolean {
  return lpf.endsWith('-000000000')
}

/** The partition date of a watermark's LPF: the LPF's name date, or the load date for one named before it. */
export function lpfDate(wm: { lpf: string; loadDate: string }): string {
  return partitionDate(wm.lpf.slice(0, 8), wm.loadDate)
}

export function parseDmsName(
  key: string,
  table: Pick<TableConfig, 'format'> & { label: string },
  info?: ObjectInfo,
): DmsFile | undefined {
  const name = key.slice(key.lastIndexOf('/') + 1)
  const meta = {
    key,
    name,
    size: info?.size ?? 0,
    etag: info?.etag ?? '',
    lastModified: info?.lastModified ?? new Date(0),
  }
  const load = LOAD_RE.exec(name)
  if (load) {
    const stem = `LOAD${load[1]}`
    return {
      ...meta,
      stem,
      kind: 'load',
      date: '',
      orderKey: fileOrderKey(stem),
      format: checkFormat(load[2]!, table, key),
      gzip: load[3] !== undefined,
    }
  }
  const cdc = CDC_RE.exec(name)
  if (cdc && validDate(cdc[1]!) && validTime(cdc[2]!)) {
    const stem = `${cdc[1]}-${cdc[2]}`
    return {
      ...meta,
      stem,
      kind: 'cdc',
      date: cdc[1]!,
      orderKey: fileOrderKey(stem),
      format: checkFormat(cdc[3]!, table, key),
      gzip: cdc[4] !== undefined,
    }
  }
  if (LOOKS_DMS_RE.test(name)) {
    throw new DataError(
      'CDC_FILE_NAME_INVALID',
      `table ${table.label}: object ${JSON.stringify(key)} looks like a DMS file but its name is malformed: expected LOAD<8 uppercase hex digits> or YYYYMMDD-HHmmssSSS (a valid date and time) with .csv or .parquet, optionally .gz`,
      {
        table: table.label,
        file: key,
        hint: 'rename or remove the object; cdc-apply refuses to guess its place in the change order',
      },
    )
  }
  return undefined
}

function checkFormat(
  ext: string,
  table: Pick<TableConfig, 'format'> & { label: string },
  key: string,
): 'csv' | 'parquet' {
  if (ext !== table.format) {
    throw new DataError(
      'CDC_FILE_NAME_INVALID',
      `table ${table.label}: object ${JSON.stringify(key)} is .${ext} but the table is configured with format ${JSON.stringify(table.format)}`,
      {
        table: table.label,
        file: key,
        hint: 'set the table\'s "format" to match the DMS endpoint\'s DataFormat',
      },
    )
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
