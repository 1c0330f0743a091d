// The records a commit derives from its manifest entries: the manifest list's manifest_file record of a new
// manifest, the snapshot summary's counts (spec: "Snapshot Summary", the Java library's names), a new entry's
// data_file record and a new snapshot id.
import { randomInt } from 'node:crypto'
import type { FieldSummary, ManifestEntry, ManifestFile, PartitionField } from './avro.js'
import type { TableMetadata } from './metadata.js'
import { FILE_PATH_ID } from './deletes.js'

const sum = (es: ManifestEntry[], f: (e: ManifestEntry) => number): number => es.reduce((n, e) => n + f(e), 0)
const rows = (e: ManifestEntry): number => e.data_file.record_count
const size = (e: ManifestEntry): number => e.data_file.file_size_in_bytes

/**
 * The manifest_file record of a manifest written by snapshot `id` at sequence number `seq`; in a partitioned table
 * (`spec` not empty) with the summary of each partition field over the manifest's files.
 */
export function manifestFile(
  path: string,
  length: number,
  content: 0 | 1,
  seq: number,
  id: number,
  entries: ManifestEntry[],
  spec: readonly PartitionField[] = [],
): ManifestFile {
  const added = entries.filter((e) => e.status === 1)
  const existing = entries.filter((e) => e.status === 0)
  const deleted = entries.filter((e) => e.status === 2)
  return {
    manifest_path: path,
    manifest_length: length,
    partition_spec_id: 0,
    content,
    sequence_number: seq,
    min_sequence_number: Math.min(seq, ...entries.map((e) => e.sequence_number ?? seq)),
    added_snapshot_id: id,
    added_files_count: added.length,
    existing_files_count: existing.length,
    deleted_files_count: deleted.length,
    added_rows_count: sum(added, rows),
    existing_rows_count: sum(existing, rows),
    deleted_rows_count: sum(deleted, rows),
    partitions:
      spec.length === 0 ? null : spec.map((f) => fieldSummary(entries.map((e) => e.data_file.partition[f.name]))),
    key_metadata: null,
  }
}

/** The spec's field summary of string partition values: nulls, and the lowest and highest value as UTF-8 bytes. */
function fieldSummary(values: (string | null | undefined)[]): FieldSummary {
  const set = values.filter((v): v is string => typeof v === 'string').sort()
  return {
    contains_null: set.length < values.length,
    contains_nan: null,
    lower_bound: set.length === 0 ? null : Buffer.from(set[0]!, 'utf8'),
    upper_bound: set.length === 0 ? null : Buffer.from(set.at(-1)!, 'utf8'),
  }
}

/** The summary counts of a snapshot: what it added and removed, and the totals of its live files. */
export function snapshotSummary(
  added: ManifestEntry[],
  addedDeletes: ManifestEntry[],
  removed: ManifestEntry[],
  removedDeletes: ManifestEntry[],
  data: ManifestEntry[],
  deletes: ManifestEntry[],
): Record<string, string> {
  const out: Record<string, number> = {
    'added-data-files': added.length,
    'deleted-data-files': removed.length,
    'added-records': sum(added, rows),
    'deleted-records': sum(removed, rows),
    'added-files-size': sum(added, size) + sum(addedDeletes, size),
    'removed-files-size': sum(removed, size) + sum(removedDeletes, size),
    'added-delete-files': addedDeletes.length,
    'added-position-delete-files': addedDeletes.length,
    'added-position-deletes': sum(addedDeletes, rows),
    'removed-delete-files': removedDeletes.length,
    'removed-position-delete-files': removedDeletes.length,
    'removed-position-deletes': sum(removedDeletes, rows),
    'total-records': sum(data, rows),
    'total-data-files': data.length,
    'total-files-size': sum(data, size) + sum(deletes, size),
    'total-delete-files': deletes.length,
    'total-position-deletes': sum(deletes, rows),
    'total-equality-deletes': 0,
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, String(v)]))
}

/**
 * The data_file record of a file a commit adds. A delete file that names one data file (`referenced`) says so as v3
 * does (referenced_data_file) and as v2 readers find it: the file_path column's lower and upper bounds both that path
 * (Java's ContentFileUtil.referencedDataFile, pyiceberg's metrics evaluation of file_path = the data file).
 */
export function dataFile(
  path: string,
  rows: number,
  bytes: number,
  content: 0 | 1,
  referenced: string | undefined,
  partition: Record<string, string | null> = {},
): ManifestEntry['data_file'] {
  return {
    content,
    file_path: path,
    file_format: 'PARQUET',
    partition,
    record_count: rows,
    file_size_in_bytes: bytes,
    ...(content === 1 && referenced !== undefined
      ? {
          lower_bounds: [{ key: FILE_PATH_ID, value: Buffer.from(referenced, 'utf8') }],
          upper_bounds: [{ key: FILE_PATH_ID, value: Buffer.from(referenced, 'utf8') }],
        }
      : { lower_bounds: null, upper_bounds: null }),
    key_metadata: null,
    split_offsets: null,
    equality_ids: null,
    sort_order_id: null,
    referenced_data_file: referenced ?? null,
  }
}

/** A positive snapshot id unused in the table, below 2^53 so that it survives JSON in every reader. */
export function newSnapshotId(meta: TableMetadata | undefined): number {
  for (;;) {
    const id = randomInt(1, 2 ** 47) * 64 + randomInt(0, 64)
    if (!meta?.snapshots.some((s) => s['snapshot-id'] === id)) return id
  }
}
