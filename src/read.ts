// Reads one DMS object into change batches: gunzip, then the CSV or Parquet reader, then keys and ordering values.
import { gunzipSync } from 'node:zlib'
import * as A from 'apache-arrow'
import { DataError } from './errors.js'
import { arrowType } from './arrow/builders.js'
import { gather, nullData } from './arrow/gather.js'
import { finishBatch, keySpec, type ChangeBatch, type KeySpec, type TableSchema } from './batch.js'
import { parseCsv, readHeader } from './read-csv.js'
import { readDmsParquet } from './read-parquet.js'
import { looksHeaderless } from './csv-shape.js'
import { checkColumnNames } from './column-names.js'
import { tableLabel, type ColumnConfig, type ColumnType, type TableConfig } from './config.js'
import { PartValues, type Rejected } from './rejected.js'
import type { DmsFile } from './discover.js'

/**
 * The schema a table starts with: for header-less CSV every column any of its column lists names (so it never
 * changes); for header CSV the configured columns (a header may add more); for Parquet none (the first file's).
 */
export function configuredSchema(t: TableConfig): TableSchema | undefined {
  if (t.format !== 'csv') return undefined
  const all: ColumnConfig[] = []
  for (const c of [...t.columns, ...t.columnsFrom.flatMap((v) => v.columns)])
    if (!all.some((x) => x.name === c.name)) all.push(c)
  return { fields: all.map((c) => new A.Field(c.name, arrowType(c.type), true)), types: all.map((c) => c.type) }
}

/** The columns of a header-less CSV file: the list in force at its name (full-load files: the base list). */
function csvColumnsFor(t: TableConfig, file: DmsFile): ColumnConfig[] {
  let cols = t.columns
  if (file.kind === 'cdc') for (const v of t.columnsFrom) if (v.file <= file.stem) cols = v.columns
  return cols
}

/**
 * Adds the file's columns that the schema lacks (schema drift: appended, older rows read as NULL) and checks the
 * others keep their type. Returns the schema and, for each schema field, the file's column index or -1.
 */
function mergeSchema(
  label: string,
  file: DmsFile,
  schema: TableSchema | undefined,
  fields: A.Field[],
  types: (ColumnType | undefined)[],
): { schema: TableSchema; index: number[] } {
  const s: TableSchema = schema ? { fields: [...schema.fields], types: [...schema.types] } : { fields: [], types: [] }
  fields.forEach((f, i) => {
    const at = s.fields.findIndex((x) => x.name === f.name)
    if (at < 0) {
      s.fields.push(new A.Field(f.name, f.type as A.DataType, true))
      s.types.push(types[i])
    } else if (String(s.fields[at]!.type) !== String(f.type)) {
      throw new DataError(
        'CDC_SCHEMA_MISMATCH',
        `table ${label}: column ${JSON.stringify(f.name)} is ${String(f.type)} in ${file.key} but ${String(s.fields[at]!.type)} in earlier files`,
        {
          table: label,
          file: file.key,
          column: f.name,
          hint: 'the source column changed type incompatibly; reprocess the table from a new full load (cdc-apply reset)',
        },
      )
    }
  })
  return { schema: s, index: s.fields.map((f) => fields.findIndex((x) => x.name === f.name)) }
}

function align(index: number[], schema: TableSchema, columns: A.Data[], length: number): A.Data[] {
  return index.map((i, c) => (i >= 0 ? columns[i]! : nullData(schema.fields[c]!.type, length)))
}

export interface ReadResult {
  schema: TableSchema
  spec: KeySpec
  batches: ChangeBatch[]
  /** Rows set aside under onBadRow "quarantine". */
  rejected: Rejected[]
}

/**
 * Decodes one object. `schema` is the table's schema so far (undefined for a Parquet table before its first
 * file); a Parquet file whose column types differ from it is a CDC_SCHEMA_MISMATCH.
 */
/** Where a piece of a CSV object sits in it, when the object is read in pieces of whole records (read-object.ts). */
export interface PieceOptions {
  /** The bytes are already decompressed (a `.gz` object read as a stream). */
  gunzipped?: boolean
  /** The object's header names, taken from its first piece; set for every later piece (which has no header). */
  headerNames?: string[]
  /** Physical line of the piece's first byte. */
  firstLine?: number
  /** Records of the object before this piece. */
  rowBase?: number
}

