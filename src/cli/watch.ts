// `cdc-apply run --watch`: the daemon loop with its metrics endpoint, and the pipelines a `run` triggers.
import { resolve } from 'node:path'
import type { Server } from 'node:http'
import { EXIT, UsageError, exitCodeFor } from '../errors.js'
import { tableLabel, DEFAULTS, type Config } from '../config.js'
import type { Logger } from '../log.js'
import type { RunSummary } from '../run.js'
import { runWatch } from '../watch.js'
import { Metrics, serveMetrics } from '../metrics.js'
import { Gate, PipelineTrigger } from '../watch-pipelines.js'
import type { PipelineRun } from '../steps/run-steps.js'
import { summaryJson } from './render.js'
import type { Io, Values } from './main.js'

/** `run` once: the configured pipelines whose `after` tables advanced run after the cycle, one after another. */
export async function runTriggeredPipelines(
  config: Config,
  summary: RunSummary,
  log: Logger,
  signal: AbortSignal,
): Promise<PipelineRun[]> {
  const runs: PipelineRun[] = []
  const trigger = new PipelineTrigger(config, { logger: log, signal, gate: new Gate(), onRun: (r) => runs.push(r) })
  for (const t of summary.tables) if (t.status === 'ok' && t.files > 0) trigger.advanced(tableLabel(t))
  await trigger.idle()
  return runs
}

export async function watch(config: Config, values: Values, io: Io, log: Logger, signal: AbortSignal): Promise<number> {
  const interval = values.interval === undefined ? config.pollSeconds : Number(values.interval)
  if (!(interval > 0))
    throw new UsageError(
      'CDC_USAGE',
      `--interval must be a positive number of seconds, got ${JSON.stringify(values.interval)}`,
      { hint: "see 'cdc-apply run --help'" },
    )
  const metrics = new Metrics(Math.max(3 * interval, 60) * 1000)
  let server: Server | undefined
  if (values['metrics-port'] !== undefined) {
    const port = Number(values['metrics-port'])
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(
        'CDC_USAGE',
        `--metrics-port must be a port number, got ${JSON.stringify(values['metrics-port'])}`,
        { hint: "see 'cdc-apply run --help'" },
      )
    server = await serveMetrics(metrics, port, String(values['metrics-host'] ?? '127.0.0.1'))
    const addr = server.address()
    log.info({ port: typeof addr === 'object' && addr ? addr.port : port }, 'metrics listening')
  }
  log.info({ interval, tables: config.tables.length }, 'watching')
  try {
    const result = await runWatch(config, {
      logger: log,
      signal,
      intervalSeconds: interval,
      metrics,
      configFile: resolve(String(values.config ?? DEFAULTS.configFile)),
      onPoll: (r) => {
        if (values.json && r.status === 'ok') io.stdout(JSON.stringify(summaryJson({ tables: [r], ms: r.ms })) + '\n')
      },
    })
    log.info({ polls: result.polls, failed: result.failed.length }, 'stopped')
    return result.failed.length > 0 ? exitCodeFor(result.failed[0]!.error) : EXIT.ok
  } finally {
    server?.close()
  }
}
