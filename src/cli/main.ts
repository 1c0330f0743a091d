// The cdc-apply command line: parses words, runs, maps errors to exit codes. The only code that prints.
import { parseArgs } from 'node:util'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { CdcError, EXIT, UsageError, exitCodeFor } from '../errors.js'
import { tableLabel, DEFAULTS, loadConfig, resolveLocal, type Config } from '../config.js'
import { errFields, makeLogger, parseLevel, type LogFormat, type Logger } from '../log.js'
import { runOnce } from '../run.js'
import { resetTable } from '../reset.js'
import { progressBar } from './progress.js'
import { StateStore, lastVerify, pipelineRuns } from '../state/index.js'
import { HELP } from './help.js'
import { renderVersions, versions } from './version.js'
import { renderCatalog, renderChecks, renderRun, renderStatus, summaryJson } from './render.js'
import { globRegExp, isGlob, selectTables } from '../table-glob.js'
import { filterStatus } from './status-filter.js'
import { runTriggeredPipelines, watch } from './watch.js'

export interface Io {
  stdout: (s: string) => void
  stderr: (s: string) => void
}

const defaultIo: Io = { stdout: (s) => void process.stdout.write(s), stderr: (s) => void process.stderr.write(s) }

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const first = argv[0]
  const command = first === undefined || first.startsWith('-') ? 'run' : first
  const rest = first === undefined || first.startsWith('-') ? argv : argv.slice(1)
  let format: LogFormat = isTty() ? 'pretty' : 'json'
  let log: Logger = makeLogger(format, io.stderr, 'info')
  try {
    if (first === '--version') {
      if (argv.length > 2 || (argv[1] !== undefined && argv[1] !== '--json'))
        throw new UsageError(
          'CDC_USAGE',
          `--version takes no other option than --json, got ${JSON.stringify(argv.slice(1).join(' '))}`,
          { hint: "see 'cdc-apply --help'" },
        )
      io.stdout(argv[1] === '--json' ? JSON.stringify(versions()) + '\n' : renderVersions(versions()))
      return EXIT.ok
    }
    if (command === 'help') {
      const topic = rest[0] ?? 'main'
      if (HELP[topic] === undefined)
        throw new UsageError(
          'CDC_USAGE',
          `no help for ${JSON.stringify(topic)}: expected one of ${Object.keys(HELP)
            .filter((k) => k !== 'main')
            .join(', ')}`,
          { hint: "see 'cdc-apply --help'" },
        )
      io.stdout(HELP[topic]!)
      return EXIT.ok
    }
    if (command === 'init') return await (await import('./init.js')).initCommand(rest, io) // init writes a config: it reads none
    if (!(command in COMMANDS))
      throw new UsageError('CDC_USAGE', `unknown command ${JSON.stringify(command)}`, {
        hint: "see 'cdc-apply --help'",
      })
    const { values } = parse(command, rest)
    if (values.help) {
      io.stdout(HELP[command === 'run' && first?.startsWith('-') && rest.length === 1 ? 'main' : command] ?? HELP.main!)
      return EXIT.ok
    }
    // With a progress bar on a terminal, info logs would tear the bar: default to warn there.
    const quietDefault =
      command === 'run' &&
      !values.watch &&
      !values.json &&
      !values['no-progress'] &&
      (values.progress === true || isTty())
        ? 'warn'
        : 'info'
    const level = parseLevel(String(values['log-level'] ?? process.env.CDC_APPLY_LOG_LEVEL ?? quietDefault))
    if (level === undefined)
      throw new UsageError('CDC_USAGE', `--log-level must be one of trace, debug, info, warn, error, silent`, {
        hint: `see 'cdc-apply ${command} --help'`,
      })
    const fmt = values['log-format'] ?? process.env.CDC_APPLY_LOG_FORMAT
    if (fmt !== undefined && fmt !== 'json' && fmt !== 'pretty')
      throw new UsageError('CDC_USAGE', `--log-format must be json or pretty, got ${JSON.stringify(fmt)}`, {
        hint: `see 'cdc-apply ${command} --help'`,
      })
    if (fmt !== undefined) format = fmt
    log = makeLogger(format, io.stderr, level)
    const config = loadConfig(resolve(String(values.config ?? DEFAULTS.configFile)))
    return await COMMANDS[command]!(config, values, io, log)
  } catch (err) {
    return report(err, io, log, format)
  }
}

