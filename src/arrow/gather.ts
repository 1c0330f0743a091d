// Gathering rows: one column built from rows of several source columns (the snapshot of the live table), runs of
// consecutive rows, and the columns made of one value (NULLs for a column a file lacks, the provenance columns).
import * as A from 'apache-arrow'

type FixedArray =
  | BigInt64Array
  | BigUint64Array
  | Float64Array
  | Float32Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array

// One copy loop per array class keeps each loop's element access monomorphic (a shared loop is several times slower).
function copyBig(out: BigInt64Array, src: BigInt64Array[], segs: Uint32Array, rows: Uint32Array): void {
  for (let k = 0; k < segs.length; k++) out[k] = src[segs[k]!]![rows[k]!]!
}
function copyF64(out: Float64Array, src: Float64Array[], segs: Uint32Array, rows: Uint32Array): void {
  for (let k = 0; k < segs.length; k++) out[k] = src[segs[k]!]![rows[k]!]!
}
function copyI32(out: Int32Array, src: Int32Array[], segs: Uint32Array, rows: Uint32Array): void {
  for (let k = 0; k < segs.length; k++) out[k] = src[segs[k]!]![rows[k]!]!
}
function copyStrided(out: Uint32Array, src: Uint32Array[], segs: Uint32Array, rows: Uint32Array, stride: number): void {
  for (let k = 0; k < segs.length; k++) {
    const v = src[segs[k]!]!
    const j = rows[k]! * stride
    for (let q = 0; q < stride; q++) out[k * stride + q] = v[j + q]!
  }
}

function copyFixed(
  proto: FixedArray,
  src: FixedArray[],
  segs: Uint32Array,
  rows: Uint32Array,
  stride: number,
): FixedArray {
  const n = segs.length
  if (proto instanceof BigInt64Array && stride === 1) {
    const out = new BigInt64Array(n)
    copyBig(out, src as BigInt64Array[], segs, rows)
    return out
  }
  if (proto instanceof Float64Array && stride === 1) {
    const out = new Float64Array(n)
    copyF64(out, src as Float64Array[], segs, rows)
    return out
  }
  if (proto instanceof Int32Array && stride === 1) {
    const out = new Int32Array(n)
    copyI32(out, src as Int32Array[], segs, rows)
    return out
  }
  // Any other class: view the bytes as 32-bit words when the element size allows, else copy element-wise.
  const bytes = proto.BYTES_PER_ELEMENT * stride
  if (bytes % 4 === 0) {
    const words = bytes / 4
    const out = new Uint32Array(n * words)
    copyStrided(
      out,
      src.map((a) => new Uint32Array(a.buffer, a.byteOffset, (a.byteLength / 4) | 0)),
      segs,
      rows,
      words,
    )
    return new (proto.constructor as new (b: ArrayBuffer) => FixedArray)(out.buffer)
  }
  const out = new (proto.constructor as new (n: number) => FixedArray)(n * stride) as unknown as {
    [i: number]: number | bigint
  }
  for (let k = 0; k < n; k++) {
    const v = src[segs[k]!]! as unknown as { [i: number]: number | bigint }
    const j = rows[k]! * stride
    for (let q = 0; q < stride; q++) out[k * stride + q] = v[j + q]!
  }
  return out as unknown as FixedArray
}

/** Maximal runs of consecutive rows of one source in a gather order: output `at[r]`.. takes `len[r]` rows from `row[r]` of `seg[r]`. */
export interface Runs {
  count: number
  at: Uint32Array
  seg: Uint32Array
  row: Uint32Array
  len: Uint32Array
}

/** The runs of a gather order (rows of a snapshot in segment order come in long runs when few keys changed). */
export function findRuns(segs: Uint32Array, rows: Uint32Array): Runs {
  const n = segs.length
  const at = new Uint32Array(n)
  const seg = new Uint32Array(n)
  const row = new Uint32Array(n)
  const len = new Uint32Array(n)
  let count = 0
  for (let k = 0; k < n;) {
    const s = segs[k]!
    const r0 = rows[k]!
    let l = 1
    while (k + l < n && segs[k + l] === s && rows[k + l] === r0 + l) l++
    at[count] = k
    seg[count] = s
    row[count] = r0
    len[count] = l
    count++
    k += l
  }
  return { count, at, seg, row, len }
}

