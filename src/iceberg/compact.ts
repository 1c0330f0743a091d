// Compaction on demand (cdc-apply compact): the current snapshot's rows (position deletes applied) rewritten into
// fresh data files of at most rowsPerFile rows, committed as a `replace` snapshot of the same rows that carries the
// cdc-apply.* summary entries of the snapshot it compacts and takes over the tags that named it; then snapshot expiry
// and orphan removal. The same shape as the compaction a commit triggers past a threshold (curated-sink.ts).
import { randomUUID } from 'node:crypto'
import * as A from 'apache-arrow'
import type { Config } from '../config.js'
import { toParquet } from '../write.js'
import { joinKey } from '../store/object-store.js'
import { expireSnapshots, type Expired } from './expire.js'
import { withFieldIds } from './schema.js'
import type { IcebergTable, NewFile, OpenOptions } from './table.js'

export interface Compacted {
  /** False when there was nothing to rewrite (no snapshot, or no delete files and no more data files than needed). */
  compacted: boolean
  rows: number
  /** Data and delete files of the current snapshot before and after. */
  before: { dataFiles: number; deleteFiles: number }
  after: { dataFiles: number; deleteFiles: number }
  expired: Expired
}

/** The upkeep settings of the config's `iceberg` block, as IcebergTable.open takes them. */
export function icebergUpkeep(config: Config): OpenOptions {
  return {
    keepVersions: config.iceberg.keepMetadataVersions,
    orphanMinAgeMs: config.iceberg.orphanMinAgeSeconds * 1000,
  }
}

/**
 * Rewrites the current snapshot's rows when it has delete files or more data files than its rows need, as its own
 * `replace` snapshot; then expires snapshots (keeping `keepSnapshots`) and removes orphans, compacted or not.
 */
export async function compactTable(
  ice: IcebergTable,
  opts: { parquet: Config['parquet']; keepSnapshots: number },
  signal?: AbortSignal,
): Promise<Compacted> {
  const snap = ice.current()
  const none = { dataFiles: 0, deleteFiles: 0 }
  if (!snap) return { compacted: false, rows: 0, before: none, after: none, expired: await expire() }
  const files = await ice.files(snap, signal)
  const before = { dataFiles: files.data.length, deleteFiles: files.deletes.length }
  const stored = files.data.reduce((n, e) => n + e.data_file.record_count, 0)
  const needed = Math.max(1, Math.ceil(stored / opts.parquet.rowsPerFile))
  if (files.deletes.length === 0 && files.data.length <= needed)
    return { compacted: false, rows: stored, before, after: before, expired: await expire() }

  const table = (await ice.read('main', signal))!
  const schema = withFieldIds(table.schema, ice.schemaFor(table.schema))
  const date = snap.summary['cdc-apply.date'] ?? 'compact'
  const stem = `${date}-${String((ice.meta!['last-sequence-number'] ?? 0) + 1).padStart(5, '0')}-${randomUUID()}`
  const added: NewFile[] = []
  for (let p = 0; p * opts.parquet.rowsPerFile < table.numRows; p++) {
    const slice = table.slice(p * opts.parquet.rowsPerFile, (p + 1) * opts.parquet.rowsPerFile)
    const body = await toParquet(
      new A.Table(
        schema,
        slice.batches.map((b) => new A.RecordBatch(schema, b.data)),
      ),
      opts.parquet,
    )
    const key = joinKey(ice.prefix, 'data', `${stem}-${String(p).padStart(5, '0')}.parquet`)
    await ice.store.put(key, body, signal ? { signal } : {})
    added.push({ key, rows: slice.numRows, bytes: body.length })
  }
  const summary = Object.fromEntries(Object.entries(snap.summary).filter(([k]) => k.startsWith('cdc-apply.')))
  const tags = Object.entries(ice.meta!.refs)
    .filter(([, r]) => r.type === 'tag' && r['snapshot-id'] === snap['snapshot-id'])
    .map(([name]) => name)
  await ice.commit({ arrow: table.schema, files: added, deletes: [], mode: 'replace', summary, tags }, signal)
  return {
    compacted: true,
    rows: table.numRows,
    before,
    after: { dataFiles: added.length, deleteFiles: 0 },
    expired: await expire(),
  }

  function expire(): Promise<Expired> {
    return expireSnapshots(ice, opts.keepSnapshots, signal, true)
  }
}
