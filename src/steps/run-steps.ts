// Runs a pipeline's plan on DuckDB: validates it whole, registers the catalog, runs the steps in order and
// returns one result per step (Success, Error or NotExecuted). Never throws; records every run in the state file.
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, readdir, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join, relative, resolve, sep } from 'node:path'
import { resolveLocal, type Config } from '../config.js'
import { CdcError, StepError, WriteError } from '../errors.js'
import { errFields, silentLogger, type Logger } from '../log.js'
import { readLpf, recordPipelineRun } from '../state/index.js'
export { pipelineRuns, type PipelineRunRow } from '../state/index.js'
import type { ObjectStore } from '../store/object-store.js'
import { openStore } from '../store/open-store.js'
import { Duck, quotedIdentifier, quotedString } from '../check/duck.js'
import { catalogEntries, registerCatalog, type CatalogEntry } from './catalog.js'
import { substitute } from './params.js'
import { checkPlanSql, loadPlanFile, parsePlan, planParams, type Plan, type PlanContext, type PlanStep, type StepKind } from './plan.js'

export type StepStatus = 'Success' | 'Error' | 'NotExecuted'

export interface StepResult {
  /** 1-based position in the pipeline's steps. */
  index: number
  /** The result's name (sql, view) or the write target as written. */
  name: string
  kind: StepKind
  /** The step kind as the pipeline wrote it (spark_sql, crt_table, wrt, sql, view, write). */
  fun: string
  status: StepStatus
  /** Rows of the result (sql, view) or rows written (write); 0 when not executed. */
  rows: number
  ms: number
  /** For status Error: CDC_STEP_FAILED and DuckDB's message (or the store's). */
  error?: { code: string; message: string }
}

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
  const allowedRoots = outputs ? outputs.map((o) => resolveLocal(config, o)) : zones.map(parentOf).filter((p): p is string => p !== undefined)
  return {
    allowedRoots: [...new Set(allowedRoots)],
    protectedLocations: [config.landing, config.raw, config.curated].map((l) => resolveLocal(config, l)).concat(statePath, cacheDir),
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
  return Duck.open({ storage: 'memory', dir: tmp })
}

export interface Prepared {
  plan: Plan
  context: PlanContext
  /** The catalog tables the plan reads, in order of first use. */
  reads: CatalogEntry[]
  params: Record<string, string>
}

/** Reads the pipeline and checks its shape, names and write targets (no SQL parsing yet). */
export function loadPipeline(config: Config, source: PipelineSource, settings: StepSettings): { plan: Plan; context: PlanContext } {
  const context: PlanContext = { catalog: catalogEntries(config), allowedRoots: settings.allowedRoots, protectedLocations: settings.protectedLocations }
  const plan = 'file' in source ? loadPlanFile(source.file, context) : parsePlan(source.json, { name: source.name, baseDir: source.baseDir }, context)
  return { plan, context }
}

/** The rest of the checks that precede the first step: every SQL step parsed, the names it reads, the parameters. */
export async function preparePlan(plan: Plan, context: PlanContext, settings: StepSettings, engine: Duck, opts: RunPipelineOptions): Promise<Prepared> {
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
export async function runPipeline(config: Config, source: PipelineSource, opts: RunPipelineOptions = {}): Promise<PipelineRun> {
  const startedAt = new Date()
  const t0 = performance.now()
  const log = opts.logger ?? silentLogger
  const settings = { ...stepSettings(config), ...(opts.allowedRoots ? { allowedRoots: opts.allowedRoots } : {}), ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}) }
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
      open: (location) => openStore(location, { baseDir: config.baseDir, ...(config.s3 ? { s3: config.s3 } : {}) }),
      openOutput: (location) =>
        openStore(location, { baseDir: config.baseDir, ...(config.s3 ? { s3: config.s3 } : {}), ...(config.encryption.curated ? { encryption: config.encryption.curated } : {}) }),
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

export interface RunStepsOptions {
  /** A folder for this run only (removed by the caller): staging of S3 writes. */
  tmp: string
  cacheDir: string
  parquet: Config['parquet']
  /** Opens an s3:// input root. */
  open: (location: string) => Promise<ObjectStore>
  /** Opens an s3:// write target. */
  openOutput: (location: string) => Promise<ObjectStore>
  logger?: Logger
  signal?: AbortSignal
}

/**
 * Executes a prepared plan: registers the tables it reads, locks DuckDB's file access down to them and the write
 * staging folders, then runs each step. Never throws.
 */