/** Gathers with block copies, one per run: fixed-width and Utf8/Binary columns. */
function gatherRuns(
  type: A.DataType,
  sources: readonly A.Data[],
  n: number,
  runs: Runs,
  nulls: number,
  bits: Uint8Array,
): A.Data | undefined {
  if (A.DataType.isUtf8(type) || A.DataType.isBinary(type)) {
    let total = 0
    for (let r = 0; r < runs.count; r++) {
      const src = sources[runs.seg[r]!]!
      const o = src.valueOffsets as Int32Array
      const j = runs.row[r]!
      total += o[j + runs.len[r]!]! - o[j]!
    }
    const data = new Uint8Array(total)
    const offsets = new Int32Array(n + 1)
    let pos = 0
    for (let r = 0; r < runs.count; r++) {
      const src = sources[runs.seg[r]!]!
      const o = src.valueOffsets as Int32Array
      const j = runs.row[r]!
      const l = runs.len[r]!
      const a = o[j]!
      data.set((src.values as Uint8Array).subarray(a, o[j + l]!), pos)
      const at = runs.at[r]!
      const shift = pos - a
      for (let q = 1; q <= l; q++) offsets[at + q] = o[j + q]! + shift
      pos += o[j + l]! - a
    }
    return A.makeData({
      type: type as A.Utf8,
      length: n,
      nullCount: nulls,
      nullBitmap: bits,
      valueOffsets: offsets,
      data,
    })
  }
  const first = sources[0]
  const fixed =
    first !== undefined &&
    (A.DataType.isInt(type) ||
      A.DataType.isFloat(type) ||
      A.DataType.isDate(type) ||
      A.DataType.isTimestamp(type) ||
      A.DataType.isTime(type) ||
      A.DataType.isDecimal(type) ||
      A.DataType.isFixedSizeBinary(type))
  if (!fixed) return undefined
  const stride = first.stride || 1
  const proto = first.values as FixedArray
  if (sources.some((x) => (x.values as FixedArray).constructor !== proto.constructor || (x.stride || 1) !== stride))
    return undefined
  const out = new (proto.constructor as new (n: number) => FixedArray)(n * stride)
  for (let r = 0; r < runs.count; r++) {
    const src = sources[runs.seg[r]!]!
    const v = src.values as FixedArray
    const j = runs.row[r]! * stride
    ;(out as Uint8Array).set((v as Uint8Array).subarray(j, j + runs.len[r]! * stride), runs.at[r]! * stride)
  }
  return A.makeData({ type: type as never, length: n, nullCount: nulls, nullBitmap: bits, data: out as never })
}

/**
 * Builds one column from rows of several source columns of the same type: row k of the output is row
 * `rows[k]` of `sources[segs[k]]`. Fast paths for Utf8/Binary, fixed-width types and Bool.
 */
