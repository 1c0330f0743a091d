// Loads a pipeline JSON file into an ordered, validated plan. Nothing here runs a step: every check that can be
// made before the first step runs is made here, so an invalid pipeline fails whole with CDC_STEP_INVALID.
import { readFileSync } from 'node:fs'
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path'
import { StepError, UsageError } from '../errors.js'
import { catalogKey, type CatalogEntry } from './catalog.js'
import { PARAM_NAME, checkValue, scanParams } from './params.js'
import { protectedClash, realLocation, within } from '../locations.js'

export type StepKind = 'sql' | 'view' | 'write'

/** Step kinds by the name a pipeline gives them: the design's names and clearer ones. */
export const STEP_KINDS: Readonly<Record<string, StepKind>> = {
  spark_sql: 'sql',
  sql: 'sql',
  crt_table: 'view',
  view: 'view',
  wrt: 'write',
  write: 'write',
}

/** What a `view` or `write` step reads: an earlier step's result or a catalog table. */
export type Input = { kind: 'step'; name: string; index: number } | { kind: 'catalog'; entry: CatalogEntry }

export interface PlanStep {
  /** 1-based position in `steps`. */
  index: number
  /** The step kind as written (`spark_sql`, `sql`, `crt_table`, ...). */
  fun: string
  kind: StepKind
  /** sql/view: the result's name. write: the target as written. */
  out: string
  /** sql: the SQL text (with placeholders). view/write: the name read. */
  query: string
  /** view/write: what `query` names. */
  input: Input | undefined
  /** write: the absolute folder or s3:// url written. */
  target: string | undefined
  /** write: columns to partition by (Hive-style `col=value` folders). */
  partitionBy: string[]
  /** sql: the parameters the SQL uses. */
  params: string[]
}

export interface Plan {
  name: string
  /** The pipeline file, when it was read from one. */
  file: string | undefined
  /** Relative write targets resolve against this folder (the pipeline file's folder). */
  baseDir: string
  /** The table whose watermark gives {lpd}, when the pipeline names one. */
  table: CatalogEntry | undefined
  /** Default parameter values from the pipeline's `params`. */
  defaults: Record<string, string>
  steps: PlanStep[]
}

export interface PlanContext {
  catalog: readonly CatalogEntry[]
  /** Write targets must be below one of these (absolute folders or s3:// urls). */
  allowedRoots: readonly string[]
  /** Write targets must neither be inside nor contain any of these (landing, RAW, curated, state, cache). */
  protectedLocations: readonly string[]
}

const OUT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const TOP_KEYS = ['name', 'description', 'table', 'params', 'steps']
const STEP_KEYS = ['fun', 'out', 'query', 'partitionBy', 'description']

/** Reads and validates a pipeline file. A missing file is a usage error; anything wrong inside is CDC_STEP_INVALID. */
export function loadPlanFile(file: string, ctx: PlanContext): Plan {
  const path = resolve(file)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(
      'CDC_USAGE',
      `pipeline file ${JSON.stringify(file)} cannot be read: ${(err as Error).message}`,
      { cause: err, hint: 'pass the path of a pipeline JSON file (see docs/steps.md)' },
    )
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new StepError(
      'CDC_STEP_INVALID',
      `pipeline ${JSON.stringify(file)} is not valid JSON: ${(err as Error).message}`,
      { cause: err },
    )
  }
  return parsePlan(json, { name: basename(path).replace(/\.json$/i, ''), baseDir: dirname(path), file: path }, ctx)
}

