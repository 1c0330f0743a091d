// The Avro files of an Iceberg v2 table: manifest lists (manifest_file records) and manifests (manifest_entry
// records), with the field ids of the Iceberg spec on every field (readers resolve fields by id, not by name).
import avro from 'avsc'

const opt = (type: unknown): unknown[] => ['null', type]

/** The manifest list's record (spec: "Manifest Lists", v2 fields). */
const MANIFEST_FILE = {
  type: 'record',
  name: 'manifest_file',
  fields: [
    { name: 'manifest_path', type: 'string', 'field-id': 500 },
    { name: 'manifest_length', type: 'long', 'field-id': 501 },
    { name: 'partition_spec_id', type: 'int', 'field-id': 502 },
    { name: 'content', type: 'int', 'field-id': 517 },
    { name: 'sequence_number', type: 'long', 'field-id': 515 },
    { name: 'min_sequence_number', type: 'long', 'field-id': 516 },
    { name: 'added_snapshot_id', type: 'long', 'field-id': 503 },
    { name: 'added_files_count', type: 'int', 'field-id': 504 },
    { name: 'existing_files_count', type: 'int', 'field-id': 505 },
    { name: 'deleted_files_count', type: 'int', 'field-id': 506 },
    { name: 'added_rows_count', type: 'long', 'field-id': 512 },
    { name: 'existing_rows_count', type: 'long', 'field-id': 513 },
    { name: 'deleted_rows_count', type: 'long', 'field-id': 514 },
    {
      name: 'partitions',
      type: opt({
        type: 'array',
        'element-id': 508,
        items: {
          type: 'record',
          name: 'r508',
          fields: [
            { name: 'contains_null', type: 'boolean', 'field-id': 509 },
            { name: 'contains_nan', type: opt('boolean'), default: null, 'field-id': 518 },
            { name: 'lower_bound', type: opt('bytes'), default: null, 'field-id': 510 },
            { name: 'upper_bound', type: opt('bytes'), default: null, 'field-id': 511 },
          ],
        },
      }),
      default: null,
      'field-id': 507,
    },
    { name: 'key_metadata', type: opt('bytes'), default: null, 'field-id': 519 },
  ],
}

/** An identity partition field of a spec (spec: "Partition Specs"); field ids start at 1000. */
export interface PartitionField {
  name: string
  transform: 'identity'
  'source-id': number
  'field-id': number
}

/** A map<int, binary> of column bounds as Iceberg writes it in Avro: an array of key/value records. */
const bounds = (keyId: number, valueId: number): object => ({
  type: 'array',
  logicalType: 'map',
  items: {
    type: 'record',
    name: `k${keyId}_v${valueId}`,
    fields: [
      { name: 'key', type: 'int', 'field-id': keyId },
      { name: 'value', type: 'bytes', 'field-id': valueId },
    ],
  },
})

/**
 * The manifest's record (spec: "Manifests", v2 manifest_entry and data_file). The partition struct has one optional
 * field per partition field of the spec, with its field id (an unpartitioned table: an empty struct); cdc-apply's
 * partition sources are strings.
 */
const manifestEntry = (spec: readonly PartitionField[]): object => ({
  type: 'record',
  name: 'manifest_entry',
  fields: [
    { name: 'status', type: 'int', 'field-id': 0 },
    { name: 'snapshot_id', type: opt('long'), default: null, 'field-id': 1 },
    { name: 'sequence_number', type: opt('long'), default: null, 'field-id': 3 },
    { name: 'file_sequence_number', type: opt('long'), default: null, 'field-id': 4 },
    {
      name: 'data_file',
      'field-id': 2,
      type: {
        type: 'record',
        name: 'r2',
        fields: [
          { name: 'content', type: 'int', 'field-id': 134 },
          { name: 'file_path', type: 'string', 'field-id': 100 },
          { name: 'file_format', type: 'string', 'field-id': 101 },
          {
            name: 'partition',
            type: {
              type: 'record',
              name: 'r102',
              fields: spec.map((f) => ({
                name: f.name,
                type: opt('string'),
                default: null,
                'field-id': f['field-id'],
              })),
            },
            'field-id': 102,
          },
          { name: 'record_count', type: 'long', 'field-id': 103 },
          { name: 'file_size_in_bytes', type: 'long', 'field-id': 104 },
          { name: 'lower_bounds', type: opt(bounds(126, 127)), default: null, 'field-id': 125 },
          { name: 'upper_bounds', type: opt(bounds(129, 130)), default: null, 'field-id': 128 },
          { name: 'key_metadata', type: opt('bytes'), default: null, 'field-id': 131 },
          {
            name: 'split_offsets',
            type: opt({ type: 'array', items: 'long', 'element-id': 133 }),
            default: null,
            'field-id': 132,
          },
          {
            name: 'equality_ids',
            type: opt({ type: 'array', items: 'int', 'element-id': 136 }),
            default: null,
            'field-id': 135,
          },
          { name: 'sort_order_id', type: opt('int'), default: null, 'field-id': 140 },
          { name: 'referenced_data_file', type: opt('string'), default: null, 'field-id': 143 },
        ],
      },
    },
  ],
})

/** 0 data, 1 position deletes, 2 equality deletes. */
export type FileContent = 0 | 1 | 2

