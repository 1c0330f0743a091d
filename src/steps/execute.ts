// Executes a prepared pipeline plan on DuckDB: registers the tables it reads, locks file access down, then runs
// the steps in order and returns one result per step (Success, Error or NotExecuted). Never throws.
import { join, sep } from 'node:path'
import type { Config } from '../config.js'
import { CdcError, StepError } from '../errors.js'
import { errFields, silentLogger, type Logger } from '../log.js'
import type { ObjectStore } from '../store/object-store.js'
import { quotedIdentifier, quotedString, type Duck } from '../check/duck.js'
import { registerCatalog } from './catalog.js'
import { substitute } from './params.js'
import type { PlanStep, StepKind } from './plan.js'
import { publishToStore, replaceFolder, stagingFolders } from './publish.js'
import type { Prepared } from './run-steps.js'

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
export async function runSteps(
  prepared: Prepared,
  engine: Duck,
  opts: RunStepsOptions,
): Promise<{ results: StepResult[]; error: CdcError | undefined }> {
  const { plan, params } = prepared
  const log = opts.logger ?? silentLogger
  const results = plan.steps.map(notExecuted)
  const conn = engine.conn
  let staging: Map<number, string>
  try {
    const reg = await registerCatalog(conn, prepared.reads, {
      cacheDir: opts.cacheDir,
      open: opts.open,
      ...(opts.signal ? { signal: opts.signal } : {}),
    })
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
    if (opts.signal?.aborted)
      return {
        results,
        error: new CdcError(
          'CDC_ABORTED',
          `pipeline ${JSON.stringify(plan.name)} stopped before step ${step.index}: interrupted`,
        ),
      }
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
          : new StepError(
              'CDC_STEP_FAILED',
              `pipeline ${JSON.stringify(plan.name)} step ${step.index} (${step.fun} ${step.out}) failed: ${firstLine(message)}`,
              {
                cause: err,
                hint: `steps after step ${step.index} did not run; writes of earlier steps are in place`,
              },
            )
      return { results, error }
    }
  }
  return { results, error: undefined }
}

async function runStep(
  step: PlanStep,
  params: Record<string, string>,
  engine: Duck,
  staging: string | undefined,
  opts: RunStepsOptions,
): Promise<number> {
  const conn = engine.conn
  if (step.kind === 'sql') {
    const sql = `CREATE TEMP TABLE ${quotedIdentifier(step.out)} AS ${substitute(step.query, params, quotedString)}`
    // The text was parsed as one SELECT and values are literals; checked again here so that nothing else can run.
    const statements = await conn.extractStatements(sql)
    if (statements.count !== 1)
      throw new StepError(
        'CDC_STEP_FAILED',
        `the SQL of step ${step.index} is ${statements.count} statements, expected one`,
      )
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
  return input.kind === 'step'
    ? quotedIdentifier(input.name)
    : `${quotedIdentifier(input.entry.schema)}.${quotedIdentifier(input.entry.table)}`
}

async function count(engine: Duck, relation: string): Promise<number> {
  const r = await engine.conn.runAndReadAll(`SELECT count(*) FROM ${relation}`)
  return Number(r.getRows()[0]![0])
}

export function notExecuted(s: PlanStep): StepResult {
  return { index: s.index, name: s.out, kind: s.kind, fun: s.fun, status: 'NotExecuted', rows: 0, ms: 0 }
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim()
}

export function asCdcError(err: unknown): CdcError {
  if (err instanceof CdcError) return err
  return new StepError('CDC_STEP_FAILED', `pipeline failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}
