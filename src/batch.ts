// The unit of work between readers and apply: one file's rows (or one Parquet record batch) as Arrow columns.
import * as A from 'apache-arrow'
import { DataError } from './errors.js'
import { columnValues, type JsValue } from './arrow/values.js'
import type { DmsFile } from './discover.js'
import type { ColumnType } from './config.js'

export const OP_INSERT = 0x49 // 'I'
export const OP_UPDATE = 0x55 // 'U'
export const OP_DELETE = 0x44 // 'D'

/** A value of the ordering chain (timestamp or sequence column). NULL sorts lowest. */
export type OrderValue = string | number | null

/** The data columns of a table, in output order (without Op and provenance columns). */
export interface TableSchema {
  fields: A.Field<A.DataType>[]
  /** Configured types (CSV tables); undefined where the type comes from Parquet files. */
  types: (ColumnType | undefined)[]
}

export interface ChangeBatch {
  file: DmsFile
  /** Rows of the same file before this batch: row k of the batch is row rowBase + k + 1 of the file. */
  rowBase: number
  length: number
  /** One char code per row: I, U or D. */
  ops: Uint8Array
  /** One Arrow column per schema field. */
  columns: A.Data[]
  /** The primary key of each row as one string. */
  keys: string[]
  ts: OrderValue[] | undefined
  seq: OrderValue[] | undefined
  /** The columns `ts` and `seq` were read from (indexes into `columns`): the state reads kept rows' values there. */
  tsColumn?: number | undefined
  seqColumn?: number | undefined
  /** For U rows that carry a before-image key different from their key: that old key (the row moved). */
  movedFrom: (string | undefined)[] | undefined
  /** CSV: the physical line where each row starts, for error messages. */
  lines: Int32Array | undefined
  /** Row numbers in the file when rows were set aside (quarantine); otherwise row k is rowBase + k + 1. */
  rowNums?: Int32Array | undefined
}

export interface KeySpec {
  label: string
  pk: number[]
  pkNames: string[]
  ts: number | undefined
  seq: number | undefined
  /** Names of the ordering columns (for messages). */
  tsName?: string | undefined
  seqName?: string | undefined
  /** Before-image columns in primary-key order, when configured. */
  before: number[] | undefined
}

export function keySpec(
  label: string,
  schema: TableSchema,
  primaryKey: string[],
  ts: string | undefined,
  seq: string | undefined,
  beforeImage?: Record<string, string>,
): KeySpec {
  const index = (name: string): number => {
    const i = schema.fields.findIndex((f) => f.name === name)
    if (i < 0)
      throw new DataError(
        'CDC_PARQUET_COLUMN_MISSING',
        `table ${label}: column ${JSON.stringify(name)} is not in the files' schema (${schema.fields.map((f) => f.name).join(', ')})`,
        { table: label, column: name },
      )
    return i
  }
  return {
    label,
    pk: primaryKey.map(index),
    pkNames: primaryKey,
    ts: ts === undefined ? undefined : index(ts),
    seq: seq === undefined ? undefined : index(seq),
    tsName: ts,
    seqName: seq,
    before: beforeImage === undefined ? undefined : primaryKey.map((k) => index(beforeImage[k]!)),
  }
}

/**
 * Composite keys are their parts' strings joined with \u0001; inside a part, \u0000 and \u0001 are escaped as
 * \u0000\u0000 and \u0000\u0001, so that no two different tuples give one key (("a\u0001b","c") ≠ ("a","b\u0001c")).
 * Parts without those two characters (all real data) are kept as they are: the key is the old plain join, so keys
 * saved by earlier versions (state format 1) stay valid. A single-column key is its value's string, unescaped.
 */
const KEY_SEP = '\u0001'
const NEEDS_ESCAPE = /[\u0000\u0001]/

/** One part of a composite key, escaped (see KEY_SEP). */
export function escapeKeyPart(p: string): string {
  return NEEDS_ESCAPE.test(p) ? p.replace(/[\u0000\u0001]/g, (c) => '\u0000' + c) : p
}

/** The key of a tuple of key-part strings: the same encoding finishBatch uses. */
export function encodeKey(parts: readonly string[]): string {
  return parts.length === 1 ? parts[0]! : parts.map(escapeKeyPart).join(KEY_SEP)
}

