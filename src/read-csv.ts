// DMS CSV → Arrow columns: RFC 4180 quoting, NULL = empty unquoted field, "" = empty string, Op first when present.
import { isUtf8 } from 'node:buffer'
import { DataError } from './errors.js'
import { makeFieldBuilder } from './arrow/builders.js'
import { recordShape } from './csv-shape.js'
import { OP_DELETE, OP_INSERT, OP_UPDATE } from './batch.js'
import type { ColumnConfig } from './config.js'
import type * as A from 'apache-arrow'
import type { Rejected } from './rejected.js'

export interface CsvContext {
  label: string
  key: string
  /** The file's name without extensions, for the `file` of rejected rows; default: the key. */
  name?: string
  columns: ColumnConfig[]
  /** The rows start with the Op field. */
  hasOp: boolean
  /** The first record is a header (DMS AddColumnName=true). */
  header: boolean
  opColumn: string
  /** 'quarantine': a row that breaks a row-level rule is set aside (see `rejected`) instead of failing the file. */
  onBadRow?: 'fail' | 'quarantine'
  /** Physical line of the first byte (a later piece of an object read in pieces); default 1. */
  firstLine?: number
}

export interface CsvResult {
  length: number
  ops: Uint8Array
  columns: A.Data[]
  lines: Int32Array
  /** Row number of each accepted row among all the file's records (differs from its index once rows are rejected). */
  rowNums: Int32Array | undefined
  /** Rows set aside by onBadRow "quarantine": their `file` is the context's `name` (default: the key). */
  rejected: Rejected[]
}

/** Thrown inside the parser for a row-level problem when rows are quarantined; never escapes parseCsv. */
class RowReject extends Error {
  constructor(readonly error: DataError) {
    super(error.message)
  }
}

const ROW_LEVEL = new Set(['CDC_CSV_FIELD_COUNT', 'CDC_CSV_MALFORMED', 'CDC_ROW_INVALID_OP', 'CDC_VALUE_INVALID'])

const COMMA = 0x2c
const QUOTE = 0x22
const LF = 0x0a
const CR = 0x0d

