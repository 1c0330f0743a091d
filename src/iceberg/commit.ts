// Building one snapshot of an Iceberg table (IcebergTable.commit): the manifests of the added and removed files, the
// manifest list and the next table metadata, written in that order before the metadata file (the commit point, which
// table.ts writes). The parent's manifests are immutable: a commit lists them again as they are, or, when it removes
// files one of them lists, drops it and lists its other live files again as EXISTING entries of a new manifest
// (their snapshot id and sequence numbers as written).
import { randomUUID } from 'node:crypto'
import { faultPoint } from '../fault.js'
import { joinKey } from '../store/object-store.js'
import {
  encodeManifest,
  encodeManifestList,
  type ManifestEntry,
  type ManifestFile,
  type PartitionField,
} from './avro.js'
import { dataFile, manifestFile, newSnapshotId, snapshotSummary } from './summary.js'
import { nameMapping } from './schema.js'
import type { Commit, LiveFiles, NewFile, Ref, Snapshot, TableMetadata } from './metadata.js'
import type { IcebergTable } from './table.js'

/** Partition field ids start at 1000; an unpartitioned table's last partition id is 999 (as Iceberg's Java library). */
const UNPARTITIONED_LAST_ID = 999

/** A snapshot built and its files written: the metadata to commit and the live files it will hold. */
export interface Built {
  snapshot: Snapshot
  meta: TableMetadata
  live: LiveFiles
}

/** Writes the manifests and manifest list of commit `c` on top of the table's current snapshot. */
export async function buildCommit(ice: IcebergTable, c: Commit, signal?: AbortSignal): Promise<Built> {
  const prev = ice.meta
  const schema = ice.schemaFor(c.arrow)
  const parent = ice.current()
  const cur: LiveFiles = parent
    ? await ice.files(parent, signal)
    : { data: [], deletes: [], manifests: [], manifestOf: new Map() }
  const spec = ice.spec(schema)
  const merge = c.mode === 'merge'
  const files = c.mode === 'files'
  // merge and files keep the current files but those named; overwrite and replace remove them all
  const gone = new Set(merge || files ? (c.remove ?? []) : cur.data.map((e) => e.data_file.file_path))
  const goneDeletes = new Set(
    merge ? (c.removeDeletes ?? []) : files ? [] : cur.deletes.map((e) => e.data_file.file_path),
  )
  const seq = (prev?.['last-sequence-number'] ?? 0) + 1
  const id = newSnapshotId(prev)
  const commitId = randomUUID()
  const uri = (rel: string): string => `${ice.location}/${rel}`
  const header = (content: 'data' | 'deletes'): Record<string, string> => ({
    schema: JSON.stringify(schema),
    'schema-id': String(schema['schema-id']),
    'partition-spec': JSON.stringify(spec),
    'partition-spec-id': '0',
    'format-version': '2',
    content,
  })
  const entry = (f: NewFile, content: 0 | 1): ManifestEntry => ({
    status: 1,
    snapshot_id: id,
    sequence_number: null,
    file_sequence_number: null,
    data_file: dataFile(
      ice.uriOf(f.key),
      f.rows,
      f.bytes,
      content,
      f.referenced,
      Object.fromEntries(spec.map((p) => [p.name, f.partition?.[p.name] ?? null])),
    ),
  })
  const added = c.files.map((f) => entry(f, 0))
  const addedDeletes = c.deletes.map((f) => entry(f, 1))
  const isGone = (e: ManifestEntry): boolean =>
    (e.data_file.content === 0 ? gone : goneDeletes).has(e.data_file.file_path)
  const removed = cur.data.filter(isGone).map((e) => ({ ...e, status: 2 as const, snapshot_id: id }))
  const removedDeletes = cur.deletes.filter(isGone).map((e) => ({ ...e, status: 2 as const, snapshot_id: id }))
  const keptData = cur.data.filter((e) => !isGone(e))
  const keptDeletes = cur.deletes.filter((e) => !isGone(e))
  // The parent's manifests that list a removed file are rewritten: their other live files become EXISTING entries.
  // Mode files (a RAW table's partitions) rewrites every data manifest when it removes a data file.
  const rewritten = new Set<string>()
  for (const e of [...removed, ...removedDeletes]) {
    const m = cur.manifestOf.get(e.data_file.file_path)
    if (m !== undefined) rewritten.add(m)
  }
  if (files && removed.length > 0) for (const m of cur.manifests) if (m.content === 0) rewritten.add(m.manifest_path)
  const replaced = !merge && !files
  const carried = (e: ManifestEntry): boolean =>
    !replaced && rewritten.has(cur.manifestOf.get(e.data_file.file_path) ?? '')
  const existing = keptData.filter(carried).map((e) => ({ ...e, status: 0 as const }))
  const existingDeletes = keptDeletes.filter(carried).map((e) => ({ ...e, status: 0 as const }))
  const groups: [ManifestEntry[], 0 | 1][] = [
    [added, 0],
    [addedDeletes, 1],
    [removed, 0],
    [removedDeletes, 1],
    [existing, 0],
    [existingDeletes, 1],
  ]
  const manifests: ManifestFile[] = []
  const manifestOf = new Map<string, string>()
  for (const [i, [entries, content]] of groups.entries()) {
    if (entries.length === 0) continue
    const rel = `metadata/${commitId}-m${i}.avro`
    const body = await encodeManifest(entries, header(content === 0 ? 'data' : 'deletes'), spec)
    await ice.store.put(joinKey(ice.prefix, rel), body, { signal })
    manifests.push(manifestFile(uri(rel), body.length, content, seq, id, entries, spec))
    for (const e of entries) if (e.status !== 2) manifestOf.set(e.data_file.file_path, uri(rel))
  }
  // The parent's manifests that still list live files (not those that only record removals) and were not rewritten
  // are listed again; overwrite and replace list none.
  const live = (m: ManifestFile): boolean => m.added_files_count + m.existing_files_count > 0
  if (!replaced) {
    for (const m of cur.manifests) if (live(m) && !rewritten.has(m.manifest_path)) manifests.push(m)
    for (const [path, m] of cur.manifestOf)
      if (!rewritten.has(m) && !gone.has(path) && !goneDeletes.has(path)) manifestOf.set(path, m)
  }
  const listRel = `metadata/snap-${id}-1-${commitId}.avro`
  const listMeta: Record<string, string> = {
    'snapshot-id': String(id),
    'sequence-number': String(seq),
    'format-version': '2',
  }
  if (parent) listMeta['parent-snapshot-id'] = String(parent['snapshot-id'])
  await ice.store.put(joinKey(ice.prefix, listRel), await encodeManifestList(manifests, listMeta), { signal })
  faultPoint('iceberg-before-metadata')

  const liveData = [...keptData, ...added]
  const liveDeletes = [...keptDeletes, ...addedDeletes]
  const now = Math.max(Date.now(), (prev?.['last-updated-ms'] ?? 0) + 1)
  const snap: Snapshot = {
    'snapshot-id': id,
    ...(parent ? { 'parent-snapshot-id': parent['snapshot-id'] } : {}),
    'sequence-number': seq,
    'timestamp-ms': now,
    'manifest-list': uri(listRel),
    summary: {
      operation: operation(c, added.length, addedDeletes.length, removed.length, cur.data.length),
      ...snapshotSummary(added, addedDeletes, removed, removedDeletes, liveData, liveDeletes),
      ...c.summary,
    },
    'schema-id': schema['schema-id'],
  }
  const base = prev ?? initial(ice.location, now, spec)
  const schemas = base.schemas.some((s) => s['schema-id'] === schema['schema-id'])
    ? base.schemas
    : [...base.schemas, schema]
  const refs: Record<string, Ref> = { ...base.refs, main: { 'snapshot-id': id, type: 'branch' } }
  for (const t of c.tags) refs[t] = { 'snapshot-id': id, type: 'tag' }
  const meta: TableMetadata = {
    ...base,
    'last-sequence-number': seq,
    'last-updated-ms': now,
    'last-column-id': Math.max(base['last-column-id'], ...schema.fields.map((f) => f.id)),
    'current-schema-id': schema['schema-id'],
    schemas,
    properties: { ...base.properties, 'schema.name-mapping.default': nameMapping(schema) },
    'current-snapshot-id': id,
    refs,
    snapshots: [...base.snapshots, snap],
    'snapshot-log': [...base['snapshot-log'], { 'timestamp-ms': now, 'snapshot-id': id }],
  }
  const inherit = (e: ManifestEntry): ManifestEntry =>
    e.snapshot_id === id ? { ...e, sequence_number: seq, file_sequence_number: seq } : e
  return {
    snapshot: snap,
    meta,
    live: { data: liveData.map(inherit), deletes: liveDeletes.map(inherit), manifests, manifestOf },
  }
}

