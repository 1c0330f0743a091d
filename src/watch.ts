// Watch mode: one polling loop per table, state kept in memory between polls, transient errors backed off.
import pLimit from 'p-limit'
import { setTimeout as sleep } from 'node:timers/promises'
import { resolveLocal, type Config } from './config.js'
import { openStores, runCycle, type ProgressEvent, type Stores, type TableMemory, type TableResult } from './run.js'
import { StateStore } from './state.js'
import { tableLabel } from './read.js'
import { errFields, silentLogger, type Logger } from './log.js'
import type { Metrics } from './metrics.js'
import type { CdcError } from './errors.js'
import { Gate, PipelineTrigger } from './watch-pipelines.js'
import type { PipelineRun } from './steps/run-steps.js'
import { openRegistrar, Registrar } from './catalog/register.js'
import type { CatalogClient } from './catalog/glue.js'

export interface WatchOptions {
  logger?: Logger
  signal: AbortSignal
  intervalSeconds: number
  /** Longest wait between retries of a transient error. */
  maxBackoffSeconds?: number
  metrics?: Metrics
  /** Called after every poll of a table. */
  onPoll?: (r: TableResult) => void
  onProgress?: (e: ProgressEvent) => void
  /** Called after every run of a configured pipeline. */
  onPipelineRun?: (r: PipelineRun) => void
  /** Stores to use instead of opening the configured locations (tests wrap them to count calls). */
  stores?: Stores
  /** After a failed catalog registration, wait this long before the table's next try (default 30 s). */
  catalogRetryMs?: number
  /** A catalog client to use instead of Glue (tests script its failures). */
  catalogClient?: CatalogClient
}

export interface WatchResult {
  /** Tables that stopped on a terminal error (their last result). */
  failed: TableResult[]
  polls: number
}

/** Runs until the signal aborts; a table that hits a terminal error stops, the others go on. */
export async function runWatch(config: Config, opts: WatchOptions): Promise<WatchResult> {
  const log = opts.logger ?? silentLogger
  const state = StateStore.open(resolveLocal(config, config.state))
  let polls = 0
  try {
    state.lock()
    const stores = opts.stores ?? (await openStores(config))
    const catalogOpts = opts.catalogRetryMs !== undefined ? { retryAfterMs: opts.catalogRetryMs } : {}
    const catalog = opts.catalogClient && config.catalog ? new Registrar(config, config.catalog, opts.catalogClient, state, catalogOpts) : await openRegistrar(config, state, catalogOpts)
    const memory = new Map<string, TableMemory>()
    const limit = pLimit(config.concurrency.tables)
    const failed: TableResult[] = []
    const maxBackoff = (opts.maxBackoffSeconds ?? 300) * 1000
    const gate = new Gate()
    const pipelines = new PipelineTrigger(config, {
      logger: log,
      signal: opts.signal,
      gate,
      onRun: (run) => {
        opts.metrics?.recordPipeline(run)
        opts.onPipelineRun?.(run)
      },
    })
    const loop = async (label: string): Promise<void> => {
      const tlog = log.child({ table: label })
      let backoff = 0
      while (!opts.signal.aborted) {
        const summary = await limit(() =>
          gate.withShared(() =>
            runCycle(config, stores, state, { logger: log, signal: opts.signal, memory, tables: [label], ...(opts.onProgress ? { onProgress: opts.onProgress } : {}), ...(catalog ? { catalog } : {}) }),
          ),
        )
        const r = summary.tables[0]!
        polls++
        state.heartbeat()
        const terminal = r.error !== undefined && r.status !== 'aborted' && !(r.error as CdcError).transient
        opts.metrics?.record(r, terminal)
        opts.onPoll?.(r)
        if (r.status === 'aborted') break
        if (r.error) {
          if (terminal) {
            tlog.error({ ...errFields(r.error) }, 'table stopped')
            failed.push(r)
            break
          }
          backoff = Math.min(maxBackoff, Math.max(opts.intervalSeconds * 1000, backoff * 2))
          tlog.warn({ ...errFields(r.error), retryInMs: backoff }, 'transient error, retrying')
        } else {
          backoff = 0
          if (r.status === 'ok') tlog.info({ files: r.files, rows: r.rows, lpf: r.lpf, ms: r.ms }, 'poll done')
          if (r.status === 'ok' && r.files > 0) pipelines.advanced(label)
          else tlog.debug({ status: r.status, ms: r.ms }, 'poll done')
        }
        await sleep(backoff || opts.intervalSeconds * 1000, undefined, { signal: opts.signal }).catch(() => undefined)
      }
    }
    await Promise.all(config.tables.map((t) => loop(tableLabel(t))))
    // Every table stopped on a terminal error: stay up (health 503, status shows why) until told to stop, so that a
    // supervisor does not restart into the same error in a loop.
    if (!opts.signal.aborted) {
      log.error({ failed: failed.length }, 'every table stopped; waiting for a signal')
      await new Promise((resolve) => opts.signal.addEventListener('abort', resolve, { once: true }))
    }
    await pipelines.idle()
    catalog?.close()
    if (!opts.stores) await Promise.all([stores.landing.close(), stores.raw.close(), stores.curated.close()])
    return { failed, polls }
  } finally {
    state.close()
  }
}
