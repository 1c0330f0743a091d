// Fault injection for crash-safety tests: CDC_APPLY_FAULT="<point>:<n>" kills the process abruptly (SIGKILL, no
// cleanup) the n-th time it reaches <point>; CDC_APPLY_FAULT_LOG=<file> appends every point reached. Off otherwise.
import { appendFileSync } from 'node:fs'

export type FaultPoint = 'after-read' | 'after-raw-write' | 'after-curated-write' | 'before-commit' | 'inside-commit'

const spec = process.env.CDC_APPLY_FAULT
const logFile = process.env.CDC_APPLY_FAULT_LOG
const [target, nth] = spec ? [spec.split(':')[0], Number(spec.split(':')[1] ?? 1)] : [undefined, 0]
let hits = 0

export function faultPoint(point: FaultPoint): void {
  if (logFile) appendFileSync(logFile, point + '\n')
  if (point === target && ++hits === nth) process.kill(process.pid, 'SIGKILL')
}
