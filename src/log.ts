// NDJSON logger with pino's field names and levels; library code logs only through a Logger it is given.

export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent'

const LEVELS: Record<Exclude<Level, 'silent'>, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 }

export interface Logger {
  trace(fields: object, msg: string): void
  debug(fields: object, msg: string): void
  info(fields: object, msg: string): void
  warn(fields: object, msg: string): void
  error(fields: object, msg: string): void
  child(bindings: object): Logger
}

export const silentLogger: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger
  },
}

/** Serialises an error as pino does (`err: { type, message, stack }`), plus cdc-apply's code and hint. */
export function errFields(err: unknown): object {
  if (!(err instanceof Error)) return { err: { type: typeof err, message: String(err) } }
  const e = err as Error & { code?: string; hint?: string }
  return { err: { type: e.name, code: e.code, message: e.message, hint: e.hint, stack: e.stack } }
}

export function ndjsonLogger(write: (line: string) => void, level: Level = 'info', bindings: object = {}): Logger {
  const min = level === 'silent' ? Infinity : LEVELS[level]
  const emit = (lvl: number, fields: object, msg: string): void => {
    if (lvl < min) return
    write(JSON.stringify({ level: lvl, time: Date.now(), pid: process.pid, ...bindings, ...fields, msg }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n')
  }
  return {
    trace: (f, m) => emit(10, f, m),
    debug: (f, m) => emit(20, f, m),
    info: (f, m) => emit(30, f, m),
    warn: (f, m) => emit(40, f, m),
    error: (f, m) => emit(50, f, m),
    child: (b) => ndjsonLogger(write, level, { ...bindings, ...b }),
  }
}

export function parseLevel(s: string): Level | undefined {
  return s === 'silent' || s in LEVELS ? (s as Level) : undefined
}