export type Values = Record<string, string | boolean | string[] | undefined>
type Command = (config: Config, values: Values, io: Io, log: Logger) => Promise<number>

const COMMON = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

const OPTIONS: Record<string, Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>> = {
  run: {
    ...COMMON,
    table: { type: 'string', multiple: true },
    watch: { type: 'boolean', short: 'w' },
    interval: { type: 'string' },
    'metrics-port': { type: 'string' },
    'metrics-host': { type: 'string' },
    progress: { type: 'boolean' },
    'no-progress': { type: 'boolean' },
  },
  status: {
    ...COMMON,
    table: { type: 'string', multiple: true },
    lagging: { type: 'boolean' },
    failed: { type: 'boolean' },
    sort: { type: 'string' },
  },
  reset: { ...COMMON, table: { type: 'string' }, yes: { type: 'boolean' } },
  transform: { ...COMMON, param: { type: 'string', multiple: true }, emit: { type: 'string' } },
  verify: {
    ...COMMON,
    table: { type: 'string' },
    date: { type: 'string' },
    against: { type: 'string' },
    limit: { type: 'string' },
  },
  snapshot: { ...COMMON, table: { type: 'string' }, 'as-of': { type: 'string' }, out: { type: 'string' } },
  catalog: {
    ...COMMON,
    emit: { type: 'string' },
    table: { type: 'string' },
    database: { type: 'string' },
    'table-prefix': { type: 'string' },
  },
  spark: {
    ...COMMON,
    table: { type: 'string', multiple: true },
    out: { type: 'string' },
    state: { type: 'string' },
    's3-scheme': { type: 'string' },
  },
  state: { ...COMMON, table: { type: 'string' } },
  compact: { ...COMMON, table: { type: 'string', multiple: true } },
}

/** Commands that take positional words (transform: the pipeline file). */
const POSITIONALS: Record<string, number> = { transform: 1, state: 2 }

function parse(command: string, args: string[]): { values: Values } {
  try {
    const r = parseArgs({
      args,
      options: OPTIONS[command]!,
      strict: true,
      allowPositionals: (POSITIONALS[command] ?? 0) > 0,
    })
    if (r.positionals.length > (POSITIONALS[command] ?? 0))
      throw new Error(`unexpected argument ${JSON.stringify(r.positionals.at(-1))}`)
    return { values: { ...(r.values as Values), _: r.positionals } }
  } catch (err) {
    throw new UsageError('CDC_USAGE', (err as Error).message, { hint: `see 'cdc-apply ${command} --help'` })
  }
}