export async function runSteps(prepared: Prepared, engine: Duck, opts: RunStepsOptions): Promise<{ results: StepResult[]; error: CdcError | undefined }> {
  const { plan, params } = prepared
  const log = opts.logger ?? silentLogger
  const results = plan.steps.map(notExecuted)
  const conn = engine.conn
  let staging: Map<number, string>
  try {
    const reg = await registerCatalog(conn, prepared.reads, { cacheDir: opts.cacheDir, open: opts.open, ...(opts.signal ? { signal: opts.signal } : {}) })
    if (reg.fetched + reg.reused > 0) log.info({ fetched: reg.fetched, reused: reg.reused }, 'inputs cached')
    staging = await stagingFolders(plan, opts.tmp)
    // From here on SQL can read only the catalog's folders and write only the staging folders.
    const allowed = [...reg.dirs, ...staging.values(), opts.tmp].map((d) => (d.endsWith(sep) ? d : d + sep))
    await conn.run(`SET allowed_directories = [${allowed.map(quotedString).join(', ')}]`)
    // A partitioned COPY also touches the staging folder itself, which only allowed_paths admits.
    if (staging.size > 0) await conn.run(`SET allowed_paths = [${[...staging.values()].map(quotedString).join(', ')}]`)
    await conn.run('SET enable_external_access = false')
  } catch (err) {
    return { results, error: asCdcError(err) }
  }
  for (const step of plan.steps) {
    const r = results[step.index - 1]!
    if (opts.signal?.aborted) return { results, error: new StepError('CDC_ABORTED', `pipeline ${JSON.stringify(plan.name)} stopped before step ${step.index}: interrupted`) }
    const t0 = performance.now()
    try {
      r.rows = await runStep(step, params, engine, staging.get(step.index), opts)
      r.status = 'Success'
      r.ms = Math.round(performance.now() - t0)
      log.info({ step: step.index, kind: step.kind, name: step.out, rows: r.rows, ms: r.ms }, 'step done')
    } catch (err) {
      r.status = 'Error'
      r.ms = Math.round(performance.now() - t0)
      const message = (err as Error)?.message ?? String(err)
      r.error = { code: err instanceof CdcError ? err.code : 'CDC_STEP_FAILED', message }
      log.error({ step: step.index, kind: step.kind, name: step.out, ms: r.ms, ...errFields(err) }, 'step failed')
      const error =
        err instanceof CdcError && err.code !== 'CDC_STEP_FAILED'
          ? err
          : new StepError('CDC_STEP_FAILED', `pipeline ${JSON.stringify(plan.name)} step ${step.index} (${step.fun} ${step.out}) failed: ${firstLine(message)}`, {
              cause: err,
              hint: `steps after step ${step.index} did not run; writes of earlier steps are in place`,
            })
      return { results, error }
    }
  }
  return { results, error: undefined }
}

async function runStep(step: PlanStep, params: Record<string, string>, engine: Duck, staging: string | undefined, opts: RunStepsOptions): Promise<number> {
  const conn = engine.conn
  if (step.kind === 'sql') {
    const sql = `CREATE TEMP TABLE ${quotedIdentifier(step.out)} AS ${substitute(step.query, params, quotedString)}`
    // The text was parsed as one SELECT and values are literals; checked again here so that nothing else can run.
    const statements = await conn.extractStatements(sql)
    if (statements.count !== 1) throw new StepError('CDC_STEP_FAILED', `the SQL of step ${step.index} is ${statements.count} statements, expected one`)
    await conn.run(sql)
    return count(engine, quotedIdentifier(step.out))
  }
  const from = inputSql(step)
  if (step.kind === 'view') {
    await conn.run(`CREATE TEMP VIEW ${quotedIdentifier(step.out)} AS SELECT * FROM ${from}`)
    return count(engine, quotedIdentifier(step.out))
  }
  const target = step.target!
  const dir = staging!
  const pq = `COMPRESSION ${quotedString(opts.parquet.compression === 'none' ? 'uncompressed' : opts.parquet.compression)}, ROW_GROUP_SIZE ${opts.parquet.rowGroupSize}`
  const copy =
    step.partitionBy.length > 0
      ? `COPY (SELECT * FROM ${from}) TO ${quotedString(dir)} (FORMAT parquet, PARTITION_BY (${step.partitionBy.map(quotedIdentifier).join(', ')}), FILENAME_PATTERN 'part-{i}', ${pq})`
      : `COPY (SELECT * FROM ${from}) TO ${quotedString(join(dir, 'part-00000.parquet'))} (FORMAT parquet, ${pq})`
  const r = await conn.runAndReadAll(copy)
  const rows = Number(r.getRows()[0]?.[0] ?? 0)
  if (target.startsWith('s3://')) await publishToStore(dir, await opts.openOutput(target), opts.signal)
  else await replaceFolder(dir, target)
  return rows
}

