// Arrow columns from CSV text: the Arrow type of a configured column and one fast builder per type, with the
// text parsers they use (dates, timestamps, decimals). Reading values back is in values.ts, gathering rows in gather.ts.
import * as A from 'apache-arrow'
import type { ColumnType } from '../config.js'

export function arrowType(t: ColumnType): A.DataType {
  switch (t.kind) {
    case 'string':
      return new A.Utf8()
    case 'integer':
      return new A.Int64()
    case 'double':
      return new A.Float64()
    case 'boolean':
      return new A.Bool()
    case 'date':
      return new A.DateDay()
    case 'timestamp':
      return new A.TimestampMicrosecond()
    case 'decimal':
      return new A.Decimal(t.scale, t.precision, 128)
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
    return fit(this.bytes, (length + 7) >> 3)
  }
  /** Forgets entries from `length` on (of `had` entries). */
  truncate(length: number, had: number): void {
    for (let i = length; i < had; i++) {
      const b = i >> 3
      if (b < this.bytes.length && (this.bytes[b]! >> (i & 7)) & 1) this.bytes[b]! &= ~(1 << (i & 7))
      else this.nulls--
    }
  }
}

function grow<T extends Uint8Array | Int32Array | Float64Array | BigInt64Array | Uint32Array>(a: T, need: number): T {
  let n = a.length * 2
  while (n < need) n *= 2
  const b = new (a.constructor as new (n: number) => T)(n)
  b.set(a as never)
  return b
}

/**
 * The first `n` elements: a view when the buffer is about that size, else a copy, so that a finished column does
 * not keep the doubling slack of its growable buffer alive (batches are held for a whole date).
 */
function fit<T extends Uint8Array | Int32Array | Float64Array | BigInt64Array | Uint32Array>(a: T, n: number): T {
  return (n + (n >> 3) < a.length ? a.slice(0, n) : a.subarray(0, n)) as T
}

/** Appends CSV field bytes to one Arrow column. `append` returns an error text for a value it cannot parse. */
export interface FieldBuilder {
  readonly type: A.DataType
  /** Values appended so far. */
  readonly length: number
  appendNull(): void
  append(buf: Buffer, start: number, end: number, escaped: boolean): string | undefined
  /** Drops the values from `length` on (a rejected row's fields). */
  truncate(length: number): void
  finish(): A.Data
}

export function makeFieldBuilder(t: ColumnType): FieldBuilder {
  switch (t.kind) {
    case 'string':
      return new Utf8Builder()
    case 'integer':
      return new Int64Builder()
    case 'double':
      return new Float64Builder()
    case 'boolean':
      return new BoolBuilder()
    case 'date':
      return new DateBuilder()
    case 'timestamp':
      return new TimestampBuilder()
    case 'decimal':
      return new DecimalBuilder(t.precision, t.scale)
  }
}

class Utf8Builder implements FieldBuilder {
  readonly type = new A.Utf8()
  private offsets = new Int32Array(1024)
  private data = new Uint8Array(16384)
  private bits = new Bits()
  private n = 0
  private pos = 0
  get length(): number {
    return this.n
  }
  truncate(length: number): void {
    if (length >= this.n) return
    this.bits.truncate(length, this.n)
    this.n = length
    this.pos = this.offsets[length]!
  }
  appendNull(): void {
    this.bits.set(this.n, false)
    this.push()
  }
  append(buf: Buffer, start: number, end: number, escaped: boolean): undefined {
    const len = end - start
    if (this.pos + len > this.data.length) this.data = grow(this.data, this.pos + len)
    if (!escaped) {
      // a byte loop beats Buffer.copy for the short fields DMS rows are made of
      if (len > 64) buf.copy(this.data, this.pos, start, end)
      else for (let i = start, d = this.data, p = this.pos; i < end; i++, p++) d[p] = buf[i]!
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
    return A.makeData({
      type: this.type,
      length: this.n,
      nullCount: this.bits.nulls,
      nullBitmap: this.bits.finish(this.n),
      valueOffsets: fit(this.offsets, this.n + 1),
      data: fit(this.data, this.pos),
    })
  }
}

abstract class FixedBuilder<T extends BigInt64Array | Float64Array | Int32Array | Uint32Array> implements FieldBuilder {
  abstract readonly type: A.DataType
  protected n = 0
  protected bits = new Bits()
  constructor(
    protected values: T,
    protected stride = 1,
  ) {}
  get length(): number {
    return this.n
  }
  truncate(length: number): void {
    if (length >= this.n) return
    this.bits.truncate(length, this.n)
    this.n = length
  }
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
    return A.makeData({
      type: this.type as never,
      length: this.n,
      nullCount: this.bits.nulls,
      nullBitmap: this.bits.finish(this.n),
      data: fit(this.values, this.n * this.stride) as never,
    })
  }
}

const INT_RE = /^[+-]?\d+$/
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const TWO32 = 4294967296

/**
 * Int64-backed columns written as two 32-bit words per value, so that the hot path never allocates a BigInt
 * (values within ±2^53 take the fast path; larger integers go through BigInt).
 */
