// Decoding off the main thread: CSV and Parquet objects (or CSV pieces) are decoded by worker threads (one per core,
// at most 2) while the main thread applies the objects before them. The bytes are transferred to the worker and
// back, the columns come back as one Arrow IPC stream (transferred). A worker decodes with the table's schema as
// known when the object was dispatched; when the objects before it changed the schema in a way that matters, the
// result is not used and the object is decoded again on the main thread with the right one (schema drift is rare).
// Small objects are decoded inline, where a round trip to a worker would cost more than it saves.
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { SourceError } from './errors.js'
import { configuredSchema, readFile, type PieceOptions, type ReadResult } from './read.js'
import type { TableSchema } from './batch.js'
import { tableLabel, type TableConfig } from './config.js'
import type { DmsFile } from './dms-names.js'
import {
  buffers,
  errorFromWire,
  owned,
  postTransfer,
  resultFromWire,
  schemaToWire,
  type WireError,
  type WireResult,
  type WireSchema,
} from './parse-codec.js'

/** Bytes from which an object (or CSV piece) is decoded by a worker; `CDC_APPLY_DECODE_INLINE_BELOW` overrides it. */
export const WORKER_MIN_BYTES = envBytes(process.env.CDC_APPLY_DECODE_INLINE_BELOW) ?? 64 * 1024

function envBytes(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined
}

/** What a worker is sent: the object's bytes and what decoding them needs. */
export interface DecodeJob {
  id: number
  t: TableConfig
  file: DmsFile
  bytes: Uint8Array
  schema: WireSchema | undefined
  piece: PieceOptions
}

interface Reply {
  id: number
  ok?: WireResult
  error?: WireError
  /** The job's bytes, back. */
  bytes: Uint8Array
}

interface Pending {
  job: DecodeJob
  resolve: (r: Reply) => void
  reject: (e: Error) => void
}

class Slot {
  readonly worker: Worker
  readonly pending = new Map<number, Pending>()

  constructor(
    url: URL,
    private readonly onGone: (s: Slot) => void,
  ) {
    this.worker = new Worker(url)
    this.worker.unref()
    this.worker.on('message', (m: Reply) => {
      const p = this.pending.get(m.id)
      if (!p) return
      this.pending.delete(m.id)
      if (this.pending.size === 0) this.worker.unref()
      p.resolve(m)
    })
    this.worker.on('error', (err) => this.failAll(`failed: ${err.message}`, err))
    this.worker.on('exit', (code) => this.failAll(`stopped (exit code ${code})`, undefined))
  }

  private failAll(what: string, cause: Error | undefined): void {
    this.onGone(this)
    for (const p of this.pending.values()) {
      const label = tableLabel(p.job.t)
      p.reject(
        new SourceError(
          'CDC_WORKER_FAILED',
          `table ${label}: the decoding worker ${what} while it decoded ${p.job.file.key}`,
          {
            table: label,
            file: p.job.file.key,
            transient: true,
            cause,
            hint: 'rerun; if it happens again, give the process more memory',
          },
        ),
      )
    }
    this.pending.clear()
  }
}

/** Worker threads that decode objects; jobs go to an idle worker, else to the least busy. */
export class DecodePool {
  private readonly slots: Slot[] = []
  private nextId = 0

  constructor(
    private readonly url = new URL('./parse-worker.js', import.meta.url),
    private readonly max = Math.min(2, availableParallelism()),
  ) {}

  run(job: Omit<DecodeJob, 'id'>): Promise<Reply> {
    const s = this.slot()
    const full: DecodeJob = { ...job, id: this.nextId++ }
    return new Promise<Reply>((resolve, reject) => {
      s.pending.set(full.id, { job: full, resolve, reject })
      s.worker.ref() // keep the process alive while an object is being decoded
      try {
        postTransfer(s.worker, full, buffers([full.bytes]))
      } catch (err) {
        s.pending.delete(full.id) // not sent: nothing will answer it
        if (s.pending.size === 0) s.worker.unref()
        reject(err as Error)
      }
    })
  }

