// An Iceberg format-version 2 table in a file-system catalog (Spark's HadoopCatalog layout):
//   <table>/metadata/vN.metadata.json   the table metadata; the highest N is the current version
//   <table>/metadata/version-hint.text  N, a hint for readers (the listing decides)
//   <table>/metadata/snap-*.avro        manifest lists; <uuid>-m*.avro manifests
//   <table>/data/*.parquet              data files, whose columns carry the Iceberg field ids
// A commit writes data files, manifests and the manifest list first, then the new vN+1.metadata.json (the commit
// point: readers and the next open take the highest version), then the hint. A crash before the metadata file
// leaves only unreferenced files; readers never see them.
// Curated tables are unpartitioned; a RAW table (raw-iceberg.ts) has one identity partition field on a string
// column, whose value each data file's manifest entry carries.
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import { DataError } from '../errors.js'
import { faultPoint } from '../fault.js'
import { joinKey, type ObjectStore } from '../store/object-store.js'
import { decodeManifest, decodeManifestList, type PartitionField } from './avro.js'
import { buildCommit } from './commit.js'
import { readDeletes, withoutPositions } from './deletes.js'
import { unionTable } from '../arrow/gather.js'
import { icebergSchema, sameFields, type IcebergSchema } from './schema.js'

export type { Commit, LiveFiles, NewFile, Ref, Snapshot, TableMetadata } from './metadata.js'
import { parseMetadata, stringifyMetadata } from './metadata.js'
import type { Commit, LiveFiles, Snapshot, SnapshotId, TableMetadata } from './metadata.js'

const VERSION = /^v(\d+)\.metadata\.json$/
/** The field id of a new table's first partition field. */
const FIRST_PARTITION_ID = 1000
/** Previous metadata files kept (and listed in the metadata-log) when the table is opened without a number. */
export const DEFAULT_KEEP_VERSIONS = 100

/** Files left unreferenced are deleted only once this old when the table is opened without an age (1 hour). */
export const DEFAULT_ORPHAN_MIN_AGE_MS = 3_600_000

/** The table's upkeep settings (config `iceberg`), for the commits and the expiry of this instance. */
export interface OpenOptions {
  signal?: AbortSignal
  /** Previous `vN.metadata.json` files kept; older ones are deleted after a commit. */
  keepVersions?: number
  /** Unreferenced files younger than this are never deleted (they may be a commit still being written). */
  orphanMinAgeMs?: number
  /** A new table is partitioned by this (string) column, identity transform; an existing table keeps its spec. */
  partitionBy?: string
}

export class IcebergTable {
  /** The live files of the current snapshot, once read or committed. */
  private live: { id: SnapshotId; files: LiveFiles } | undefined

  private constructor(
    readonly store: ObjectStore,
    /** Key prefix of the table in the store (`<Source>/<TableName>`). */
    readonly prefix: string,
    /** The table's location as a URI (file:///… or s3://…): every path in the metadata starts with it. */
    readonly location: string,
    readonly label: string,
    public meta: TableMetadata | undefined,
    public version: number,
    /** Iceberg's write.metadata.previous-versions-max: the metadata-log's length and the older versions kept. */
    readonly keepVersions: number,
    readonly orphanMinAgeMs: number,
    readonly partitionBy: string | undefined,
  ) {}

