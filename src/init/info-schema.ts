// An information_schema.columns export (CSV with a header) → tables. The column names are matched without regard
// to case: table_schema, table_name, column_name, ordinal_position, data_type, and when present
// numeric_precision, numeric_scale, column_type (MySQL), column_key (MySQL: PRI) or is_primary_key.
import { ConfigError } from '../errors.js'
import { csvRecords } from './csv-records.js'
import type { SourceColumn, SourceTable } from './sql-ddl.js'

const REQUIRED = ['table_schema', 'table_name', 'column_name', 'ordinal_position', 'data_type'] as const
const LOB =
  /^(text|tinytext|mediumtext|longtext|json|jsonb|xml|bytea|blob|tinyblob|mediumblob|longblob|clob|nclob|ntext|image)$/

export function parseInformationSchema(text: string, file: string): SourceTable[] {
  const recs = csvRecords(text.replace(/^\uFEFF/, ''))
  const fail = (line: number, what: string): never => {
    throw new ConfigError('CDC_INIT_INPUT_INVALID', `${file}:${line}: ${what}`, {
      file,
      line,
      hint: 'export information_schema.columns as CSV with a header row (see docs/init.md)',
    })
  }
  if (recs.length === 0) fail(1, 'expected a header row, got an empty file')
  const header = recs[0]!.fields.map((f) => f.text.trim().toLowerCase())
  const col = (name: string): number => header.indexOf(name)
  for (const r of REQUIRED) if (col(r) < 0) fail(1, `expected a column ${r} in the header, got ${header.join(', ')}`)
  const [iSchema, iTable, iColumn, iPos, iType] = REQUIRED.map(col) as [number, number, number, number, number]
  const iPrec = col('numeric_precision')
  const iScale = col('numeric_scale')
  const iColType = col('column_type')
  const iKey = col('column_key')
  const iPk = col('is_primary_key')
  const tables = new Map<string, SourceTable & { pos: Map<number, SourceColumn>; pkPos: number[] }>()
  for (const r of recs.slice(1)) {
    if (r.fields.length === 1 && r.fields[0]!.text === '') continue
    if (r.fields.length !== header.length) fail(r.line, `expected ${header.length} fields, got ${r.fields.length}`)
    const v = (i: number): string => (i < 0 ? '' : r.fields[i]!.text.trim())
    const pos = Number(v(iPos))
    if (!Number.isInteger(pos) || pos < 1)
      fail(r.line, `expected a positive ordinal_position, got ${JSON.stringify(v(iPos))}`)
    const key = `${v(iSchema)}.${v(iTable)}`
    let t = tables.get(key)
    if (!t) {
      t = {
        schema: v(iSchema) || undefined,
        name: v(iTable),
        columns: [],
        primaryKey: [],
        where: `${file}:${r.line}`,
        pos: new Map(),
        pkPos: [],
      }
      tables.set(key, t)
    }
    // MySQL's column_type carries the arguments (decimal(10,2), tinyint(1) unsigned); elsewhere precision/scale columns
    const full = (v(iColType) || v(iType)).toLowerCase()
    const m = /^([a-z0-9_ ]+?)\s*(?:\(([^)]*)\))?\s*(unsigned)?(?:\s+zerofill)?\s*$/.exec(full)
    const base = (m?.[1] ?? full).trim()
    let args = (m?.[2] ?? '')
      .split(',')
      .filter((x) => x.trim() !== '')
      .map((x) => Number(x))
    if (args.length === 0 && v(iPrec) !== '')
      args = [Number(v(iPrec)), ...(v(iScale) !== '' ? [Number(v(iScale))] : [])]
    const name = v(iColumn)
    if (t.pos.has(pos)) fail(r.line, `expected one column at ordinal_position ${pos} of ${key}, got a second (${name})`)
    t.pos.set(pos, { name, type: m?.[3] ? `${base} unsigned` : base, args, lob: LOB.test(base) })
    if (v(iKey).toUpperCase() === 'PRI' || /^(1|t|true|y|yes)$/i.test(v(iPk))) t.pkPos.push(pos)
  }
  return [...tables.values()].map((t) => {
    const order = [...t.pos.keys()].sort((a, b) => a - b)
    return {
      schema: t.schema,
      name: t.name,
      where: t.where,
      columns: order.map((p) => t.pos.get(p)!),
      primaryKey: t.pkPos.sort((a, b) => a - b).map((p) => t.pos.get(p)!.name),
    }
  })
}