  private slot(): Slot {
    const idle = this.slots.find((s) => s.pending.size === 0)
    if (idle) return idle
    if (this.slots.length < this.max) {
      const s = new Slot(this.url, (gone) => {
        const i = this.slots.indexOf(gone)
        if (i >= 0) this.slots.splice(i, 1)
      })
      this.slots.push(s)
      return s
    }
    return this.slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a))
  }
}

const shared = new DecodePool()

/** An object (or CSV piece) being decoded; `result` gives it as decoded with the schema in force before it. */
export interface PieceDecode {
  /** `now`: the table's schema once every object (and piece) before this one is applied; `rowBase`: the object's records before the piece. */
  result(now: TableSchema | undefined, rowBase: number): Promise<ReadResult>
}

export interface DecodeOptions {
  /** Objects (pieces) below this many bytes are decoded inline; default WORKER_MIN_BYTES. */
  inlineBelow?: number
  pool?: DecodePool
}

/**
 * Starts decoding `bytes` (a whole object, or a CSV piece decompressed) with the schema known now (`hint`); in a
 * worker when large, in which case `bytes` is handed over (detached here).
 */
export function decodePiece(
  t: TableConfig,
  file: DmsFile,
  bytes: Uint8Array,
  hint: TableSchema | undefined,
  piece: PieceOptions,
  opts: DecodeOptions = {},
): PieceDecode {
  const inline = (b: Uint8Array, now: TableSchema | undefined, rowBase: number): ReadResult =>
    readFile(t, file, b, now, rowBase > 0 ? { ...piece, rowBase } : piece)
  if (bytes.byteLength < (opts.inlineBelow ?? WORKER_MIN_BYTES))
    return { result: (now, rowBase) => Promise.resolve().then(() => inline(bytes, now, rowBase)) }
  const reply = (opts.pool ?? shared).run({ t, file, bytes: owned(bytes), schema: wireOf(hint), piece })
  reply.catch(() => undefined) // handled when `result` is awaited
  return {
    async result(now, rowBase) {
      const r = await reply
      const same = sameSchema(base(t, hint), base(t, now))
      if (r.ok) {
        const got = resultFromWire(t, file, r.ok, rowBase)
        if (same || fits(base(t, now), got.schema)) return got
      }
      if (r.error && same) throw errorFromWire(r.error)
      return inline(r.bytes, now, rowBase) // the schema changed under it: decoded again with the right one
    },
  }
}

const wires = new WeakMap<TableSchema, WireSchema>()
function wireOf(s: TableSchema | undefined): WireSchema | undefined {
  if (s === undefined) return undefined
  let w = wires.get(s)
  if (!w) wires.set(s, (w = schemaToWire(s)!))
  return w
}

/** The schema `readFile` starts from (a CSV table's configured columns when there is none yet). */
function base(t: TableConfig, s: TableSchema | undefined): TableSchema | undefined {
  return s ?? (t.format === 'csv' ? configuredSchema(t) : undefined)
}

function fieldsEqual(a: TableSchema, b: TableSchema, n: number): boolean {
  for (let i = 0; i < n; i++) {
    const x = a.fields[i]!
    const y = b.fields[i]!
    if (x.name !== y.name || String(x.type) !== String(y.type)) return false
    if (JSON.stringify(a.types[i]) !== JSON.stringify(b.types[i])) return false
  }
  return true
}

function sameSchema(a: TableSchema | undefined, b: TableSchema | undefined): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined) return false
  return a.fields.length === b.fields.length && fieldsEqual(a, b, a.fields.length)
}

/**
 * A worker's result holds for `now` when `now` is a prefix of its schema: decoding with `now` would have found the
 * same columns in the same order (the file's new columns appended after `now`'s) with the same types.
 */
function fits(now: TableSchema | undefined, got: TableSchema): boolean {
  return now !== undefined && got.fields.length >= now.fields.length && fieldsEqual(now, got, now.fields.length)
}
