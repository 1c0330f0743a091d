// The checks of a loaded plan that need more than its JSON: every SQL step parsed with DuckDB's parser (one SELECT
// reading only earlier results, its own CTEs or catalog tables) and the value of every parameter the SQL uses.
// Like plan.ts, nothing here runs a step; an invalid pipeline fails whole with CDC_STEP_INVALID.
import { StepError } from '../errors.js'
import { catalogKey, type CatalogEntry } from './catalog.js'
import { BUILTIN_PARAMS, quoteDuckDb, resolveParams, substitute } from './params.js'
import { isObject, names, type Plan, type PlanContext } from './plan.js'

/** The subset of DuckDB the SQL check needs: `json_serialize_sql` of a text (no table is bound, nothing runs). */
export interface SqlParser {
  serialize(sql: string): Promise<string>
}

interface TableRef {
  catalog: string
  schema: string
  table: string
}

/**
 * Parses every SQL step with DuckDB's parser (placeholders stand in as empty literals) and checks that it is one
 * SELECT statement and that every table it reads is an earlier step's result, one of its own CTEs or a catalog
 * table. Returns the catalog tables the plan reads, in order of first use.
 */
export async function checkPlanSql(plan: Plan, ctx: PlanContext, parser: SqlParser): Promise<CatalogEntry[]> {
  const catalog = new Map(ctx.catalog.map((e) => [catalogKey(e.schema, e.table), e]))
  const used: CatalogEntry[] = []
  const use = (e: CatalogEntry): void => {
    if (!used.includes(e)) used.push(e)
  }
  const defined = new Map<string, number>()
  const later = new Map<string, number>()
  for (const s of plan.steps) if (s.kind !== 'write') later.set(s.out.toLowerCase(), s.index)
  for (const s of plan.steps) {
    const fail = (expected: string, got: string): StepError =>
      new StepError(
        'CDC_STEP_INVALID',
        `pipeline ${JSON.stringify(plan.name)} step ${s.index} ($.steps[${s.index - 1}].query) is invalid: expected ${expected}, got ${got}`,
        {
          hint: 'see docs/steps.md',
        },
      )
    if (s.kind === 'sql') {
      const dummy = Object.fromEntries(s.params.map((n) => [n, '']))
      const text = await parser.serialize(substitute(s.query, dummy, quoteDuckDb))
      const tree = JSON.parse(text) as { error: boolean; error_message?: string; statements?: unknown[] }
      if (tree.error) throw fail('SQL that DuckDB can parse', tree.error_message ?? 'an error')
      if (tree.statements?.length !== 1)
        throw fail('exactly one SELECT statement', `${tree.statements?.length ?? 0} statements`)
      const refs: TableRef[] = []
      const ctes = new Set<string>()
      collect(tree.statements[0], refs, ctes)
      for (const r of refs) {
        const key = r.table.toLowerCase()
        if (r.schema === '' && r.catalog === '' && (defined.has(key) || ctes.has(key))) continue
        const entry =
          r.catalog === '' || r.catalog.toLowerCase() === 'memory'
            ? catalog.get(catalogKey(r.schema, r.table))
            : undefined
        if (entry !== undefined) {
          use(entry)
          continue
        }
        const shown = [r.catalog, r.schema, r.table].filter((x) => x !== '').join('.')
        const l = r.schema === '' ? later.get(key) : undefined
        throw fail(
          `tables that an earlier step or the catalog defines (${[...defined.keys(), names(ctx.catalog)].join(', ')})`,
          l === s.index
            ? `${JSON.stringify(shown)}, the step's own result`
            : l !== undefined
              ? `${JSON.stringify(shown)}, which only step ${l} defines, after this one`
              : JSON.stringify(shown),
        )
      }
    } else if (s.input?.kind === 'catalog') {
      use(s.input.entry)
    }
    if (s.kind !== 'write') defined.set(s.out.toLowerCase(), s.index)
  }
  return used
}

/** Walks a json_serialize_sql tree: every BASE_TABLE reference and every CTE name. */
function collect(node: unknown, refs: TableRef[], ctes: Set<string>): void {
  if (Array.isArray(node)) {
    for (const n of node) collect(n, refs, ctes)
    return
  }
  if (!isObject(node)) return
  if (node.type === 'BASE_TABLE' && typeof node.table_name === 'string') {
    refs.push({
      catalog: String(node.catalog_name ?? ''),
      schema: String(node.schema_name ?? ''),
      table: node.table_name,
    })
  }
  const cteMap = node.cte_map
  if (isObject(cteMap) && Array.isArray(cteMap.map)) {
    for (const c of cteMap.map) if (isObject(c) && typeof c.key === 'string') ctes.add(c.key.toLowerCase())
  }
  for (const v of Object.values(node)) if (typeof v === 'object' && v !== null) collect(v, refs, ctes)
}

export interface PlanParamOptions {
  /** `--param name=value` values. */
  user: Readonly<Record<string, string>>
  now: Date
  /** The tables the plan reads (checkPlanSql): the first one is the {lpd} table when the pipeline names none. */
  reads: readonly CatalogEntry[]
  /** The last processed date `YYYYMMDD` of a configured table, or undefined when it has no watermark. */
  watermark: (source: string, table: string) => string | undefined
}

/**
 * The value of every parameter the plan's SQL uses. An unknown `{name}` (neither built in, nor in the pipeline's
 * params, nor given) and an {lpd} without a watermark are CDC_STEP_INVALID, before anything runs.
 */
export function planParams(plan: Plan, opts: PlanParamOptions): Record<string, string> {
  const known = new Set<string>([...BUILTIN_PARAMS, ...Object.keys(plan.defaults), ...Object.keys(opts.user)])
  const used: string[] = []
  for (const s of plan.steps) {
    for (const n of s.params) {
      if (!known.has(n)) {
        throw new StepError(
          'CDC_STEP_INVALID',
          `pipeline ${JSON.stringify(plan.name)} step ${s.index} ($.steps[${s.index - 1}].query) uses the unknown parameter {${n}}`,
          {
            hint: `pass it as --param ${n}=<value> or give it a default in the pipeline's "params"; built in: ${BUILTIN_PARAMS.map((b) => `{${b}}`).join(', ')}`,
          },
        )
      }
      if (!used.includes(n)) used.push(n)
    }
  }
  for (const n of Object.keys(opts.user)) if (!used.includes(n)) used.push(n)
  const lpd = (): string => {
    const entry = plan.table ?? opts.reads[0]
    if (entry === undefined) {
      throw new StepError(
        'CDC_STEP_INVALID',
        `pipeline ${JSON.stringify(plan.name)} uses {lpd} but reads no catalog table`,
        { hint: 'name the table with "table": "<source>.<table>" in the pipeline, or pass --param lpd=YYYYMMDD' },
      )
    }
    const date = opts.watermark(entry.source, entry.tableName)
    if (date === undefined) {
      throw new StepError(
        'CDC_STEP_INVALID',
        `pipeline ${JSON.stringify(plan.name)} uses {lpd} but ${entry.source}.${entry.tableName} has no watermark yet`,
        {
          hint: 'run cdc-apply run first, or pass --param lpd=YYYYMMDD',
        },
      )
    }
    return date
  }
  return resolveParams(used, { user: opts.user, defaults: plan.defaults, now: opts.now, lpd })
}
