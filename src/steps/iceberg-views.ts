// A curated Iceberg table for SQL steps: every date tag d<YYYYMMDD> written as a local date folder
// `<dir>/<YYYYMMDD>/part-<snapshot id>.parquet` (its rows, position deletes applied, by cdc-apply's own reader), so
// the catalog's view over date folders applies unchanged and `partition_0 = '{yday}'` selects the date's tag.
// Snapshots never change: a file whose snapshot id is the tag's is reused, files of tags that moved are replaced.
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../config.js'
import { joinKey, type ObjectStore } from '../store/object-store.js'
import { storeUri } from '../iceberg-sink.js'
import { IcebergTable } from '../iceberg/table.js'
import { refRows } from '../check/curated-dates.js'
import { toParquet } from '../write.js'

const TAG = /^d(\d{8})$/

/** Brings `dir` in line with the table's date tags; returns how many dates were written and how many reused. */
export async function icebergDates(
  store: ObjectStore,
  t: { source: string; tableName: string },
  opts: { label: string; parquet: Config['parquet'] },
  dir: string,
  signal?: AbortSignal,
): Promise<{ fetched: number; reused: number }> {
  const prefix = joinKey(t.source, t.tableName)
  const ice = await IcebergTable.open(
    store,
    prefix,
    `${storeUri(store)}/${prefix}`,
    opts.label,
    signal ? { signal } : {},
  )
  const wanted = new Map<string, string>()
  for (const [name, r] of Object.entries(ice.meta?.refs ?? {})) {
    const m = TAG.exec(name)
    if (m && r.type === 'tag') wanted.set(m[1]!, `part-${r['snapshot-id']}.parquet`)
  }
  const out = { fetched: 0, reused: 0 }
  await mkdir(dir, { recursive: true })
  for (const d of await readdir(dir)) if (!wanted.has(d)) await rm(join(dir, d), { recursive: true, force: true })
  for (const [date, file] of wanted) {
    signal?.throwIfAborted()
    const folder = join(dir, date)
    await mkdir(folder, { recursive: true })
    const have = await readdir(folder)
    if (have.includes(file)) {
      out.reused++
      continue
    }
    for (const f of have) await rm(join(folder, f), { force: true })
    const tmp = join(folder, `.${file}.tmp-${process.pid}`)
    await writeFile(tmp, await toParquet(await refRows(ice, `d${date}`, signal), opts.parquet))
    await rename(tmp, join(folder, file))
    out.fetched++
  }
  return out
}