export function readFile(
  t: TableConfig,
  file: DmsFile,
  raw: Uint8Array,
  schema: TableSchema | undefined,
  piece: PieceOptions = {},
): ReadResult {
  const label = tableLabel(t)
  if (raw.length === 0 && !piece.gunzipped) {
    throw new DataError(
      'CDC_FILE_EMPTY',
      `table ${label}: ${file.key} is empty (0 bytes); expected DMS ${file.format.toUpperCase()} data`,
      {
        table: label,
        file: file.key,
        hint: 'DMS never writes empty files: the upload was interrupted; remove the object or let DMS rewrite it',
      },
    )
  }
  let bytes = raw
  if (file.gzip && !piece.gunzipped) {
    try {
      bytes = gunzipSync(raw)
    } catch (err) {
      throw new DataError(
        'CDC_GZIP_INVALID',
        `table ${label}: ${file.key} is not a complete gzip stream: ${(err as Error).message}`,
        {
          table: label,
          file: file.key,
          cause: err,
          hint: 'the object is truncated or not gzip-compressed despite its .gz name',
        },
      )
    }
  }
  if (file.format === 'csv') {
    const hasOp = file.kind === 'cdc' || t.includeOpForFullLoad
    let cols = csvColumnsFor(t, file)
    if (t.header) {
      const header = piece.headerNames ?? readHeader(bytes)
      if (piece.headerNames === undefined && looksHeaderless(header, t.columns, t.opColumn)) {
        // read as a header, a data row would name the columns and every configured one (the key first) read as NULL
        throw new DataError(
          'CDC_SCHEMA_MISMATCH',
          `table ${label}: the first record of ${file.key}:1 names none of the configured columns nor ${JSON.stringify(t.opColumn)}, so it is not a header; expected a header row (header is true)`,
          {
            table: label,
            file: file.key,
            line: 1,
            hint: "the files have no header row: set the table's header to false (the DMS endpoint has AddColumnName=false)",
          },
        )
      }
      const names = header.slice(hasOp ? 1 : 0)
      checkColumnNames(
        names,
        { label, key: file.key, from: 'header', opColumn: t.opColumn },
        (i) => i + (hasOp ? 2 : 1),
      )
      cols = names.map((name): ColumnConfig => {
        const configured = t.columns.find((c) => c.name === name)
        if (configured) return configured
        const at = schema ? schema.fields.findIndex((f) => f.name === name) : -1
        return { name, type: (at >= 0 ? schema!.types[at] : undefined) ?? { kind: 'string' } }
      })
    }
    const m = mergeSchema(
      label,
      file,
      schema ?? configuredSchema(t),
      cols.map((c) => new A.Field(c.name, arrowType(c.type), true)),
      cols.map((c) => c.type),
    )
    const spec = keySpec(label, m.schema, t.primaryKey, t.timestampColumn, t.sequenceColumn, t.beforeImageColumns)
    const rowBase = piece.rowBase ?? 0
    const r = parseCsv(bytes, {
      label,
      key: file.key,
      name: file.name,
      columns: cols,
      hasOp,
      header: t.header && piece.headerNames === undefined,
      opColumn: t.opColumn,
      onBadRow: t.onBadRow,
      ...(piece.firstLine !== undefined ? { firstLine: piece.firstLine } : {}),
    })
    const rejected = r.rejected
    const rowNums = r.rowNums && rowBase > 0 ? r.rowNums.map((n) => n + rowBase) : r.rowNums
    const part = {
      length: r.length,
      ops: r.ops,
      columns: align(m.index, m.schema, r.columns, r.length),
      lines: r.lines as Int32Array | undefined,
      rowNums,
    }
    const kept = t.onBadRow === 'quarantine' ? dropNullKeys(spec, m.schema, file, part, rowBase, rejected) : part
    return { schema: m.schema, spec, rejected, batches: [finishBatch(spec, { file, rowBase, ...kept })] }
  }
  const names = t.columns.length > 0 ? t.columns.map((c) => c.name) : undefined
  const r = readDmsParquet(bytes, {
    label,
    key: file.key,
    columns: names,
    opColumn: t.opColumn,
    isLoad: file.kind === 'load',
    onBadRow: t.onBadRow,
  })
  const m = mergeSchema(
    label,
    file,
    schema,
    r.fields,
    r.fields.map(() => undefined),
  )
  const s = m.schema
  const spec = keySpec(label, s, t.primaryKey, t.timestampColumn, t.sequenceColumn, t.beforeImageColumns)
  const rejected: Rejected[] = []
  let rowBase = 0
  const batches = r.parts.map((p) => {
    let part = {
      length: p.length,
      ops: p.ops,
      columns: align(m.index, s, p.columns, p.length),
      lines: undefined as Int32Array | undefined,
      rowNums: undefined as Int32Array | undefined,
    }
    if (p.badOps.length > 0) {
      const values = new PartValues(s, part.columns)
      for (const b of p.badOps) {
        rejected.push({
          file: file.name,
          line: null,
          row: rowBase + b.index + 1,
          code: 'CDC_ROW_INVALID_OP',
          reason: `table ${label}: unknown Op ${JSON.stringify(b.value)} in ${file.key} row ${rowBase + b.index + 1}; expected I, U or D`,
          record: values.rowText(b.index),
        })
      }
      part = keepRows(part, rowBase, new Set(p.badOps.map((b) => b.index)))
    }
    if (t.onBadRow === 'quarantine') part = dropNullKeys(spec, s, file, part, rowBase, rejected)
    const b = finishBatch(spec, { file, rowBase, ...part })
    rowBase += p.length
    return b
  })
  return { schema: s, spec, batches, rejected }
}

