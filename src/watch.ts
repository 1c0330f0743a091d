// Watch mode: one polling loop per table, state kept in memory between polls, transient errors backed off.
import pLimit from 'p-limit'
import { statSync } from 'node:fs'
import { loadConfig, resolveLocal, tableLabel, type Config } from './config.js'
import { checkLanding, checkOutputsWritable } from './preflight.js'
import { setMaxListeners } from 'node:events'
import { openStores, runCycle, type ProgressEvent, type Stores, type TableMemory, type TableResult } from './run.js'
import { StateStore } from './state/index.js'
import { errFields, silentLogger, type Logger } from './log.js'
import type { Metrics } from './metrics.js'
import type { CdcError } from './errors.js'
import { Gate, PipelineTrigger } from './watch-pipelines.js'
import { SharedListing } from './listing.js'
import { sleep } from './sleep.js'
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
  /** The config file: a stopped table is retried when it changes, with its tables[] entry as the file has it then. */
  configFile?: string
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
  checkOutputsWritable(config)
  const state = StateStore.open(resolveLocal(config, config.state))
  let polls = 0
  try {
    state.lock()
    const stores = opts.stores ?? (await openStores(config))
    await checkLanding(config, stores.landing)
    const catalogOpts = opts.catalogRetryMs !== undefined ? { retryAfterMs: opts.catalogRetryMs } : {}
    const catalog =
      opts.catalogClient && config.catalog
        ? new Registrar(config, config.catalog, opts.catalogClient, state, catalogOpts)
        : await openRegistrar(config, state, catalogOpts)
    const memory = new Map<string, TableMemory>()
    const notes = new Map<string, string>()
    const limit = pLimit(config.concurrency.tables)
    /** Tables stopped on a terminal error, by label: retried (see `retry`) and removed once they recover. */
    const failed = new Map<string, TableResult>()
    const maxBackoff = (opts.maxBackoffSeconds ?? 300) * 1000
    // every table's loop waits on the signal: hundreds of tables are not a listener leak
    setMaxListeners(Math.max(10, 2 * config.tables.length + 10), opts.signal)
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
    // one landing listing per poll round for all tables (when cheaper than a LIST per table; src/listing.ts)
    const listing = new SharedListing(
      stores.landing,
      config.tables.map((t) => t.path),
    )
    const loop = async (label: string): Promise<void> => {
      const tlog = log.child({ table: label })
      let backoff = 0
      let cfg = config
      let stopped: Stopped | undefined
      let listedAfter = -Infinity
      while (!opts.signal.aborted) {
        if (stopped) {
          // A stopped table is retried when the offending object or the config file changes, or every retryStoppedSeconds.
          await sleep(opts.intervalSeconds * 1000, opts.signal)
          if (opts.signal.aborted) break
          const why = await retryReason(stopped, stores, cfg, label, opts.configFile, tlog)
          if (why === undefined) continue
          if (why.config) cfg = why.config
          tlog.info({ reason: why.reason }, 'retrying a stopped table')
        }
        const summary = await limit(() =>
          gate.withShared(() =>
            runCycle(cfg, stores, state, {
              logger: log,
              signal: opts.signal,
              memory,
              notes,
              tables: [label],
              listing,
              listedAfter,
              ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
              ...(catalog ? { catalog } : {}),
            }),
          ),
        )
        listedAfter = performance.now()
        const r = summary.tables[0]!
        polls++
        state.heartbeat()
        const terminal = r.error !== undefined && r.status !== 'aborted' && !(r.error as CdcError).transient
        opts.metrics?.record(r, terminal)
        opts.onPoll?.(r)
        if (r.status === 'aborted') break
        if (!terminal && stopped) {
          tlog.info({ status: r.status }, 'table resumed')
          stopped = undefined
          failed.delete(label)
        }
        if (r.error) {
          if (terminal) {
            const e = r.error as CdcError
            const sameError = stopped !== undefined && stopped.code === e.code && stopped.file === e.file
            if (!sameError) tlog.error({ ...errFields(r.error) }, 'table stopped')
            stopped = await stoppedOn(e, stores, opts.configFile, cfg)
            failed.set(label, r)
            continue
          }
          backoff = Math.min(maxBackoff, Math.max(opts.intervalSeconds * 1000, backoff * 2))
          tlog.warn({ ...errFields(r.error), retryInMs: backoff }, 'transient error, retrying')
        } else {
          backoff = 0
          if (pollDone(tlog, r)) pipelines.advanced(label)
        }
        await sleep(backoff || opts.intervalSeconds * 1000, opts.signal)
      }
    }
    // A stopped table keeps its loop (retrying slowly), so the loops end only when told to stop; meanwhile health is
    // 503 and status shows why, and a supervisor does not restart into the same error in a loop.
    await Promise.all(config.tables.map((t) => loop(tableLabel(t))))
    await pipelines.idle()
    catalog?.close()
    if (!opts.stores) await Promise.all([stores.landing.close(), stores.raw.close(), stores.curated.close()])
    return { failed: [...failed.values()], polls }
  } finally {
    state.close()
  }
}

