// Why a DMS CSV record does not fit the table's config, when the cause is a setting rather than the data: a full
// load with an Op column read with includeOpForFullLoad false, a column missing from (or extra in) `columns`, a
// header-less file read with header true. Used only on the error path, to name the likely setting in the error.
import { makeFieldBuilder } from './arrow/builders.js'
import type { ColumnConfig } from './config.js'

interface Field {
  start: number
  end: number
  quoted: boolean
  escaped: boolean
}

/** The fields of the record starting at `pos` (RFC 4180 quoting), up to its line end or the end of the buffer. */
export function splitRecord(buf: Buffer, pos: number): Field[] {
  const fields: Field[] = []
  const n = buf.length
  for (;;) {
    if (buf[pos] === 0x22) {
      let j = pos + 1
      let escaped = false
      while (j < n) {
        if (buf[j] === 0x22) {
          if (buf[j + 1] !== 0x22) break
          escaped = true
          j++
        }
        j++
      }
      fields.push({ start: pos + 1, end: Math.min(j, n), quoted: true, escaped })
      pos = j + 1
      while (pos < n && buf[pos] !== 0x2c && buf[pos] !== 0x0a && buf[pos] !== 0x0d) pos++
    } else {
      let j = pos
      while (j < n && buf[j] !== 0x2c && buf[j] !== 0x0a && !(buf[j] === 0x0d && buf[j + 1] === 0x0a)) j++
      fields.push({ start: pos, end: j, quoted: false, escaped: false })
      pos = j
    }
    if (pos < n && buf[pos] === 0x2c) {
      pos++
      continue
    }
    return fields
  }
}

/** Whether every field parses as its column's type (an unquoted empty field is NULL, always accepted). */
function fits(buf: Buffer, fields: Field[], columns: ColumnConfig[]): boolean {
  return fields.every(
    (f, i) =>
      (!f.quoted && f.start === f.end) ||
      makeFieldBuilder(columns[i]!.type).append(buf, f.start, f.end, f.escaped) === undefined,
  )
}

export interface Shape {
  /** The record's field count. */
  fields: number
  hint: string
}

const isOp = (buf: Buffer, f: Field): boolean =>
  f.end - f.start === 1 && (buf[f.start] === 0x49 || buf[f.start] === 0x55 || buf[f.start] === 0x44)

/**
 * The likely setting behind a record that fails with the configured columns, or undefined when its field count is
 * right (then the value itself is wrong). `hasOp`: the reader expects an Op field first; `isLoad`: a LOAD file.
 */
export function recordShape(
  buf: Buffer,
  pos: number,
  columns: ColumnConfig[],
  hasOp: boolean,
  isLoad: boolean,
): Shape | undefined {
  const fields = splitRecord(buf, pos)
  const first = hasOp ? 1 : 0
  const expected = columns.length + first
  if (fields.length === expected) return undefined
  const n = fields.length
  if (
    !hasOp &&
    isLoad &&
    fields.length === expected + 1 &&
    isOp(buf, fields[0]!) &&
    fits(buf, fields.slice(1), columns)
  ) {
    return {
      fields: n,
      hint: "the full-load file starts each row with an Op field (I): set the table's includeOpForFullLoad to true (DMS IncludeOpForFullLoad=true)",
    }
  }
  if (hasOp && isLoad && fields.length === expected - 1 && !isOp(buf, fields[0]!) && fits(buf, fields, columns)) {
    return {
      fields: n,
      hint: "the full-load file has no Op field: set the table's includeOpForFullLoad to false (DMS IncludeOpForFullLoad=false)",
    }
  }
  const data = fields.slice(first)
  // the gap where a missing column can go, from the first to the last position that makes every value fit
  const gap = (lo: number, hi: number): string =>
    [
      lo > 0 ? `after ${JSON.stringify(columns[lo - 1]!.name)}` : '',
      hi < columns.length ? `before ${JSON.stringify(columns[hi]!.name)}` : '',
    ]
      .filter((x) => x)
      .join(' and ')
  if (data.length === columns.length + 1) {
    // one column too few in the config: where can the file's extra field go so that every other value fits?
    const at: number[] = []
    for (let i = 0; i < data.length; i++)
      if (fits(buf, [...data.slice(0, i), ...data.slice(i + 1)], columns)) at.push(i)
    if (at.length > 0) {
      return {
        fields: n,
        hint: `the file has one more column than the table's "columns" lists: the missing column is ${gap(at[0]!, at.at(-1)!)} (DMS writes the source table's columns in order; add it there)`,
      }
    }
  }
  if (data.length === columns.length - 1) {
    const at: number[] = []
    for (let i = 0; i < columns.length; i++)
      if (fits(buf, data, [...columns.slice(0, i), ...columns.slice(i + 1)])) at.push(i)
    if (at.length > 0) {
      const names = at.map((i) => JSON.stringify(columns[i]!.name))
      return {
        fields: n,
        hint: `the file has one column less than the table's "columns" lists: ${names.length === 1 ? `${names[0]} is` : `one of ${names.join(', ')} is`} not in the file; remove it from "columns" (or add it to columnsFrom from the file where DMS starts writing it)`,
      }
    }
  }
  return {
    fields: n,
    hint:
      fields.length > expected
        ? 'the file has more fields than the table\'s "columns" lists: add the missing columns in file order (after a DDL change, see columnsFrom)'
        : 'the file has fewer fields than the table\'s "columns" lists: remove the columns the file does not carry (or see columnsFrom)',
  }
}

/**
 * For a table read with header true: the file's first record is data, not a header, when it names none of the
 * configured columns (nor the Op column) and reads like a DMS row: an Op value first, an empty field, or a field
 * that starts with a digit (a number, a date, a timestamp), which no column name from a DMS header does.
 */
export function looksHeaderless(names: string[], columns: ColumnConfig[], opColumn: string): boolean {
  const known = new Set([opColumn, ...columns.map((c) => c.name)])
  if (names.length === 0 || names.some((n) => known.has(n))) return false
  return ['I', 'U', 'D'].includes(names[0]!) || names.some((n) => n === '' || /^[-+]?[0-9]/.test(n))
}
