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
  /** 'pretty' when lines are for a person at a terminal: the CLI then prints an error once, as text only. */
  readonly format?: LogFormat
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
    write(
      JSON.stringify(
        { level: lvl, time: Date.now(), pid: process.pid, ...bindings, ...fields, msg },
        (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
      ) + '\n',
    )
  }
  return {
    trace: (f, m) => emit(10, f, m),
    debug: (f, m) => emit(20, f, m),
    info: (f, m) => emit(30, f, m),
    warn: (f, m) => emit(40, f, m),
    error: (f, m) => emit(50, f, m),
    child: (b) => ndjsonLogger(write, level, { ...bindings, ...b }),
    format: 'json',
  }
}

export function parseLevel(s: string): Level | undefined {
  return s === 'silent' || s in LEVELS ? (s as Level) : undefined
}

export type LogFormat = 'json' | 'pretty'

const NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR' }

/**
 * Human-readable log lines for a terminal: `HH:MM:SS.mmm LEVEL [table] msg key=value ...` (UTC time), an error as
 * `code: message` with its hint on the next line. The stack is shown only for an error without a cdc-apply code
 * (a bug). Same Logger contract and levels as ndjsonLogger; the fields are the same, only the rendering differs.
 */
export function prettyLogger(
  write: (line: string) => void,
  level: Level = 'info',
  bindings: object = {},
  now: () => Date = () => new Date(),
): Logger {
  const min = level === 'silent' ? Infinity : LEVELS[level]
  const emit = (lvl: number, fields: object, msg: string): void => {
    if (lvl < min) return
    const all: Record<string, unknown> = { ...bindings, ...fields }
    const { table, err, ...rest } = all
    let line = `${now().toISOString().slice(11, 23)} ${(NAMES[lvl] ?? String(lvl)).padEnd(5)} ${typeof table === 'string' ? `${table}: ` : ''}${msg}`
    const e = err as { code?: string; message?: string; hint?: string; stack?: string; type?: string } | undefined
    if (e !== undefined) line += `: ${e.code ?? e.type ?? 'Error'}: ${e.message ?? ''}`
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) line += ` ${k}=${prettyValue(v)}`
    if (e?.hint) line += `\n  hint: ${e.hint}`
    if (e !== undefined && e.code === undefined && e.stack)
      line += `\n  ${e.stack
        .split('\n')
        .slice(1)
        .map((s) => s.trim())
        .join('\n  ')}`
    write(line + '\n')
  }
  return {
    trace: (f, m) => emit(10, f, m),
    debug: (f, m) => emit(20, f, m),
    info: (f, m) => emit(30, f, m),
    warn: (f, m) => emit(40, f, m),
    error: (f, m) => emit(50, f, m),
    child: (b) => prettyLogger(write, level, { ...bindings, ...b }, now),
    format: 'pretty',
  }
}

function prettyValue(v: unknown): string {
  if (typeof v === 'string') return /^[\w./:@+-]+$/.test(v) ? v : JSON.stringify(v)
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? String(v)
}

/** The logger for a format: NDJSON (pino's fields) or human-readable lines. */
export function makeLogger(format: LogFormat, write: (line: string) => void, level: Level): Logger {
  return format === 'pretty' ? prettyLogger(write, level) : ndjsonLogger(write, level)
}