  /** Opens the table at the newest metadata version; `meta` is undefined when there is none yet. */
  static async open(
    store: ObjectStore,
    prefix: string,
    location: string,
    label: string,
    opts: OpenOptions = {},
  ): Promise<IcebergTable> {
    const {
      signal,
      keepVersions = DEFAULT_KEEP_VERSIONS,
      orphanMinAgeMs = DEFAULT_ORPHAN_MIN_AGE_MS,
      partitionBy,
    } = opts
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
        meta = parseMetadata(text)
      } catch (err) {
        throw new DataError(
          'CDC_ICEBERG_INVALID',
          `table ${label}: ${store.url}/${key} is not valid JSON: ${(err as Error).message}`,
          {
            table: label,
            file: key,
            cause: err,
            hint: 'the metadata file was damaged outside cdc-apply; remove it to fall back to the previous version, or reprocess the table with cdc-apply reset',
          },
        )
      }
      if (meta['format-version'] !== 2) {
        throw new DataError(
          'CDC_ICEBERG_INVALID',
          `table ${label}: ${store.url}/${key} has format-version ${String(meta['format-version'])}; expected 2`,
          {
            table: label,
            file: key,
            hint: 'cdc-apply writes format-version 2 tables; reprocess the table with cdc-apply reset',
          },
        )
      }
    }
    return new IcebergTable(
      store,
      prefix,
      location.replace(/\/+$/, ''),
      label,
      meta,
      version,
      keepVersions,
      orphanMinAgeMs,
      partitionBy,
    )
  }

  /** The partition fields of the table's default spec; for a new table, those `partitionBy` asks for in `schema`. */
  spec(schema?: IcebergSchema): PartitionField[] {
    if (this.meta) {
      const id = this.meta['default-spec-id']
      return this.meta['partition-specs'].find((p) => p['spec-id'] === id)?.fields ?? []
    }
    if (this.partitionBy === undefined) return []
    const source = schema?.fields.find((f) => f.name === this.partitionBy)
    if (!source) throw new Error(`table ${this.label}: no column ${this.partitionBy} to partition by`)
    return [{ name: this.partitionBy, transform: 'identity', 'source-id': source.id, 'field-id': FIRST_PARTITION_ID }]
  }

  /** The snapshot a ref (a branch such as main, or a tag) names. */
  snapshot(ref: string): Snapshot | undefined {
    const id = this.meta?.refs[ref]?.['snapshot-id']
    return id === undefined ? undefined : this.meta!.snapshots.find((s) => s['snapshot-id'] === id)
  }

  /** The store key of a path in the metadata. */
  keyOf(written: string): string {
    const path = canonicalUri(written)
    const location = canonicalUri(this.location)
    if (!path.startsWith(location + '/')) {
      throw new DataError(
        'CDC_ICEBERG_INVALID',
        `table ${this.label}: file ${path} is outside the table's location ${this.location}`,
        {
          table: this.label,
          file: path,
          hint: 'the table was moved or copied; Iceberg metadata holds absolute paths, so reprocess the table where it is now (cdc-apply reset)',
        },
      )
    }
    return joinKey(this.prefix, path.slice(location.length + 1))
  }

  /** The URI the metadata names a store key by. */
  uriOf(key: string): string {
    return this.uri(key.slice(this.prefix.length + 1))
  }

  private uri(rel: string): string {
    return `${this.location}/${rel}`
  }

  /** The live data and delete files of a snapshot (status ADDED or EXISTING in its manifests) and its manifest list. */
  async files(snap: Snapshot, signal?: AbortSignal): Promise<LiveFiles> {
    if (this.live?.id === snap['snapshot-id']) return this.live.files
    const manifests = await decodeManifestList(await this.store.get(this.keyOf(snap['manifest-list']), { signal }))
    const out: LiveFiles = { data: [], deletes: [], manifests, manifestOf: new Map() }
    for (const m of manifests) {
      const { entries } = await decodeManifest(await this.store.get(this.keyOf(m.manifest_path), { signal }))
      // Inherit the sequence numbers of ADDED entries written as null (spec: "Inherited when null").
      for (const e of entries) {
        if (e.status === 2) continue
        if (e.data_file.content === 2)
          throw new DataError(
            'CDC_ICEBERG_INVALID',
            `table ${this.label}: snapshot ${snap['snapshot-id']} has equality-delete files, which cdc-apply does not read`,
            {
              table: this.label,
              file: m.manifest_path,
              hint: 'the table was written by another engine; reprocess it with cdc-apply reset',
            },
          )
        const live = {
          ...e,
          snapshot_id: e.snapshot_id ?? m.added_snapshot_id,
          sequence_number: e.sequence_number ?? m.sequence_number,
          file_sequence_number: e.file_sequence_number ?? m.sequence_number,
        }
        ;(e.data_file.content === 0 ? out.data : out.deletes).push(live)
        out.manifestOf.set(e.data_file.file_path, m.manifest_path)
      }
    }
    return out
  }

  /** The positions deleted in each data file of a snapshot (deletes apply to data files of the same or a lower sequence number). */
  async deletedPositions(files: LiveFiles, signal?: AbortSignal): Promise<Map<string, Set<number>>> {
    const out = new Map<string, Set<number>>()
    if (files.deletes.length === 0) return out
    const seqOf = new Map(files.data.map((e) => [e.data_file.file_path, e.sequence_number!]))
    for (const d of files.deletes) {
      const got = new Map<string, Set<number>>()
      readDeletes(await this.store.get(this.keyOf(d.data_file.file_path), { signal }), got)
      for (const [path, ps] of got) {
        const seq = seqOf.get(path)
        if (seq === undefined || seq > d.sequence_number!) continue
        const s = out.get(path)
        if (!s) out.set(path, ps)
        else for (const p of ps) s.add(p)
      }
    }
    return out
  }

  /**
   * The rows of the snapshot a ref names (position deletes applied), or undefined when there is no such ref.
   * `onFile` sees each data file's rows before the deletes are applied, with the deleted positions.
   */
  async read(
    ref: string,
    signal?: AbortSignal,
    onFile?: (path: string, rows: A.Table, deleted: ReadonlySet<number> | undefined) => void,
  ): Promise<A.Table | undefined> {
    const snap = this.snapshot(ref)
    if (!snap) return undefined
    const files = await this.files(snap, signal)
    const deleted = await this.deletedPositions(files, signal)
    const parts: A.Table[] = []
    for (const e of files.data) {
      const all = A.tableFromIPC(
        pw
          .readParquet(await this.store.get(this.keyOf(e.data_file.file_path), { signal }), { batchSize: 65536 })
          .intoIPCStream(),
      )
      onFile?.(e.data_file.file_path, all, deleted.get(e.data_file.file_path))
      parts.push(withoutPositions(all, deleted.get(e.data_file.file_path)))
    }
    // files written before a column was added lack it (an added column is a merge-on-read commit): NULL there
    return parts.length > 0 ? unionTable(parts) : new A.Table()
  }

  /** The Iceberg schema `arrow` gets in this table (ids kept by name), without changing the table. */
  schemaFor(arrow: A.Schema): IcebergSchema {
    const cur = this.meta?.schemas.find((s) => s['schema-id'] === this.meta!['current-schema-id'])
    const known = new Map<string, number>()
    for (const s of this.meta?.schemas ?? []) for (const f of s.fields) known.set(f.name, f.id)
    const next = icebergSchema(
      arrow,
      known,
      this.meta?.['last-column-id'] ?? 0,
      cur ? cur['schema-id'] : 0,
      this.label,
    ).schema
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

  /** The current snapshot, if any. */
  current(): Snapshot | undefined {
    const id = this.meta?.['current-snapshot-id']
    return id === undefined ? undefined : this.meta!.snapshots.find((s) => s['snapshot-id'] === id)
  }

  /**
   * Commits one snapshot (see Commit.mode; commit.ts builds it): its manifests and manifest list, then the metadata
   * file (the commit point). Main and the tags point at it.
   */
  async commit(c: Commit, signal?: AbortSignal): Promise<Snapshot> {
    const built = await buildCommit(this, c, signal)
    this.live = undefined
    await this.writeMetadata(built.meta, signal)
    this.live = { id: built.snapshot['snapshot-id'], files: built.live }
    return built.snapshot
  }

  /** Commits new metadata as it is (snapshot expiry): v(N+1).metadata.json, then the hint. */
  async replaceMetadata(next: TableMetadata, signal?: AbortSignal): Promise<void> {
    // the live files stay cached: they are keyed by snapshot id, and expiry keeps the current snapshot
    await this.writeMetadata(next, signal)
  }

  /**
   * Writes v(N+1).metadata.json (the commit point), then the version hint, then deletes the metadata files that left
   * the metadata-log (it keeps the newest keepVersions previous versions, as write.metadata.previous-versions-max
   * with write.metadata.delete-after-commit.enabled, both recorded in the table properties). A crash before those
   * deletes leaves files that no log names: removeOrphans deletes them.
   */
  private async writeMetadata(next: TableMetadata, signal?: AbortSignal): Promise<void> {
    const version = this.version + 1
    const all = this.meta
      ? [
          ...next['metadata-log'],
          {
            'timestamp-ms': this.meta['last-updated-ms'],
            'metadata-file': this.uri(`metadata/v${this.version}.metadata.json`),
          },
        ]
      : next['metadata-log']
    const cut = Math.max(0, all.length - this.keepVersions)
    const properties = {
      ...next.properties,
      'write.metadata.previous-versions-max': String(this.keepVersions),
      'write.metadata.delete-after-commit.enabled': 'true',
    }
    const meta = {
      ...next,
      properties,
      'last-updated-ms': Math.max(next['last-updated-ms'], Date.now()),
      'metadata-log': all.slice(cut),
    }
    await this.store.put(
      joinKey(this.prefix, 'metadata', `v${version}.metadata.json`),
      Buffer.from(stringifyMetadata(meta)),
      { signal },
    )
    this.meta = meta
    this.version = version
    faultPoint('iceberg-after-metadata')
    await this.store.put(joinKey(this.prefix, 'metadata', 'version-hint.text'), Buffer.from(String(version)), {
      signal,
    })
    const dropped = all.slice(0, cut).map((e) => e['metadata-file'])
    if (dropped.length > 0) {
      await this.store.delete(
        dropped.map((f) => this.keyOf(f)),
        { signal },
      )
    }
  }
}

/**
 * A URI in one form per scheme, for comparing paths written by other engines: Hadoop's `file:/x` is `file:///x`,
 * `s3a://` and `s3n://` (the Hadoop connectors' schemes, as the Spark job may write) are `s3://`.
 */
function canonicalUri(uri: string): string {
  if (/^file:\/[^/]/.test(uri)) return `file:///${uri.slice('file:/'.length)}`
  return uri.replace(/^s3[an]:\/\//, 's3://')
}
