// The data columns of a table as its outputs have them, read back from the curated partition of the LPF's date
// (for registration when this run did not read the table, and for `cdc-apply catalog --emit`).
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import { META } from '../config.js'
import { joinKey, type ObjectStore } from '../store/object-store.js'
import type { Watermark } from '../state/index.js'
import { lpfDate } from '../dms-names.js'

/**
 * The data fields (without cdc_file, cdc_row, and Op for a RAW store) of the first part of `<prefix>/<LPF date>/`;
 * undefined when absent.
 */
export async function readSchemaFields(
  curated: ObjectStore,
  prefix: string,
  wm: Pick<Watermark, 'lpf' | 'loadDate'>,
  kind: 'raw' | 'curated' = 'curated',
): Promise<A.Field[] | undefined> {
  const folder = joinKey(prefix, lpfDate(wm))
  let first: string | undefined
  for await (const o of curated.list(`${folder}/`)) {
    if (o.key.endsWith('.parquet') && (first === undefined || o.key < first)) first = o.key
  }
  if (first === undefined) return undefined
  const table = A.tableFromIPC(pw.readParquet(await curated.get(first), { limit: 1 }).intoIPCStream())
  return table.schema.fields.filter(
    (f) => f.name !== META.file && f.name !== META.row && (kind === 'curated' || f.name !== META.op),
  )
}

/** The date folders (`YYYYMMDD`) under a table's prefix, sorted. */
export async function listDates(store: ObjectStore, prefix: string): Promise<string[]> {
  const dates = new Set<string>()
  for await (const o of store.list(`${prefix}/`)) {
    const m = /^(\d{8})\//.exec(o.key.slice(prefix.length + 1))
    if (m) dates.add(m[1]!)
  }
  return [...dates].sort()
}
