// The comparison shared by both verify modes: a full outer join by primary key of an expected relation (recomputed
// from RAW, or an extract) and a curated snapshot, with counts, the first keys of each kind, and the report types.
import type { Json } from '@duckdb/node-api'
import { DataError } from '../errors.js'
import { quotedIdentifier, quotedString, type Duck, type Row } from './duck.js'

export type Verdict = 'equal' | 'mismatch'

export interface ValueDiff {
  column: string
  /** The recomputed (or extract) value, in DuckDB's JSON form: int64 and decimals as strings, timestamps as text. */
  expected: Json
  curated: Json
}

export interface RowDiff {
  key: Row
  columns: ValueDiff[]
}

export interface DuplicateKey {
  key: Row
  side: 'curated' | 'expected'
  copies: number
}

export interface DateCheck {
  date: string
  /** Iceberg tables: the ref compared, the date's tag `d<YYYYMMDD>` or `main` (the live table). */
  ref?: string
  verdict: Verdict
  /** The curated partition of this date does not exist although the table's dates span it. */
  snapshotMissing: boolean
  /** Live rows recomputed from RAW, or rows of the extract. */
  expectedRows: number
  curatedRows: number
  /** Keys expected but not in the curated snapshot. */
  missing: number
  /** Keys in the curated snapshot but not expected. */
  extra: number
  /** Keys on both sides whose compared values differ. */
  differ: number
  /** Keys that occur more than once on one side. */
  duplicates: number
  missingKeys: Row[]
  extraKeys: Row[]
  differing: RowDiff[]
  duplicateKeys: DuplicateKey[]
}

export interface ColumnReport {
  /** Columns compared value by value. */
  compared: string[]
  /** Columns only in RAW / the extract. Against RAW a mismatch; against an extract reported, not compared. */
  onlyExpected: string[]
  /** Data columns only in the curated snapshot. Against RAW a mismatch; against an extract reported, not compared. */
  onlyCurated: string[]
  /** Against RAW: columns whose types differ (compared as text). */
  typeDiffers: { column: string; expected: string; curated: string }[]
}

export function emptyDate(date: string): DateCheck {
  return {
    date,
    verdict: 'equal',
    snapshotMissing: false,
    expectedRows: 0,
    curatedRows: 0,
    missing: 0,
    extra: 0,
    differ: 0,
    duplicates: 0,
    missingKeys: [],
    extraKeys: [],
    differing: [],
    duplicateKeys: [],
  }
}

/** How one mode matches and normalises the two sides' columns before the comparison. */
export interface Plan {
  report: ColumnReport
  ref: (sql: string) => string
  cur: (sql: string) => string
}

/** The union of the column reports of several dates (columns can join the table over time). */
export function mergeColumns(a: ColumnReport, b: ColumnReport): ColumnReport {
  const union = (x: string[], y: string[]): string[] => [...x, ...y.filter((v) => !x.includes(v))]
  return {
    compared: union(a.compared, b.compared),
    onlyExpected: union(a.onlyExpected, b.onlyExpected),
    onlyCurated: union(a.onlyCurated, b.onlyCurated),
    typeDiffers: [...a.typeDiffers, ...b.typeDiffers.filter((d) => !a.typeDiffers.some((x) => x.column === d.column))],
  }
}

/** CDC_SNAPSHOT_MISSING: a curated snapshot the check needs is not there. */
export function missingSnapshot(label: string, what: string, url: string, hint: string): DataError {
  return new DataError('CDC_SNAPSHOT_MISSING', `table ${label}: ${what} is missing from ${url}`, { table: label, hint })
}

export interface CompareInput {
  date: string
  /** Both relations have the compared columns (keys included) under the same names, normalised to common types. */
  ref: string
  cur: string
  keys: string[]
  columns: string[]
  limit: number
  /**
   * Extract mode: both sides also carry `__show_<col>` (the value as stored, for the report) and the ref side
   * `__bad_<col>` (true where the extract's value is present but not readable as the curated column's type: it
   * differs whatever the curated value is).
   */
  extract: boolean
}

const CMP = '__cdc_cmp'

