// Parquet encoding off the main thread: parquet-wasm's writer is CPU-bound and synchronous, so large parts are
// encoded by worker threads (one per core, at most 2) while the main thread reads, applies and snapshots. Small
// parts are encoded inline, where a round trip to a worker would cost more than it saves. A worker's WebAssembly
// memory grows to the largest part it encoded and never shrinks, so a worker whose memory passed retireBytes is
// ended once it has nothing left to do (a new one starts on demand, in ~0.1 s).
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { encodeIpc, type EncodeOptions } from './parquet-encode.js'
import { postTransfer } from './parse-codec.js'

/** Rows from which a part is encoded by a worker. */
const WORKER_MIN_ROWS = 20_000

/**
 * `retireBytes`: the WebAssembly memory beyond which a worker is ended once idle (its memory is ~3× the largest
 * Arrow IPC it encoded: a part of ~300k rows of the bench table passes 128 MiB). Workers started and retired so far.
 */
export const parquetPool = { retireBytes: 128 * 2 ** 20, started: 0, retired: 0 }

interface Pending {
  resolve: (b: Uint8Array) => void
  reject: (e: Error) => void
}

class Slot {
  readonly worker: Worker
  readonly pending = new Map<number, Pending>()
  /** Its memory grew past retireBytes: it takes no new part and ends once its parts are done. */
  private retiring = false

  constructor() {
    parquetPool.started++
    this.worker = new Worker(new URL('./parquet-worker.js', import.meta.url))
    this.worker.unref()
    this.worker.on('message', (m: { id: number; out?: Uint8Array; error?: string; heap?: number }) => {
      const p = this.pending.get(m.id)
      if (!p) return
      this.pending.delete(m.id)
      if (this.pending.size === 0) this.worker.unref()
      if ((m.heap ?? 0) > parquetPool.retireBytes) this.retire()
      if (this.retiring && this.pending.size === 0) void this.worker.terminate()
      if (m.error !== undefined) p.reject(new Error(`Parquet encoding failed: ${m.error}`))
      else p.resolve(m.out!)
    })
    this.worker.on('error', (err) => this.failAll(err))
    this.worker.on('exit', (code) => this.failAll(new Error(`Parquet worker exited with code ${code}`)))
  }

  private retire(): void {
    if (this.retiring) return
    this.retiring = true
    parquetPool.retired++
    const i = slots.indexOf(this)
    if (i >= 0) slots.splice(i, 1)
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    const i = slots.indexOf(this)
    if (i >= 0) slots.splice(i, 1)
  }
}

const slots: Slot[] = []
let nextId = 0

function slot(): Slot {
  const max = Math.min(2, availableParallelism())
  const idle = slots.find((s) => s.pending.size === 0)
  if (idle) return idle
  if (slots.length < max) {
    const s = new Slot()
    slots.push(s)
    return s
  }
  return slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a))
}

/** Encodes an Arrow IPC stream of `rows` rows as Parquet, in a worker thread when it is large. */
export function encodeParquet(ipc: Uint8Array, rows: number, opts: EncodeOptions): Promise<Uint8Array> {
  if (rows < WORKER_MIN_ROWS) {
    try {
      return Promise.resolve(encodeIpc(ipc, opts))
    } catch (err) {
      return Promise.reject(err as Error)
    }
  }
  const s = slot()
  const id = nextId++
  return new Promise<Uint8Array>((resolve, reject) => {
    s.pending.set(id, { resolve, reject })
    s.worker.ref() // keep the process alive while a part is being encoded
    const job = { id, ipc, compression: opts.compression, rowGroupSize: opts.rowGroupSize, dictionary: opts.dictionary }
    try {
      postTransfer(
        s.worker,
        job,
        ipc.byteOffset === 0 && ipc.byteLength === ipc.buffer.byteLength ? [ipc.buffer as ArrayBuffer] : [],
      )
    } catch (err) {
      s.pending.delete(id) // not sent: nothing will answer it
      if (s.pending.size === 0) s.worker.unref()
      reject(err as Error)
    }
  })
}