export function parseCsv(bytes: Uint8Array, ctx: CsvContext): CsvResult {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (!isUtf8(buf)) throw invalidUtf8(buf, ctx)
  const builders = ctx.columns.map((c) => makeFieldBuilder(c.type))
  const first = ctx.hasOp ? 1 : 0
  const expected = ctx.columns.length + first
  let ops = new Uint8Array(1024)
  let lines = new Int32Array(1024)
  let rows = 0
  let pos = 0
  let line = ctx.firstLine ?? 1
  const n = buf.length
  let headerPending = ctx.header
  const headerNames: string[] = []
  const rejected: Rejected[] = []
  const quarantine = ctx.onBadRow === 'quarantine'
  let records = 0
  let rowNums: Int32Array | undefined
  const isLoad = /(^|\/)LOAD[0-9A-F]{8}\./.test(ctx.key)

  const fail = (
    code:
      | 'CDC_CSV_FIELD_COUNT'
      | 'CDC_CSV_MALFORMED'
      | 'CDC_CSV_UNTERMINATED_QUOTE'
      | 'CDC_ROW_INVALID_OP'
      | 'CDC_VALUE_INVALID'
      | 'CDC_SCHEMA_MISMATCH',
    at: number,
    what: string,
    column?: string,
    hint?: string,
  ): never => {
    const err = new DataError(code, `table ${ctx.label}: ${what} in ${ctx.key}:${at}`, {
      table: ctx.label,
      file: ctx.key,
      line: at,
      ...(column === undefined ? {} : { column }),
      ...(hint === undefined ? {} : { hint }),
    })
    if (quarantine && !headerPending && ROW_LEVEL.has(code)) throw new RowReject(err)
    throw err
  }

  /** After a rejected field: moves past the rest of the record, honouring quotes. */
  const skipRecord = (): void => {
    let quoted = false
    while (pos < n) {
      const c = buf[pos]!
      if (quoted) {
        if (c === QUOTE) {
          if (buf[pos + 1] === QUOTE) pos += 2
          else {
            quoted = false
            pos++
          }
          continue
        }
        if (c === LF) line++
        pos++
        continue
      }
      if (c === QUOTE) quoted = true
      else if (c === LF || (c === CR && buf[pos + 1] === LF)) {
        pos += c === CR ? 2 : 1
        line++
        return
      }
      pos++
    }
    if (quoted)
      throw new DataError(
        'CDC_CSV_UNTERMINATED_QUOTE',
        `table ${ctx.label}: a quoted field is not closed before the end of the file in ${ctx.key}:${line}`,
        { table: ctx.label, file: ctx.key, line },
      )
  }

  while (pos < n) {
    const recordLine = line
    let field = 0
    if (!headerPending) {
      if (rows >= ops.length) {
        const o = new Uint8Array(ops.length * 2)
        o.set(ops)
        ops = o
        const l = new Int32Array(lines.length * 2)
        l.set(lines)
        lines = l
      }
      lines[rows] = recordLine
      ops[rows] = OP_INSERT
    }
    const recordStart = pos
    let recordDone = false
    try {
      for (;;) {
        let start: number
        let end: number
        let quoted = false
        let escaped = false
        if (buf[pos] === QUOTE) {
          quoted = true
          let j = pos + 1
          for (;;) {
            if (j >= n)
              fail(
                'CDC_CSV_UNTERMINATED_QUOTE',
                recordLine,
                `a quoted field is not closed before the end of the file (field ${field + 1})`,
                undefined,
                'the object is truncated or not DMS CSV',
              )
            const c = buf[j]!
            if (c === QUOTE) {
              if (buf[j + 1] === QUOTE) {
                escaped = true
                j += 2
                continue
              }
              break
            }
            if (c === LF) line++
            j++
          }
          start = pos + 1
          end = j
          pos = j + 1
          const c = buf[pos]
          if (pos < n && c !== COMMA && c !== LF && !(c === CR && buf[pos + 1] === LF)) {
            fail(
              'CDC_CSV_MALFORMED',
              line,
              `expected a comma or the end of the line after the closing quote of field ${field + 1}, got ${JSON.stringify(String.fromCharCode(c!))}`,
            )
          }
        } else {
          let j = pos
          while (j < n) {
            const c = buf[j]!
            if (c === COMMA || c === LF || (c === CR && buf[j + 1] === LF)) break
            j++
          }
          start = pos
          end = j
          pos = j
        }

        if (headerPending) headerNames.push(buf.toString('utf8', start, end))
        else if (field < first) {
          const c = end - start === 1 ? buf[start]! : 0
          if (c !== OP_INSERT && c !== OP_UPDATE && c !== OP_DELETE) {
            fail(
              'CDC_ROW_INVALID_OP',
              recordLine,
              `unknown Op ${JSON.stringify(buf.toString('utf8', start, Math.min(end, start + 20)))}; expected I, U or D`,
              ctx.opColumn,
              ctx.hasOp && /(^|\/)LOAD[0-9A-F]{8}\./.test(ctx.key)
                ? "the full-load files have no Op column: set the table's includeOpForFullLoad to false"
                : "DMS writes I, U or D first in every change row: check the table's columns and includeOpForFullLoad",
            )
          }
          ops[rows] = c
        } else if (field < expected) {
          const b = builders[field - first]!
          if (!quoted && start === end) b.appendNull()
          else {
            const err = b.append(buf, start, end, escaped)
            if (err !== undefined) {
              const col = ctx.columns[field - first]!
              // a record with the wrong number of fields: the config's shape is the cause, not the value
              const shape = recordShape(buf, recordStart, ctx.columns, ctx.hasOp, isLoad)
              if (shape)
                fail(
                  'CDC_CSV_FIELD_COUNT',
                  recordLine,
                  `expected ${expected} fields (${ctx.hasOp ? 'Op + ' : ''}${ctx.columns.length} columns), got ${shape.fields}; read as configured, column ${JSON.stringify(col.name)} would get a value that is not ${err}`,
                  undefined,
                  shape.hint,
                )
              fail(
                'CDC_VALUE_INVALID',
                recordLine,
                `column ${JSON.stringify(col.name)} value ${JSON.stringify(buf.toString('utf8', start, Math.min(end, start + 40)))} is not ${err}`,
                col.name,
                "fix the column's type in the config or the column order",
              )
            }
          }
        }
        field++
        if (pos < n && buf[pos] === COMMA) {
          pos++ // a comma: another field follows, an empty one at the end of the line or file
          continue
        }
        if (pos < n) {
          pos += buf[pos] === CR ? 2 : 1
          line++
        }
        recordDone = true
        break
      }
      if (headerPending) {
        headerPending = false
        const want = [...(ctx.hasOp ? [ctx.opColumn] : []), ...ctx.columns.map((c) => c.name)]
        if (headerNames.join(',') !== want.join(',')) {
          fail(
            'CDC_SCHEMA_MISMATCH',
            recordLine,
            `header ${JSON.stringify(headerNames.join(','))} does not match the configured columns ${JSON.stringify(want.join(','))}`,
          )
        }
        continue
      }
      if (field !== expected) {
        fail(
          'CDC_CSV_FIELD_COUNT',
          recordLine,
          `expected ${expected} fields (${ctx.hasOp ? 'Op + ' : ''}${ctx.columns.length} columns), got ${field}`,
          undefined,
          recordShape(buf, recordStart, ctx.columns, ctx.hasOp, isLoad)?.hint ??
            (ctx.hasOp
              ? "check the table's columns list; DMS appends columns after DDL or new add-column rules"
              : 'if the full-load files carry an Op column, set includeOpForFullLoad to true'),
        )
      }
    } catch (e) {
      if (!(e instanceof RowReject)) throw e
      if (!recordDone) skipRecord()
      for (const b of builders) b.truncate(rows)
      rejected.push({
        file: ctx.name ?? ctx.key,
        line: recordLine,
        row: null,
        code: e.error.code,
        reason: e.error.message,
        record: buf.toString('utf8', recordStart, pos).replace(/\r?\n$/, ''),
      })
      if (rowNums === undefined) rowNums = Int32Array.from({ length: lines.length }, (_, i) => i + 1)
      records++
      continue
    }
    records++
    if (rowNums !== undefined) {
      if (rows >= rowNums.length) {
        const r = new Int32Array(rowNums.length * 2)
        r.set(rowNums)
        rowNums = r
      }
      rowNums[rows] = records
    }
    rows++
  }
  return {
    length: rows,
    ops: ops.subarray(0, rows),
    columns: builders.map((b) => b.finish()),
    lines: lines.subarray(0, rows),
    rowNums: rowNums?.subarray(0, rows),
    rejected,
  }
}

