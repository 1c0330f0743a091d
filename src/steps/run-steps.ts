// Runs a pipeline's plan on DuckDB: validates it whole, registers the catalog, runs the steps in order and
// returns one result per step (Success, Error or NotExecuted). Never throws; records every run in the state file.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { resolveLocal, type Config } from '../config.js'
import type { CdcError } from '../errors.js'
import { errFields, silentLogger, type Logger } from '../log.js'
import { readLpf, recordPipelineRun } from '../state/index.js'
import { openStore, openZone, zoneOptions } from '../store/open-store.js'
import { Duck } from '../check/duck.js'
import { catalogEntries, type CatalogEntry } from './catalog.js'
import { asCdcError, notExecuted, runSteps, type StepResult } from './execute.js'
import { loadPlanFile, parsePlan, type Plan, type PlanContext } from './plan.js'
import { checkPlanSql, planParams } from './plan-check.js'

export interface PipelineRun {
  pipeline: string
  file: string | undefined
  /** ISO time the run started. */
  startedAt: string
  /** The parameter values the SQL was run with. */
  params: Record<string, string>
  status: 'Success' | 'Error'
  /** Rows written by the write steps. */
  rows: number
  ms: number
  results: StepResult[]
  /** Why the run failed: CDC_STEP_INVALID before any step ran, CDC_STEP_FAILED naming the step, or a store error. */
  error: CdcError | undefined
}

/** Where a pipeline comes from: a file, or JSON already read (with the folder its relative targets resolve in). */
export type PipelineSource = { file: string } | { json: unknown; name: string; baseDir: string }

export interface StepSettings {
  /** Write targets must be below one of these: absolute folders or s3:// urls. */
  allowedRoots: string[]
  /** Never written into, never contained by a target: landing, RAW, curated, the state file, the cache. */
  protectedLocations: string[]
  /** Local copies of S3 inputs. */
  cacheDir: string
  statePath: string
}

export interface RunPipelineOptions {
  /** `--param name=value` values; they override the pipeline's defaults and the built-ins (run_date, lpd, ...). */
  params?: Readonly<Record<string, string>>
  /** Overrides what `stepSettings(config)` derives (for tests and for the config keys once they exist). */
  allowedRoots?: string[]
  cacheDir?: string
  /** The clock for run_date; default now. */
  now?: Date
  logger?: Logger
  signal?: AbortSignal
  /** Insert the run into pipeline_runs (default true). */
  record?: boolean
}

/** The step settings a config gives: `outputs` (default: the folders that hold `raw` and `curated`) and `cache`. */
export function stepSettings(config: Config): StepSettings {
  const statePath = resolveLocal(config, config.state)
  const cacheDir = config.cache !== undefined ? resolveLocal(config, config.cache) : join(dirname(statePath), 'cache')
  const outputs = config.outputs
  const zones = [config.raw, config.curated].map((l) => resolveLocal(config, l))
  const allowedRoots = outputs
    ? outputs.map((o) => resolveLocal(config, o))
    : zones.map(parentOf).filter((p): p is string => p !== undefined)
  return {
    allowedRoots: [...new Set(allowedRoots)],
    protectedLocations: [config.landing, config.raw, config.curated]
      .map((l) => resolveLocal(config, l))
      .concat(statePath, cacheDir),
    cacheDir,
    statePath,
  }
}

