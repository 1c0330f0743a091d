// The config file's keys as data: which keys each object allows, what each holds and whether it is required.
// src/config.ts validates with these tables (the allowed keys and the enumerations) and src/config-schema.ts turns
// them into cdc-apply.schema.json, so the JSON Schema editors use cannot drift from what the parser accepts.
// Checks that need more than a value's shape (column names that must exist, ascending file names, unique tables)
// stay in config.ts; the schema describes shapes only.

export type Kind =
  | { t: 'string'; pattern?: string; doc?: string }
  | { t: 'boolean' }
  | { t: 'integer' }
  | { t: 'number'; zero?: boolean }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'object'; keys: Keys }
  | { t: 'map'; values: Kind }
  | { t: 'array'; items: Kind; minItems?: number }

export interface Key {
  kind: Kind
  required?: boolean
  doc: string
}

export type Keys = Readonly<Record<string, Key>>

export const FORMATS = ['csv', 'parquet'] as const
export const COMPRESSIONS = ['snappy', 'zstd', 'gzip', 'none'] as const
export const ON_BAD_ROW = ['fail', 'quarantine'] as const
export const LATE_FILES = ['fail', 'reprocess'] as const
export const ON_RELOAD = ['fail', 'reset'] as const
export const CHECKSUMS = ['WHEN_SUPPORTED', 'WHEN_REQUIRED'] as const
export const SSE_MODES = ['SSE-S3', 'SSE-KMS'] as const
export const MISSING_FOLDER = ['fail', 'ignore'] as const

const str: Kind = { t: 'string' }
const name: Kind = {
  t: 'string',
  pattern: '^[A-Za-z0-9_][A-Za-z0-9_.$-]*$',
  doc: 'letters, digits, _ . $ -; no "/", no ".."',
}
const location: Kind = {
  t: 'string',
  pattern: '^(?!s3://)|^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$',
  doc: 'a folder path, or s3://<bucket>[/<prefix>]',
}
const posInt: Kind = { t: 'integer' }
const posNum: Kind = { t: 'number' }
const bool: Kind = { t: 'boolean' }
const enumOf = (values: readonly string[]): Kind => ({ t: 'enum', values })
/** Column types: case and surrounding spaces are ignored, so the pattern is case-insensitive. */
export const COLUMN_TYPE_PATTERN = '^\\s*(string|integer|double|boolean|date|timestamp|decimal\\(\\d+,\\s*\\d+\\))\\s*$'

export const COLUMN_KEYS: Keys = {
  name: {
    kind: str,
    required: true,
    doc: "The column's name in the outputs (and in the CSV header when header is true).",
  },
  type: {
    kind: { t: 'string', pattern: COLUMN_TYPE_PATTERN },
    doc: 'string (default), integer, double, boolean, date, timestamp or decimal(p,s).',
  },
}
const columns: Kind = { t: 'array', items: { t: 'object', keys: COLUMN_KEYS } }

export const COLUMNS_FROM_KEYS: Keys = {
  file: {
    kind: { t: 'string', pattern: '^\\d{8}-\\d{9}$' },
    required: true,
    doc: 'The first change file (YYYYMMDD-HHmmssSSS) that has this layout.',
  },
  columns: { kind: columns, required: true, doc: "The file's columns from then on, in file order, without Op." },
}

export const TABLE_KEYS: Keys = {
  source: { kind: name, doc: "The design's Source (ops_table.Source); default: the top-level source." },
  name: { kind: name, required: true, doc: "The design's TableName (ops_table.TableName)." },
  path: { kind: str, required: true, doc: "The table's folder under landing: <schema>/<table>." },
  format: { kind: enumOf(FORMATS), doc: 'DMS DataFormat (default csv).' },
  header: { kind: bool, doc: 'CSV files start with a header row (DMS AddColumnName=true); default false.' },
  includeOpForFullLoad: {
    kind: bool,
    doc: 'Full-load files carry the Op column (DMS IncludeOpForFullLoad=true); default false.',
  },
  opColumn: { kind: str, doc: 'Name of the operation column (default Op).' },
  columns: { kind: columns, doc: 'The columns of the DMS files in file order, without Op. Required for CSV tables.' },
  primaryKey: { kind: { t: 'array', items: str, minItems: 1 }, required: true, doc: "The source table's primary key." },
  timestampColumn: { kind: str, doc: 'The DMS TimestampColumnName column: the first key of the ordering chain.' },
  sequenceColumn: { kind: str, doc: 'A $AR_H_CHANGE_SEQ add-column column: the second key of the ordering chain.' },
  columnsFrom: {
    kind: { t: 'array', items: { t: 'object', keys: COLUMNS_FROM_KEYS } },
    doc: 'Header-less CSV: the layouts that take over from a given change file on.',
  },
  beforeImageColumns: {
    kind: { t: 'map', values: str },
    doc: 'Primary-key column → its before-image column (add-before-image-columns).',
  },
  onBadRow: { kind: enumOf(ON_BAD_ROW), doc: 'A row that breaks a row-level rule: fail (default) or quarantine.' },
  lateFiles: {
    kind: enumOf(LATE_FILES),
    doc: 'A change file at or before the LPF that was not processed: fail (default) or reprocess.',
  },
  onReload: {
    kind: enumOf(ON_RELOAD),
    doc: 'A new or rewritten full load (a DMS table reload): fail (default) or reset.',
  },
  missingFolder: {
    kind: enumOf(MISSING_FOLDER),
    doc: 'The table folder is missing from the landing: fail (default) or ignore.',
  },
  tableFormat: {
    kind: enumOf(['parquet', 'iceberg']),
    doc: 'Layout of curated for this table; default: the top-level tableFormat.',
  },
}

