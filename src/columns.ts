// Arrow columns: types from config, fast builders for CSV fields, value extraction and row gathering.
import * as A from 'apache-arrow'
import type { ColumnType } from './config.js'

export function arrowType(t: ColumnType): A.DataType {
  switch (t.kind) {
    case 'string': return new A.Utf8()
    case 'integer': return new A.Int64()
    case 'double': return new A.Float64()
    case 'boolean': return new A.Bool()
    case 'date': return new A.DateDay()
    case 'timestamp': return new A.TimestampMicrosecond()
    case 'decimal': return new A.Decimal(t.scale, t.precision, 128)
  }
}

// ---------------------------------------------------------------- growable buffers

class Bits {
  bytes = new Uint8Array(64)
  nulls = 0
  set(i: number, valid: boolean): void {
    const b = i >> 3
    if (b >= this.bytes.length) this.bytes = grow(this.bytes, b + 1)
    if (valid) this.bytes[b]! |= 1 << (i & 7)
    else this.nulls++
  }
  finish(length: number): Uint8Array {
    return this.bytes.subarray(0, (length + 7) >> 3)
  }
}

function grow<T extends Uint8Array | Int32Array | Float64Array | BigInt64Array | Uint32Array>(a: T, need: number): T {
  let n = a.length * 2
  while (n < need) n *= 2
  const b = new (a.constructor as new (n: number) => T)(n)
  b.set(a as never)
  return b
}

/** Appends CSV field bytes to one Arrow column. `append` returns an error text for a value it cannot parse. */
export interface FieldBuilder {
  readonly type: A.DataType
  appendNull(): void
  append(buf: Buffer, start: number, end: number, escaped: boolean): string | undefined
  finish(): A.Data
}

export function makeFieldBuilder(t: ColumnType): FieldBuilder {
  switch (t.kind) {
    case 'string': return new Utf8Builder()
    case 'integer': return new Int64Builder()
    case 'double': return new Float64Builder()
    case 'boolean': return new BoolBuilder()
    case 'date': return new DateBuilder()
    case 'timestamp': return new TimestampBuilder()
    case 'decimal': return new DecimalBuilder(t.precision, t.scale)
  }
}

class Utf8Builder implements FieldBuilder {
  readonly type = new A.Utf8()
  private offsets = new Int32Array(1024)
  private data = new Uint8Array(16384)
  private bits = new Bits()
  private n = 0
  private pos = 0
  appendNull(): void {
    this.bits.set(this.n, false)
    this.push()
  }
  append(buf: Buffer, start: number, end: number, escaped: boolean): undefined {
    const len = end - start
    if (this.pos + len > this.data.length) this.data = grow(this.data, this.pos + len)
    if (!escaped) {
      this.data.set(buf.subarray(start, end), this.pos)
      this.pos += len
    } else {
      // a quoted field with doubled quotes: keep one of each pair
      for (let i = start; i < end; i++) {
        const c = buf[i]!
        this.data[this.pos++] = c
        if (c === 0x22) i++
      }
    }
    this.bits.set(this.n, true)
    this.push()
    return undefined
  }
  private push(): void {
    this.n++
    if (this.n >= this.offsets.length) this.offsets = grow(this.offsets, this.n + 1)
    this.offsets[this.n] = this.pos
  }
  finish(): A.Data {
    return A.makeData({ type: this.type, length: this.n, nullCount: this.bits.nulls, nullBitmap: this.bits.finish(this.n), valueOffsets: this.offsets.subarray(0, this.n + 1), data: this.data.subarray(0, this.pos) })
  }
}

abstract class FixedBuilder<T extends BigInt64Array | Float64Array | Int32Array | Uint32Array> implements FieldBuilder {
  abstract readonly type: A.DataType
  protected n = 0
  protected bits = new Bits()
  constructor(protected values: T, protected stride = 1) {}
  appendNull(): void {
    this.ensure()
    this.bits.set(this.n++, false)
  }
  protected ensure(): void {
    if ((this.n + 1) * this.stride > this.values.length) this.values = grow(this.values, (this.n + 1) * this.stride)
  }
  abstract append(buf: Buffer, start: number, end: number, escaped: boolean): string | undefined
  protected ok(): undefined {
    this.bits.set(this.n++, true)
    return undefined
  }
  finish(): A.Data {
    return A.makeData({ type: this.type as never, length: this.n, nullCount: this.bits.nulls, nullBitmap: this.bits.finish(this.n), data: this.values.subarray(0, this.n * this.stride) as never })
  }
}