export interface DataFile {
  content: FileContent
  file_path: string
  file_format: 'PARQUET'
  /** The file's partition values by partition field name (`{}` in an unpartitioned table). */
  partition: Record<string, string | null>
  record_count: number
  file_size_in_bytes: number
  /** Lower and upper bounds by field id (a position-delete file: of file_path, 2147483546, for the file it names). */
  lower_bounds?: ColumnBound[] | null
  upper_bounds?: ColumnBound[] | null
  key_metadata: null
  split_offsets: null
  equality_ids: null
  sort_order_id: number | null
  referenced_data_file: string | null
}

/** One entry of a bounds map: a field id and the bound's single-value serialization (a string's UTF-8 bytes). */
export interface ColumnBound {
  key: number
  value: Buffer
}

/** 0 existing, 1 added, 2 deleted. */
export interface ManifestEntry {
  status: 0 | 1 | 2
  snapshot_id: number | bigint | null
  sequence_number: number | null
  file_sequence_number: number | null
  data_file: DataFile
}

export interface ManifestFile {
  manifest_path: string
  manifest_length: number
  partition_spec_id: number
  /** 0 data, 1 deletes. */
  content: 0 | 1
  sequence_number: number
  min_sequence_number: number
  added_snapshot_id: number | bigint
  added_files_count: number
  existing_files_count: number
  deleted_files_count: number
  added_rows_count: number
  existing_rows_count: number
  deleted_rows_count: number
  /** One summary per partition field (null in an unpartitioned table). */
  partitions: FieldSummary[] | null
  key_metadata: null
}

/** The manifest list's summary of one partition field over a manifest's files (bounds: the values' UTF-8 bytes). */
export interface FieldSummary {
  contains_null: boolean
  contains_nan: boolean | null
  lower_bound: Buffer | null
  upper_bound: Buffer | null
}

/** An Avro object container file (null codec) holding `records`, with `meta` in its header. */
function container(schema: object, records: unknown[], meta: Record<string, string>): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const metadata: Record<string, Buffer> = {}
    for (const [k, v] of Object.entries(meta)) metadata[k] = Buffer.from(v)
    // Given the schema itself (not a Type), avsc writes it to the header as is, with the field ids.
    // `metadata` is an encoder option of avsc 5.7 that its type declarations omit.
    const enc = new avro.streams.BlockEncoder(typeOf(schema), { codec: 'null', metadata } as { codec: string })
    // The header gets the schema object itself (with the field ids), as when the schema is given instead of a Type
    // (containers.js writes `_schema` when set); the Type is only for the values.
    ;(enc as unknown as { _schema: object })._schema = schema
    const chunks: Buffer[] = []
    enc.on('data', (c: Buffer) => chunks.push(c))
    enc.on('error', reject)
    enc.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))))
    for (const r of records) enc.write(r)
    enc.end()
  })
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER)
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/**
 * A 64-bit integer as the Iceberg code holds it: a number where one holds it exactly, else a bigint. Java's Iceberg
 * (the Spark job) makes random 63-bit snapshot ids; one form per value keeps `===`, Set and Map right across
 * metadata JSON (metadata.ts) and Avro.
 */
function canonicalLong(v: bigint): number | bigint {
  return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v
}

/** Avro's long in that form (avsc's own refuses values beyond 2^53: "potential precision loss"). */
const LONG = (avro.types.LongType as unknown as { __with(m: object): avro.Type }).__with({
  fromBuffer: (b: Buffer) => canonicalLong(b.readBigInt64LE()),
  toBuffer: (n: number | bigint) => {
    const b = Buffer.alloc(8)
    b.writeBigInt64LE(BigInt(n))
    return b
  },
  fromJSON: (v: number | string) => canonicalLong(BigInt(v)),
  toJSON: (n: number | bigint) => (typeof n === 'bigint' ? n.toString() : n),
  isValid: (n: unknown) => typeof n === 'bigint' || Number.isSafeInteger(n),
  compare: (a: number | bigint, b: number | bigint) => (a === b ? 0 : a < b ? -1 : 1),
})

function typeOf(schema: object): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { registry: { long: LONG } })
}

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T: the record type the caller's Avro schema decodes to
function decode<T>(bytes: Uint8Array): Promise<{ records: T[]; meta: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const dec = new avro.streams.BlockDecoder({ parseHook: (schema: object) => typeOf(schema) } as object)
    const records: T[] = []
    let meta: Record<string, string> = {}
    dec.on('metadata', (_type: unknown, _codec: unknown, header: { meta: Record<string, Buffer> }) => {
      meta = Object.fromEntries(Object.entries(header.meta).map(([k, v]) => [k, v.toString()]))
    })
    dec.on('data', (r: T) => records.push(r))
    dec.on('error', reject)
    dec.on('end', () => resolve({ records, meta }))
    dec.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
  })
}

export function encodeManifestList(files: ManifestFile[], meta: Record<string, string>): Promise<Uint8Array> {
  return container(MANIFEST_FILE, files, meta)
}

export function encodeManifest(
  entries: ManifestEntry[],
  meta: Record<string, string>,
  spec: readonly PartitionField[] = [],
): Promise<Uint8Array> {
  return container(manifestEntry(spec), entries, meta)
}

export async function decodeManifestList(bytes: Uint8Array): Promise<ManifestFile[]> {
  return (await decode<ManifestFile>(bytes)).records
}

export async function decodeManifest(
  bytes: Uint8Array,
): Promise<{ entries: ManifestEntry[]; meta: Record<string, string> }> {
  const r = await decode<ManifestEntry>(bytes)
  return { entries: r.records, meta: r.meta }
}
