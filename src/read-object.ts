// Reads one landing object as a stream of bytes: MD5 of what was read, gunzip streamed, the decompressed size and
// the longest CSV record bounded, CSV decoded in pieces of whole records (so no object is ever one Buffer).
import { createHash } from 'node:crypto'
import { createGunzip } from 'node:zlib'
import { Readable } from 'node:stream'
import { CdcError, DataError } from './errors.js'
import { readFile, type PieceOptions, type ReadResult } from './read.js'
import { decodePiece, type DecodeOptions, type PieceDecode } from './parse-pool.js'
import { readHeader } from './read-csv.js'
import type { TableSchema } from './batch.js'
import { tableLabel, type TableConfig } from './config.js'
import type { DmsFile } from './discover.js'

export interface ReadLimits {
  /** Longest CSV record (all its fields and line ends), in bytes. */
  maxRecordBytes: number
  /** Largest object once decompressed, in bytes. */
  maxObjectBytes: number
}

/** CSV is decoded in pieces of about this many bytes (whole records): an object below it is one piece. */
export const PIECE_BYTES = 16 * 1024 * 1024

export interface ObjectReadResult extends ReadResult {
  /** MD5 (hex) of the object's bytes as stored. */
  checksum: string
}

const BOM = [0xef, 0xbb, 0xbf]

export interface ReadOptions extends DecodeOptions {
  /** CSV is decoded in pieces of about this many bytes; default PIECE_BYTES. */
  pieceBytes?: number
}

/** Pieces of one object dispatched to the workers and not yet applied: the bound on its bytes in flight. */
const PIECES_IN_FLIGHT = 2
/** Objects decoded ahead of the one being applied (small ones only: large ones stream when their turn comes). */
const OBJECTS_AHEAD = 2

/** Decodes one object from its bytes as they arrive; `chunks` may be the whole object in one piece. */
export function readObject(
  t: TableConfig,
  file: DmsFile,
  chunks: AsyncIterable<Uint8Array>,
  schema: TableSchema | undefined,
  limits: ReadLimits,
  opts: ReadOptions = {},
): Promise<ObjectReadResult> {
  return decodeObject(t, file, chunks, Promise.resolve(schema), () => schema, limits, opts)
}

/** An object to read: its file, its bytes when asked, and whether it may be decoded ahead of its turn. */
export interface ObjectSource {
  file: DmsFile
  chunks: () => AsyncIterable<Uint8Array>
  /** Decoded ahead while the objects before it are applied (small objects); else streamed when its turn comes. */
  ahead: boolean
}

/**
 * Decodes objects in order, each with the schema the objects before it leave (schema drift); the next small ones
 * are decoded ahead in the workers while the caller applies the current one (at most OBJECTS_AHEAD).
 */
export async function* readObjects(
  t: TableConfig,
  objects: ObjectSource[],
  schema: TableSchema | undefined,
  limits: ReadLimits,
  opts: ReadOptions = {},
): AsyncGenerator<ObjectReadResult> {
  let known = schema
  const started = new Map<number, { result: Promise<ObjectReadResult>; before: (s: TableSchema | undefined) => void }>()
  const start = (i: number): void => {
    if (started.has(i)) return
    let before!: (s: TableSchema | undefined) => void
    const turn = new Promise<TableSchema | undefined>((resolve) => (before = resolve))
    const o = objects[i]!
    const result = decodeObject(t, o.file, o.chunks(), turn, () => known, limits, opts)
    result.catch(() => undefined) // raised in order, when its turn comes
    started.set(i, { result, before })
  }
  for (let i = 0; i < objects.length; i++) {
    start(i)
    for (let j = i + 1; j <= i + OBJECTS_AHEAD && j < objects.length && objects[j]!.ahead; j++) start(j)
    const s = started.get(i)!
    started.delete(i)
    s.before(known)
    const r = await s.result
    known = r.schema
    yield r
  }
}

