// What a catalog needs to know of a table, built from the outputs' Arrow schema: Hive column types, locations,
// partition projection, and the Glue CreateTable/UpdateTable input (plain Parquet and Iceberg). Pure: no I/O.
import { pathToFileURL } from 'node:url'
import * as A from 'apache-arrow'
import { CatalogError } from '../errors.js'
import { tableLabel, META, resolveLocal, type CatalogConfig, type Config, type TableConfig } from '../config.js'

/** The design's partition column: the `<YYYYMMDD>/` date folder. */
export const PARTITION_COLUMN = 'partition_0'

export const PARQUET_FORMAT = {
  serde: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
  input: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  output: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
} as const

export interface CatalogColumn {
  name: string
  /** A Hive/Glue type: bigint, int, smallint, tinyint, double, float, boolean, string, binary, date, timestamp, decimal(p,s). */
  type: string
}

/** One plain Parquet table in the catalog: RAW (every change) or curated (the table as of each date). */
export interface ParquetTableDef {
  kind: 'raw' | 'curated'
  /** `Source.TableName`. */
  label: string
  database: string
  name: string
  /** The table's folder, ending with `/`: `s3://bucket/prefix/<Source>/<TableName>/` (or a file: URL). */
  location: string
  columns: CatalogColumn[]
  /** First date of the projection range (the full load's date). */
  loadDate: string
  primaryKey: string[]
}

/** The subset of Glue's TableInput that cdc-apply writes (field names as in the Glue API). */
export interface GlueTableInput {
  Name: string
  Description: string
  TableType: 'EXTERNAL_TABLE'
  Parameters: Record<string, string>
  PartitionKeys: { Name: string; Type: string }[]
  StorageDescriptor: {
    Columns: { Name: string; Type: string }[]
    Location: string
    InputFormat?: string
    OutputFormat?: string
    SerdeInfo?: { SerializationLibrary: string; Parameters: Record<string, string> }
    Compressed?: boolean
    StoredAsSubDirectories?: boolean
  }
}

/** The Hive/Glue type of an Arrow type of the outputs; an error names the column when there is none. */
export function hiveType(type: A.DataType, column: string, label: string): string {
  if (A.DataType.isInt(type)) {
    // Unsigned types take the next wider signed type, as Spark reads them (UINT_64 as decimal(20,0)).
    if (!type.isSigned)
      return (
        ({ 8: 'smallint', 16: 'int', 32: 'bigint', 64: 'decimal(20,0)' } as Record<number, string>)[type.bitWidth] ??
        'bigint'
      )
    return (
      ({ 8: 'tinyint', 16: 'smallint', 32: 'int', 64: 'bigint' } as Record<number, string>)[type.bitWidth] ?? 'bigint'
    )
  }
  if (A.DataType.isFloat(type)) return type.precision === A.Precision.DOUBLE ? 'double' : 'float'
  if (A.DataType.isBool(type)) return 'boolean'
  if (A.DataType.isUtf8(type) || A.DataType.isLargeUtf8(type)) return 'string'
  if (A.DataType.isBinary(type) || A.DataType.isLargeBinary(type) || A.DataType.isFixedSizeBinary(type)) return 'binary'
  if (A.DataType.isDecimal(type)) return `decimal(${type.precision},${type.scale})`
  if (A.DataType.isDate(type)) return 'date'
  if (A.DataType.isTimestamp(type)) return 'timestamp'
  if (A.DataType.isDictionary(type)) return hiveType(type.dictionary as A.DataType, column, label)
  throw new CatalogError(
    'CDC_CATALOG_FAILED',
    `table ${label}: column ${JSON.stringify(column)} has the type ${String(type)}, which has no catalog type`,
    {
      table: label,
      column,
      hint: 'cdc-apply registers string, integer, floating-point, boolean, binary, decimal, date and timestamp columns',
    },
  )
}

/** Glue names: lower case letters, digits and _ (what Athena accepts unquoted). */
function glueName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_]/g, '_')
}

/** Glue table names of a table: curated `<prefix><source>_<table>`, RAW `<prefix><source>_<table>_raw`. */
export function glueTableName(
  catalog: Pick<CatalogConfig, 'tablePrefix'>,
  t: Pick<TableConfig, 'source' | 'name'>,
  kind: 'raw' | 'curated',
): string {
  return `${catalog.tablePrefix}${glueName(t.source)}_${glueName(t.name)}${kind === 'raw' ? '_raw' : ''}`
}

/** The URL of a table's folder under an output location, ending with `/`. Local folders become file: URLs. */
export function tableLocation(config: Config, root: string, t: Pick<TableConfig, 'source' | 'name'>): string {
  const base = root.startsWith('s3://')
    ? root.replace(/\/+$/, '')
    : pathToFileURL(resolveLocal(config, root)).href.replace(/\/+$/, '')
  return `${base}/${t.source}/${t.name}/`
}

/**
 * The RAW and curated definitions of a table from the data columns of its outputs (`fields`: the table's schema
 * without Op and provenance columns, as TableSchema.fields). RAW has Op first and both have cdc_file, cdc_row last,
 * as src/write.ts writes them.
 */
