// The curated snapshots of a table by date, whatever its layout: the date folders of the plain layout, or the date
// tags d<YYYYMMDD> of an Iceberg table (plus its live table, main, when it is not the newest tag's snapshot).
// verify reads either through the same local Parquet paths: an Iceberg ref's rows (position deletes applied, by
// cdc-apply's own reader) are written to one local Parquet file for DuckDB.
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as A from 'apache-arrow'
import type { Config, TableConfig } from '../config.js'
import type { ObjectStore } from '../store/object-store.js'
import { toParquet } from '../write.js'
import { dateTag } from '../iceberg-sink.js'
import { openCuratedIceberg } from '../catalog/iceberg.js'
import { arrowSchema } from '../iceberg/schema.js'
import type { IcebergTable } from '../iceberg/table.js'
import { listPartitions, localPaths } from './partitions.js'

export interface LocalFiles {
  paths: string[]
  cleanup: () => Promise<void>
}

export interface CuratedDates {
  /** Where the snapshots are, for messages. */
  url: string
  /** The dates with a snapshot, ascending (values: the plain layout's object keys, or the Iceberg tag). */
  dates: Map<string, string[]>
  /** Local Parquet files with the rows of a date's snapshot (written under `dir` when they are not local). */
  files(date: string, dir: string, signal?: AbortSignal): Promise<LocalFiles>
  /** Iceberg: the live table's rows when main is not the newest tag's snapshot (else undefined: nothing more to check). */
  live?(dir: string, signal?: AbortSignal): Promise<LocalFiles | undefined>
}

const TAG = /^d(\d{8})$/

export async function curatedDates(
  config: Config,
  store: ObjectStore,
  t: TableConfig,
  signal?: AbortSignal,
): Promise<CuratedDates> {
  if (t.tableFormat !== 'iceberg') {
    const dates = await listPartitions(store, t, signal)
    return { url: store.url, dates, files: (date, dir, s) => localPaths(store, dates.get(date) ?? [], dir, s) }
  }
  const ice = await openCuratedIceberg(store, t, signal ? { signal } : {})
  const dates = new Map(
    Object.entries(ice.meta?.refs ?? {})
      .filter(([name, r]) => r.type === 'tag' && TAG.test(name))
      .map(([name]) => [name.slice(1), [name]] as [string, string[]])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  )
  const newest = [...dates.keys()].at(-1)
  return {
    url: `${store.url}/${t.source}/${t.name} (Iceberg)`,
    dates,
    files: (date, dir, s) => refFile(config, ice, dateTag(date), dir, s),
    live: async (dir, s) =>
      ice.snapshot('main') !== undefined &&
      ice.snapshot('main') !== (newest ? ice.snapshot(dateTag(newest)) : undefined)
        ? refFile(config, ice, 'main', dir, s)
        : undefined,
  }
}

/** The rows of an Iceberg ref as one local Parquet file (with the snapshot's schema when it has no data file). */
async function refFile(
  config: Config,
  ice: IcebergTable,
  ref: string,
  dir: string,
  signal?: AbortSignal,
): Promise<LocalFiles> {
  await mkdir(dir, { recursive: true })
  const path = join(dir, `${ref}.parquet`)
  await writeFile(path, await toParquet(await refRows(ice, ref, signal), config.parquet))
  return { paths: [path], cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/** The rows of an existing ref, position deletes applied; the snapshot's schema when it has no data file. */
export async function refRows(ice: IcebergTable, ref: string, signal?: AbortSignal): Promise<A.Table> {
  const rows = (await ice.read(ref, signal))!
  if (rows.schema.fields.length > 0) return rows
  const id = ice.snapshot(ref)!['schema-id'] ?? ice.meta!['current-schema-id']
  return new A.Table(arrowSchema(ice.meta!.schemas.find((s) => s['schema-id'] === id)!))
}
