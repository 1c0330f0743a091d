// `--table` patterns: a table label (Source.TableName) or a glob over labels: `*` any run of characters, `?` one
// character (`OP.*`, `*.orders`, `HR.emp_20??`). Matching is case-sensitive, like the labels.
import { UsageError } from './errors.js'

export function isGlob(pattern: string): boolean {
  return /[*?]/.test(pattern)
}

export function globRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`)
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
      const shown = labels.length > 12 ? `${labels.slice(0, 12).join(', ')}, … (${labels.length} in all)` : labels.join(', ')
      throw new UsageError('CDC_USAGE', `--table ${JSON.stringify(p)} ${isGlob(p) ? 'matches no configured table' : 'is not a configured table'}; expected one of ${shown}`, { hint: `name tables as Source.TableName or a glob such as 'OP.*'; see 'cdc-apply ${command} --help'` })
    }
    for (const h of hits) chosen.add(h)
  }
  return labels.filter((l) => chosen.has(l))
}