export const S3_KEYS: Keys = {
  region: { kind: str, doc: 'AWS region (default AWS_REGION, else us-east-1).' },
  endpoint: { kind: str, doc: 'A custom endpoint (MinIO, other S3-compatible stores).' },
  forcePathStyle: { kind: bool, doc: 'Path-style URLs (default true when endpoint is set).' },
  requestChecksumCalculation: {
    kind: enumOf(CHECKSUMS),
    doc: 'WHEN_REQUIRED for stores that reject the SDK default checksums.',
  },
  maxAttempts: { kind: posInt, doc: 'Attempts per request including the first (default 5).' },
}

export const ENCRYPTION_KEYS: Keys = {
  mode: { kind: enumOf(SSE_MODES), required: true, doc: 'SSE-S3 or SSE-KMS.' },
  kmsKeyId: { kind: str, doc: 'The KMS key for SSE-KMS.' },
}

export const ENCRYPTION_BLOCK_KEYS: Keys = {
  raw: { kind: { t: 'object', keys: ENCRYPTION_KEYS }, doc: 'Encryption of RAW objects.' },
  curated: { kind: { t: 'object', keys: ENCRYPTION_KEYS }, doc: 'Encryption of curated objects.' },
}

export const PARQUET_KEYS: Keys = {
  compression: { kind: enumOf(COMPRESSIONS), doc: 'Output compression (default snappy).' },
  rowsPerFile: { kind: posInt, doc: 'Rows per output file (default 1000000).' },
  rowGroupSize: { kind: posInt, doc: 'Rows per row group (default 122880).' },
}

export const ICEBERG_KEYS: Keys = {
  compactDeleteShare: {
    kind: posNum,
    doc: 'Compact a table when this share of its data-file rows is deleted (default 0.25).',
  },
  compactDataFiles: { kind: posInt, doc: 'Compact a table when it has more data files than this (default 100).' },
  keepSnapshots: {
    kind: posInt,
    doc: 'Snapshots kept besides those a tag or main names; older ones expire (default 10).',
  },
  keepMetadataVersions: {
    kind: posInt,
    doc: 'Previous vN.metadata.json files kept; older ones are deleted after a commit (default 100).',
  },
  orphanMinAgeSeconds: {
    kind: { t: 'number', zero: true },
    doc: 'Unreferenced files (left by a crash) are deleted once this many seconds old (default 3600).',
  },
  raw: {
    kind: bool,
    doc: 'RAW of a tableFormat "iceberg" table is an Iceberg table too, partitioned by date (default true; false keeps RAW date folders).',
  },
}

export const CONCURRENCY_KEYS: Keys = {
  tables: { kind: posInt, doc: 'Tables processed at once (default 2).' },
  prefetch: { kind: posInt, doc: 'Objects fetched ahead per table (default 4).' },
}

export const LIMITS_KEYS: Keys = {
  maxRecordBytes: { kind: posInt, doc: 'Largest CSV record accepted, in bytes (default 64 MiB).' },
  maxObjectBytes: { kind: posInt, doc: 'Largest landing object accepted, in bytes (default 4 GiB).' },
}

export const PIPELINE_KEYS: Keys = {
  file: { kind: str, required: true, doc: 'The pipeline JSON file (relative to the config file).' },
  after: {
    kind: { t: 'array', items: str, minItems: 1 },
    required: true,
    doc: 'Tables (Source.TableName) whose progress triggers the pipeline.',
  },
  params: { kind: { t: 'map', values: str }, doc: "Values for the pipeline's parameters." },
}

