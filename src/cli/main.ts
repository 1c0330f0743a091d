// The cdc-apply command line: parses words, runs, maps errors to exit codes. The only code that prints.
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { CdcError, EXIT, UsageError, exitCodeFor } from '../errors.js'
import { DEFAULTS, loadConfig, resolveLocal, type Config } from '../config.js'
import { errFields, ndjsonLogger, parseLevel, type Logger } from '../log.js'
import { runOnce, type RunSummary } from '../run.js'
import { StateStore } from '../state.js'
import { HELP } from './help.js'
import { renderRun, renderStatus } from './render.js'

export interface Io {
  stdout: (s: string) => void
  stderr: (s: string) => void
}

const defaultIo: Io = { stdout: (s) => void process.stdout.write(s), stderr: (s) => void process.stderr.write(s) }

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const first = argv[0]
  const command = first === undefined || first.startsWith('-') ? 'run' : first
  const rest = first === undefined || first.startsWith('-') ? argv : argv.slice(1)
  let log: Logger = ndjsonLogger(io.stderr, 'info')
  try {
    if (command === 'help') {
      io.stdout(HELP[rest[0] ?? 'main'] ?? HELP.main!)
      return EXIT.ok
    }
    if (!(command in COMMANDS)) throw new UsageError('CDC_USAGE', `unknown command ${JSON.stringify(command)}`, { hint: "see 'cdc-apply --help'" })
    const { values } = parse(command, rest)
    if (values.help) {
      io.stdout(HELP[command === 'run' && first?.startsWith('-') && rest.length === 1 ? 'main' : command] ?? HELP.main!)
      return EXIT.ok
    }
    const level = parseLevel(String(values['log-level'] ?? process.env.CDC_APPLY_LOG_LEVEL ?? 'info'))
    if (level === undefined) throw new UsageError('CDC_USAGE', `--log-level must be one of trace, debug, info, warn, error, silent`, { hint: `see 'cdc-apply ${command} --help'` })
    log = ndjsonLogger(io.stderr, level)
    const config = loadConfig(resolve(String(values.config ?? DEFAULTS.configFile)))
    return await COMMANDS[command]!(config, values, io, log)
  } catch (err) {
    return report(err, io, log)
  }
}

type Values = Record<string, string | boolean | string[] | undefined>
type Command = (config: Config, values: Values, io: Io, log: Logger) => Promise<number>

const COMMON = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

const OPTIONS: Record<string, Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>> = {
  run: { ...COMMON, table: { type: 'string', multiple: true } },
  status: { ...COMMON },
}

function parse(command: string, args: string[]): { values: Values } {
  try {
    return parseArgs({ args, options: OPTIONS[command]!, strict: true, allowPositionals: false }) as { values: Values }
  } catch (err) {
    throw new UsageError('CDC_USAGE', (err as Error).message, { hint: `see 'cdc-apply ${command} --help'` })
  }
}

const COMMANDS: Record<string, Command> = {
  async run(config, values, io, log) {
    const controller = new AbortController()
    const onSignal = (): void => controller.abort()
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    let summary: RunSummary
    try {
      const tables = values.table as string[] | undefined
      summary = await runOnce(config, { logger: log, signal: controller.signal, ...(tables ? { tables } : {}) })
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    for (const t of summary.tables) if (t.error) log.error({ table: `${t.source}.${t.table}`, ...errFields(t.error) }, 'table failed')
    log.info({ ms: summary.ms, tables: summary.tables.length, failed: summary.tables.filter((t) => t.error).length }, 'cycle done')
    io.stdout(values.json ? JSON.stringify(summaryJson(summary)) + '\n' : renderRun(summary))
    const failed = summary.tables.find((t) => t.error)
    return failed ? exitCodeFor(failed.error) : EXIT.ok
  },
  async status(config, values, io) {
    const state = StateStore.open(resolveLocal(config, config.state))
    try {
      const rows = state.status()
      io.stdout(values.json ? JSON.stringify({ tables: rows }) + '\n' : renderStatus(rows))
      return EXIT.ok
    } finally {
      state.close()
    }
  },
}

export function summaryJson(s: RunSummary): object {
  return {
    ms: s.ms,
    tables: s.tables.map((t) => ({
      ...t,
      error: t.error ? { code: (t.error as CdcError).code ?? 'CDC_INTERNAL', message: t.error.message, hint: (t.error as CdcError).hint } : undefined,
    })),
  }
}

function report(err: unknown, io: Io, log: Logger): number {
  const code = exitCodeFor(err)
  if (err instanceof CdcError) {
    log.error(errFields(err), 'failed')
    io.stderr(`cdc-apply: ${err.code}: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`)
  } else {
    log.error(errFields(err), 'internal error')
    io.stderr(`cdc-apply: internal error, please report: ${(err as Error)?.stack ?? String(err)}\n`)
  }
  return code
}