/** Computes keys and ordering values of a batch from its columns (the same code for CSV, Parquet and snapshots). */
export function finishBatch(spec: KeySpec, b: Omit<ChangeBatch, 'keys' | 'ts' | 'seq' | 'movedFrom'>): ChangeBatch {
  const parts = spec.pk.map((i) => keyValues(b.columns[i]!))
  const keys = new Array<string>(b.length)
  if (parts.length === 1 && !parts[0]!.includes(null)) {
    // one key column without NULLs (the usual case): its strings are the keys
    const p = parts[0]!
    for (let r = 0; r < b.length; r++) keys[r] = p[r] as string
  } else
    for (let r = 0; r < b.length; r++) {
      let key = ''
      for (let k = 0; k < parts.length; k++) {
        const v = parts[k]![r]
        if (v === null || v === undefined) {
          const line = b.lines?.[r]
          throw new DataError(
            'CDC_PK_MISSING',
            `table ${spec.label}: primary-key column ${JSON.stringify(spec.pkNames[k])} is NULL in ${b.file.key}${line === undefined ? ` row ${b.rowBase + r + 1}` : `:${line}`}; expected a value`,
            {
              table: spec.label,
              file: b.file.key,
              ...(line === undefined ? { row: b.rowBase + r + 1 } : { line }),
              column: spec.pkNames[k]!,
              hint: "check the table's columns order and primaryKey in the config; DMS always writes the key, even for deletes",
            },
          )
        }
        const part = parts.length === 1 ? keyPart(v) : escapeKeyPart(keyPart(v))
        key = k === 0 ? part : key + KEY_SEP + part
      }
      keys[r] = key
    }
  let movedFrom: (string | undefined)[] | undefined
  if (spec.before !== undefined) {
    const bi = spec.before.map((i) => columnValues(b.columns[i]!))
    movedFrom = new Array<string | undefined>(b.length)
    for (let r = 0; r < b.length; r++) {
      if (b.ops[r] !== OP_UPDATE || bi.some((col) => col[r] === null)) continue
      const old = encodeKey(bi.map((col) => keyPart(col[r]!)))
      if (old !== keys[r]) movedFrom[r] = old
    }
  }
  return {
    ...b,
    keys,
    movedFrom,
    ts: spec.ts === undefined ? undefined : orderColumn(spec, b, spec.ts),
    seq: spec.seq === undefined ? undefined : orderColumn(spec, b, spec.seq),
    tsColumn: spec.ts,
    seqColumn: spec.seq,
  }
}

/** An ordering column's values. NaN has no place in the order: it is refused (CDC_VALUE_INVALID at its line). */
function orderColumn(
  spec: KeySpec,
  b: Omit<ChangeBatch, 'keys' | 'ts' | 'seq' | 'movedFrom'>,
  col: number,
): OrderValue[] {
  const data = b.columns[col]!
  const values = columnValues(data).map(orderValue)
  if (A.DataType.isFloat(data.type)) {
    const r = nanRow(values)
    if (r >= 0) {
      const line = b.lines?.[r]
      const name = spec.ts === col ? 'timestampColumn' : 'sequenceColumn'
      throw new DataError(
        'CDC_VALUE_INVALID',
        `table ${spec.label}: ordering column ${JSON.stringify((spec.ts === col ? spec.tsName : spec.seqName) ?? name)} is NaN in ${b.file.key}${line === undefined ? ` row ${b.rowNums?.[r] ?? b.rowBase + r + 1}` : `:${line}`}; expected a number (NaN has no place in the order of changes)`,
        {
          table: spec.label,
          file: b.file.key,
          ...(line === undefined ? { row: b.rowNums?.[r] ?? b.rowBase + r + 1 } : { line }),
          hint: `the ${name} decides which change wins and NaN cannot be ordered; fix the value at the source, or set onBadRow to "quarantine" to set the row aside`,
        },
      )
    }
  }
  return values
}

/** The first row whose value is NaN, or -1. */
export function nanRow(values: readonly OrderValue[]): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (typeof v === 'number' && v !== v) return i
  }
  return -1
}

/**
 * A key column's values as strings (null for NULL). Int64 columns take a fast path through their 32-bit words:
 * values within ±2^53 print as numbers without going through BigInt.
 */
function keyValues(data: A.Data): (string | null)[] {
  if (A.DataType.isInt(data.type) && data.type.bitWidth === 64 && data.type.isSigned) {
    // the values buffer is sliced already (Arrow JS); `offset` applies to the validity bitmap only
    const words = new Int32Array(
      (data.values as BigInt64Array).buffer,
      (data.values as BigInt64Array).byteOffset,
      data.length * 2,
    )
    const out = new Array<string | null>(data.length)
    const bitmap = data.nullCount > 0 ? data.nullBitmap : undefined
    for (let i = 0; i < data.length; i++) {
      const j = data.offset + i
      if (bitmap && ((bitmap[j >> 3]! >> (j & 7)) & 1) === 0) {
        out[i] = null
        continue
      }
      const lo = words[i * 2]! >>> 0
      const hi = words[i * 2 + 1]!
      out[i] =
        hi >= -2097152 && hi < 2097152 ? String(hi * 4294967296 + lo) : (data.values as BigInt64Array)[i]!.toString()
    }
    return out
  }
  return columnValues(data).map((v) => (v === null ? null : keyPart(v)))
}

function keyPart(v: JsValue): string {
  return typeof v === 'string' ? v : String(v)
}

export function orderValue(v: JsValue): OrderValue {
  if (v === null || typeof v === 'string' || typeof v === 'number') return v
  if (typeof v === 'bigint') return Number(v)
  return v ? 1 : 0
}