export const CATALOG_KEYS: Keys = {
  type: { kind: enumOf(['glue']), required: true, doc: 'The catalog: glue (docs/catalog.md).' },
  database: {
    kind: { t: 'string', pattern: '^[a-z0-9_]+$', doc: 'lower case letters, digits and _' },
    required: true,
    doc: 'The Glue database the tables go in (it must exist).',
  },
  region: { kind: str, doc: "Region of the Glue catalog; default: the s3 region, else the SDK's." },
  tablePrefix: {
    kind: { t: 'string', pattern: '^[a-z0-9_]*$', doc: 'lower case letters, digits and _' },
    doc: 'Put in front of every Glue table name.',
  },
  endpoint: {
    kind: { t: 'string', pattern: '^https?://[^/]+', doc: 'an http:// or https:// URL' },
    doc: 'Another Glue endpoint (tests: a local emulator).',
  },
  maxAttempts: { kind: posInt, doc: 'Attempts per Glue request, the first one included (default 3).' },
}

export const ROOT_KEYS: Keys = {
  $schema: { kind: { t: 'string' }, doc: 'A JSON Schema for editors; ignored by cdc-apply.' },
  source: { kind: name, doc: "The default Source of every table (the design's Source, e.g. OP)." },
  landing: { kind: location, required: true, doc: "Where DMS writes: the S3 endpoint's bucket and BucketFolder." },
  raw: { kind: location, required: true, doc: 'Where the RAW layer is written.' },
  curated: { kind: location, required: true, doc: 'Where the CURATED layer is written.' },
  state: {
    kind: { t: 'string', pattern: '^(?![a-zA-Z][a-zA-Z0-9+.-]*://)', doc: 'a local file path' },
    required: true,
    doc: 'The SQLite state file (a local path).',
  },
  s3: { kind: { t: 'object', keys: S3_KEYS }, doc: 'S3 client settings.' },
  encryption: { kind: { t: 'object', keys: ENCRYPTION_BLOCK_KEYS }, doc: 'Server-side encryption of the outputs.' },
  parquet: { kind: { t: 'object', keys: PARQUET_KEYS }, doc: 'Output Parquet settings.' },
  concurrency: { kind: { t: 'object', keys: CONCURRENCY_KEYS }, doc: 'How much runs at once.' },
  pollSeconds: { kind: posNum, doc: 'Watch mode: seconds between two polls (default 5).' },
  fullListingSeconds: {
    kind: posNum,
    doc: 'Watch mode: seconds between full listings of a table folder (default 300).',
  },
  tables: { kind: { t: 'array', items: { t: 'object', keys: TABLE_KEYS } }, required: true, doc: 'The tables.' },
  outputs: { kind: { t: 'array', items: location }, doc: 'Where pipeline write steps may write.' },
  cache: {
    kind: { t: 'string', pattern: '^(?![a-zA-Z][a-zA-Z0-9+.-]*://)', doc: 'a local folder' },
    doc: 'Local copies of S3 inputs for pipelines.',
  },
  pipelines: {
    kind: { t: 'array', items: { t: 'object', keys: PIPELINE_KEYS } },
    doc: 'Pipelines run after their tables advance.',
  },
  settleSeconds: {
    kind: { t: 'number', zero: true },
    doc: 'Seconds a landing object must be old before it is read (default 5).',
  },
  maxFutureSeconds: {
    kind: posNum,
    doc: 'How far in the future a change-file name may be, in seconds (default 86400).',
  },
  retryStoppedSeconds: { kind: posNum, doc: 'Watch mode: seconds before a stopped table is retried (default 600).' },
  limits: { kind: { t: 'object', keys: LIMITS_KEYS }, doc: 'Size limits on landing input.' },
  tableFormat: {
    kind: enumOf(['parquet', 'iceberg']),
    doc: 'Layout of curated: parquet (date folders, default) or iceberg (docs/iceberg.md).',
  },
  iceberg: {
    kind: { t: 'object', keys: ICEBERG_KEYS },
    doc: 'Iceberg tables: when to compact, how many snapshots to keep (docs/iceberg.md).',
  },
  catalog: {
    kind: { t: 'object', keys: CATALOG_KEYS },
    doc: 'Register every table in a data catalog after each commit (docs/catalog.md).',
  },
}

export const keysOf = (k: Keys): string[] => Object.keys(k)