/**
 * The body of readObject: `before` resolves to the schema in force before the object (once the objects before it
 * are decoded); `hint()` is the schema known so far, which pieces are dispatched with.
 */
async function decodeObject(
  t: TableConfig,
  file: DmsFile,
  chunks: AsyncIterable<Uint8Array>,
  before: Promise<TableSchema | undefined>,
  hint: () => TableSchema | undefined,
  limits: ReadLimits,
  opts: ReadOptions,
): Promise<ObjectReadResult> {
  const label = tableLabel(t)
  const hash = createHash('md5')
  async function* tap(): AsyncIterable<Uint8Array> {
    for await (const c of chunks) {
      hash.update(c)
      yield c
    }
  }
  const first = await peek(tap())
  if (first === undefined) {
    throw new DataError(
      'CDC_FILE_EMPTY',
      `table ${label}: ${file.key} is empty (0 bytes); expected DMS ${file.format.toUpperCase()} data`,
      {
        table: label,
        file: file.key,
        hint: 'DMS never writes empty files: the upload was interrupted; remove the object or let DMS rewrite it',
      },
    )
  }
  const data = bounded(file.gzip ? gunzip(first, label, file) : first, label, file, limits.maxObjectBytes)
  const gunzipped = { gunzipped: true }
  // Pieces dispatched and not yet applied, in order; applied once the schema before the object is known.
  const inFlight: PieceDecode[] = []
  let out: ReadResult | undefined
  let rowBase = 0
  let schemaBefore: { s: TableSchema | undefined } | undefined
  let pieceFailed = false
  const applyOne = async (): Promise<void> => {
    const p = inFlight.shift()!
    schemaBefore ??= { s: await before }
    const r = await p.result(out?.schema ?? schemaBefore.s, rowBase).catch((err: unknown) => {
      pieceFailed = true
      throw err
    })
    rowBase += r.batches.reduce((n, b) => n + b.length, 0) + r.rejected.length
    if (out === undefined) out = r
    else
      out = {
        schema: r.schema,
        spec: r.spec,
        batches: [...out.batches, ...r.batches],
        rejected: [...out.rejected, ...r.rejected],
      }
  }
  let headerNames: string[] | undefined
  let pieces = 0
  const dispatch = async (bytes: Buffer, piece: PieceOptions): Promise<void> => {
    // a later piece is dispatched with the schema of the pieces before it when they are decoded, else the hint
    inFlight.push(decodePiece(t, file, bytes, out?.schema ?? schemaBefore?.s ?? hint(), piece, opts))
    pieces++
    while (inFlight.length >= PIECES_IN_FLIGHT) await applyOne()
  }
  try {
    if (file.format !== 'csv') {
      // parquet-wasm needs the whole file: Parquet objects are read whole (bounded by maxObjectBytes).
      const parts: Uint8Array[] = []
      for await (const c of data) parts.push(c)
      await dispatch(Buffer.concat(parts), gunzipped)
    } else {
      const split = new RecordSplitter(opts.pieceBytes ?? PIECE_BYTES, limits.maxRecordBytes, (line, bytes) => {
        throw new DataError(
          'CDC_RECORD_TOO_LARGE',
          `table ${label}: the record at ${file.key}:${line} is longer than limits.maxRecordBytes = ${limits.maxRecordBytes} bytes (${bytes} bytes or more)`,
          {
            table: label,
            file: file.key,
            line,
            hint: 'a huge field or a quote that is never closed; raise limits.maxRecordBytes if the record is real',
          },
        )
      })
      const piece = async (bytes: Buffer, firstLine: number): Promise<void> => {
        if (pieces === 0 && t.header) headerNames = readHeader(bytes)
        await dispatch(bytes, { ...gunzipped, firstLine, ...(pieces > 0 && headerNames ? { headerNames } : {}) })
      }
      for await (const c of data) for (const p of split.push(c)) await piece(p.bytes, p.firstLine)
      const last = split.end()
      if (last !== undefined) await piece(last.bytes, last.firstLine)
    }
  } catch (err) {
    // the pieces before the failure come first: an error of theirs is the one the object fails with
    if (!pieceFailed) while (inFlight.length > 0) await applyOne()
    throw err
  }
  while (inFlight.length > 0) await applyOne()
  if (out === undefined) {
    // a gzip of nothing: no rows
    const s = (schemaBefore ??= { s: await before }).s
    out = readFile(t, file, Buffer.alloc(0), s, gunzipped)
  }
  return { ...out, checksum: hash.digest('hex') }
}