const INT_RE = /^[+-]?\d+$/
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

class Int64Builder extends FixedBuilder<BigInt64Array> {
  readonly type = new A.Int64()
  constructor() { super(new BigInt64Array(1024)) }
  append(buf: Buffer, start: number, end: number): string | undefined {
    const s = buf.toString('latin1', start, end)
    if (!INT_RE.test(s)) return 'an integer'
    this.ensure()
    if (end - start <= 15) this.values[this.n] = BigInt(Number(s))
    else {
      const v = BigInt(s)
      if (v < INT64_MIN || v > INT64_MAX) return 'an integer within the 64-bit range'
      this.values[this.n] = v
    }
    return this.ok()
  }
}

const DOUBLE_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(Infinity|inf)$|^NaN$/i

class Float64Builder extends FixedBuilder<Float64Array> {
  readonly type = new A.Float64()
  constructor() { super(new Float64Array(1024)) }
  append(buf: Buffer, start: number, end: number): string | undefined {
    const s = buf.toString('latin1', start, end)
    if (!DOUBLE_RE.test(s)) return 'a number'
    this.ensure()
    const l = s.toLowerCase()
    this.values[this.n] = l.endsWith('inf') || l.endsWith('infinity') ? (l.startsWith('-') ? -Infinity : Infinity) : Number(s)
    return this.ok()
  }
}

class DateBuilder extends FixedBuilder<Int32Array> {
  readonly type = new A.DateDay()
  constructor() { super(new Int32Array(1024)) }
  append(buf: Buffer, start: number, end: number): string | undefined {
    const days = parseDate(buf.toString('latin1', start, end))
    if (days === undefined) return 'a date YYYY-MM-DD'
    this.ensure()
    this.values[this.n] = days
    return this.ok()
  }
}

class TimestampBuilder extends FixedBuilder<BigInt64Array> {
  readonly type = new A.TimestampMicrosecond()
  constructor() { super(new BigInt64Array(1024)) }
  append(buf: Buffer, start: number, end: number): string | undefined {
    const us = parseTimestampMicros(buf.toString('latin1', start, end))
    if (us === undefined) return 'a timestamp YYYY-MM-DD HH:MM:SS[.ffffff]'
    this.ensure()
    this.values[this.n] = us
    return this.ok()
  }
}

const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?$/

class DecimalBuilder extends FixedBuilder<Uint32Array> {
  readonly type: A.Decimal
  constructor(private precision: number, private scale: number) {
    super(new Uint32Array(4096), 4)
    this.type = new A.Decimal(scale, precision, 128)
  }
  append(buf: Buffer, start: number, end: number): string | undefined {
    const m = DECIMAL_RE.exec(buf.toString('latin1', start, end))
    const expected = `a decimal(${this.precision},${this.scale})`
    if (!m || (m[2] === '' && (m[3] ?? '') === '')) return expected
    const frac = (m[3] ?? '').replace(/0+$/, '')
    if (frac.length > this.scale) return `${expected} (at most ${this.scale} digits after the point)`
    const digits = (m[2]! + frac.padEnd(this.scale, '0')).replace(/^0+(?=\d)/, '')
    if (digits.length > this.precision) return `${expected} (at most ${this.precision} digits)`
    let v = BigInt(digits)
    if (m[1] === '-') v = -v
    this.ensure()
    writeI128(this.values, this.n * 4, v)
    return this.ok()
  }
}