/**
 * The snapshot's operation (spec: "Snapshots"): append when it only adds data files, delete when it only removes
 * rows (delete files added, no data files), overwrite when it adds rows and removes rows or files, replace for a
 * compaction (the same rows rewritten).
 */
function operation(c: Commit, added: number, addedDeletes: number, removed: number, parentData: number): string {
  if (c.mode === 'replace') return 'replace'
  if (c.mode === 'overwrite') return parentData > 0 ? 'overwrite' : 'append'
  if (c.mode === 'files') return removed === 0 ? 'append' : (c.removeAs ?? 'overwrite')
  if (removed > 0) return added === 0 && addedDeletes === 0 ? 'delete' : 'overwrite'
  if (addedDeletes === 0) return 'append'
  return added === 0 ? 'delete' : 'overwrite'
}

function initial(location: string, now: number, spec: PartitionField[]): TableMetadata {
  return {
    'format-version': 2,
    'table-uuid': randomUUID(),
    location,
    'last-sequence-number': 0,
    'last-updated-ms': now,
    'last-column-id': 0,
    'current-schema-id': 0,
    schemas: [],
    'default-spec-id': 0,
    'partition-specs': [{ 'spec-id': 0, fields: spec }],
    'last-partition-id': Math.max(UNPARTITIONED_LAST_ID, ...spec.map((p) => p['field-id'])),
    'default-sort-order-id': 0,
    'sort-orders': [{ 'order-id': 0, fields: [] }],
    properties: { 'write.format.default': 'parquet', 'cdc-apply.writer': 'cdc-apply' },
    refs: {},
    snapshots: [],
    'snapshot-log': [],
    'metadata-log': [],
  }
}
