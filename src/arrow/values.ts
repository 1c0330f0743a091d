// Reading Arrow values back as plain JS values: for keys, ordering, quarantine records, tests and the oracle.
import * as A from 'apache-arrow'

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
  // Arrow JS slices the value buffers of fixed-width types and the offsets of variable-width ones; `offset` then
  // applies only to validity bitmaps and Bool values.
  const off = data.offset
  if (A.DataType.isUtf8(t) || A.DataType.isLargeUtf8(t)) {
    const offsets = data.valueOffsets as Int32Array | BigInt64Array
    const bytes = data.values as Uint8Array
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let i = 0; i < n; i++)
      out[i] = isValid(data, i) ? buf.toString('utf8', Number(offsets[i]), Number(offsets[i + 1])) : null
    return out
  }
  if (A.DataType.isDecimal(t)) {
    const words = data.values as Uint32Array
    const stride = t.bitWidth / 32
    for (let i = 0; i < n; i++) {
      out[i] = isValid(data, i)
        ? decimalToString(
            stride === 4 ? readI128(words, i * 4) : BigInt.asIntN(t.bitWidth, readWide(words, i * stride, stride)),
            t.scale,
          )
        : null
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
  if (
    (A.DataType.isInt(t) ||
      A.DataType.isFloat(t) ||
      A.DataType.isDate(t) ||
      A.DataType.isTimestamp(t) ||
      A.DataType.isTime(t)) &&
    (data.values as ArrayLike<unknown>).length >= n * (data.stride || 1)
  ) {
    const v = data.values as unknown as ArrayLike<number | bigint>
    const stride = data.stride || 1
    if (stride === 1) {
      for (let i = 0; i < n; i++) out[i] = isValid(data, i) ? v[i]! : null
      return out
    }
  }
  const vec = A.makeVector(data)
  for (let i = 0; i < n; i++) {
    const x = vec.get(i) as unknown
    out[i] =
      x === null || x === undefined
        ? null
        : typeof x === 'object'
          ? x instanceof Uint8Array
            ? Buffer.from(x).toString('base64')
            : String(x)
          : (x as JsValue)
  }
  return out
}

function readWide(words: Uint32Array, at: number, stride: number): bigint {
  let u = 0n
  for (let k = stride - 1; k >= 0; k--) u = (u << 32n) | BigInt(words[at + k]!)
  return u
}

/**
 * Reads one row's ordering value straight from its Arrow column: what `columnValues(data)[i]` gives, with int64
 * values as numbers (as batch.ts's orderValue makes them). For the types where that is a plain read (Utf8 and
 * fixed-width numbers, dates, timestamps); `of` returns undefined for any other type.
 */
export class OrderColumn {
  private constructor(
    /** The column's index in its table's schema. */
    readonly index: number,
    private readonly data: A.Data,
    private readonly text: Buffer | undefined,
    private readonly offsets: Int32Array | undefined,
    private readonly values: ArrayLike<number | bigint> | undefined,
  ) {}

  static of(data: A.Data, index: number): OrderColumn | undefined {
    const t = data.type
    if (A.DataType.isUtf8(t)) {
      const bytes = data.values as Uint8Array
      const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      return new OrderColumn(index, data, text, data.valueOffsets as Int32Array, undefined)
    }
    const stride = data.stride || 1
    if (
      (A.DataType.isInt(t) ||
        A.DataType.isFloat(t) ||
        A.DataType.isDate(t) ||
        A.DataType.isTimestamp(t) ||
        A.DataType.isTime(t)) &&
      stride === 1 &&
      (data.values as ArrayLike<unknown>).length >= data.length
    )
      return new OrderColumn(index, data, undefined, undefined, data.values as ArrayLike<number | bigint>)
    return undefined
  }

  at(i: number): string | number | null {
    if (!isValid(this.data, i)) return null
    if (this.text !== undefined) return this.text.toString('utf8', this.offsets![i], this.offsets![i + 1])
    const v = this.values![i]!
    return typeof v === 'bigint' ? Number(v) : v
  }
}