const COMMANDS: Record<string, Command> = {
  async run(config, values, io, log) {
    const controller = new AbortController()
    let signals = 0
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++
      if (signals > 1) {
        log.warn({ signal: sig }, 'second signal: exiting now')
        process.exit(EXIT.interrupted)
      }
      log.info({ signal: sig }, 'stopping: finishing or rolling back the unit of work in flight')
      controller.abort()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    try {
      // --table takes labels and globs ('OP.*'); a pattern that matches nothing is a usage error
      const tables =
        values.table === undefined ? undefined : selectTables(labels(config), values.table as string[], 'run')
      if (tables) config = { ...config, tables: config.tables.filter((t) => tables.includes(tableLabel(t))) }
      const bar =
        !values.json && !values['no-progress'] && (values.progress === true || isTty())
          ? progressBar(io.stderr)
          : undefined
      if (values.watch) return await watch(config, values, io, log, controller.signal)
      const summary = await runOnce(config, {
        logger: log,
        signal: controller.signal,
        ...(bar ? { onProgress: bar } : {}),
      })
      if (bar) io.stderr('\n')
      const pipelineRuns = await runTriggeredPipelines(config, summary, log, controller.signal)
      for (const t of summary.tables)
        if (t.error && t.status !== 'aborted')
          log.error({ table: tableLabel(t), ...errFields(t.error) }, 'table failed')
      log.info(
        { ms: summary.ms, tables: summary.tables.length, failed: summary.tables.filter((t) => t.error).length },
        'cycle done',
      )
      io.stdout(values.json ? JSON.stringify(summaryJson(summary)) + '\n' : renderRun(summary))
      const failed = summary.tables.find((t) => t.error && t.status !== 'aborted')
      if (failed) return exitCodeFor(failed.error)
      const pipelineFailed = pipelineRuns.find((r) => r.status !== 'Success')
      return pipelineFailed ? (pipelineFailed.error ? exitCodeFor(pipelineFailed.error) : EXIT.step) : EXIT.ok
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  },
  async reset(config, values, io) {
    const pattern = values.table as string | undefined
    if (!pattern)
      throw new UsageError('CDC_USAGE', "reset needs --table Source.TableName (or a glob such as 'OP.*')", {
        hint: "see 'cdc-apply reset --help'",
      })
    const tables = selectTables(labels(config), [pattern], 'reset')
    if (!values.yes)
      throw new UsageError(
        'CDC_USAGE',
        `reset deletes the RAW and curated outputs and the watermark of ${tables.length === 1 ? tables[0] : `${tables.length} tables (${tables.join(', ')})`}; add --yes to confirm`,
        { hint: "see 'cdc-apply reset --help'" },
      )
    const done: { table: string; deletedObjects: number }[] = []
    for (const table of tables) {
      const r = await resetTable(config, table)
      done.push({ table, deletedObjects: r.deleted })
      if (!values.json)
        io.stdout(
          `reset ${table}: ${r.deleted} output objects deleted; the next run reprocesses it from its full load\n`,
        )
    }
    if (values.json)
      io.stdout(JSON.stringify(done.length === 1 && !isGlob(pattern) ? done[0] : { tables: done }) + '\n')
    return EXIT.ok
  },
  async transform(config, values, io, log) {
    const pipeline = (values._ as string[])[0]
    if (pipeline === undefined)
      throw new UsageError('CDC_USAGE', 'transform needs a pipeline file: cdc-apply transform <pipeline.json>', {
        hint: "see 'cdc-apply transform --help'",
      })
    const params: Record<string, string> = {}
    for (const p of (values.param as string[] | undefined) ?? []) {
      const eq = p.indexOf('=')
      if (eq <= 0)
        throw new UsageError('CDC_USAGE', `--param must be name=value, got ${JSON.stringify(p)}`, {
          hint: "see 'cdc-apply transform --help'",
        })
      params[p.slice(0, eq)] = p.slice(eq + 1)
    }
    if (values.emit !== undefined && values.emit !== 'pyspark')
      throw new UsageError('CDC_USAGE', `--emit supports only pyspark, got ${JSON.stringify(values.emit)}`, {
        hint: "see 'cdc-apply transform --help'",
      })
    // DuckDB loads only for the commands that use it (it costs ~0.25 s and ~20 MB at start-up)
    const { transformCommand } = await import('./transform.js')
    return transformCommand(
      config,
      {
        pipeline: resolve(pipeline),
        params,
        json: values.json === true,
        ...(values.emit ? { emit: 'pyspark' as const } : {}),
      },
      io,
      log,
    )
  },
  async verify(config, values, io, log) {
    const limit = values.limit === undefined ? undefined : Number(values.limit)
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0))
      throw new UsageError('CDC_USAGE', `--limit must be a whole number, got ${JSON.stringify(values.limit)}`, {
        hint: "see 'cdc-apply verify --help'",
      })
    const opt = (k: string): string | undefined =>
      k === 'table' && isGlob(String(values.table)) ? undefined : (values[k] as string | undefined)
    // a glob narrows the configured tables; verify then checks each of them
    if (values.table !== undefined) selectTables(labels(config), [values.table as string], 'verify')
    if (values.table !== undefined && isGlob(values.table as string))
      config = {
        ...config,
        tables: config.tables.filter((t) => globRegExp(values.table as string).test(tableLabel(t))),
      }
    const { verifyCommand } = await import('./verify.js')
    return verifyCommand(
      config,
      {
        json: values.json === true,
        ...(opt('table') !== undefined ? { table: opt('table')! } : {}),
        ...(opt('date') !== undefined ? { date: opt('date')! } : {}),
        ...(opt('against') !== undefined ? { against: opt('against')! } : {}),
        ...(limit !== undefined ? { limit } : {}),
      },
      io,
      log,
    )
  },
  async snapshot(config, values, io, log) {
    for (const k of ['table', 'as-of', 'out']) {
      if (values[k] === undefined)
        throw new UsageError('CDC_USAGE', `snapshot needs --${k}`, { hint: "see 'cdc-apply snapshot --help'" })
    }
    const { snapshotCommand } = await import('./snapshot.js')
    return snapshotCommand(
      config,
      {
        table: values.table as string,
        asOf: values['as-of'] as string,
        out: values.out as string,
        json: values.json === true,
      },
      io,
      log,
    )
  },
  async compact(config, values, io) {
    const tables =
      values.table === undefined ? labels(config) : selectTables(labels(config), values.table as string[], 'compact')
    const { compactTables } = await import('../compact.js')
    const { renderCompact } = await import('./render.js')
    const done = await compactTables(config, tables)
    io.stdout(values.json ? JSON.stringify({ tables: done }) + '\n' : renderCompact(done))
    return EXIT.ok
  },
  async spark(config, values, io, log) {
    return (await import('./spark.js')).sparkCommand(config, values, io, log)
  },
  async state(config, values, io, log) {
    return (await import('./spark.js')).stateCommand(config, values, io, log)
  },
  async catalog(config, values, io, log) {
    const { catalogCommand, EMIT_FORMATS } = await import('./catalog.js')
    const emit = values.emit as string | undefined
    if (emit === undefined || !(EMIT_FORMATS as readonly string[]).includes(emit))
      throw new UsageError(
        'CDC_USAGE',
        `catalog needs --emit ${EMIT_FORMATS.join('|')}, got ${JSON.stringify(emit ?? null)}`,
        { hint: "see 'cdc-apply catalog --help'" },
      )
    return catalogCommand(
      config,
      {
        emit: emit as 'athena' | 'spark' | 'glue-json',
        table: values.table as string | undefined,
        database: values.database as string | undefined,
        tablePrefix: values['table-prefix'] as string | undefined,
      },
      io,
      log,
    )
  },
  async status(config, values, io) {
    const path = resolveLocal(config, config.state)
    if (!existsSync(path)) {
      io.stdout(
        values.json
          ? JSON.stringify({ tables: [], state: path, exists: false }) + '\n'
          : `no state file at ${path}: nothing has run yet\n`,
      )
      return EXIT.ok
    }
    const state = StateStore.open(path)
    try {
      if (values.table !== undefined) selectTables(labels(config), values.table as string[], 'status')
      const rows = filterStatus(state.status(), {
        tables: values.table as string[] | undefined,
        lagging: values.lagging === true,
        failed: values.failed === true,
        sort: values.sort as string | undefined,
      })
      const verifies = lastVerify(path)
      const pipelines = pipelineRuns(path)
      io.stdout(
        values.json
          ? JSON.stringify({ tables: rows, verify: verifies, pipelines }) + '\n'
          : renderStatus(rows) + renderCatalog(rows) + renderChecks(verifies, pipelines),
      )
      return EXIT.ok
    } finally {
      state.close()
    }
  },
}

function labels(config: Config): string[] {
  return config.tables.map((t) => tableLabel(t))
}

function isTty(): boolean {
  return process.stderr.isTTY
}

/**
 * A usage or config error (exit 2) is one line and its hint: nothing ran, so there is nothing to log. Other errors
 * are also logged as NDJSON for log shippers; in pretty format the text below says the same, so it is not repeated.
 */
function report(err: unknown, io: Io, log: Logger, format: LogFormat): number {
  const code = exitCodeFor(err)
  if (err instanceof CdcError) {
    if (code !== EXIT.usage && format === 'json') log.error(errFields(err), 'failed')
    io.stderr(`cdc-apply: ${err.code}: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`)
  } else {
    if (format === 'json') log.error(errFields(err), 'internal error')
    io.stderr(`cdc-apply: internal error, please report: ${(err as Error)?.stack ?? String(err)}\n`)
  }
  return code
}
