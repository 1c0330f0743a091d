// RAW as an Iceberg v2 table (tableFormat "iceberg" with iceberg.raw): `<raw>/<Source>/<TableName>/` in the
// file-system catalog layout, partitioned by `partition_0` (identity, the date YYYYMMDD). Data files are the parts a
// RawSink writes under `data/partition_0=<date>/`; they hold the RAW columns, partition_0 comes from the manifests
// (the spec's identity-partition projection). Every commit is one snapshot that sets a date partition's files: the
// files the state file has committed for the date (none when the run rebuilds it), plus the new ones; any other file
// of the partition is removed in the same snapshot (docs/iceberg.md, "RAW as an Iceberg table").
import * as A from 'apache-arrow'
import type { Config } from './config.js'
import { storeUri } from './iceberg-sink.js'
import { icebergUpkeep } from './iceberg/compact.js'
import { IcebergTable } from './iceberg/table.js'
import { arrowSchema, withFieldIds } from './iceberg/schema.js'
import { joinKey, type ObjectStore } from './store/object-store.js'
import type { StateStore } from './state/index.js'

/** The RAW table's partition column: the date of the change files, as the plain layout's date folder. */
export const RAW_PARTITION = 'partition_0'

/** Where a date's data files go: `<Source>/<TableName>/data/partition_0=<date>`. */
export function rawDataFolder(source: string, name: string, date: string): string {
  return joinKey(source, name, 'data', `${RAW_PARTITION}=${date}`)
}

/**
 * What a RAW Iceberg table's snapshot expiry and orphan removal must not delete besides what its kept snapshots
 * reference: the parts the state file lists as committed (after a compaction killed between its replace snapshot and
 * the state file's commit, the inputs are in no kept snapshot but the rerun reads them), and any file in a folder
 * `writing` names (a write whose parts are being put).
 */
export function rawKeepFile(
  state: Pick<StateStore, 'rawParts'>,
  source: string,
  name: string,
  writing: (folder: string) => boolean = () => false,
): (key: string) => boolean {
  const byDate = new Map<string, Set<string>>()
  const data = `${joinKey(source, name, 'data')}/${RAW_PARTITION}=`
  return (key) => {
    const slash = key.indexOf('/', data.length)
    if (!key.startsWith(data) || slash < 0) return false
    const [date, part] = [key.slice(data.length, slash), key.slice(slash + 1)]
    if (writing(rawDataFolder(source, name, date))) return true
    let names = byDate.get(date)
    if (!names) byDate.set(date, (names = new Set(state.rawParts(source, name, date).map((p) => p.name))))
    return names.has(part)
  }
}

/** Opens (or starts) a table's RAW Iceberg table. */
export function openRawIceberg(
  store: ObjectStore,
  source: string,
  name: string,
  config: Config,
  signal: AbortSignal | undefined,
): Promise<IcebergTable> {
  const prefix = joinKey(source, name)
  return IcebergTable.open(store, prefix, `${storeUri(store)}/${prefix}`, `${source}.${name} (RAW)`, {
    ...(signal ? { signal } : {}),
    ...icebergUpkeep(config),
    partitionBy: RAW_PARTITION,
  })
}

/**
 * The table's Arrow schema after a write of `rows` (the RAW columns of the write's parts): those columns and
 * partition_0, or, when the table already has columns the write lacks (a compaction of an older date), the
 * table's current columns followed by the write's new ones, so that the current schema never loses a column.
 */
export function tableArrow(ice: IcebergTable, rows: A.Schema): A.Schema {
  const fields = rows.fields.filter((f) => f.name !== RAW_PARTITION)
  const withPartition = [...fields, new A.Field(RAW_PARTITION, new A.Utf8(), true)]
  const meta = ice.meta
  const cur = meta?.schemas.find((s) => s['schema-id'] === meta['current-schema-id'])
  if (!cur) return new A.Schema(withPartition)
  const names = new Set(withPartition.map((f) => f.name))
  if (cur.fields.every((f) => names.has(f.name))) return new A.Schema(withPartition)
  const have = arrowSchema(cur).fields
  const known = new Set(have.map((f) => f.name))
  return new A.Schema([...have, ...withPartition.filter((f) => !known.has(f.name))])
}

/** The Arrow schema of a part of RAW rows with the table's field ids (the ids the next commit's schema has). */
export function rawFieldIds(ice: IcebergTable, rows: A.Schema): A.Schema {
  return withFieldIds(rows, ice.schemaFor(tableArrow(ice, rows)))
}

/** A RAW date commit: the date, the committed parts kept, the new parts (names under the date's data folder). */
export interface RawDateCommit {
  source: string
  name: string
  date: string
  /** Names of the parts the state file has committed for the date that stay; the partition's other files go. */
  keep: ReadonlySet<string>
  /** The new parts: name, rows, bytes. */
  parts: { name: string; rows: number; bytes: number }[]
  /** The RAW columns of the new parts. */
  rows: A.Schema
  /** A compaction (a replace snapshot) rather than a write (an append, or an overwrite when it removes files). */
  compaction: boolean
  /** Snapshot summary entries (cdc-apply.date, cdc-apply.raw-write, ...). */
  summary: Record<string, string>
}

/**
 * Commits one snapshot in which the date's partition holds `keep` and the new parts: an append when no other file
 * of the partition was live, else an overwrite (a reprocess, or the rerun of a write whose snapshot was committed
 * but not its watermark) or, for a compaction, a replace. Returns the snapshot's operation.
 */
export async function commitRawDate(ice: IcebergTable, c: RawDateCommit, signal?: AbortSignal): Promise<string> {
  const folder = rawDataFolder(c.source, c.name, c.date)
  const cur = ice.current()
  const live = cur ? (await ice.files(cur, signal)).data : []
  // Store keys, not URIs: the Spark job writes `file:/…` or `s3a://…` paths where cdc-apply writes its own form.
  const stay = new Set([...c.keep, ...c.parts.map((p) => p.name)].map((n) => joinKey(folder, n)))
  const remove = live
    .filter((e) => e.data_file.partition[RAW_PARTITION] === c.date && !stay.has(ice.keyOf(e.data_file.file_path)))
    .map((e) => e.data_file.file_path)
  const snap = await ice.commit(
    {
      arrow: tableArrow(ice, c.rows),
      files: c.parts.map((p) => ({
        key: joinKey(folder, p.name),
        rows: p.rows,
        bytes: p.bytes,
        partition: { [RAW_PARTITION]: c.date },
      })),
      deletes: [],
      mode: 'files',
      remove,
      removeAs: c.compaction ? 'replace' : 'overwrite',
      summary: { 'cdc-apply.date': c.date, ...c.summary },
      tags: [],
    },
    signal,
  )
  return snap.summary.operation!
}
