// The RAW layout guard: a table whose RAW is an Iceberg table (tableFormat "iceberg", iceberg.raw not false) but whose
// RAW location holds the date folders of an earlier run is refused, never continued in a second layout beside them.
import { ConfigError } from './errors.js'
import type { Watermark } from './state/index.js'
import { joinKey, type ObjectStore } from './store/object-store.js'

/**
 * Throws CDC_RAW_LAYOUT_CHANGED when the table is past its full load, its RAW Iceberg table has no metadata and its
 * RAW location holds date folders (`<Source>/<TableName>/<YYYYMMDD>/`). Lists the metadata folder, and only when it
 * has no metadata file (a table that never ran, or was run with date folders) the table's RAW folder.
 */
export async function checkRawLayout(
  raw: ObjectStore,
  t: { source: string; name: string },
  label: string,
  wm: Watermark | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (!wm?.fullLoad) return
  const prefix = joinKey(t.source, t.name)
  const opts = signal ? { signal } : {}
  for await (const o of raw.list(joinKey(prefix, 'metadata') + '/', opts)) {
    if (o.key.endsWith('.metadata.json')) return
  }
  let folder: string | undefined
  for await (const o of raw.list(`${prefix}/`, opts)) {
    const first = o.key.slice(prefix.length + 1).split('/')[0]!
    if (!/^\d{8}$/.test(first) || !o.key.endsWith('.parquet')) continue
    folder = first
    break
  }
  if (folder === undefined) return
  throw new ConfigError(
    'CDC_RAW_LAYOUT_CHANGED',
    `table ${label}: its RAW ${raw.url}/${prefix} is Parquet date folders (${folder}, …) without Iceberg metadata, but the table's RAW is an Iceberg table (tableFormat "iceberg", iceberg.raw not false)`,
    {
      table: label,
      hint: `reprocess the table (cdc-apply reset --table ${label} --yes, then run) to write RAW as an Iceberg table, or set "iceberg": { "raw": false } to keep its RAW date folders`,
    },
  )
}