abstract class Words64Builder extends FixedBuilder<Int32Array> {
  constructor() {
    super(new Int32Array(2048), 2)
  }
  protected put(v: number): undefined {
    this.ensure()
    const hi = Math.floor(v / TWO32)
    this.values[this.n * 2] = (v - hi * TWO32) | 0
    this.values[this.n * 2 + 1] = hi | 0
    return this.ok()
  }
  protected putBig(v: bigint): undefined {
    this.ensure()
    new BigInt64Array(this.values.buffer, this.n * 8, 1)[0] = v
    return this.ok()
  }
  override finish(): A.Data {
    return A.makeData({
      type: this.type as never,
      length: this.n,
      nullCount: this.bits.nulls,
      nullBitmap: this.bits.finish(this.n),
      data: new BigInt64Array(fit(this.values, this.n * 2).buffer, 0, this.n) as never,
    })
  }
}

class Int64Builder extends Words64Builder {
  readonly type = new A.Int64()
  append(buf: Buffer, start: number, end: number): string | undefined {
    let i = start
    const c0 = buf[i]
    const neg = c0 === 0x2d
    if (neg || c0 === 0x2b) i++
    if (i === end) return 'an integer'
    if (end - i > 15) {
      const s = buf.toString('latin1', start, end)
      if (!INT_RE.test(s)) return 'an integer'
      const v = BigInt(s)
      if (v < INT64_MIN || v > INT64_MAX) return 'an integer within the 64-bit range'
      return this.putBig(v)
    }
    let v = 0
    for (; i < end; i++) {
      const d = buf[i]! - 48
      if (d < 0 || d > 9) return 'an integer'
      v = v * 10 + d
    }
    return this.put(neg ? -v : v)
  }
}

const DOUBLE_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(Infinity|inf)$|^NaN$/i

class Float64Builder extends FixedBuilder<Float64Array> {
  readonly type = new A.Float64()
  constructor() {
    super(new Float64Array(1024))
  }
  append(buf: Buffer, start: number, end: number): string | undefined {
    const s = buf.toString('latin1', start, end)
    if (!DOUBLE_RE.test(s)) return 'a number'
    this.ensure()
    const l = s.toLowerCase()
    this.values[this.n] =
      l.endsWith('inf') || l.endsWith('infinity') ? (l.startsWith('-') ? -Infinity : Infinity) : Number(s)
    return this.ok()
  }
}

class DateBuilder extends FixedBuilder<Int32Array> {
  readonly type = new A.DateDay()
  constructor() {
    super(new Int32Array(1024))
  }
  append(buf: Buffer, start: number, end: number): string | undefined {
    const days = end - start === 10 ? daysAt(buf, start) : undefined
    if (days === undefined) return 'a date YYYY-MM-DD'
    this.ensure()
    this.values[this.n] = days
    return this.ok()
  }
}

class TimestampBuilder extends Words64Builder {
  readonly type = new A.TimestampMicrosecond()
  append(buf: Buffer, start: number, end: number): string | undefined {
    const us = microsAt(buf, start, end)
    if (us === undefined) return 'a timestamp YYYY-MM-DD HH:MM:SS[.ffffff]'
    return this.put(us)
  }
}

const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?$/

class DecimalBuilder extends FixedBuilder<Uint32Array> {
  readonly type: A.Decimal
  constructor(
    private precision: number,
    private scale: number,
  ) {
    super(new Uint32Array(4096), 4)
    this.type = new A.Decimal(scale, precision, 128)
  }
  append(buf: Buffer, start: number, end: number): string | undefined {
    // Fast path: at most 15 significant digits fit a double exactly; anything else goes through BigInt.
    let i = start
    const neg = buf[i] === 0x2d
    if (neg || buf[i] === 0x2b) i++
    let v = 0
    let intDigits = 0
    for (; i < end && buf[i]! >= 48 && buf[i]! <= 57; i++, intDigits++) v = v * 10 + (buf[i]! - 48)
    let fracDigits = 0
    if (i < end && buf[i] === 0x2e) {
      for (i++; i < end && buf[i]! >= 48 && buf[i]! <= 57; i++, fracDigits++) v = v * 10 + (buf[i]! - 48)
    }
    if (i === end && intDigits + fracDigits > 0 && fracDigits <= this.scale && intDigits + this.scale <= 15) {
      if (intDigits + this.scale > this.precision && v * 10 ** (this.scale - fracDigits) >= 10 ** this.precision)
        return `a decimal(${this.precision},${this.scale}) (at most ${this.precision} digits)`
      v *= 10 ** (this.scale - fracDigits)
      this.ensure()
      writeSmallI128(this.values, this.n * 4, neg ? -v : v)
      return this.ok()
    }
    const m = DECIMAL_RE.exec(buf.toString('latin1', start, end))
    const expected = `a decimal(${this.precision},${this.scale})`
    if (!m || (m[2] === '' && (m[3] ?? '') === '')) return expected
    const frac = (m[3] ?? '').replace(/0+$/, '')
    if (frac.length > this.scale) return `${expected} (at most ${this.scale} digits after the point)`
    const digitText = (m[2]! + frac.padEnd(this.scale, '0')).replace(/^0+(?=\d)/, '')
    if (digitText.length > this.precision) return `${expected} (at most ${this.precision} digits)`
    let b = BigInt(digitText)
    if (m[1] === '-') b = -b
    this.ensure()
    writeI128(this.values, this.n * 4, b)
    return this.ok()
  }
}