class BoolBuilder implements FieldBuilder {
  readonly type = new A.Bool()
  private values = new Bits()
  private bits = new Bits()
  private n = 0
  appendNull(): void {
    this.values.set(this.n, false)
    this.bits.set(this.n++, false)
  }
  append(buf: Buffer, start: number, end: number): string | undefined {
    const s = buf.toString('latin1', start, end).toLowerCase()
    const v = s === 'true' || s === 't' || s === '1' ? true : s === 'false' || s === 'f' || s === '0' ? false : undefined
    if (v === undefined) return 'a boolean (true, false, t, f, 1 or 0)'
    this.values.set(this.n, v)
    this.bits.set(this.n++, true)
    return undefined
  }
  finish(): A.Data {
    return A.makeData({ type: this.type, length: this.n, nullCount: this.bits.nulls, nullBitmap: this.bits.finish(this.n), data: this.values.finish(this.n) })
  }
}

// ---------------------------------------------------------------- parsing helpers

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/
const TS_RE = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z?$/

export function parseDate(s: string): number | undefined {
  const m = DATE_RE.exec(s)
  if (!m) return undefined
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))
  const d = new Date(ms)
  if (d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3])) return undefined
  return ms / 86_400_000
}

export function parseTimestampMicros(s: string): bigint | undefined {
  const m = TS_RE.exec(s)
  if (!m) return undefined
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number]
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return undefined
  const ms = Date.UTC(y, mo - 1, d, h, mi, sec)
  if (new Date(ms).getUTCDate() !== d) return undefined
  const frac = m[7] === undefined ? 0 : Number(m[7].slice(0, 6).padEnd(6, '0'))
  return BigInt(ms) * 1000n + BigInt(frac)
}

function writeI128(words: Uint32Array, at: number, v: bigint): void {
  let u = BigInt.asUintN(128, v)
  for (let k = 0; k < 4; k++) {
    words[at + k] = Number(u & 0xffffffffn)
    u >>= 32n
  }
}

function readI128(words: Uint32Array, at: number): bigint {
  let u = 0n
  for (let k = 3; k >= 0; k--) u = (u << 32n) | BigInt(words[at + k]!)
  return BigInt.asIntN(128, u)
}

export function decimalToString(v: bigint, scale: number): string {
  if (scale === 0) return v.toString()
  const neg = v < 0n
  const s = (neg ? -v : v).toString().padStart(scale + 1, '0')
  return `${neg ? '-' : ''}${s.slice(0, -scale)}.${s.slice(-scale)}`
}

// ---------------------------------------------------------------- reading values back

export type JsValue = string | number | bigint | boolean | null

function isValid(data: A.Data, i: number): boolean {
  if (data.nullCount === 0 || !data.nullBitmap || data.nullBitmap.length === 0) return true
  const j = data.offset + i
  return ((data.nullBitmap[j >> 3]! >> (j & 7)) & 1) === 1
}

/**
 * The values of one column as plain JS values: strings, numbers (int32, float, date days), bigints (int64,
 * timestamps in their unit), booleans, decimals as exact strings. Used for keys, ordering, tests and the oracle.
 */
export function columnValues(data: A.Data): JsValue[] {
  const n = data.length
  const out = new Array<JsValue>(n)
  const t = data.type
  const off = data.offset
  if (A.DataType.isUtf8(t) || A.DataType.isLargeUtf8(t)) {
    const offsets = data.valueOffsets as Int32Array | BigInt64Array
    const bytes = data.values as Uint8Array
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let i = 0; i < n; i++) out[i] = isValid(data, i) ? buf.toString('utf8', Number(offsets[off + i]), Number(offsets[off + i + 1])) : null
    return out
  }
  if (A.DataType.isDecimal(t)) {
    const words = data.values as Uint32Array
    const stride = t.bitWidth / 32
    for (let i = 0; i < n; i++) {
      out[i] = isValid(data, i) ? decimalToString(stride === 4 ? readI128(words, (off + i) * 4) : BigInt.asIntN(t.bitWidth, readWide(words, (off + i) * stride, stride)), t.scale) : null
    }
    return out
  }
  if (A.DataType.isBool(t)) {
    const bits = data.values as Uint8Array
    for (let i = 0; i < n; i++) {
      const j = off + i
      out[i] = isValid(data, i) ? ((bits[j >> 3]! >> (j & 7)) & 1) === 1 : null
    }
    return out
  }
  if ((A.DataType.isInt(t) || A.DataType.isFloat(t) || A.DataType.isDate(t) || A.DataType.isTimestamp(t) || A.DataType.isTime(t)) && (data.values as ArrayLike<unknown>).length >= (off + n) * (data.stride || 1)) {
    const v = data.values as unknown as ArrayLike<number | bigint>
    const stride = data.stride || 1
    if (stride === 1) {
      for (let i = 0; i < n; i++) out[i] = isValid(data, i) ? v[off + i]! : null
      return out
    }
  }
  const vec = A.makeVector(data)
  for (let i = 0; i < n; i++) {
    const x = vec.get(i) as unknown
    out[i] = x === null || x === undefined ? null : typeof x === 'object' ? (x instanceof Uint8Array ? Buffer.from(x).toString('base64') : String(x)) : (x as JsValue)
  }
  return out
}

