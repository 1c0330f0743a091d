// `status --table <glob> --lagging --failed --sort <key>`: which rows to show and in what order.
import { UsageError } from '../errors.js'
import { globRegExp } from '../table-glob.js'
import type { TableStatus } from '../state/index.js'
import { tableLabel } from '../config.js'

export const STATUS_SORTS = ['name', 'lag', 'failed', 'rows', 'live', 'last-success'] as const
export type StatusSort = (typeof STATUS_SORTS)[number]

export interface StatusFilter {
  tables?: string[]
  /** Only tables whose watermark trails the newest landed file (lag > 0), or whose lag is unknown after a failure. */
  lagging?: boolean
  /** Only tables whose last run ended with an error. */
  failed?: boolean
  sort?: string
}

export function filterStatus(rows: TableStatus[], f: StatusFilter): TableStatus[] {
  const sort = (f.sort ?? 'name') as StatusSort
  if (!STATUS_SORTS.includes(sort))
    throw new UsageError(
      'CDC_USAGE',
      `--sort must be one of ${STATUS_SORTS.join(', ')}, got ${JSON.stringify(f.sort)}`,
      { hint: "see 'cdc-apply status --help'" },
    )
  const res = (f.tables ?? []).map(globRegExp)
  let out = rows.filter((r) => res.length === 0 || res.some((re) => re.test(tableLabel(r))))
  if (f.lagging) out = out.filter((r) => (r.lagSeconds ?? 0) > 0 || (r.newest !== null && r.lpf === ''))
  if (f.failed) out = out.filter((r) => r.lastErrorCode !== null)
  const name = (r: TableStatus): string => tableLabel(r)
  const by: Record<StatusSort, (a: TableStatus, b: TableStatus) => number> = {
    name: (a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0),
    lag: (a, b) => (b.lagSeconds ?? -1) - (a.lagSeconds ?? -1),
    failed: (a, b) =>
      Number(b.lastErrorCode !== null) - Number(a.lastErrorCode !== null) ||
      (b.lastRunAt ?? '').localeCompare(a.lastRunAt ?? ''),
    rows: (a, b) => b.rows - a.rows,
    live: (a, b) => b.liveRows - a.liveRows,
    'last-success': (a, b) => (a.lastSuccessAt ?? '').localeCompare(b.lastSuccessAt ?? ''),
  }
  return [...out].sort((a, b) => by[sort](a, b) || by.name(a, b))
}