/**
 * Logs the end of a poll that had no error, once: `info` with its counts when it applied files, `debug` otherwise.
 * Returns whether the table advanced (its configured pipelines are then due).
 */
export function pollDone(log: Logger, r: Pick<TableResult, 'status' | 'files' | 'rows' | 'lpf' | 'ms'>): boolean {
  const advanced = r.status === 'ok' && r.files > 0
  if (advanced) log.info({ files: r.files, rows: r.rows, lpf: r.lpf, ms: r.ms }, 'poll done')
  else log.debug({ status: r.status, ms: r.ms }, 'poll done')
  return advanced
}

/** What a stopped table stopped on: the error, the offending object's ETag then, and the config file's state then. */
interface Stopped {
  code: string
  file: string | undefined
  etag: string | undefined
  config: string | undefined
  at: number
  retryMs: number
}

async function stoppedOn(e: CdcError, stores: Stores, configFile: string | undefined, cfg: Config): Promise<Stopped> {
  return {
    code: e.code,
    file: e.file,
    etag: e.file === undefined ? undefined : await etagOf(stores, e.file),
    config: fileState(configFile),
    at: Date.now(),
    retryMs: cfg.retryStoppedSeconds * 1000,
  }
}

/** The landing object's ETag, 'gone' when it is not there, undefined when the landing cannot be listed. */
async function etagOf(stores: Stores, key: string): Promise<string | undefined> {
  try {
    for await (const o of stores.landing.list(key)) if (o.key === key) return o.etag
    return 'gone'
  } catch {
    return undefined
  }
}

function fileState(file: string | undefined): string | undefined {
  if (file === undefined) return undefined
  try {
    const st = statSync(file)
    return `${st.size}-${st.mtimeMs}`
  } catch {
    return 'gone'
  }
}

/** Why a stopped table should be retried now (and with which config), or undefined to keep waiting. */
async function retryReason(
  s: Stopped,
  stores: Stores,
  cfg: Config,
  label: string,
  configFile: string | undefined,
  log: Logger,
): Promise<{ reason: string; config?: Config } | undefined> {
  const now = fileState(configFile)
  if (configFile !== undefined && now !== s.config) {
    s.config = now
    try {
      const fresh = loadConfig(configFile)
      const t = fresh.tables.find((x) => tableLabel(x) === label)
      if (t === undefined)
        log.warn({ config: configFile }, 'the changed config no longer has this table; still stopped')
      else
        return {
          reason: 'config changed',
          config: { ...cfg, tables: cfg.tables.map((x) => (tableLabel(x) === label ? t : x)) },
        }
    } catch (err) {
      log.warn({ ...errFields(err) }, 'the changed config is invalid; still stopped')
    }
  }
  if (s.file !== undefined && s.etag !== undefined) {
    const etag = await etagOf(stores, s.file)
    if (etag !== undefined && etag !== s.etag) return { reason: etag === 'gone' ? 'object removed' : 'object changed' }
  }
  if (Date.now() - s.at >= s.retryMs) return { reason: 'retryStoppedSeconds elapsed' }
  return undefined
}