function inputSql(step: PlanStep): string {
  const input = step.input!
  return input.kind === 'step' ? quotedIdentifier(input.name) : `${quotedIdentifier(input.entry.schema)}.${quotedIdentifier(input.entry.table)}`
}

async function count(engine: Duck, relation: string): Promise<number> {
  const r = await engine.conn.runAndReadAll(`SELECT count(*) FROM ${relation}`)
  return Number(r.getRows()[0]![0])
}

/** An empty staging folder per write step: next to a local target (so that a rename replaces it), in tmp for S3. */
async function stagingFolders(plan: Plan, tmp: string): Promise<Map<number, string>> {
  const out = new Map<number, string>()
  for (const s of plan.steps) {
    if (s.kind !== 'write') continue
    const target = s.target!
    let dir: string
    if (target.startsWith('s3://')) dir = join(tmp, `write-${s.index}`)
    else {
      await removeLeftovers(target)
      dir = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`)
    }
    await mkdir(dir, { recursive: true })
    out.set(s.index, dir)
  }
  return out
}

/** Staging and old folders of a target left by a run that crashed. */
async function removeLeftovers(target: string): Promise<void> {
  const parent = dirname(target)
  const prefix = `.${basename(target)}.`
  let names: string[] = []
  try {
    names = await readdir(parent)
  } catch {
    return
  }
  for (const n of names) if (n.startsWith(prefix) && /\.(tmp|old)-\d+-[0-9a-f]{8}$/.test(n)) await rm(join(parent, n), { recursive: true, force: true })
}

/** Replaces a local folder by the staging folder with two renames; the old content is deleted after. */
export async function replaceFolder(staging: string, target: string): Promise<void> {
  const old = join(dirname(target), `.${basename(target)}.old-${process.pid}-${randomBytes(4).toString('hex')}`)
  let moved = false
  try {
    await rename(target, old)
    moved = true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw writeFailed(target, err)
  }
  try {
    await rename(staging, target)
  } catch (err) {
    if (moved) await rename(old, target).catch(() => undefined)
    throw writeFailed(target, err)
  }
  if (moved) await rm(old, { recursive: true, force: true })
}

/** Uploads every file of `dir` under the store's root, then deletes every other object there. Closes the store. */
export async function publishToStore(dir: string, store: ObjectStore, signal?: AbortSignal): Promise<void> {
  try {
    const keys: string[] = []
    for (const f of await filesUnder(dir)) {
      const key = relative(dir, f).split(sep).join('/')
      await store.put(key, await readFile(f), signal ? { signal } : {})
      keys.push(key)
    }
    const stale: string[] = []
    for await (const o of store.list('', signal ? { signal } : {})) if (!keys.includes(o.key)) stale.push(o.key)
    if (stale.length > 0) await store.delete(stale, signal ? { signal } : {})
  } finally {
    await store.close()
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...(await filesUnder(p)))
    else out.push(p)
  }
  return out.sort()
}

function writeFailed(target: string, err: unknown): WriteError {
  return new WriteError('CDC_WRITE_FAILED', `replacing ${JSON.stringify(target)} failed: ${(err as Error).message}`, {
    cause: err,
    transient: true,
    hint: 'check free disk space and write permission on the output folder; the previous output is still in place',
  })
}

function notExecuted(s: PlanStep): StepResult {
  return { index: s.index, name: s.out, kind: s.kind, fun: s.fun, status: 'NotExecuted', rows: 0, ms: 0 }
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim()
}

function asCdcError(err: unknown): CdcError {
  if (err instanceof CdcError) return err
  return new StepError('CDC_STEP_FAILED', `pipeline failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

// ---- pipeline_runs: one row per run in the state file, for `cdc-apply status` ----

function recordRun(statePath: string, run: PipelineRun): void {
  const { pipeline, startedAt, params, status, rows, ms, error } = run
  recordPipelineRun(statePath, { pipeline, startedAt, params, status, rows, ms, error })
}
