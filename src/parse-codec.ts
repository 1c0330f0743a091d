// The wire format between the main thread and the decoding workers (parse-pool.ts, parse-worker.ts): a schema or a
// decoded object's columns as one Arrow IPC stream, the per-row arrays as owned typed arrays (transferred, not
// copied), and a coded error as its class name and fields, so that it is raised again as the same error.
import * as A from 'apache-arrow'
import * as E from './errors.js'
import { keySpec, type ChangeBatch, type OrderValue, type TableSchema } from './batch.js'
import { nullData } from './arrow/gather.js'
import { tableLabel, type ColumnType, type TableConfig } from './config.js'
import type { DmsFile } from './dms-names.js'
import type { ReadResult } from './read.js'
import type { Rejected } from './rejected.js'

export interface WireSchema {
  /** An Arrow IPC stream of the fields (no rows). */
  ipc: Uint8Array
  types: (ColumnType | undefined)[]
}

interface WireBatch {
  /** Records of the piece before the batch (a Parquet object's later record batches). */
  rowBase: number
  length: number
  ops: Uint8Array
  lines: Int32Array | undefined
  rowNums: Int32Array | undefined
  keys: string[]
  ts: OrderValue[] | undefined
  seq: OrderValue[] | undefined
  movedFrom: (string | undefined)[] | undefined
}

export interface WireResult {
  /** The schema and every batch's columns, in batch order. */
  ipc: Uint8Array
  types: (ColumnType | undefined)[]
  batches: WireBatch[]
  rejected: Rejected[]
}

export interface WireError {
  /** The CdcError subclass (its name), or "Error" for anything else. */
  cls: string
  code: string | undefined
  message: string
  stack: string | undefined
  fields: E.CdcErrorOptions
}

/**
 * `a` over a buffer of its own (a copy when it is a view into a larger one), so that the buffer can be transferred.
 * The copy is a plain typed array: `Buffer#slice` is a view (of Node's shared pool for small buffers, which is not
 * transferable: Node 20 copies such a buffer silently, Node 22 and later throw DataCloneError).
 */
export function owned<T extends Uint8Array | Int32Array>(a: T): T {
  if (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) return a
  return (a instanceof Int32Array ? new Int32Array(a) : new Uint8Array(a)) as T
}

/**
 * Posts `message` handing over `transfer`; when one of them cannot be transferred (Node 22 and later throw
 * DataCloneError where Node 20 copied), posts it copied instead: slower, never lost.
 */
export function postTransfer(
  port: { postMessage(message: unknown, transfer?: readonly ArrayBuffer[]): void },
  message: unknown,
  transfer: ArrayBuffer[],
): void {
  try {
    port.postMessage(message, transfer)
  } catch (err) {
    if ((err as Error)?.name !== 'DataCloneError' || transfer.length === 0) throw err
    port.postMessage(message)
  }
}

/** The distinct buffers of `arrays`: a transfer list. */
export function buffers(arrays: (ArrayBufferView | undefined)[]): ArrayBuffer[] {
  return [...new Set(arrays.flatMap((a) => (a ? [a.buffer as ArrayBuffer] : [])))]
}

export function schemaToWire(s: TableSchema | undefined): WireSchema | undefined {
  if (s === undefined) return undefined
  return { ipc: A.tableToIPC(new A.Table(new A.Schema(s.fields)), 'stream'), types: s.types }
}

export function schemaFromWire(w: WireSchema | undefined): TableSchema | undefined {
  if (w === undefined) return undefined
  return { fields: fieldsOf(A.tableFromIPC(w.ipc)), types: w.types }
}

function fieldsOf(table: A.Table): A.Field<A.DataType>[] {
  return table.schema.fields.map((f) => new A.Field(f.name, f.type as A.DataType, f.nullable))
}