interface Part {
  length: number
  ops: Uint8Array
  columns: A.Data[]
  lines: Int32Array | undefined
  rowNums: Int32Array | undefined
}

/** Quarantine mode: rows with a NULL primary-key value are set aside (finishBatch would fail the file). */
function dropNullKeys(
  spec: KeySpec,
  s: TableSchema,
  file: DmsFile,
  part: Part,
  rowBase: number,
  rejected: Rejected[],
): Part {
  // each column's values are read once for the part, however many rows are rejected
  const values = new PartValues(s, part.columns)
  const bad = new Set<number>()
  for (const k of spec.pk) {
    values.column(k).forEach((v, i) => {
      if (v === null) bad.add(i)
    })
  }
  // NaN in a double ordering column cannot be ordered (finishBatch would fail the file)
  const nan = new Map<number, string>()
  for (const [k, name] of [
    [spec.ts, spec.tsName],
    [spec.seq, spec.seqName],
  ] as const) {
    if (k === undefined || !A.DataType.isFloat(part.columns[k]!.type)) continue
    values.column(k).forEach((v, i) => {
      if (typeof v === 'number' && Number.isNaN(v) && !bad.has(i) && !nan.has(i)) nan.set(i, name ?? '')
    })
  }
  for (const [i, name] of [...nan].sort((a, b) => a[0] - b[0])) {
    const line = part.lines?.[i]
    const row = part.rowNums ? part.rowNums[i]! : rowBase + i + 1
    rejected.push({
      file: file.name,
      line: line ?? null,
      row: line === undefined ? row : null,
      code: 'CDC_VALUE_INVALID',
      reason: `table ${spec.label}: ordering column ${JSON.stringify(name)} is NaN in ${file.key}${line === undefined ? ` row ${row}` : `:${line}`}; expected a number (NaN has no place in the order of changes)`,
      record: values.rowText(i),
    })
    bad.add(i)
  }
  if (bad.size === 0) return part
  for (const i of [...bad].filter((i) => !nan.has(i)).sort((a, b) => a - b)) {
    const line = part.lines?.[i]
    const row = part.rowNums ? part.rowNums[i]! : rowBase + i + 1
    const col = spec.pkNames[spec.pk.findIndex((k) => values.column(k)[i] === null)]
    rejected.push({
      file: file.name,
      line: line ?? null,
      row: line === undefined ? row : null,
      code: 'CDC_PK_MISSING',
      reason: `table ${spec.label}: primary-key column ${JSON.stringify(col)} is NULL in ${file.key}${line === undefined ? ` row ${row}` : `:${line}`}; expected a value`,
      record: values.rowText(i),
    })
  }
  return keepRows(part, rowBase, bad)
}

/** The part without the rows in `drop`; kept rows carry their original row numbers. */
function keepRows(part: Part, rowBase: number, drop: Set<number>): Part {
  const keep: number[] = []
  for (let i = 0; i < part.length; i++) if (!drop.has(i)) keep.push(i)
  const rows = Uint32Array.from(keep)
  const segs = new Uint32Array(keep.length)
  return {
    length: keep.length,
    ops: Uint8Array.from(keep, (i) => part.ops[i]!),
    columns: part.columns.map((c) => gather(c.type, [c], segs, rows)),
    lines: part.lines ? Int32Array.from(keep, (i) => part.lines![i]!) : undefined,
    rowNums: Int32Array.from(keep, (i) => (part.rowNums ? part.rowNums[i]! : rowBase + i + 1)),
  }
}