/** Full outer join by key: counts, then the first `limit` keys of each kind, ordered by key. */
export async function compare(duck: Duck, c: CompareInput): Promise<DateCheck> {
  const keys = c.keys.map(quotedIdentifier)
  const keyList = keys.join(', ')
  const on = (a: string, b: string): string => keys.map((k) => `${a}.${k} IS NOT DISTINCT FROM ${b}.${k}`).join(' AND ')
  const diffItems = c.columns.map(
    (n) =>
      `CASE WHEN r.${quotedIdentifier(n)} IS DISTINCT FROM c.${quotedIdentifier(n)}${c.extract ? ` OR r.${quotedIdentifier(`__bad_${n}`)}` : ''} THEN ${quotedString(n)} END`,
  )
  await duck.run(
    `CREATE OR REPLACE TABLE ${CMP} AS
     SELECT ${keys.map((k) => `coalesce(r.${k}, c.${k}) AS ${k}`).join(', ')},
            r.__cdc_p IS NOT NULL AS __in_ref, c.__cdc_p IS NOT NULL AS __in_cur,
            list_filter([${diffItems.join(', ')}], x -> x IS NOT NULL) AS __diffs
     FROM (SELECT *, true AS __cdc_p FROM ${c.ref}) r FULL OUTER JOIN (SELECT *, true AS __cdc_p FROM ${c.cur}) c ON ${on('r', 'c')}`,
  )
  const [n] = await duck.rows(
    `SELECT (SELECT count(*) FROM ${c.ref}) AS expected, (SELECT count(*) FROM ${c.cur}) AS curated,
            count(*) FILTER (WHERE __in_ref AND NOT __in_cur) AS missing,
            count(*) FILTER (WHERE __in_cur AND NOT __in_ref) AS extra,
            count(*) FILTER (WHERE __in_ref AND __in_cur AND len(__diffs) > 0) AS differ
     FROM ${CMP}`,
  )
  const dups = async (side: 'curated' | 'expected', rel: string): Promise<{ count: number; list: DuplicateKey[] }> => {
    const grouped = `(SELECT ${keyList}, count(*) AS __n FROM ${rel} GROUP BY ${keyList} HAVING count(*) > 1)`
    const count = Number(await duck.value(`SELECT count(*) FROM ${grouped}`))
    const list =
      count === 0 || c.limit === 0
        ? []
        : (await duck.rows(`SELECT * FROM ${grouped} ORDER BY ${keyList} LIMIT ${c.limit}`)).map(({ __n, ...key }) => ({
            key,
            side,
            copies: Number(__n),
          }))
    return { count, list }
  }
  const dCur = await dups('curated', c.cur)
  const dRef = await dups('expected', c.ref)
  const take = async (where: string): Promise<Row[]> =>
    c.limit === 0 ? [] : duck.rows(`SELECT ${keyList} FROM ${CMP} WHERE ${where} ORDER BY ${keyList} LIMIT ${c.limit}`)
  const missingKeys = await take('__in_ref AND NOT __in_cur')
  const extraKeys = await take('__in_cur AND NOT __in_ref')
  const differing: RowDiff[] = []
  if (c.limit > 0 && Number(n!.differ) > 0) {
    const first = `(SELECT ${keyList}, __diffs FROM ${CMP} WHERE __in_ref AND __in_cur AND len(__diffs) > 0 ORDER BY ${keyList} LIMIT ${c.limit})`
    const show = (side: 'r' | 'c', col: string): string =>
      `${side}.${quotedIdentifier(c.extract ? `__show_${col}` : col)}`
    const rows = await duck.rows(
      `SELECT ${keys.map((k) => `d.${k}`).join(', ')}, d.__diffs,
              ${c.columns.map((col, i) => `${show('r', col)} AS __r${i}, ${show('c', col)} AS __c${i}`).join(', ')}
       FROM ${first} d JOIN ${c.ref} r ON ${on('r', 'd')} JOIN ${c.cur} c ON ${on('c', 'd')}
       ORDER BY ${keys.map((k) => `d.${k}`).join(', ')}`,
    )
    const seen = new Set<string>()
    for (const r of rows) {
      const key: Row = Object.fromEntries(c.keys.map((k) => [k, r[k] ?? null]))
      const id = JSON.stringify(key)
      if (seen.has(id)) continue // a duplicated key: shown once
      seen.add(id)
      const diffs = (r.__diffs as string[] | null) ?? []
      differing.push({
        key,
        columns: diffs.map((col) => {
          const i = c.columns.indexOf(col)
          return { column: col, expected: r[`__r${i}`] ?? null, curated: r[`__c${i}`] ?? null }
        }),
      })
    }
  }
  await duck.run(`DROP TABLE ${CMP}`)
  const dc: DateCheck = {
    date: c.date,
    verdict: 'equal',
    snapshotMissing: false,
    expectedRows: Number(n!.expected),
    curatedRows: Number(n!.curated),
    missing: Number(n!.missing),
    extra: Number(n!.extra),
    differ: Number(n!.differ),
    duplicates: dCur.count + dRef.count,
    missingKeys,
    extraKeys,
    differing,
    duplicateKeys: [...dCur.list, ...dRef.list],
  }
  if (dc.missing + dc.extra + dc.differ + dc.duplicates > 0) dc.verdict = 'mismatch'
  return dc
}
