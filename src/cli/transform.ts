// `cdc-apply transform <pipeline.json>`: runs a SQL step pipeline (or prints it as PySpark) and maps the outcome
// to an exit code: 0 when every step succeeded, 5 when the pipeline is invalid or a step failed, 4 when a store
// failed, 2 when the pipeline file cannot be read.
import type { Config } from '../config.js'
import { CdcError, EXIT, exitCodeFor } from '../errors.js'
import { errFields, type Logger } from '../log.js'
import { emitPyspark } from '../steps/pyspark.js'
import { runPipeline, type PipelineRun } from '../steps/run-steps.js'
import { table } from './render.js'

export interface TransformArgs {
  /** Path of the pipeline JSON file (relative to the working directory). */
  pipeline: string
  /** `--param name=value`, repeatable. */
  params: Record<string, string>
  json: boolean
  emit?: 'pyspark'
}

export async function transformCommand(
  config: Config,
  args: TransformArgs,
  io: { stdout(s: string): void; stderr(s: string): void },
  log: Logger,
): Promise<number> {
  if (args.emit === 'pyspark') {
    try {
      io.stdout(await emitPyspark(config, { file: args.pipeline }, { params: args.params, logger: log }))
      return EXIT.ok
    } catch (err) {
      if (exitCodeFor(err) !== EXIT.usage && log.format !== 'pretty') log.error(errFields(err), 'pipeline invalid')
      io.stderr(describeError(err))
      return exitCodeFor(err)
    }
  }
  const run = await runPipeline(config, { file: args.pipeline }, { params: args.params, logger: log })
  io.stdout(args.json ? JSON.stringify(runJson(run)) + '\n' : renderPipelineRun(run))
  if (run.error !== undefined) {
    if (!args.json) io.stderr(describeError(run.error))
    // CDC_STEP_INVALID and CDC_STEP_FAILED exit 5; a store that failed a write or a read exits 4.
    return exitCodeFor(run.error)
  }
  return run.status === 'Success' ? EXIT.ok : EXIT.step
}

/** The `--json` document: the run with its error as `{ code, message, hint }`. */
export function runJson(run: PipelineRun): object {
  return {
    pipeline: run.pipeline,
    file: run.file,
    status: run.status,
    startedAt: run.startedAt,
    params: run.params,
    rows: run.rows,
    ms: run.ms,
    steps: run.results,
    error: run.error ? { code: run.error.code, message: run.error.message, hint: run.error.hint } : undefined,
  }
}

export function renderPipelineRun(run: PipelineRun): string {
  const params = Object.entries(run.params)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ')
  const rows = run.results.map((r) => [
    String(r.index),
    r.fun,
    r.name,
    r.status,
    r.status === 'NotExecuted' ? '' : String(r.rows),
    r.status === 'NotExecuted' ? '' : String(r.ms),
    r.error ? firstLine(r.error.message) : '',
  ])
  const steps = rows.length === 0 ? '' : table(['STEP', 'FUN', 'NAME', 'STATUS', 'ROWS', 'MS', 'ERROR'], rows)
  return (
    steps +
    `pipeline ${run.pipeline}: ${run.status}, ${run.rows} rows written in ${run.ms} ms${params ? ` (${params})` : ''}\n`
  )
}

function describeError(err: unknown): string {
  if (err instanceof CdcError) return `cdc-apply: ${err.code}: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`
  return `cdc-apply: internal error, please report: ${(err as Error)?.stack ?? String(err)}\n`
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim()
}