/** The folder holding an absolute folder or s3:// url; undefined for a bucket root. */
function parentOf(location: string): string | undefined {
  if (location.startsWith('s3://')) {
    const m = /^(s3:\/\/[^/]+)\/(.+?)\/*$/.exec(location)
    if (m === null) return undefined
    const parts = m[2]!.split('/')
    return parts.length > 1 ? `${m[1]}/${parts.slice(0, -1).join('/')}` : m[1]
  }
  return dirname(location)
}

/** The run's DuckDB: in memory, offline (no extension install or autoload), spilling into `tmp` (the caller's). */
export function openEngine(tmp: string): Promise<Duck> {
  return Duck.open({ storage: 'memory', dir: tmp, purpose: 'steps' })
}

export interface Prepared {
  plan: Plan
  context: PlanContext
  /** The catalog tables the plan reads, in order of first use. */
  reads: CatalogEntry[]
  params: Record<string, string>
}

/** Reads the pipeline and checks its shape, names and write targets (no SQL parsing yet). */
export function loadPipeline(
  config: Config,
  source: PipelineSource,
  settings: StepSettings,
): { plan: Plan; context: PlanContext } {
  const context: PlanContext = {
    catalog: catalogEntries(config),
    allowedRoots: settings.allowedRoots,
    protectedLocations: settings.protectedLocations,
  }
  const plan =
    'file' in source
      ? loadPlanFile(source.file, context)
      : parsePlan(source.json, { name: source.name, baseDir: source.baseDir }, context)
  return { plan, context }
}

/** The rest of the checks that precede the first step: every SQL step parsed, the names it reads, the parameters. */
export async function preparePlan(
  plan: Plan,
  context: PlanContext,
  settings: StepSettings,
  engine: Duck,
  opts: RunPipelineOptions,
): Promise<Prepared> {
  const reads = await checkPlanSql(plan, context, engine)
  const params = planParams(plan, {
    user: opts.params ?? {},
    now: opts.now ?? new Date(),
    reads,
    watermark: (s, t) => readWatermark(settings.statePath, s, t),
  })
  return { plan, context, reads, params }
}

/** The LPF's date of a table, or undefined without a state file or a watermark row. */
function readWatermark(statePath: string, source: string, table: string): string | undefined {
  return readLpf(statePath, source, table)?.slice(0, 8)
}

/**
 * `cdc-apply transform`: validates the pipeline whole, then runs its steps in order on a fresh DuckDB.
 * Returns a PipelineRun and _never_ throws: a failure is in `error` and in the failing step's result; steps after
 * it are NotExecuted. Writes done before a failing step stay written.
 */
export async function runPipeline(
  config: Config,
  source: PipelineSource,
  opts: RunPipelineOptions = {},
): Promise<PipelineRun> {
  const startedAt = new Date()
  const t0 = performance.now()
  const log = opts.logger ?? silentLogger
  const settings = {
    ...stepSettings(config),
    ...(opts.allowedRoots ? { allowedRoots: opts.allowedRoots } : {}),
    ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
  }
  const run: PipelineRun = {
    pipeline: 'file' in source ? basename(source.file).replace(/\.json$/i, '') : source.name,
    file: 'file' in source ? resolve(source.file) : undefined,
    startedAt: startedAt.toISOString(),
    params: {},
    status: 'Error',
    rows: 0,
    ms: 0,
    results: [],
    error: undefined,
  }
  let tmp: string | undefined
  let engine: Duck | undefined
  try {
    tmp = await mkdtemp(join(tmpdir(), 'cdc-apply-steps-'))
    engine = await openEngine(tmp)
    const { plan, context } = loadPipeline(config, source, settings)
    run.pipeline = plan.name
    run.results = plan.steps.map(notExecuted)
    const prepared = await preparePlan(plan, context, settings, engine, opts)
    run.params = prepared.params
    const outcome = await runSteps(prepared, engine, {
      tmp,
      cacheDir: settings.cacheDir,
      parquet: config.parquet,
      open: (location) => openStore(location, zoneOptions(config, undefined)),
      openOutput: (location) => openZone(config, 'curated', location),
      logger: log.child({ pipeline: run.pipeline }),
      ...(opts.signal ? { signal: opts.signal } : {}),
    })
    run.results = outcome.results
    run.error = outcome.error
  } catch (err) {
    run.error = asCdcError(err)
  } finally {
    await engine?.close()
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true }).catch(() => undefined)
  }
  run.rows = run.results.filter((r) => r.kind === 'write').reduce((n, r) => n + r.rows, 0)
  run.status = run.error === undefined && run.results.every((r) => r.status === 'Success') ? 'Success' : 'Error'
  run.ms = Math.round(performance.now() - t0)
  if (run.error) log.error({ pipeline: run.pipeline, ...errFields(run.error) }, 'pipeline failed')
  else log.info({ pipeline: run.pipeline, rows: run.rows, ms: run.ms }, 'pipeline done')
  if (opts.record !== false) {
    try {
      recordRun(settings.statePath, run)
    } catch (err) {
      log.warn({ pipeline: run.pipeline, ...errFields(err) }, 'pipeline run not recorded')
    }
  }
  return run
}

// ---- pipeline_runs: one row per run in the state file, for `cdc-apply status` ----

function recordRun(statePath: string, run: PipelineRun): void {
  const { pipeline, startedAt, params, status, rows, ms, error } = run
  recordPipelineRun(statePath, { pipeline, startedAt, params, status, rows, ms, error })
}
