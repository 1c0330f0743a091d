// An Iceberg format-version 2 table in a file-system catalog (Spark's HadoopCatalog layout):
//   <table>/metadata/vN.metadata.json   the table metadata; the highest N is the current version
//   <table>/metadata/version-hint.text  N, a hint for readers (the listing decides)
//   <table>/metadata/snap-*.avro        manifest lists; <uuid>-m*.avro manifests
//   <table>/data/*.parquet              data files, whose columns carry the Iceberg field ids
// A commit writes data files, manifests and the manifest list first, then the new vN+1.metadata.json (the commit
// point: readers and the next open take the highest version), then the hint. A crash before the metadata file
// leaves only unreferenced files; readers never see them.
import { randomInt, randomUUID } from 'node:crypto'
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import { DataError } from '../errors.js'
import { faultPoint } from '../fault.js'
import { joinKey, type ObjectStore } from '../store/object-store.js'
import { decodeManifest, decodeManifestList, encodeManifest, encodeManifestList, type ManifestEntry, type ManifestFile } from './avro.js'
import { icebergSchema, nameMapping, sameFields, type IcebergSchema } from './schema.js'

export interface Snapshot {
  'snapshot-id': number
  'parent-snapshot-id'?: number
  'sequence-number': number
  'timestamp-ms': number
  'manifest-list': string
  summary: Record<string, string>
  'schema-id': number
}

export interface Ref {
  'snapshot-id': number
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
  'partition-specs': { 'spec-id': number; fields: unknown[] }[]
  'last-partition-id': number
  'default-sort-order-id': number
  'sort-orders': { 'order-id': number; fields: unknown[] }[]
  properties: Record<string, string>
  'current-snapshot-id'?: number
  refs: Record<string, Ref>
  snapshots: Snapshot[]
  'snapshot-log': { 'timestamp-ms': number; 'snapshot-id': number }[]
  'metadata-log': { 'timestamp-ms': number; 'metadata-file': string }[]
}

/** One data file already put, to be added by a commit. */
export interface NewFile {
  key: string
  rows: number
  bytes: number
}

export interface OverwriteCommit {
  /** The table's Arrow schema: its Iceberg schema becomes current (a new schema id when it changed). */
  arrow: A.Schema
  files: NewFile[]
  /** Extra snapshot summary entries (cdc-apply.lpf, cdc-apply.full-load, ...). */
  summary: Record<string, string>
  /** Tags to point at the new snapshot. */
  tags: string[]
}

const VERSION = /^v(\d+)\.metadata\.json$/
/** Partition field ids start at 1000; an unpartitioned table's last partition id is 999 (as Iceberg's Java library). */
const UNPARTITIONED_LAST_ID = 999

export class IcebergTable {
  private live: ManifestEntry[] | undefined

  private constructor(
    readonly store: ObjectStore,
    /** Key prefix of the table in the store (`<Source>/<TableName>`). */
    readonly prefix: string,
    /** The table's location as a URI (file:///… or s3://…): every path in the metadata starts with it. */
    readonly location: string,
    readonly label: string,
    public meta: TableMetadata | undefined,
    public version: number,
  ) {}

  /** Opens the table at the newest metadata version; `meta` is undefined when there is none yet. */
  static async open(store: ObjectStore, prefix: string, location: string, label: string, signal?: AbortSignal): Promise<IcebergTable> {
    let version = 0
    for await (const o of store.list(joinKey(prefix, 'metadata') + '/', { signal })) {
      const m = VERSION.exec(o.key.slice(o.key.lastIndexOf('/') + 1))
      if (m) version = Math.max(version, Number(m[1]))
    }
    let meta: TableMetadata | undefined
    if (version > 0) {
      const key = joinKey(prefix, 'metadata', `v${version}.metadata.json`)
      const text = Buffer.from(await store.get(key, { signal })).toString('utf8')
      try {
        meta = JSON.parse(text) as TableMetadata
      } catch (err) {
        throw new DataError('CDC_ICEBERG_INVALID', `table ${label}: ${store.url}/${key} is not valid JSON: ${(err as Error).message}`, { table: label, file: key, cause: err, hint: 'the metadata file was damaged outside cdc-apply; remove it to fall back to the previous version, or reprocess the table with cdc-apply reset' })
      }
      if (meta['format-version'] !== 2) {
        throw new DataError('CDC_ICEBERG_INVALID', `table ${label}: ${store.url}/${key} has format-version ${String(meta['format-version'])}; expected 2`, { table: label, file: key, hint: 'cdc-apply writes format-version 2 tables; reprocess the table with cdc-apply reset' })
      }
    }
    return new IcebergTable(store, prefix, location.replace(/\/+$/, ''), label, meta, version)
  }