/** Validates a pipeline's JSON: its shape, step kinds, names read, duplicate outputs, empty SQL, write targets. */
export function parsePlan(
  json: unknown,
  from: { name: string; baseDir: string; file?: string },
  ctx: PlanContext,
): Plan {
  const fail = (path: string, expected: string, got: string): StepError =>
    new StepError(
      'CDC_STEP_INVALID',
      `pipeline ${JSON.stringify(from.name)} ${path} is invalid: expected ${expected}, got ${got}`,
      { hint: 'see docs/steps.md' },
    )
  if (!isObject(json)) throw fail('$', 'an object with "steps"', describe(json))
  for (const k of Object.keys(json))
    if (!TOP_KEYS.includes(k))
      throw fail(`$.${k}`, `one of the keys ${TOP_KEYS.join(', ')}`, `unknown key ${JSON.stringify(k)}`)
  const name = json.name === undefined ? from.name : nonEmpty(json.name, '$.name', fail)
  const catalog = new Map(ctx.catalog.map((e) => [catalogKey(e.schema, e.table), e]))

  let table: CatalogEntry | undefined
  if (json.table !== undefined) {
    const t = nonEmpty(json.table, '$.table', fail)
    table = catalog.get(t.toLowerCase())
    if (table === undefined) throw fail('$.table', `a catalog table (${names(ctx.catalog)})`, JSON.stringify(t))
  }

  const defaults: Record<string, string> = {}
  if (json.params !== undefined) {
    if (!isObject(json.params))
      throw fail('$.params', 'an object of parameter names and string values', describe(json.params))
    for (const [k, v] of Object.entries(json.params)) {
      if (!PARAM_NAME.test(k))
        throw fail(`$.params.${k}`, 'a parameter name of letters, digits and _', JSON.stringify(k))
      if (typeof v !== 'string') throw fail(`$.params.${k}`, 'a string', describe(v))
      checkValue(k, v)
      defaults[k] = v
    }
  }

  if (!Array.isArray(json.steps) || json.steps.length === 0)
    throw fail('$.steps', 'a non-empty array of steps', describe(json.steps))
  const outputs = new Map<string, number>()
  const targets = new Map<string, number>()
  const steps: PlanStep[] = json.steps.map((raw: unknown, i: number): PlanStep => {
    const at = `$.steps[${i}]`
    const index = i + 1
    const stepFail = (path: string, expected: string, got: string): StepError =>
      fail(`step ${index} (${path})`, expected, got)
    if (!isObject(raw)) throw stepFail(at, 'an object with "fun", "out" and "query"', describe(raw))
    for (const k of Object.keys(raw))
      if (!STEP_KEYS.includes(k))
        throw stepFail(`${at}.${k}`, `one of the keys ${STEP_KEYS.join(', ')}`, `unknown key ${JSON.stringify(k)}`)
    const fun = nonEmpty(raw.fun, `${at}.fun`, stepFail)
    const kind = STEP_KINDS[fun]
    if (kind === undefined)
      throw stepFail(`${at}.fun`, `one of ${Object.keys(STEP_KINDS).join(', ')}`, JSON.stringify(fun))
    const out = nonEmpty(raw.out, `${at}.out`, stepFail)
    if (typeof raw.query !== 'string' || raw.query.trim() === '') {
      throw stepFail(
        `${at}.query`,
        kind === 'sql' ? 'SQL text (a SELECT statement)' : 'the name of an earlier step or a catalog table',
        typeof raw.query === 'string' ? 'an empty string' : describe(raw.query),
      )
    }
    const query = raw.query
    const step: PlanStep = {
      index,
      fun,
      kind,
      out,
      query,
      input: undefined,
      target: undefined,
      partitionBy: [],
      params: [],
    }
    if (kind !== 'write' && raw.partitionBy !== undefined)
      throw stepFail(`${at}.partitionBy`, 'no partitionBy (only write steps take it)', describe(raw.partitionBy))

    if (kind === 'sql') {
      const scan = scanParams(query)
      const bad = scan.misplaced[0]
      if (bad !== undefined) {
        throw stepFail(
          `${at}.query`,
          `parameter {${bad.name}} alone ({${bad.name}} or '{${bad.name}}'), concatenated with || if needed`,
          `it inside the literal ${bad.literal}`,
        )
      }
      step.params = scan.names
    } else {
      step.input = resolveInput(query.trim(), index, outputs, catalog, (expected, got) =>
        stepFail(`${at}.query`, expected, got),
      )
    }

    if (kind === 'write') {
      step.target = writeTarget(out, from.baseDir, ctx, (expected, got) => stepFail(`${at}.out`, expected, got))
      const dup = targets.get(step.target)
      if (dup !== undefined)
        throw stepFail(`${at}.out`, `a target that no other step writes (step ${dup} writes it)`, JSON.stringify(out))
      targets.set(step.target, index)
      step.partitionBy = partitionColumns(raw.partitionBy, `${at}.partitionBy`, stepFail)
    } else {
      if (!OUT_NAME.test(out))
        throw stepFail(
          `${at}.out`,
          'a result name of letters, digits and _ (not starting with a digit)',
          JSON.stringify(out),
        )
      const dup = outputs.get(out.toLowerCase())
      if (dup !== undefined)
        throw stepFail(`${at}.out`, `a name no other step defines (step ${dup} defines it)`, JSON.stringify(out))
      outputs.set(out.toLowerCase(), index)
    }
    return step
  })
  return { name, file: from.file, baseDir: from.baseDir, table, defaults, steps }
}

