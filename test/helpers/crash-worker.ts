// A decoding worker that dies on its first job (test/parse-pool.test.ts): the pool must fail the job with a coded
// error, not wait for an answer that never comes.
import { parentPort } from 'node:worker_threads'

parentPort!.on('message', () => {
  process.exit(7)
})