  /** The snapshot a ref (a branch such as main, or a tag) names. */
  snapshot(ref: string): Snapshot | undefined {
    const id = this.meta?.refs[ref]?.['snapshot-id']
    return id === undefined ? undefined : this.meta!.snapshots.find((s) => s['snapshot-id'] === id)
  }

  /** The store key of a path in the metadata. */
  keyOf(path: string): string {
    if (!path.startsWith(this.location + '/')) {
      throw new DataError('CDC_ICEBERG_INVALID', `table ${this.label}: file ${path} is outside the table's location ${this.location}`, { table: this.label, file: path, hint: 'the table was moved or copied; Iceberg metadata holds absolute paths, so reprocess the table where it is now (cdc-apply reset)' })
    }
    return joinKey(this.prefix, path.slice(this.location.length + 1))
  }

  private uri(rel: string): string {
    return `${this.location}/${rel}`
  }

  /** The live data-file entries of a snapshot (status ADDED or EXISTING in its data manifests). */
  async files(snap: Snapshot, signal?: AbortSignal): Promise<ManifestEntry[]> {
    const list = await decodeManifestList(await this.store.get(this.keyOf(snap['manifest-list']), { signal }))
    const out: ManifestEntry[] = []
    for (const m of list) {
      if (m.content !== 0) throw new DataError('CDC_ICEBERG_INVALID', `table ${this.label}: snapshot ${snap['snapshot-id']} has delete files, which this version of cdc-apply does not read`, { table: this.label, file: m.manifest_path, hint: 'the table was written by another engine; reprocess it with cdc-apply reset' })
      const { entries } = await decodeManifest(await this.store.get(this.keyOf(m.manifest_path), { signal }))
      // Inherit the sequence numbers of ADDED entries written as null (spec: "Inherited when null").
      for (const e of entries) if (e.status !== 2) out.push({ ...e, snapshot_id: e.snapshot_id ?? m.added_snapshot_id, sequence_number: e.sequence_number ?? m.sequence_number, file_sequence_number: e.file_sequence_number ?? m.sequence_number })
    }
    return out
  }

  /** The rows of the snapshot a ref names, or undefined when there is no such ref. */
  async read(ref: string, signal?: AbortSignal): Promise<A.Table | undefined> {
    const snap = this.snapshot(ref)
    if (!snap) return undefined
    const batches: A.RecordBatch[] = []
    let schema: A.Schema | undefined
    for (const e of await this.files(snap, signal)) {
      const t = A.tableFromIPC(pw.readParquet(await this.store.get(this.keyOf(e.data_file.file_path), { signal }), { batchSize: 65536 }).intoIPCStream())
      schema ??= t.schema
      batches.push(...t.batches)
    }
    return schema ? new A.Table(schema, batches) : new A.Table()
  }

  /** The Iceberg schema `arrow` gets in this table (ids kept by name), without changing the table. */
  schemaFor(arrow: A.Schema): IcebergSchema {
    const cur = this.meta?.schemas.find((s) => s['schema-id'] === this.meta!['current-schema-id'])
    const known = new Map<string, number>()
    for (const s of this.meta?.schemas ?? []) for (const f of s.fields) known.set(f.name, f.id)
    const next = icebergSchema(arrow, known, this.meta?.['last-column-id'] ?? 0, cur ? cur['schema-id'] : 0, this.label).schema
    if (cur && sameFields(cur, next)) return cur
    const maxId = Math.max(-1, ...(this.meta?.schemas ?? []).map((s) => s['schema-id']))
    return { ...next, 'schema-id': maxId + 1 }
  }

