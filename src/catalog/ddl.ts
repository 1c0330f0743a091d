// DDL text for users who register tables with their own tooling: Athena CREATE EXTERNAL TABLE with partition
// projection, Spark SQL CREATE TABLE … USING parquet with one ADD PARTITION per date, and Glue's input as JSON.
import { PARTITION_COLUMN, athenaProperties, parquetTableInput, type ParquetTableDef } from './table-def.js'

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
  const cols = [...def.columns, { name: PARTITION_COLUMN, type: 'string' }].map((c) => `  ${quoteIdent(c.name)} ${c.type.toUpperCase()}`).join(',\n')
  const lines = [
    `CREATE DATABASE IF NOT EXISTS ${quoteIdent(def.database)};`,
    `CREATE TABLE IF NOT EXISTS ${table} (\n${cols}\n)\nUSING parquet\nPARTITIONED BY (${quoteIdent(PARTITION_COLUMN)})\nLOCATION ${quoteString(def.location)};`,
  ]
  for (const d of dates) lines.push(`ALTER TABLE ${table} ADD IF NOT EXISTS PARTITION (${quoteIdent(PARTITION_COLUMN)}=${quoteString(d)}) LOCATION ${quoteString(`${def.location}${d}/`)};`)
  return lines.join('\n')
}

/** The Glue CreateTable input (`DatabaseName` + `TableInput`), as the API and Terraform/CDK take it. */
export function glueJson(def: ParquetTableDef): string {
  return JSON.stringify({ DatabaseName: def.database, TableInput: parquetTableInput(def) }, null, 2)
}