function resolveInput(
  name: string,
  index: number,
  outputs: Map<string, number>,
  catalog: Map<string, CatalogEntry>,
  fail: (expected: string, got: string) => StepError,
): Input {
  const stepIndex = outputs.get(name.toLowerCase())
  if (stepIndex !== undefined) return { kind: 'step', name, index: stepIndex }
  const entry = catalog.get(name.toLowerCase())
  if (entry !== undefined) return { kind: 'catalog', entry }
  const known = [...outputs.keys()]
  throw fail(
    `the name of an earlier step's result${known.length ? ` (${known.join(', ')})` : ''} or a catalog table (${names([...catalog.values()])})`,
    `${JSON.stringify(name)}, which no step before step ${index} and no catalog table defines`,
  )
}

function writeTarget(
  out: string,
  baseDir: string,
  ctx: PlanContext,
  fail: (expected: string, got: string) => StepError,
): string {
  if (out.includes('{'))
    throw fail('a folder or s3:// url (parameters are not substituted in write targets)', JSON.stringify(out))
  let target: string
  if (out.startsWith('s3://')) {
    const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/.exec(out)
    if (m === null || m[2]!.split('/').some((p) => p === '..' || p === '.'))
      throw fail('s3://<bucket>/<prefix> with a valid bucket name and a prefix', JSON.stringify(out))
    target = `s3://${m[1]}/${m[2]!.replace(/\/+$/, '')}`
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(out)) {
    throw fail('a folder or an s3:// url', JSON.stringify(out))
  } else {
    target = resolve(baseDir, out)
  }
  if (!ctx.allowedRoots.some((root) => inside(target, root, true))) {
    throw fail(
      `a location below one of the output roots (${ctx.allowedRoots.map((r) => JSON.stringify(r)).join(', ') || 'none configured'})`,
      JSON.stringify(target),
    )
  }
  const clash = ctx.protectedLocations.find((p) => inside(target, p, false) || inside(p, target, false))
  if (clash !== undefined)
    throw fail(
      `a location that neither holds nor is inside the landing, RAW, curated, state or cache location ${JSON.stringify(clash)}`,
      JSON.stringify(target),
    )
  // The same rules on real paths: a folder on the way may be a symlink (into the landing, say), and a target must
  // not leave its output root through one.
  const real = realLocation(target)
  if (!ctx.allowedRoots.some((root) => inside(target, root, true) && within(real, realLocation(root), true))) {
    throw fail(
      `a location whose real path (symlinks resolved) is below one of the output roots (${ctx.allowedRoots.map((r) => JSON.stringify(realLocation(r))).join(', ')})`,
      `${JSON.stringify(target)}, which really is ${JSON.stringify(real)}`,
    )
  }
  const realClash = protectedClash(target, ctx.protectedLocations)
  if (realClash !== undefined)
    throw fail(
      `a location that neither holds nor is inside the landing, RAW, curated, state or cache location ${JSON.stringify(realClash.location)} (symlinks resolved)`,
      `${JSON.stringify(target)}, which really is ${JSON.stringify(real)}`,
    )
  return target
}

/** Whether `child` is `parent` (unless strict) or below it. Folders and s3:// urls; never across the two. */
export function inside(child: string, parent: string, strict: boolean): boolean {
  if (child.startsWith('s3://') !== parent.startsWith('s3://')) return false
  if (child.startsWith('s3://')) {
    const c = child.replace(/\/+$/, '')
    const p = parent.replace(/\/+$/, '')
    return (!strict && c === p) || c.startsWith(`${p}/`)
  }
  const rel = relative(resolve(parent), resolve(child))
  if (rel === '') return !strict
  return !rel.startsWith('..') && !isAbsolute(rel)
}

function partitionColumns(v: unknown, path: string, fail: (p: string, e: string, g: string) => StepError): string[] {
  if (v === undefined) return []
  const list = typeof v === 'string' ? [v] : v
  if (!Array.isArray(list) || list.length === 0 || list.some((c) => typeof c !== 'string' || c.trim() === '')) {
    throw fail(path, 'a column name or a non-empty array of column names', describe(v))
  }
  const cols = list as string[]
  const dup = cols.find((c, i) => cols.findIndex((d) => d.toLowerCase() === c.toLowerCase()) !== i)
  if (dup !== undefined) throw fail(path, 'each column once', `${JSON.stringify(dup)} twice`)
  return cols
}

function nonEmpty(v: unknown, path: string, fail: (p: string, e: string, g: string) => StepError): string {
  if (typeof v !== 'string' || v.trim() === '') throw fail(path, 'a non-empty string', describe(v))
  return v
}

/** Catalog names for messages: the first dozen, then how many more. */
export function names(catalog: readonly CatalogEntry[]): string {
  if (catalog.length === 0) return 'none configured'
  const shown = catalog.slice(0, 12).map((e) => e.name)
  return catalog.length > 12 ? `${shown.join(', ')} and ${catalog.length - 12} more` : shown.join(', ')
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return 'an object'
  return `${typeof v} ${JSON.stringify(v)}`
}
