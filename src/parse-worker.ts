// The body of a decoding worker thread (see parse-pool.ts): one object's (or CSV piece's) bytes in, its decoded
// columns out, or the coded error it raised; the input bytes go back either way (the main thread may decode again).
import { parentPort } from 'node:worker_threads'
import { readFile } from './read.js'
import { buffers, errorToWire, postTransfer, resultToWire, schemaFromWire } from './parse-codec.js'
import type { DecodeJob } from './parse-pool.js'

parentPort!.on('message', (job: DecodeJob) => {
  try {
    const r = readFile(job.t, job.file, job.bytes, schemaFromWire(job.schema), job.piece)
    const { wire, transfer } = resultToWire(r)
    postTransfer(parentPort!, { id: job.id, ok: wire, bytes: job.bytes }, [...transfer, ...buffers([job.bytes])])
  } catch (err) {
    postTransfer(parentPort!, { id: job.id, error: errorToWire(err), bytes: job.bytes }, buffers([job.bytes]))
  }
})