export function resultToWire(r: ReadResult): { wire: WireResult; transfer: ArrayBuffer[] } {
  const schema = new A.Schema(r.schema.fields)
  const table = new A.Table(
    schema,
    r.batches.map(
      (b) =>
        new A.RecordBatch(
          schema,
          A.makeData({ type: new A.Struct(schema.fields), length: b.length, nullCount: 0, children: b.columns }),
        ),
    ),
  )
  const ipc = owned(A.tableToIPC(table, 'stream'))
  const batches = r.batches.map((b): WireBatch => ({
    rowBase: b.rowBase,
    length: b.length,
    ops: owned(b.ops),
    lines: b.lines && owned(b.lines),
    rowNums: b.rowNums && owned(b.rowNums),
    keys: b.keys,
    ts: b.ts,
    seq: b.seq,
    movedFrom: b.movedFrom,
  }))
  const transfer = buffers([ipc, ...batches.flatMap((b) => [b.ops, b.lines, b.rowNums])])
  return { wire: { ipc, types: r.schema.types, batches, rejected: r.rejected }, transfer }
}

/**
 * The result decoded by a worker, as `readFile` returns it, with `rowBase` records of the object before it (the
 * worker numbered the piece's rows from 0; CSV messages and rejected rows name lines, which it had right).
 */
export function resultFromWire(t: TableConfig, file: DmsFile, w: WireResult, rowBase: number): ReadResult {
  const table = A.tableFromIPC(w.ipc)
  const schema: TableSchema = { fields: fieldsOf(table), types: w.types }
  const spec = keySpec(tableLabel(t), schema, t.primaryKey, t.timestampColumn, t.sequenceColumn, t.beforeImageColumns)
  // an empty record batch may be dropped by the reader: its columns are rebuilt empty
  const datas = table.batches.filter((b) => b.numRows > 0).map((b) => b.data.children)
  const batches = w.batches.map((b): ChangeBatch => {
    const columns = b.length > 0 ? datas.shift()! : schema.fields.map((f) => nullData(f.type, 0))
    return {
      file,
      rowBase: rowBase + b.rowBase,
      length: b.length,
      ops: b.ops,
      columns,
      keys: b.keys,
      ts: b.ts,
      seq: b.seq,
      movedFrom: b.movedFrom,
      // as readFile sets them: the ordering columns stay Arrow columns in the state, not a JS value per row
      tsColumn: spec.ts,
      seqColumn: spec.seq,
      lines: b.lines,
      rowNums: b.rowNums && rowBase > 0 ? b.rowNums.map((n) => n + rowBase) : b.rowNums,
    }
  })
  return { schema, spec, batches, rejected: w.rejected }
}

const CLASSES: Record<string, new (code: E.ErrorCode, message: string, opts?: E.CdcErrorOptions) => E.CdcError> = {
  CdcError: E.CdcError,
  UsageError: E.UsageError,
  ConfigError: E.ConfigError,
  DataError: E.DataError,
  SourceError: E.SourceError,
  WatermarkError: E.WatermarkError,
  WriteError: E.WriteError,
  StateError: E.StateError,
  CatalogError: E.CatalogError,
  StepError: E.StepError,
  CheckError: E.CheckError,
}

export function errorToWire(err: unknown): WireError {
  const e = err instanceof Error ? err : new Error(String(err))
  if (!(e instanceof E.CdcError))
    return { cls: 'Error', code: undefined, message: e.message, stack: e.stack, fields: {} }
  const cause = e.cause instanceof Error ? e.cause.message : undefined
  const fields: E.CdcErrorOptions = {}
  for (const k of ['table', 'file', 'line', 'column', 'row', 'hint'] as const) {
    const v = e[k]
    if (v !== undefined) (fields as Record<string, unknown>)[k] = v
  }
  if (e.transient) fields.transient = true
  if (cause !== undefined) fields.cause = cause
  return { cls: e.name, code: e.code, message: e.message, stack: e.stack, fields }
}

/** The error a worker raised, raised again on this thread: the same class, code, message and position. */
export function errorFromWire(w: WireError): Error {
  const Cls = w.code === undefined ? undefined : CLASSES[w.cls]
  const cause = typeof w.fields.cause === 'string' ? new Error(w.fields.cause) : undefined
  const err = Cls
    ? new Cls(w.code as E.ErrorCode, w.message, { ...w.fields, ...(cause ? { cause } : {}) })
    : new Error(w.message)
  if (w.stack !== undefined) err.stack = `${err.stack ?? ''}\n    --- in the decoding worker ---\n${w.stack}`
  return err
}
