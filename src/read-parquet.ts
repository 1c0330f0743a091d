// DMS Parquet → Arrow columns, read with the file's own schema (types preserved into the outputs).
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import { DataError } from './errors.js'
import { OP_DELETE, OP_INSERT, OP_UPDATE } from './batch.js'
import { checkColumnNames } from './column-names.js'

export interface ParquetContext {
  label: string
  key: string
  /** Data column names to take, in order; undefined = every column but Op. */
  columns: string[] | undefined
  opColumn: string
  /** A full-load file: Op may be absent (then every row is an insert). */
  isLoad: boolean
  /** 'quarantine': a row with an unknown Op is reported in `badOps` instead of failing the file. */
  onBadRow?: 'fail' | 'quarantine'
}

export interface ParquetPart {
  length: number
  ops: Uint8Array
  columns: A.Data[]
  /** Rows (0-based, in this part) whose Op is not I, U or D, with the value found (quarantine mode only). */
  badOps: { index: number; value: string }[]
}

export interface ParquetResult {
  fields: A.Field[]
  parts: ParquetPart[]
}

/** Decodes a whole Parquet object; large files come back as several parts of at most `batchSize` rows. */
export function readDmsParquet(bytes: Uint8Array, ctx: ParquetContext, batchSize = 65536): ParquetResult {
  let table: A.Table
  try {
    table = A.tableFromIPC(pw.readParquet(bytes, { batchSize }).intoIPCStream())
  } catch (err) {
    throw new DataError(
      'CDC_PARQUET_INVALID',
      `table ${ctx.label}: ${ctx.key} is not a readable Parquet file: ${(err instanceof Error ? err.message : String(err)).slice(0, 200)}`,
      {
        table: ctx.label,
        file: ctx.key,
        cause: err,
        hint: 'the object is truncated or corrupt; DMS rewrites it on a table reload',
      },
    )
  }
  // every column of the file but its one Op column obeys the rules of configured names
  const all = table.schema.fields.map((f) => f.name)
  const firstOp = all.indexOf(ctx.opColumn)
  checkColumnNames(
    all.filter((_n, i) => i !== firstOp),
    { label: ctx.label, key: ctx.key, from: 'schema', opColumn: ctx.opColumn },
    (i) => (firstOp >= 0 && i >= firstOp ? i + 2 : i + 1),
  )
  const byName = new Map(table.schema.fields.map((f, i) => [f.name, i]))
  const names = ctx.columns ?? table.schema.fields.map((f) => f.name).filter((n) => n !== ctx.opColumn)
  const idx = names.map((name) => {
    const i = byName.get(name)
    if (i === undefined) {
      throw new DataError(
        'CDC_PARQUET_COLUMN_MISSING',
        `table ${ctx.label}: column ${JSON.stringify(name)} is missing from ${ctx.key}; found ${table.schema.fields.map((f) => f.name).join(', ')}`,
        {
          table: ctx.label,
          file: ctx.key,
          column: name,
          hint: "fix the table's columns in the config, or check the DMS table mapping",
        },
      )
    }
    return i
  })
  const opIdx = byName.get(ctx.opColumn)
  if (opIdx === undefined && !ctx.isLoad) {
    throw new DataError(
      'CDC_PARQUET_COLUMN_MISSING',
      `table ${ctx.label}: the Op column ${JSON.stringify(ctx.opColumn)} is missing from change file ${ctx.key}`,
      {
        table: ctx.label,
        file: ctx.key,
        column: ctx.opColumn,
        hint: "set the table's opColumn if DMS names it differently",
      },
    )
  }
  const fields = idx.map((i) => new A.Field(table.schema.fields[i]!.name, table.schema.fields[i]!.type, true))
  let rowBase = 0
  const parts: ParquetPart[] = table.batches.map((batch) => {
    const ops = new Uint8Array(batch.numRows).fill(OP_INSERT)
    const badOps: { index: number; value: string }[] = []
    if (opIdx !== undefined) {
      const vec = batch.getChildAt(opIdx)!
      for (let r = 0; r < batch.numRows; r++) {
        const v = vec.get(r) as unknown
        const c = typeof v === 'string' && v.length === 1 ? v.charCodeAt(0) : 0
        if (c !== OP_INSERT && c !== OP_UPDATE && c !== OP_DELETE) {
          if (ctx.onBadRow === 'quarantine') {
            badOps.push({ index: r, value: String(v) })
            continue
          }
          throw new DataError(
            'CDC_ROW_INVALID_OP',
            `table ${ctx.label}: unknown Op ${JSON.stringify(v)} in ${ctx.key} row ${rowBase + r + 1}; expected I, U or D`,
            {
              table: ctx.label,
              file: ctx.key,
              row: rowBase + r + 1,
              column: ctx.opColumn,
            },
          )
        }
        ops[r] = c
      }
    }
    rowBase += batch.numRows
    return { length: batch.numRows, ops, columns: idx.map((i) => batch.data.children[i]!), badOps }
  })
  return { fields, parts }
}
