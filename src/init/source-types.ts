// Source column types → cdc-apply column types (docs/config.md#column-types), by what DMS writes in CSV for them.
// Anything without an exact, lossless match stays a string: its text is kept as DMS wrote it.
import type { Dialect, SourceColumn } from './sql-ddl.js'

const INTEGER = new Set([
  'int',
  'integer',
  'bigint',
  'smallint',
  'tinyint',
  'mediumint',
  'int2',
  'int4',
  'int8',
  'serial',
  'bigserial',
  'smallserial',
  'serial4',
  'serial8',
  'serial2',
  'pls_integer',
  'binary_integer',
  'year',
])
const DOUBLE = new Set([
  'real',
  'float',
  'double',
  'double precision',
  'float4',
  'float8',
  'binary_float',
  'binary_double',
  'smallfloat',
])
const TIMESTAMP = new Set(['timestamp', 'timestamp without time zone', 'datetime', 'datetime2', 'smalldatetime'])
const DECIMAL = new Set(['numeric', 'decimal', 'dec', 'number'])

/** The config type name (`integer`, `decimal(10,2)`, `string` …) for a source column. */
export function configType(c: SourceColumn, dialect: Dialect): string {
  const t = c.type.replace(/ (unsigned|signed|zerofill)$/, '').trim()
  const unsigned = / unsigned/.test(c.type)
  if (t.endsWith('[]')) return 'string'
  if (INTEGER.has(t)) {
    // BIGINT UNSIGNED goes past the signed 64-bit range cdc-apply's integer holds
    if (unsigned && t === 'bigint') return 'decimal(20,0)'
    // MySQL TINYINT(1) is its BOOLEAN, written as 0/1: an integer keeps the value as is
    return 'integer'
  }
  if (DOUBLE.has(t)) return t === 'float' && dialect === 'oracle' ? 'string' : 'double'
  if (t === 'boolean' || t === 'bool' || (t === 'bit' && dialect === 'sqlserver')) return 'boolean'
  if (t === 'date') return dialect === 'oracle' ? 'timestamp' : 'date'
  if (TIMESTAMP.has(t)) return 'timestamp'
  if (t === 'money' || t === 'smallmoney')
    return dialect === 'sqlserver' ? (t === 'money' ? 'decimal(19,4)' : 'decimal(10,4)') : 'string'
  if (DECIMAL.has(t)) {
    const [p, s] = c.args
    if (p === undefined || p < 0) return t === 'number' && s === 0 ? 'decimal(38,0)' : 'string' // NUMBER, NUMBER(*,0), numeric without precision
    const scale = s ?? 0
    if (p > 38 || scale < 0 || scale > p) return 'string'
    if (scale === 0 && p <= 18) return 'integer'
    return `decimal(${p},${scale})`
  }
  return 'string'
}