export function gather(
  type: A.DataType,
  sources: readonly A.Data[],
  segs: Uint32Array,
  rows: Uint32Array,
  runs?: Runs,
): A.Data {
  const n = segs.length
  const bits = new Uint8Array((n + 7) >> 3)
  let nulls = 0
  if (sources.every((s) => s.nullCount === 0 || !s.nullBitmap || s.nullBitmap.length === 0)) bits.fill(0xff)
  else {
    const maps = sources.map((s) =>
      s.nullCount === 0 || !s.nullBitmap || s.nullBitmap.length === 0 ? undefined : s.nullBitmap,
    )
    const offs = sources.map((s) => s.offset)
    if (runs !== undefined) {
      // by run: the rows of sources without NULLs (a snapshot's long runs) are not looked at one by one
      bits.fill(0xff)
      for (let r = 0; r < runs.count; r++) {
        const m = maps[runs.seg[r]!]
        if (m === undefined) continue
        const j0 = offs[runs.seg[r]!]! + runs.row[r]!
        const k0 = runs.at[r]!
        for (let q = 0; q < runs.len[r]!; q++) {
          const j = j0 + q
          if (((m[j >> 3]! >> (j & 7)) & 1) === 0) {
            const k = k0 + q
            bits[k >> 3]! &= ~(1 << (k & 7))
            nulls++
          }
        }
      }
    } else
      for (let k = 0; k < n; k++) {
        const m = maps[segs[k]!]
        const j = offs[segs[k]!]! + rows[k]!
        if (m === undefined || ((m[j >> 3]! >> (j & 7)) & 1) === 1) bits[k >> 3]! |= 1 << (k & 7)
        else nulls++
      }
  }
  // long runs (a snapshot where few keys changed): block copies
  if (runs !== undefined && runs.count * 4 <= n) {
    const d = gatherRuns(type, sources, n, runs, nulls, bits)
    if (d !== undefined) return d
  }
  if (A.DataType.isUtf8(type) || A.DataType.isBinary(type)) {
    // valueOffsets are sliced already: row i's bytes are offsets[i]..offsets[i + 1]
    const offsArr = sources.map((s) => s.valueOffsets as Int32Array)
    const valsArr = sources.map((s) => s.values as Uint8Array)
    let total = 0
    for (let k = 0; k < n; k++) {
      const o = offsArr[segs[k]!]!
      const j = rows[k]!
      total += o[j + 1]! - o[j]!
    }
    const data = new Uint8Array(total)
    const offsets = new Int32Array(n + 1)
    let pos = 0
    for (let k = 0; k < n; k++) {
      const o = offsArr[segs[k]!]!
      const v = valsArr[segs[k]!]!
      const j = rows[k]!
      const a = o[j]!
      const b = o[j + 1]!
      if (b - a > 64) data.set(v.subarray(a, b), pos)
      else for (let q = a; q < b; q++) data[pos + q - a] = v[q]!
      pos += b - a
      offsets[k + 1] = pos
    }
    return A.makeData({
      type: type as A.Utf8,
      length: n,
      nullCount: nulls,
      nullBitmap: bits,
      valueOffsets: offsets,
      data,
    })
  }
  if (A.DataType.isBool(type)) {
    const vals = new Uint8Array((n + 7) >> 3)
    for (let k = 0; k < n; k++) {
      const s = sources[segs[k]!]!
      const j = s.offset + rows[k]!
      if (((s.values as Uint8Array)[j >> 3]! >> (j & 7)) & 1) vals[k >> 3]! |= 1 << (k & 7)
    }
    return A.makeData({ type: type as A.Bool, length: n, nullCount: nulls, nullBitmap: bits, data: vals })
  }
  const first = sources[0]
  const fixed =
    first !== undefined &&
    (A.DataType.isInt(type) ||
      A.DataType.isFloat(type) ||
      A.DataType.isDate(type) ||
      A.DataType.isTimestamp(type) ||
      A.DataType.isTime(type) ||
      A.DataType.isDecimal(type) ||
      A.DataType.isFixedSizeBinary(type))
  if (fixed) {
    const stride = first.stride || 1
    const values = sources.map((s) => s.values as unknown)
    // fixed-width values are sliced already (Arrow JS applies `offset` to their buffers): row i is at i * stride
    const out = copyFixed(first.values as FixedArray, values as FixedArray[], segs, rows, stride)
    return A.makeData({ type: type as never, length: n, nullCount: nulls, nullBitmap: bits, data: out as never })
  }
  // Anything else (dictionaries, nested types from Parquet inputs): slow but general.
  const builder = A.makeBuilder({ type, nullValues: [null, undefined] })
  const vecs = sources.map((s) => A.makeVector(s))
  for (let k = 0; k < n; k++) builder.append(vecs[segs[k]!]!.get(rows[k]!))
  return builder.finish().flush() as A.Data
}

/** A column of `length` NULLs: the values of a column that a file did not have (schema drift). */
export function nullData(type: A.DataType, length: number): A.Data {
  const nullBitmap = new Uint8Array((length + 7) >> 3)
  if (A.DataType.isUtf8(type) || A.DataType.isBinary(type)) {
    return A.makeData({
      type: type as A.Utf8,
      length,
      nullCount: length,
      nullBitmap,
      valueOffsets: new Int32Array(length + 1),
      data: new Uint8Array(0),
    })
  }
  if (A.DataType.isBool(type))
    return A.makeData({
      type: type as A.Bool,
      length,
      nullCount: length,
      nullBitmap,
      data: new Uint8Array((length + 7) >> 3),
    })
  const probe = A.makeBuilder({ type, nullValues: [null] })
  for (let i = 0; i < length; i++) probe.append(null)
  return probe.finish().flush() as A.Data
}

