// Iceberg schemas from Arrow schemas: type mapping and field ids (kept by name across schema changes).
import * as A from 'apache-arrow'
import { DataError } from '../errors.js'

/** Arrow field metadata key that the Parquet writer turns into the Parquet schema's field_id (Iceberg reads it). */
export const FIELD_ID = 'PARQUET:field_id'

export interface IcebergField {
  id: number
  name: string
  required: boolean
  type: string
}

export interface IcebergSchema {
  type: 'struct'
  'schema-id': number
  fields: IcebergField[]
}

/** The Iceberg primitive type of an Arrow type; a typed error names the column when there is none. */
export function icebergType(t: A.DataType, column: string, table: string): string {
  if (A.DataType.isInt(t)) return t.bitWidth === 64 ? 'long' : 'int'
  if (A.DataType.isFloat(t)) return t.precision === A.Precision.DOUBLE ? 'double' : 'float'
  if (A.DataType.isBool(t)) return 'boolean'
  if (A.DataType.isUtf8(t) || A.DataType.isLargeUtf8(t)) return 'string'
  if (A.DataType.isBinary(t) || A.DataType.isLargeBinary(t)) return 'binary'
  if (A.DataType.isDecimal(t)) return `decimal(${t.precision}, ${t.scale})`
  if (A.DataType.isDate(t)) return 'date'
  if (A.DataType.isTimestamp(t) && t.unit === A.TimeUnit.MICROSECOND) return t.timezone ? 'timestamptz' : 'timestamp'
  throw new DataError(
    'CDC_SCHEMA_MISMATCH',
    `table ${table}: column ${JSON.stringify(column)} has type ${String(t)}, which an Iceberg v2 table cannot hold`,
    {
      table,
      column,
      hint: 'Iceberg v2 tables take int, long, float, double, boolean, string, binary, decimal, date and microsecond timestamps; use tableFormat "parquet" for this table',
    },
  )
}

/**
 * The Iceberg schema of `arrow` given the ids already assigned by name: a name keeps its id, a new name takes the
 * next id after lastColumnId. Returns the new lastColumnId too.
 */
export function icebergSchema(
  arrow: A.Schema,
  known: ReadonlyMap<string, number>,
  lastColumnId: number,
  schemaId: number,
  table: string,
): { schema: IcebergSchema; lastColumnId: number } {
  let last = lastColumnId
  const fields = arrow.fields.map((f) => {
    const id = known.get(f.name) ?? ++last
    return { id, name: f.name, required: false, type: icebergType(f.type as A.DataType, f.name, table) }
  })
  return { schema: { type: 'struct', 'schema-id': schemaId, fields }, lastColumnId: last }
}

/** True when two schemas have the same fields (ids, names, types) in the same order. */
export function sameFields(a: IcebergSchema, b: IcebergSchema): boolean {
  return (
    a.fields.length === b.fields.length &&
    a.fields.every(
      (f, i) =>
        f.id === b.fields[i]!.id &&
        f.name === b.fields[i]!.name &&
        f.type === b.fields[i]!.type &&
        f.required === b.fields[i]!.required,
    )
  )
}

/** The Arrow schema with each field's Iceberg id in its metadata, so the Parquet file carries the field ids. */
export function withFieldIds(arrow: A.Schema, schema: IcebergSchema): A.Schema {
  const ids = new Map(schema.fields.map((f) => [f.name, f.id]))
  return new A.Schema(
    arrow.fields.map((f) => new A.Field(f.name, f.type, true, new Map([[FIELD_ID, String(ids.get(f.name))]]))),
  )
}

/**
 * The columns of an Arrow schema with field ids, in order, as one string (name, type, field id): equal for two
 * schemas whose files may be read and written as one (what withFieldIds makes is always nullable).
 */
export function columnsKey(schema: A.Schema): string {
  return schema.fields.map((f) => `${f.name}:${String(f.type)}=${f.metadata.get(FIELD_ID)}`).join(',')
}

/** Iceberg's name mapping (table property schema.name-mapping.default): lets readers map files by column name too. */
export function nameMapping(schema: IcebergSchema): string {
  return JSON.stringify(schema.fields.map((f) => ({ 'field-id': f.id, names: [f.name] })))
}

/** The Arrow schema of an Iceberg schema (the types cdc-apply writes), for a snapshot without data files. */
export function arrowSchema(schema: IcebergSchema): A.Schema {
  return new A.Schema(schema.fields.map((f) => new A.Field(f.name, arrowType(f.type), true)))
}

function arrowType(t: string): A.DataType {
  const dec = /^decimal\((\d+),\s*(\d+)\)$/.exec(t)
  if (dec) return new A.Decimal(Number(dec[2]), Number(dec[1]), 128)
  const types: Record<string, () => A.DataType> = {
    long: () => new A.Int64(),
    int: () => new A.Int32(),
    double: () => new A.Float64(),
    float: () => new A.Float32(),
    boolean: () => new A.Bool(),
    string: () => new A.Utf8(),
    binary: () => new A.Binary(),
    date: () => new A.DateDay(),
    timestamp: () => new A.TimestampMicrosecond(),
    timestamptz: () => new A.TimestampMicrosecond('UTC'),
  }
  const make = types[t]
  if (!make) throw new Error(`Iceberg type ${t} is not one cdc-apply writes`)
  return make()
}