export function parquetTableDefs(
  config: Config,
  catalog: CatalogConfig,
  t: TableConfig,
  fields: A.Field[],
  loadDate: string,
): ParquetTableDef[] {
  const label = tableLabel(t)
  const data = fields.map((f) => ({ name: f.name, type: hiveType(f.type as A.DataType, f.name, label) }))
  const provenance = [
    { name: META.file, type: 'string' },
    { name: META.row, type: 'bigint' },
  ]
  const common = { label, database: catalog.database, loadDate, primaryKey: t.primaryKey }
  return [
    {
      ...common,
      kind: 'curated',
      name: glueTableName(catalog, t, 'curated'),
      location: tableLocation(config, config.curated, t),
      columns: [...data, ...provenance],
    },
    {
      ...common,
      kind: 'raw',
      name: glueTableName(catalog, t, 'raw'),
      location: tableLocation(config, config.raw, t),
      columns: [{ name: META.op, type: 'string' }, ...data, ...provenance],
    },
  ]
}

/**
 * The partition-projection table properties: `partition_0` is a date `yyyyMMdd` from the load date to NOW, one
 * day apart, each at `<location><partition_0>/`. Athena then needs no partition registration for new dates.
 */
export function projectionProperties(def: Pick<ParquetTableDef, 'location' | 'loadDate'>): Record<string, string> {
  return {
    'projection.enabled': 'true',
    [`projection.${PARTITION_COLUMN}.type`]: 'date',
    [`projection.${PARTITION_COLUMN}.format`]: 'yyyyMMdd',
    [`projection.${PARTITION_COLUMN}.range`]: `${def.loadDate},NOW`,
    [`projection.${PARTITION_COLUMN}.interval`]: '1',
    [`projection.${PARTITION_COLUMN}.interval.unit`]: 'DAYS',
    'storage.location.template': `${def.location}\${${PARTITION_COLUMN}}/`,
  }
}

/** The table properties Athena documents that cdc-apply sets (the Athena DDL carries only these). */
export function athenaProperties(def: ParquetTableDef): Record<string, string> {
  return { classification: 'parquet', ...projectionProperties(def) }
}

/** The Glue CreateTable/UpdateTable TableInput of a plain Parquet table. */
export function parquetTableInput(def: ParquetTableDef): GlueTableInput {
  return {
    Name: def.name,
    Description:
      def.kind === 'curated'
        ? `cdc-apply curated ${def.label}: the table as of the end of each date (${PARTITION_COLUMN} = YYYYMMDD)`
        : `cdc-apply RAW ${def.label}: every change of each date (${PARTITION_COLUMN} = YYYYMMDD)`,
    TableType: 'EXTERNAL_TABLE',
    Parameters: {
      EXTERNAL: 'TRUE',
      ...athenaProperties(def),
      'cdc_apply.table': def.label,
      'cdc_apply.kind': def.kind,
      'cdc_apply.primary_key': def.primaryKey.join(','),
    },
    PartitionKeys: [{ Name: PARTITION_COLUMN, Type: 'string' }],
    StorageDescriptor: {
      Columns: def.columns.map((c) => ({ Name: c.name, Type: c.type })),
      Location: def.location,
      InputFormat: PARQUET_FORMAT.input,
      OutputFormat: PARQUET_FORMAT.output,
      SerdeInfo: { SerializationLibrary: PARQUET_FORMAT.serde, Parameters: { 'serialization.format': '1' } },
      Compressed: false,
      StoredAsSubDirectories: false,
    },
  }
}

/** One Iceberg table: its metadata file now, and the one it replaces (undefined when the table is new). */
export interface IcebergTableDef {
  label: string
  database: string
  name: string
  /** The table's root folder. */
  location: string
  columns: CatalogColumn[]
  metadataLocation: string
  previousMetadataLocation: string | undefined
}

/**
 * The Glue TableInput of an Iceberg table (the layout Glue, Athena and Iceberg's GlueCatalog use:
 * `table_type=ICEBERG`, `metadata_location`, `previous_metadata_location`). The columns are informational: engines
 * read the schema from the metadata file. Built by icebergTableDef (src/catalog/iceberg.ts) for tableFormat "iceberg".
 */
export function icebergTableInput(def: IcebergTableDef): GlueTableInput {
  return {
    Name: def.name,
    Description: `cdc-apply Iceberg ${def.label}`,
    TableType: 'EXTERNAL_TABLE',
    Parameters: {
      EXTERNAL: 'TRUE',
      table_type: 'ICEBERG',
      metadata_location: def.metadataLocation,
      ...(def.previousMetadataLocation !== undefined
        ? { previous_metadata_location: def.previousMetadataLocation }
        : {}),
      'cdc_apply.table': def.label,
      'cdc_apply.kind': 'iceberg',
    },
    PartitionKeys: [],
    StorageDescriptor: { Columns: def.columns.map((c) => ({ Name: c.name, Type: c.type })), Location: def.location },
  }
}
