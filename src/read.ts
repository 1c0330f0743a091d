// Reads one DMS object into change batches: gunzip, then the CSV or Parquet reader, then keys and ordering values.
import { gunzipSync } from 'node:zlib'
import * as A from 'apache-arrow'
import { DataError } from './errors.js'
import { arrowType } from './columns.js'
import { finishBatch, keySpec, type ChangeBatch, type KeySpec, type TableSchema } from './batch.js'
import { parseCsv } from './read-csv.js'
import { readDmsParquet } from './read-parquet.js'
import type { TableConfig } from './config.js'
import type { DmsFile } from './discover.js'

export function tableLabel(t: Pick<TableConfig, 'source' | 'name'>): string {
  return `${t.source}.${t.name}`
}

/** The schema of a CSV table comes from its config; a Parquet table's from its first file (see readFile). */
export function configuredSchema(t: TableConfig): TableSchema | undefined {
  if (t.format !== 'csv' && t.columns.length === 0) return undefined
  return {
    fields: t.columns.map((c) => new A.Field(c.name, arrowType(c.type), true)),
    types: t.columns.map((c) => (t.format === 'csv' ? c.type : undefined)),
  }
}

export interface ReadResult {
  schema: TableSchema
  spec: KeySpec
  batches: ChangeBatch[]
}

/**
 * Decodes one object. `schema` is the table's schema so far (undefined for a Parquet table before its first
 * file); a Parquet file whose column types differ from it is a CDC_SCHEMA_MISMATCH.
 */
export function readFile(t: TableConfig, file: DmsFile, raw: Uint8Array, schema: TableSchema | undefined): ReadResult {
  const label = tableLabel(t)
  if (raw.length === 0) {
    throw new DataError('CDC_FILE_EMPTY', `table ${label}: ${file.key} is empty (0 bytes); expected DMS ${file.format.toUpperCase()} data`, {
      table: label,
      file: file.key,
      hint: 'DMS never writes empty files: the upload was interrupted; remove the object or let DMS rewrite it',
    })
  }
  let bytes = raw
  if (file.gzip) {
    try {
      bytes = gunzipSync(raw)
    } catch (err) {
      throw new DataError('CDC_GZIP_INVALID', `table ${label}: ${file.key} is not a complete gzip stream: ${(err as Error).message}`, {
        table: label,
        file: file.key,
        cause: err,
        hint: 'the object is truncated or not gzip-compressed despite its .gz name',
      })
    }
  }
  if (file.format === 'csv') {
    const s = schema ?? configuredSchema(t)!
    const spec = keySpec(label, s, t.primaryKey, t.timestampColumn, t.sequenceColumn, t.beforeImageColumns)
    const hasOp = file.kind === 'cdc' || t.includeOpForFullLoad
    const r = parseCsv(bytes, { label, key: file.key, columns: t.columns, hasOp, header: t.header, opColumn: t.opColumn })
    return { schema: s, spec, batches: [finishBatch(spec, { file, rowBase: 0, length: r.length, ops: r.ops, columns: r.columns, lines: r.lines })] }
  }
  const names = schema ? schema.fields.map((f) => f.name) : t.columns.length > 0 ? t.columns.map((c) => c.name) : undefined
  const r = readDmsParquet(bytes, { label, key: file.key, columns: names, opColumn: t.opColumn, isLoad: file.kind === 'load' })
  const s: TableSchema = schema ?? { fields: r.fields, types: r.fields.map(() => undefined) }
  s.fields.forEach((f, i) => {
    const got = r.fields[i]!.type
    if (String(got) !== String(f.type)) {
      throw new DataError('CDC_SCHEMA_MISMATCH', `table ${label}: column ${JSON.stringify(f.name)} is ${String(got)} in ${file.key} but ${String(f.type)} in earlier files`, {
        table: label,
        file: file.key,
        column: f.name,
        hint: 'the source column changed type; reprocess the table from a new full load',
      })
    }
  })
  const spec = keySpec(label, s, t.primaryKey, t.timestampColumn, t.sequenceColumn, t.beforeImageColumns)
  let rowBase = 0
  const batches = r.parts.map((p) => {
    const b = finishBatch(spec, { file, rowBase, length: p.length, ops: p.ops, columns: p.columns, lines: undefined })
    rowBase += p.length
    return b
  })
  return { schema: s, spec, batches }
}
