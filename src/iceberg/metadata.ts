// The shapes of an Iceberg format-version 2 table's metadata (the spec's table metadata, snapshots, refs) and of
// what a commit adds, as src/iceberg/table.ts reads and writes them.
import type * as A from 'apache-arrow'
import type { ManifestEntry, ManifestFile, PartitionField } from './avro.js'
import type { IcebergSchema } from './schema.js'

/** A snapshot id: a number, or a bigint beyond 2^53 (Java's Iceberg makes random 63-bit ids; see avro.ts). */
export type SnapshotId = number | bigint

export interface Snapshot {
  'snapshot-id': SnapshotId
  'parent-snapshot-id'?: SnapshotId
  'sequence-number': number
  'timestamp-ms': number
  'manifest-list': string
  summary: Record<string, string>
  'schema-id': number
}

export interface Ref {
  'snapshot-id': SnapshotId
  type: 'branch' | 'tag'
}

export interface TableMetadata {
  'format-version': 2
  'table-uuid': string
  location: string
  'last-sequence-number': number
  'last-updated-ms': number
  'last-column-id': number
  'current-schema-id': number
  schemas: IcebergSchema[]
  'default-spec-id': number
  'partition-specs': { 'spec-id': number; fields: PartitionField[] }[]
  'last-partition-id': number
  'default-sort-order-id': number
  'sort-orders': { 'order-id': number; fields: unknown[] }[]
  properties: Record<string, string>
  'current-snapshot-id'?: SnapshotId
  refs: Record<string, Ref>
  snapshots: Snapshot[]
  'snapshot-log': { 'timestamp-ms': number; 'snapshot-id': SnapshotId }[]
  'metadata-log': { 'timestamp-ms': number; 'metadata-file': string }[]
}

/** One data or position-delete file already put, to be added by a commit. */
export interface NewFile {
  key: string
  /** Rows (data files) or positions (delete files). */
  rows: number
  bytes: number
  /** A delete file whose positions all name one data file: that file's path (lets readers skip the others). */
  referenced?: string
  /** The file's partition values by partition field name (a partitioned table only). */
  partition?: Record<string, string>
}

export interface Commit {
  /** The table's Arrow schema: its Iceberg schema becomes current (a new schema id when it changed). */
  arrow: A.Schema
  files: NewFile[]
  /** Position-delete files (merge only). */
  deletes: NewFile[]
  /**
   * merge: the current data and delete files stay (but those `remove` and `removeDeletes` name), the new ones are
   * added (merge-on-read: an append plus position deletes); overwrite: the new files are the table's rows, every current file is removed; replace: the same rows
   * rewritten into the new files (compaction); files: the current files stay but those `remove` names, the new ones
   * are added (a partitioned table's partition appended to, overwritten or compacted).
   */
  mode: 'merge' | 'overwrite' | 'replace' | 'files'
  /** mode files and merge: the paths of the current data files to remove. */
  remove?: readonly string[]
  /** mode merge: the paths of the current delete files to remove (replaced by new ones, or naming removed files). */
  removeDeletes?: readonly string[]
  /** mode files: the snapshot's operation when it removes files (overwrite, or replace for a compaction). */
  removeAs?: 'overwrite' | 'replace'
  /** Extra snapshot summary entries (cdc-apply.lpf, cdc-apply.full-load, ...). */
  summary: Record<string, string>
  /** Tags to point at the new snapshot. */
  tags: string[]
}

/** A snapshot's live files (sequence numbers inherited) and its manifest list. */
export interface LiveFiles {
  data: ManifestEntry[]
  deletes: ManifestEntry[]
  manifests: ManifestFile[]
  /** The manifest that lists each live file (by path). */
  manifestOf: Map<string, string>
}

/** A snapshot id for JSON output: a bigint as its digits (a string), so it stays exact. */
export function idForJson(id: SnapshotId): number | string {
  return typeof id === 'bigint' ? id.toString() : id
}

const BIG = '__cdc_apply_int64__:'

/**
 * Table metadata JSON, parsed with every integer beyond 2^53 kept exact as a bigint (JSON.parse would round Java's
 * 63-bit snapshot ids, and a commit would then name snapshots that do not exist). Integer literals outside strings
 * are found by a scan that skips string literals.
 */
export function parseMetadata(text: string): TableMetadata {
  const marked = text.replace(/"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])-?\d{16,}(?![.eE\d])/g, (m) =>
    m.startsWith('"') || Number.isSafeInteger(Number(m)) ? m : `"${BIG}${m}"`,
  )
  return JSON.parse(marked, (_k, v: unknown) =>
    typeof v === 'string' && v.startsWith(BIG) ? BigInt(v.slice(BIG.length)) : v,
  ) as TableMetadata
}

/** The JSON of table metadata: bigints written as the integers they are. */
export function stringifyMetadata(meta: TableMetadata): string {
  const text = JSON.stringify(meta, (_k, v: unknown) => (typeof v === 'bigint' ? `${BIG}${v}` : v), 1)
  return text.replace(new RegExp(`"${BIG}(-?\\d+)"`, 'g'), '$1')
}