/** The MD5 (hex) of an object read as a stream. */
export async function md5Of(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('md5')
  for await (const c of chunks) hash.update(c)
  return hash.digest('hex')
}

/** Reads the first chunk: undefined for an empty object, else an iterable of every chunk. */
async function peek(src: AsyncIterable<Uint8Array>): Promise<AsyncIterable<Uint8Array> | undefined> {
  const it = src[Symbol.asyncIterator]()
  let head = await it.next()
  while (!head.done && head.value.byteLength === 0) head = await it.next()
  if (head.done) return undefined
  const firstChunk = head.value
  return {
    async *[Symbol.asyncIterator]() {
      yield firstChunk
      for (;;) {
        const n = await it.next()
        if (n.done) return
        yield n.value
      }
    },
  }
}

async function* gunzip(src: AsyncIterable<Uint8Array>, label: string, file: DmsFile): AsyncIterable<Uint8Array> {
  const input = Readable.from(src)
  const z = createGunzip()
  input.on('error', (err) => z.destroy(err))
  input.pipe(z)
  try {
    for await (const c of z) yield c as Buffer
  } catch (err) {
    if (err instanceof CdcError) throw err
    throw new DataError(
      'CDC_GZIP_INVALID',
      `table ${label}: ${file.key} is not a complete gzip stream: ${(err as Error).message}`,
      {
        table: label,
        file: file.key,
        cause: err,
        hint: 'the object is truncated or not gzip-compressed despite its .gz name',
      },
    )
  } finally {
    input.destroy()
    z.destroy()
  }
}

async function* bounded(
  src: AsyncIterable<Uint8Array>,
  label: string,
  file: DmsFile,
  max: number,
): AsyncIterable<Uint8Array> {
  let total = 0
  for await (const c of src) {
    total += c.byteLength
    if (total > max) {
      throw new DataError(
        'CDC_OBJECT_TOO_LARGE',
        `table ${label}: ${file.key} is larger than limits.maxObjectBytes = ${max} bytes${file.gzip ? ' once decompressed' : ''}`,
        {
          table: label,
          file: file.key,
          hint: file.gzip
            ? 'a small gzip can unpack to a huge object; raise limits.maxObjectBytes if the object is real'
            : 'raise limits.maxObjectBytes if the object is real',
        },
      )
    }
    yield c
  }
}

// Grammar states of the splitter: the parser's (read-csv.ts) as far as record ends are concerned.
const FS = 0 // at a field's start
const U = 1 // in an unquoted field
const Q = 2 // in a quoted field
const QQ = 3 // a quote inside a quoted field: closing, or the first of an escaped pair
const QCR = 4 // CR after a closing quote
const SKIP = 5 // after a malformed field: the parser (quarantine mode) skips to the record's end, honouring quotes
const SKIPQ = 6
const SKIPQQ = 7

/**
 * Cuts a CSV byte stream into pieces of whole records of at least `target` bytes (the last one may be shorter),
 * strips a leading UTF-8 BOM, and calls `tooLarge` when a record grows past `maxRecord`. Bytes are scanned only
 * once an object is larger than min(target, maxRecord): a small object is one piece, unscanned.
 */
export class RecordSplitter {
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** Bytes of `pending` already scanned, and the grammar state there. */
  private scanned = 0
  private state = FS
  /** Offset in `pending` just after the last record end found (the start of the record being scanned), and its line. */
  private cut = 0
  private cutLine = 1
  private line = 1
  private pieceLine = 1
  private started = false
  private head: Buffer | undefined