/** A 128-bit two's complement integer from a double holding an integer within ±2^53. */
function writeSmallI128(words: Uint32Array, at: number, v: number): void {
  const u = Math.abs(v)
  const hi = Math.floor(u / TWO32)
  const lo = u - hi * TWO32
  if (v >= 0 || u === 0) {
    words[at] = lo
    words[at + 1] = hi
    words[at + 2] = 0
    words[at + 3] = 0
    return
  }
  // negate: invert all bits and add one
  if (lo === 0) {
    words[at] = 0
    words[at + 1] = (TWO32 - hi) % TWO32
  } else {
    words[at] = TWO32 - lo
    words[at + 1] = TWO32 - 1 - hi
  }
  const carryAll = lo === 0 && hi === 0
  words[at + 2] = carryAll ? 0 : 0xffffffff
  words[at + 3] = carryAll ? 0 : 0xffffffff
}

class BoolBuilder implements FieldBuilder {
  readonly type = new A.Bool()
  private values = new Bits()
  private bits = new Bits()
  private n = 0
  get length(): number {
    return this.n
  }
  truncate(length: number): void {
    if (length >= this.n) return
    this.values.truncate(length, this.n)
    this.bits.truncate(length, this.n)
    this.n = length
  }
  appendNull(): void {
    this.values.set(this.n, false)
    this.bits.set(this.n++, false)
  }
  append(buf: Buffer, start: number, end: number): string | undefined {
    const s = buf.toString('latin1', start, end).toLowerCase()
    const v =
      s === 'true' || s === 't' || s === '1' ? true : s === 'false' || s === 'f' || s === '0' ? false : undefined
    if (v === undefined) return 'a boolean (true, false, t, f, 1 or 0)'
    this.values.set(this.n, v)
    this.bits.set(this.n++, true)
    return undefined
  }
  finish(): A.Data {
    return A.makeData({
      type: this.type,
      length: this.n,
      nullCount: this.bits.nulls,
      nullBitmap: this.bits.finish(this.n),
      data: this.values.finish(this.n),
    })
  }
}

// ---------------------------------------------------------------- parsing helpers

function digits(buf: Uint8Array, at: number, count: number): number {
  let v = 0
  for (let i = at; i < at + count; i++) {
    const d = buf[i]! - 48
    if (d < 0 || d > 9) return -1
    v = v * 10 + d
  }
  return v
}

/** Days since 1970-01-01 of the proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** `YYYY-MM-DD` at `at` → days since the epoch, or undefined when it is not a valid date. */
function daysAt(buf: Uint8Array, at: number): number | undefined {
  if (buf[at + 4] !== 0x2d || buf[at + 7] !== 0x2d) return undefined
  const y = digits(buf, at, 4)
  const m = digits(buf, at + 5, 2)
  const d = digits(buf, at + 8, 2)
  if (y < 0 || m < 1 || m > 12 || d < 1) return undefined
  const leap = m === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)
  if (d > MONTH_DAYS[m - 1]! + (leap ? 1 : 0)) return undefined
  return daysFromCivil(y, m, d)
}

/** `YYYY-MM-DD HH:MM:SS[.f{1,9}][Z]` (or with `T`) → microseconds since the epoch; digits past 6 are truncated. */
function microsAt(buf: Uint8Array, start: number, end: number): number | undefined {
  if (end - start < 19) return undefined
  const days = daysAt(buf, start)
  const sep = buf[start + 10]
  if (days === undefined || (sep !== 0x20 && sep !== 0x54) || buf[start + 13] !== 0x3a || buf[start + 16] !== 0x3a)
    return undefined
  const h = digits(buf, start + 11, 2)
  const mi = digits(buf, start + 14, 2)
  const s = digits(buf, start + 17, 2)
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return undefined
  let i = start + 19
  let frac = 0
  if (i < end && buf[i] === 0x2e) {
    i++
    const f0 = i
    while (i < end && buf[i]! >= 48 && buf[i]! <= 57) i++
    const n = i - f0
    if (n < 1 || n > 9) return undefined
    frac = digits(buf, f0, Math.min(n, 6)) * 10 ** Math.max(0, 6 - n)
  }
  if (i < end && buf[i] === 0x5a) i++
  if (i !== end) return undefined
  return (days * 86400 + h * 3600 + mi * 60 + s) * 1_000_000 + frac
}

function writeI128(words: Uint32Array, at: number, v: bigint): void {
  let u = BigInt.asUintN(128, v)
  for (let k = 0; k < 4; k++) {
    words[at + k] = Number(u & 0xffffffffn)
    u >>= 32n
  }
}
