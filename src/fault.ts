// Fault injection for crash-safety and signal tests. Off unless the environment asks for it:
//   CDC_APPLY_FAULT="<point>:<n>"             kills the process abruptly (SIGKILL, no cleanup) the n-th time it
//                                             reaches <point>;
//   CDC_APPLY_FAULT="<point>:<n>:pause=<ms>"  instead blocks the process for <ms> there (signals that arrive
//                                             meanwhile are handled right after, in order);
//   CDC_APPLY_FAULT_LOG=<file>                appends every point reached (and "paused <point>" before a pause).
import { appendFileSync } from 'node:fs'

export type FaultPoint =
  | 'after-read'
  | 'after-raw-part'
  | 'after-raw-write'
  | 'after-raw-iceberg-commit'
  | 'after-prune'
  | 'after-curated-write'
  | 'before-commit'
  | 'inside-commit'
  | 'before-compaction-commit'
  | 'after-compaction-commit'
  | 'iceberg-after-delta'
  | 'iceberg-before-metadata'
  | 'iceberg-after-metadata'

const spec = process.env.CDC_APPLY_FAULT?.split(':')
const logFile = process.env.CDC_APPLY_FAULT_LOG
const target = spec?.[0]
const nth = Number(spec?.[1] ?? 1)
const pauseMs = spec?.[2]?.startsWith('pause=') ? Number(spec[2].slice('pause='.length)) : undefined
let hits = 0

export function faultPoint(point: FaultPoint): void {
  if (logFile) appendFileSync(logFile, point + '\n')
  if (point !== target || ++hits !== nth) return
  if (pauseMs === undefined) process.kill(process.pid, 'SIGKILL')
  if (logFile) appendFileSync(logFile, `paused ${point}\n`)
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pauseMs)
}