function readWide(words: Uint32Array, at: number, stride: number): bigint {
  let u = 0n
  for (let k = stride - 1; k >= 0; k--) u = (u << 32n) | BigInt(words[at + k]!)
  return u
}

// ---------------------------------------------------------------- gathering rows

/**
 * Builds one column from rows of several source columns of the same type: row k of the output is row
 * `rows[k]` of `sources[segs[k]]`. Fast paths for Utf8/Binary, fixed-width types and Bool.
 */
export function gather(type: A.DataType, sources: readonly A.Data[], segs: Uint32Array, rows: Uint32Array): A.Data {
  const n = segs.length
  const bits = new Uint8Array((n + 7) >> 3)
  let nulls = 0
  for (let k = 0; k < n; k++) {
    if (isValid(sources[segs[k]!]!, rows[k]!)) bits[k >> 3]! |= 1 << (k & 7)
    else nulls++
  }
  if (A.DataType.isUtf8(type) || A.DataType.isBinary(type)) {
    let total = 0
    for (let k = 0; k < n; k++) {
      const s = sources[segs[k]!]!
      const o = s.valueOffsets as Int32Array
      const j = s.offset + rows[k]!
      total += o[j + 1]! - o[j]!
    }
    const data = new Uint8Array(total)
    const offsets = new Int32Array(n + 1)
    let pos = 0
    for (let k = 0; k < n; k++) {
      const s = sources[segs[k]!]!
      const o = s.valueOffsets as Int32Array
      const j = s.offset + rows[k]!
      const a = o[j]!
      const b = o[j + 1]!
      if (b > a) data.set((s.values as Uint8Array).subarray(a, b), pos)
      pos += b - a
      offsets[k + 1] = pos
    }
    return A.makeData({ type: type as A.Utf8, length: n, nullCount: nulls, nullBitmap: bits, valueOffsets: offsets, data })
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
  const fixed = first !== undefined && (A.DataType.isInt(type) || A.DataType.isFloat(type) || A.DataType.isDate(type) || A.DataType.isTimestamp(type) || A.DataType.isTime(type) || A.DataType.isDecimal(type) || A.DataType.isFixedSizeBinary(type))
  if (fixed) {
    const stride = first.stride || 1
    const Ctor = (first.values as { constructor: new (n: number) => Uint8Array }).constructor
    const out = new Ctor(n * stride) as unknown as { [i: number]: number | bigint }
    for (let k = 0; k < n; k++) {
      const s = sources[segs[k]!]!
      const v = s.values as unknown as { [i: number]: number | bigint }
      const j = (s.offset + rows[k]!) * stride
      for (let q = 0; q < stride; q++) out[k * stride + q] = v[j + q]!
    }
    return A.makeData({ type: type as never, length: n, nullCount: nulls, nullBitmap: bits, data: out as never })
  }
  // Anything else (dictionaries, nested types from Parquet inputs): slow but general.
  const builder = A.makeBuilder({ type, nullValues: [null, undefined] })
  const vecs = sources.map((s) => A.makeVector(s))
  for (let k = 0; k < n; k++) builder.append(vecs[segs[k]!]!.get(rows[k]!))
  return builder.finish().flush() as A.Data
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
