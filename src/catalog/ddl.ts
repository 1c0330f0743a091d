// DDL text for users who register tables with their own tooling: Athena CREATE EXTERNAL TABLE with partition
// projection, Spark SQL CREATE TABLE … USING parquet with one ADD PARTITION per date, and Glue's input as JSON.
import {
  PARTITION_COLUMN,
  athenaProperties,
  icebergTableInput,
  parquetTableInput,
  type IcebergTableDef,
  type ParquetTableDef,
} from './table-def.js'

/** A Hive/Athena/Spark identifier in backticks (a backtick inside is doubled). */
export function quoteIdent(name: string): string {
  return '`' + name.replaceAll('`', '``') + '`'
}

/** A SQL string literal in single quotes; Hive DDL escapes a quote and a backslash with a backslash. */
export function quoteString(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`
}

/** Athena (Hive DDL) CREATE EXTERNAL TABLE with the partition-projection TBLPROPERTIES. */
export function athenaDdl(def: ParquetTableDef): string {
  const cols = def.columns.map((c) => `  ${quoteIdent(c.name)} ${c.type}`).join(',\n')
  const props = Object.entries(athenaProperties(def))
    .map(([k, v]) => `  ${quoteString(k)}=${quoteString(v)}`)
    .join(',\n')
  return [
    `CREATE EXTERNAL TABLE IF NOT EXISTS ${quoteIdent(def.database)}.${quoteIdent(def.name)} (`,
    cols,
    `)`,
    `COMMENT ${quoteString(parquetTableInput(def).Description)}`,
    `PARTITIONED BY (${quoteIdent(PARTITION_COLUMN)} string)`,
    `STORED AS PARQUET`,
    `LOCATION ${quoteString(def.location)}`,
    `TBLPROPERTIES (`,
    props,
    `);`,
  ].join('\n')
}

/**
 * Spark SQL: the database, the table over the table's folder (USING parquet, partitioned by partition_0) and one
 * ADD PARTITION per existing date folder (the folders are not `partition_0=…`, so Spark cannot discover them).
 */
export function sparkDdl(def: ParquetTableDef, dates: string[]): string {
  const table = `${quoteIdent(def.database)}.${quoteIdent(def.name)}`
  const cols = [...def.columns, { name: PARTITION_COLUMN, type: 'string' }]
    .map((c) => `  ${quoteIdent(c.name)} ${c.type.toUpperCase()}`)
    .join(',\n')
  const lines = [
    `CREATE DATABASE IF NOT EXISTS ${quoteIdent(def.database)};`,
    `CREATE TABLE IF NOT EXISTS ${table} (\n${cols}\n)\nUSING parquet\nPARTITIONED BY (${quoteIdent(PARTITION_COLUMN)})\nLOCATION ${quoteString(def.location)};`,
  ]
  for (const d of dates)
    lines.push(
      `ALTER TABLE ${table} ADD IF NOT EXISTS PARTITION (${quoteIdent(PARTITION_COLUMN)}=${quoteString(d)}) LOCATION ${quoteString(`${def.location}${d}/`)};`,
    )
  return lines.join('\n')
}

/** The Glue CreateTable input (`DatabaseName` + `TableInput`), as the API and Terraform/CDK take it. */
export function glueJson(def: ParquetTableDef): string {
  return JSON.stringify({ DatabaseName: def.database, TableInput: parquetTableInput(def) }, null, 2)
}

/** The Glue CreateTable input of an existing Iceberg table: table_type=ICEBERG and its current metadata_location. */
export function icebergGlueInput(def: IcebergTableDef): {
  DatabaseName: string
  TableInput: ReturnType<typeof icebergTableInput>
} {
  return { DatabaseName: def.database, TableInput: icebergTableInput({ ...def, previousMetadataLocation: undefined }) }
}

/** A shell word in single quotes (a quote inside becomes '\''). */
function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`
}

/**
 * Athena cannot adopt an existing Iceberg table by DDL: its CREATE TABLE … TBLPROPERTIES ('table_type'='ICEBERG')
 * creates a new, empty table with metadata of its own. Athena reads an Iceberg table that Glue holds with
 * table_type=ICEBERG and metadata_location, so the Athena output explains that in SQL comments and gives the Glue
 * CreateTable call (AWS CLI) that registers the table.
 */
export function icebergAthenaDdl(
  def: IcebergTableDef,
  asOf?: { date: string; snapshotId: number | bigint } | 'raw',
): string {
  const input = JSON.stringify(icebergGlueInput(def).TableInput)
  const read =
    asOf === 'raw'
      ? [
          `-- A RAW Iceberg table is partitioned by partition_0 (identity): a date's RAW rows, from its manifests and files only:`,
          `--   SELECT * FROM ${def.database}.${def.name} WHERE partition_0 = '<YYYYMMDD>';`,
        ]
      : [
          `-- Athena reads the live table (the newest date); a date's snapshot by its id (Athena does not read tags):`,
          `--   SELECT * FROM ${def.database}.${def.name} FOR VERSION AS OF ${asOf ? `${asOf.snapshotId}; -- tag d${asOf.date}` : '<snapshot id of the tag d<YYYYMMDD>>;'}`,
        ]
  return [
    `-- ${def.label} is an Iceberg table; its current metadata file is ${def.metadataLocation}`,
    `-- Athena's CREATE TABLE ... TBLPROPERTIES ('table_type'='ICEBERG') creates a new, empty Iceberg table, and`,
    `-- CREATE EXTERNAL TABLE is refused for Iceberg, so neither can adopt this table. Athena queries an Iceberg table`,
    `-- that the Glue Data Catalog holds with table_type=ICEBERG and metadata_location; register it once with:`,
    `--   aws glue create-table --database-name ${shellQuote(def.database)} --table-input ${shellQuote(input)}`,
    `-- (cdc-apply run with a "catalog" block does this itself and moves metadata_location after each commit.)`,
    ...read,
  ].join('\n')
}

/**
 * Spark SQL with Iceberg's SQL extensions: the register_table procedure makes the existing metadata file a table of
 * an Iceberg catalog (`catalog`, configured by the user: a GlueCatalog, a HiveCatalog, or spark_catalog as
 * SparkSessionCatalog). CREATE TABLE … USING iceberg LOCATION would create a new table instead.
 */
export function icebergSparkDdl(def: IcebergTableDef, catalog = 'spark_catalog'): string {
  return [
    `-- ${def.label} is an Iceberg table: register its current metadata file in an Iceberg catalog of Spark`,
    `-- (${catalog} here: org.apache.iceberg.spark.SparkSessionCatalog or SparkCatalog, with the Iceberg SQL extensions).`,
    `-- The registration is a snapshot: after later commits, re-register, or let cdc-apply register the table in Glue.`,
    `CREATE DATABASE IF NOT EXISTS ${quoteIdent(catalog)}.${quoteIdent(def.database)};`,
    `CALL ${quoteIdent(catalog)}.system.register_table(table => ${quoteString(`${def.database}.${def.name}`)}, metadata_file => ${quoteString(def.metadataLocation)});`,
  ].join('\n')
}