/** The names in the first record of a CSV object (DMS AddColumnName=true). */
export function readHeader(bytes: Uint8Array): string[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const names: string[] = []
  let pos = 0
  for (;;) {
    let value = ''
    if (buf[pos] === QUOTE) {
      let j = pos + 1
      for (;;) {
        if (j >= buf.length) return names
        if (buf[j] === QUOTE) {
          if (buf[j + 1] === QUOTE) {
            value += '"'
            j += 2
            continue
          }
          break
        }
        let k = j
        while (k < buf.length && buf[k] !== QUOTE) k++
        value += buf.toString('utf8', j, k)
        j = k
      }
      pos = j + 1
    } else {
      let j = pos
      while (j < buf.length && buf[j] !== COMMA && buf[j] !== LF && buf[j] !== CR) j++
      value = buf.toString('utf8', pos, j)
      pos = j
    }
    names.push(value)
    if (buf[pos] === COMMA) pos++
    else return names
  }
}

function invalidUtf8(buf: Buffer, ctx: CsvContext): DataError {
  let line = ctx.firstLine ?? 1
  let start = 0
  for (let i = 0; i <= buf.length; i++) {
    if (i === buf.length || buf[i] === LF) {
      if (!isUtf8(buf.subarray(start, i))) break
      line++
      start = i + 1
    }
  }
  return new DataError(
    'CDC_CSV_INVALID_UTF8',
    `table ${ctx.label}: invalid UTF-8 in ${ctx.key}:${line}; expected UTF-8 text`,
    {
      table: ctx.label,
      file: ctx.key,
      line,
      hint: 'DMS writes UTF-8; the object is corrupt or was not written by DMS',
    },
  )
}