/** A column of the same value (or null) repeated `n` times: the provenance and Op columns of RAW. */
export function constantUtf8(value: string, n: number): A.Data {
  const bytes = Buffer.from(value)
  const data = new Uint8Array(bytes.length * n)
  const offsets = new Int32Array(n + 1)
  for (let i = 0; i < n; i++) {
    data.set(bytes, i * bytes.length)
    offsets[i + 1] = (i + 1) * bytes.length
  }
  return A.makeData({ type: new A.Utf8(), length: n, nullCount: 0, valueOffsets: offsets, data })
}

/** A Utf8 column of the given strings (the cdc_file column of a snapshot, whose rows come grouped by file). */
export function utf8Column(values: readonly string[]): A.Data {
  if (values.length > 0 && values.every((v) => v === values[0])) return constantUtf8(values[0]!, values.length)
  // Runs of the same value are common (a snapshot's rows are grouped by file): encode each run's value once and
  // copy it by doubling blocks.
  const n = values.length
  const starts: number[] = []
  const bufs: Buffer[] = []
  let last: string | undefined
  let total = 0
  for (let i = 0; i < n; i++) {
    const v = values[i]!
    if (v !== last || i === 0) {
      last = v
      starts.push(i)
      bufs.push(Buffer.from(v))
    }
    total += bufs[bufs.length - 1]!.length
  }
  const data = new Uint8Array(total)
  const offsets = new Int32Array(n + 1)
  let pos = 0
  for (let r = 0; r < starts.length; r++) {
    const b = bufs[r]!
    const from = starts[r]!
    const to = r + 1 < starts.length ? starts[r + 1]! : n
    const bytes = b.length * (to - from)
    if (bytes > 0) {
      data.set(b, pos)
      for (let done = b.length; done < bytes; done *= 2)
        data.copyWithin(pos + done, pos, pos + Math.min(done, bytes - done))
    }
    for (let i = from; i < to; i++) offsets[i + 1] = pos + (i + 1 - from) * b.length
    pos += bytes
  }
  return A.makeData({ type: new A.Utf8(), length: n, nullCount: 0, valueOffsets: offsets, data })
}

/** A Utf8 column whose row i is `dict[idx[i]]` (every row `dict[0]` when idx is null): each value encoded once. */
export function utf8Dictionary(dict: readonly string[], idx: Uint32Array | null, n: number): A.Data {
  if (n === 0 || idx === null || dict.length === 1) return constantUtf8(dict[0] ?? '', n)
  const enc = dict.map((v) => Buffer.from(v))
  let total = 0
  for (let i = 0; i < n; i++) total += enc[idx[i]!]!.length
  const data = new Uint8Array(total)
  const offsets = new Int32Array(n + 1)
  let pos = 0
  for (let i = 0; i < n; i++) {
    const b = enc[idx[i]!]!
    if (b.length > 32) data.set(b, pos)
    else for (let q = 0; q < b.length; q++) data[pos + q] = b[q]!
    pos += b.length
    offsets[i + 1] = pos
  }
  return A.makeData({ type: new A.Utf8(), length: n, nullCount: 0, valueOffsets: offsets, data })
}

/**
 * One table of tables whose schemas differ only by columns added later: the widest schema's columns in its order
 * (then any column only others have), NULL where a table lacks a column.
 */
export function unionTable(tables: readonly A.Table[]): A.Table {
  const widest = tables.reduce((a, b) => (b.schema.fields.length > a.schema.fields.length ? b : a))
  const fields: A.Field[] = [...widest.schema.fields]
  for (const t of tables) for (const f of t.schema.fields) if (!fields.some((x) => x.name === f.name)) fields.push(f)
  const schema = new A.Schema(fields, widest.schema.metadata)
  const struct = new A.Struct(fields)
  const batches = tables.flatMap((t) =>
    t.batches.map((b) => {
      const children = fields.map((f) => {
        const i = b.schema.fields.findIndex((x) => x.name === f.name)
        return i < 0 ? nullData(f.type as A.DataType, b.numRows) : b.data.children[i]!
      })
      return new A.RecordBatch(schema, A.makeData({ type: struct, length: b.numRows, nullCount: 0, children }))
    }),
  )
  return new A.Table(schema, batches)
}
