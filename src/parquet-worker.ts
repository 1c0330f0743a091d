// The body of a Parquet encoding worker thread (see parquet-pool.ts): Arrow IPC stream in, Parquet bytes out, with
// the size its WebAssembly memory has grown to (it never shrinks: the pool retires a worker whose memory is large).
import { parentPort } from 'node:worker_threads'
import * as pw from 'parquet-wasm'
import { encodeIpc, type EncodeJob } from './parquet-encode.js'
import { postTransfer } from './parse-codec.js'

/** The size the WebAssembly memory has grown to. */
const heap = (): number => (pw.wasmMemory() as unknown as { buffer: ArrayBuffer }).buffer.byteLength

parentPort!.on('message', (job: EncodeJob & { id: number }) => {
  try {
    const out = encodeIpc(job.ipc, job)
    postTransfer(parentPort!, { id: job.id, out, heap: heap() }, [out.buffer as ArrayBuffer])
  } catch (err) {
    parentPort!.postMessage({
      id: job.id,
      error: (err as Error)?.message ?? String(err),
      heap: heap(),
    })
  }
})