  /** Points tags at the current snapshot (a date without changes ends with the same rows). */
  async tag(tags: string[], signal?: AbortSignal): Promise<void> {
    const id = this.meta?.['current-snapshot-id']
    if (!this.meta || id === undefined) throw new Error(`table ${this.label}: no snapshot to tag`)
    const refs = { ...this.meta.refs }
    for (const t of tags) refs[t] = { 'snapshot-id': id, type: 'tag' }
    await this.writeMetadata({ ...this.meta, refs }, signal)
  }

  /**
   * Commits a snapshot whose rows are exactly the given files (an overwrite): the files of the previous snapshot
   * are recorded as DELETED, the new ones as ADDED; main and the tags point at it.
   */
  async overwrite(c: OverwriteCommit, signal?: AbortSignal): Promise<Snapshot> {
    const prev = this.meta
    const schema = this.schemaFor(c.arrow)
    const parent = prev?.['current-snapshot-id'] !== undefined ? prev.snapshots.find((s) => s['snapshot-id'] === prev['current-snapshot-id']) : undefined
    const old = parent ? (this.live ?? (await this.files(parent, signal))) : []
    const seq = (prev?.['last-sequence-number'] ?? 0) + 1
    const id = newSnapshotId(prev)
    const commitId = randomUUID()
    const manifestMeta = {
      schema: JSON.stringify(schema),
      'schema-id': String(schema['schema-id']),
      'partition-spec': '[]',
      'partition-spec-id': '0',
      'format-version': '2',
      content: 'data',
    }
    const added: ManifestEntry[] = c.files.map((f) => ({
      status: 1,
      snapshot_id: id,
      sequence_number: null,
      file_sequence_number: null,
      data_file: dataFile(this.uri(f.key.slice(this.prefix.length + 1)), f.rows, f.bytes),
    }))
    const deleted: ManifestEntry[] = old.map((e) => ({ ...e, status: 2, snapshot_id: id }))
    const manifests: ManifestFile[] = []
    for (const [i, entries] of [added, deleted].entries()) {
      if (entries.length === 0) continue
      const rel = `metadata/${commitId}-m${i}.avro`
      const body = await encodeManifest(entries, manifestMeta)
      await this.store.put(joinKey(this.prefix, rel), body, { signal })
      const rows = entries.reduce((n, e) => n + e.data_file.record_count, 0)
      manifests.push({
        manifest_path: this.uri(rel),
        manifest_length: body.length,
        partition_spec_id: 0,
        content: 0,
        sequence_number: seq,
        min_sequence_number: i === 0 ? seq : Math.min(...entries.map((e) => e.sequence_number ?? seq)),
        added_snapshot_id: id,
        added_files_count: i === 0 ? entries.length : 0,
        existing_files_count: 0,
        deleted_files_count: i === 1 ? entries.length : 0,
        added_rows_count: i === 0 ? rows : 0,
        existing_rows_count: 0,
        deleted_rows_count: i === 1 ? rows : 0,
        partitions: null,
        key_metadata: null,
      })
    }
    const listRel = `metadata/snap-${id}-1-${commitId}.avro`
    const listMeta: Record<string, string> = { 'snapshot-id': String(id), 'sequence-number': String(seq), 'format-version': '2' }
    if (parent) listMeta['parent-snapshot-id'] = String(parent['snapshot-id'])
    await this.store.put(joinKey(this.prefix, listRel), await encodeManifestList(manifests, listMeta), { signal })
    faultPoint('iceberg-before-metadata')

    const now = Math.max(Date.now(), (prev?.['last-updated-ms'] ?? 0) + 1)
    const sum = (es: ManifestEntry[], f: (e: ManifestEntry) => number): number => es.reduce((n, e) => n + f(e), 0)
    const records = sum(added, (e) => e.data_file.record_count)
    const snap: Snapshot = {
      'snapshot-id': id,
      ...(parent ? { 'parent-snapshot-id': parent['snapshot-id'] } : {}),
      'sequence-number': seq,
      'timestamp-ms': now,
      'manifest-list': this.uri(listRel),
      summary: {
        operation: old.length > 0 ? 'overwrite' : 'append',
        'added-data-files': String(added.length),
        'deleted-data-files': String(deleted.length),
        'added-records': String(records),
        'deleted-records': String(sum(deleted, (e) => e.data_file.record_count)),
        'added-files-size': String(sum(added, (e) => e.data_file.file_size_in_bytes)),
        'removed-files-size': String(sum(deleted, (e) => e.data_file.file_size_in_bytes)),
        'total-records': String(records),
        'total-data-files': String(added.length),
        'total-files-size': String(sum(added, (e) => e.data_file.file_size_in_bytes)),
        'total-delete-files': '0',
        'total-position-deletes': '0',
        'total-equality-deletes': '0',
        ...c.summary,
      },
      'schema-id': schema['schema-id'],
    }
    const base = prev ?? this.initial(now)
    const schemas = base.schemas.some((s) => s['schema-id'] === schema['schema-id']) ? base.schemas : [...base.schemas, schema]
    const refs: Record<string, Ref> = { ...base.refs, main: { 'snapshot-id': id, type: 'branch' } }
    for (const t of c.tags) refs[t] = { 'snapshot-id': id, type: 'tag' }
    const next: TableMetadata = {
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
    await this.writeMetadata(next, signal)
    this.live = added.map((e) => ({ ...e, sequence_number: seq, file_sequence_number: seq }))
    return snap
  }

  private initial(now: number): TableMetadata {
    return {
      'format-version': 2,
      'table-uuid': randomUUID(),
      location: this.location,
      'last-sequence-number': 0,
      'last-updated-ms': now,
      'last-column-id': 0,
      'current-schema-id': 0,
      schemas: [],
      'default-spec-id': 0,
      'partition-specs': [{ 'spec-id': 0, fields: [] }],
      'last-partition-id': UNPARTITIONED_LAST_ID,
      'default-sort-order-id': 0,
      'sort-orders': [{ 'order-id': 0, fields: [] }],
      properties: { 'write.format.default': 'parquet', 'cdc-apply.writer': 'cdc-apply' },
      refs: {},
      snapshots: [],
      'snapshot-log': [],
      'metadata-log': [],
    }
  }

  /** Writes v(N+1).metadata.json (the commit point), then the version hint. */
  private async writeMetadata(next: TableMetadata, signal?: AbortSignal): Promise<void> {
    const version = this.version + 1
    const log = this.meta ? [...next['metadata-log'], { 'timestamp-ms': this.meta['last-updated-ms'], 'metadata-file': this.uri(`metadata/v${this.version}.metadata.json`) }] : next['metadata-log']
    const meta = { ...next, 'last-updated-ms': Math.max(next['last-updated-ms'], Date.now()), 'metadata-log': log }
    await this.store.put(joinKey(this.prefix, 'metadata', `v${version}.metadata.json`), Buffer.from(JSON.stringify(meta, null, 1)), { signal })
    this.meta = meta
    this.version = version
    faultPoint('iceberg-after-metadata')
    await this.store.put(joinKey(this.prefix, 'metadata', 'version-hint.text'), Buffer.from(String(version)), { signal })
  }
}

function dataFile(path: string, rows: number, bytes: number): ManifestEntry['data_file'] {
  return { content: 0, file_path: path, file_format: 'PARQUET', partition: {}, record_count: rows, file_size_in_bytes: bytes, key_metadata: null, split_offsets: null, equality_ids: null, sort_order_id: null, referenced_data_file: null }
}

/** A positive snapshot id unused in the table, below 2^53 so that it survives JSON in every reader. */
function newSnapshotId(meta: TableMetadata | undefined): number {
  for (;;) {
    const id = randomInt(1, 2 ** 47) * 64 + randomInt(0, 64)
    if (!meta?.snapshots.some((s) => s['snapshot-id'] === id)) return id
  }
}