  constructor(
    private readonly target: number,
    private readonly maxRecord: number,
    private readonly tooLarge: (line: number, bytes: number) => never,
  ) {}

  push(chunk: Uint8Array): { bytes: Buffer; firstLine: number }[] {
    let c = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    if (!this.started) {
      // strip a leading BOM (it may arrive split over chunks)
      c = this.head ? Buffer.concat([this.head, c]) : c
      if (c.length < BOM.length && BOM.slice(0, c.length).every((b, i) => c[i] === b)) {
        this.head = c
        return []
      }
      this.started = true
      this.head = undefined
      if (BOM.every((b, i) => c[i] === b)) c = c.subarray(BOM.length)
    }
    if (c.length === 0) return []
    this.pending.push(c)
    this.pendingBytes += c.length
    if (this.pendingBytes < Math.min(this.target, this.maxRecord + 1)) return []
    this.scan()
    if (this.cut < this.target || this.cut === 0) return []
    return [this.take()]
  }

  end(): { bytes: Buffer; firstLine: number } | undefined {
    if (!this.started && this.head) {
      this.started = true
      this.pending.push(this.head)
      this.pendingBytes += this.head.length
    }
    if (this.pendingBytes === 0) return undefined
    if (this.pendingBytes > this.maxRecord) this.scan()
    const bytes = Buffer.concat(this.pending, this.pendingBytes)
    this.pending = []
    this.pendingBytes = 0
    return { bytes, firstLine: this.pieceLine }
  }

  /** The pending bytes up to the last record end, as one piece; the rest stays pending. */
  private take(): { bytes: Buffer; firstLine: number } {
    const all = Buffer.concat(this.pending, this.pendingBytes)
    const bytes = all.subarray(0, this.cut)
    const rest = Buffer.from(all.subarray(this.cut)) // a copy: the piece's buffer is released with the piece
    const piece = { bytes, firstLine: this.pieceLine }
    this.pending = rest.length > 0 ? [rest] : []
    this.pendingBytes = rest.length
    this.scanned -= this.cut
    this.cut = 0
    this.pieceLine = this.cutLine
    return piece
  }

  private scan(): void {
    let offset = 0
    let state = this.state
    let line = this.line
    for (const buf of this.pending) {
      const end = offset + buf.length
      if (end <= this.scanned) {
        offset = end
        continue
      }
      for (let i = this.scanned - offset; i < buf.length; i++) {
        const c = buf[i]!
        if (c === 0x0a) line++
        switch (state) {
          case FS:
            state = c === 0x22 ? Q : c === 0x2c ? FS : c === 0x0a ? FS : U
            break
          case U:
            if (c === 0x2c) state = FS
            else if (c === 0x0a) state = FS
            break
          case Q:
            if (c === 0x22) state = QQ
            break
          case QQ:
            state = c === 0x22 ? Q : c === 0x2c || c === 0x0a ? FS : c === 0x0d ? QCR : SKIP
            break
          case QCR:
            state = c === 0x0a ? FS : c === 0x22 ? SKIPQ : SKIP
            break
          case SKIP:
            if (c === 0x22) state = SKIPQ
            else if (c === 0x0a) state = FS
            break
          case SKIPQ:
            if (c === 0x22) state = SKIPQQ
            break
          case SKIPQQ:
            state = c === 0x22 ? SKIPQ : c === 0x0a ? FS : SKIP
            break
        }
        if (c === 0x0a && state === FS) {
          const at = offset + i + 1
          if (at - this.cut > this.maxRecord) this.tooLarge(this.cutLine, at - this.cut)
          this.cut = at
          this.cutLine = line
        }
      }
      this.scanned = end
      offset = end
    }
    this.state = state
    this.line = line
    const tail = this.pendingBytes - this.cut
    if (tail > this.maxRecord) this.tooLarge(this.cutLine, tail)
  }
}
