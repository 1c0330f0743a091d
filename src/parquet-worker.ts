// The body of a Parquet encoding worker thread (see parquet-pool.ts): Arrow IPC stream in, Parquet bytes out.
import { parentPort } from 'node:worker_threads'
import { encodeIpc, type EncodeJob } from './parquet-encode.js'
import { postTransfer } from './parse-codec.js'

parentPort!.on('message', (job: EncodeJob & { id: number }) => {
  try {
    const out = encodeIpc(job.ipc, job)
    postTransfer(parentPort!, { id: job.id, out }, [out.buffer as ArrayBuffer])
  } catch (err) {
    parentPort!.postMessage({ id: job.id, error: (err as Error)?.message ?? String(err) })
  }
})
