// Naming configured tables: a table label (Source.TableName), or a `--table` glob over labels: `*` any run of
// characters, `?` one character (`OP.*`, `*.orders`, `HR.emp_20??`). Matching is case-sensitive, like the labels.
// A name that is not configured is CDC_USAGE everywhere (CLI and library): the config is valid, the request is not.
import { UsageError } from './errors.js'
import { tableLabel, type Config, type TableConfig } from './config.js'

/** The table named by its label, or CDC_USAGE naming the configured ones. */
export function findTable(config: Config, label: string): TableConfig {
  // by an index of the tables array (watch mode names each of hundreds of tables at every poll); an entry is
  // trusted only while the array still holds it at that place under that label
  let index = indexes.get(config.tables)
  let i = index?.get(label)
  if (i === undefined || config.tables[i] === undefined || tableLabel(config.tables[i]!) !== label) {
    indexes.set(config.tables, (index = new Map(config.tables.map((x, k) => [tableLabel(x), k] as const).reverse())))
    i = index.get(label)
  }
  if (i === undefined) throw notConfigured(label, config.tables.map(tableLabel))
  return config.tables[i]!
}

/** Label → position, per tables array (the first table of a label, as a search in order finds it). */
const indexes = new WeakMap<readonly TableConfig[], Map<string, number>>()

/** Every label is a configured table, or CDC_USAGE for the first that is not. */
export function checkTables(config: Config, labels: readonly string[]): void {
  for (const l of labels) findTable(config, l)
}

function notConfigured(label: string, labels: readonly string[]): UsageError {
  return new UsageError(
    'CDC_USAGE',
    `table ${JSON.stringify(label)} is not configured; expected one of ${shown(labels)}`,
    {
      hint: 'name the table as Source.TableName, as in cdc-apply status',
    },
  )
}

function shown(labels: readonly string[]): string {
  return labels.length > 12 ? `${labels.slice(0, 12).join(', ')}, … (${labels.length} in all)` : labels.join(', ')
}

export function isGlob(pattern: string): boolean {
  return /[*?]/.test(pattern)
}

export function globRegExp(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  )
}

/**
 * The labels the patterns select, in the order of `labels`. A pattern that selects nothing is a usage error naming
 * it and the configured tables (a typo must not silently run nothing).
 */
export function selectTables(labels: readonly string[], patterns: readonly string[], command: string): string[] {
  const chosen = new Set<string>()
  for (const p of patterns) {
    const re = globRegExp(p)
    const hits = labels.filter((l) => re.test(l))
    if (hits.length === 0) {
      throw new UsageError(
        'CDC_USAGE',
        `--table ${JSON.stringify(p)} ${isGlob(p) ? 'matches no configured table' : 'is not a configured table'}; expected one of ${shown(labels)}`,
        { hint: `name tables as Source.TableName or a glob such as 'OP.*'; see 'cdc-apply ${command} --help'` },
      )
    }
    for (const h of hits) chosen.add(h)
  }
  return labels.filter((l) => chosen.has(l))
}
