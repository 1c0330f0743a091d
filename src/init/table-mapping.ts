// DMS table-mapping rules that add columns to the S3 files: `add-column` (rule-target column) and
// `add-before-image-columns`. DMS writes them after the source columns: add-column columns first, then the
// before-image columns (docs/init.md gives the sources). Other rules (selection, rename, …) do not change the
// files' field layout that init needs, except `remove-column`, which drops a source column.
import { ConfigError } from '../errors.js'
import type { SourceColumn, SourceTable } from './sql-ddl.js'

export interface AddedColumn {
  name: string
  /** cdc-apply type name. */
  type: string
  /** What the column is for: the change sequence orders changes, a before image moves keys. */
  role: 'sequence' | 'header-timestamp' | 'before-image' | 'other'
  /** For before-image columns: the source column it is the before image of. */
  of?: string
  expression?: string
}

interface Locator {
  schema: string
  table: string
}

export interface MappingRules {
  addColumns: { locator: Locator; column: AddedColumn; ruleId: string }[]
  beforeImage: {
    locator: Locator
    filter: 'pk-only' | 'non-lob' | 'all'
    prefix: string
    suffix: string
    ruleId: string
  }[]
  removeColumns: { locator: Locator; column: string; ruleId: string }[]
}

/** DMS data-type names of add-column rules → cdc-apply types. */
function addedType(dt: unknown): string {
  if (typeof dt !== 'object' || dt === null) return 'string'
  const d = dt as { type?: unknown; precision?: unknown; scale?: unknown }
  const t = String(d.type ?? 'string').toLowerCase()
  if (/^u?int[1248]$/.test(t)) return t === 'uint8' ? 'decimal(20,0)' : 'integer'
  if (t === 'real4' || t === 'real8') return 'double'
  if (t === 'boolean') return 'boolean'
  if (t === 'date') return 'date'
  if (t === 'datetime') return 'timestamp'
  if (t === 'numeric' && typeof d.precision === 'number' && d.precision >= 1 && d.precision <= 38)
    return `decimal(${d.precision},${typeof d.scale === 'number' ? d.scale : 0})`
  return 'string'
}

export function parseTableMapping(text: string, file: string): MappingRules {
  const fail = (what: string): never => {
    throw new ConfigError('CDC_INIT_INPUT_INVALID', `${file}: ${what}`, {
      file,
      hint: 'pass the task\'s table mapping JSON ({"rules": [...]}) as the DMS console or describe-replication-tasks shows it',
    })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    return fail(`expected JSON, got ${(err as Error).message}`)
  }
  const rules = (json as { rules?: unknown })?.rules
  if (!Array.isArray(rules)) return fail('expected an object with a "rules" array')
  const out: MappingRules = { addColumns: [], beforeImage: [], removeColumns: [] }
  rules.forEach((r: Record<string, unknown>, i) => {
    if (typeof r !== 'object' || r === null) fail(`rules[${i}]: expected an object`)
    if (r['rule-type'] !== 'transformation') return
    const ruleId = String(r['rule-id'] ?? i + 1)
    const loc = r['object-locator'] as Record<string, unknown> | undefined
    const locator = { schema: String(loc?.['schema-name'] ?? '%'), table: String(loc?.['table-name'] ?? '%') }
    const action = String(r['rule-action'] ?? '').toLowerCase()
    if (action === 'add-column' && String(r['rule-target'] ?? '').toLowerCase() === 'column') {
      const name = r['value']
      if (typeof name !== 'string' || name === '')
        fail(`rules[${i}] (rule-id ${ruleId}): expected the new column's name in "value"`)
      const expression = typeof r['expression'] === 'string' ? (r['expression'] as string).trim() : undefined
      const role =
        expression === '$AR_H_CHANGE_SEQ' ? 'sequence' : expression === '$AR_H_TIMESTAMP' ? 'header-timestamp' : 'other'
      out.addColumns.push({
        locator,
        ruleId,
        column: {
          name: name as string,
          type: role === 'sequence' ? 'string' : addedType(r['data-type']),
          role,
          ...(expression !== undefined ? { expression } : {}),
        },
      })
    } else if (action === 'add-before-image-columns') {
      const def = (r['before-image-def'] ?? {}) as Record<string, unknown>
      const filter = String(def['column-filter'] ?? 'pk-only')
      if (filter !== 'pk-only' && filter !== 'non-lob' && filter !== 'all')
        fail(
          `rules[${i}] (rule-id ${ruleId}): expected column-filter pk-only, non-lob or all, got ${JSON.stringify(filter)}`,
        )
      out.beforeImage.push({
        locator,
        ruleId,
        filter: filter as 'pk-only',
        prefix: typeof def['column-prefix'] === 'string' ? (def['column-prefix'] as string) : 'BI_',
        suffix: typeof def['column-suffix'] === 'string' ? (def['column-suffix'] as string) : '',
      })
    } else if (action === 'remove-column' && String(r['rule-target'] ?? '').toLowerCase() === 'column') {
      out.removeColumns.push({ locator, ruleId, column: String(loc?.['column-name'] ?? '') })
    }
  })
  return out
}

/** DMS object-locator matching: `%` is any run of characters, `_` one character; names are case-sensitive. */
export function locatorMatches(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      .replace(/%/g, '.*')
      .replace(/_/g, '.')}$`,
  )
  return re.test(name)
}

const matches = (l: Locator, schema: string, table: string): boolean =>
  locatorMatches(l.schema, schema) && locatorMatches(l.table, table)

/**
 * The columns of a table's files after its source columns, in the order DMS writes them, and the source columns
 * left after remove-column rules.
 */
export function columnsAdded(
  rules: MappingRules | undefined,
  schema: string,
  table: string,
  source: SourceTable | undefined,
): { kept: SourceColumn[] | undefined; added: AddedColumn[] } {
  if (!rules) return { kept: source?.columns, added: [] }
  const removed = new Set(
    rules.removeColumns
      .filter((r) => matches(r.locator, schema, table))
      .flatMap((r) => (source?.columns ?? []).filter((c) => locatorMatches(r.column, c.name)).map((c) => c.name)),
  )
  const kept = source?.columns.filter((c) => !removed.has(c.name))
  const added: AddedColumn[] = rules.addColumns.filter((r) => matches(r.locator, schema, table)).map((r) => r.column)
  for (const bi of rules.beforeImage.filter((r) => matches(r.locator, schema, table))) {
    if (!source) continue
    const cols = (kept ?? []).filter((c) =>
      bi.filter === 'pk-only' ? source.primaryKey.includes(c.name) : bi.filter === 'non-lob' ? !c.lob : true,
    )
    for (const c of cols)
      added.push({ name: `${bi.prefix}${c.name}${bi.suffix}`, type: 'string', role: 'before-image', of: c.name })
  }
  return { kept, added }
}
