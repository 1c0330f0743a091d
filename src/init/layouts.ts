// Header-less CSV whose column layout changes between files (columnsFrom, docs/config.md#tablescolumnsfrom): finding
// the first file of each layout, and which columns an earlier layout lacks. A layout is decided only when exactly
// one explanation fits the evidence (the DDL's ALTER TABLE … ADD history, a dialect whose ADD COLUMN always appends,
// the table mapping's added columns) and the sampled values fit its column types; otherwise the table is reported.
import { csvRecords, type CsvRecord } from './csv-records.js'
import type { Dialect } from './sql-ddl.js'
import type { LandedFile, TableFolder } from './landing-scan.js'

export interface Sample {
  file: LandedFile
  bytes: Uint8Array
}

/** At most this many extra change files are read per table to find where layouts change. */
const MAX_PROBES = 64

/** The fields of a sample's first record (undefined for an empty file). */
export function firstFieldCount(bytes: Uint8Array): number | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 64 * 1024)).toString('utf8')
  return csvRecords(text, 1, bytes.byteLength <= 64 * 1024)[0]?.fields.length
}

/**
 * For CSV tables whose first and newest sampled change files differ in field count: samples more change files, by
 * bisection, until every change of count lies between two neighbouring files. Returns the extra samples.
 */
export async function probeLayoutChanges(
  t: TableFolder,
  samples: Sample[],
  read: (f: LandedFile) => Promise<Uint8Array>,
): Promise<Sample[]> {
  const cdc = [...t.cdc].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  if (cdc.length < 3 || cdc[0]!.format !== 'csv') return []
  const counts = new Map<number, number | undefined>()
  for (const s of samples) {
    const i = cdc.findIndex((f) => f.key === s.file.key)
    if (i >= 0) counts.set(i, firstFieldCount(s.bytes))
  }
  const last = cdc.length - 1
  if (!counts.has(0) || !counts.has(last) || counts.get(0) === counts.get(last)) return []
  const extra: Sample[] = []
  const countAt = async (i: number): Promise<number | undefined> => {
    if (!counts.has(i)) {
      const bytes = await read(cdc[i]!)
      extra.push({ file: cdc[i]!, bytes })
      counts.set(i, firstFieldCount(bytes))
    }
    return counts.get(i)
  }
  const split = async (lo: number, hi: number): Promise<void> => {
    if (hi - lo <= 1 || extra.length >= MAX_PROBES) return
    const mid = (lo + hi) >> 1
    const c = await countAt(mid)
    if (c !== counts.get(lo)) await split(lo, mid)
    if (c !== counts.get(hi)) await split(mid, hi)
  }
  await split(0, last)
  return extra
}

export interface LayoutEvidence {
  /** The source's columns in the files' order, after remove-column rules. */
  kept: string[]
  /** Columns the table mapping adds after them, in file order. */
  added: string[]
  /** Columns of ALTER TABLE … ADD statements in the DDL, oldest first. */
  addedLater: string[] | undefined
  dialect: Dialect
  /** The config type of a column (`integer`, `decimal(10,2)`, `string` …). */
  typeOf: (name: string) => string
}

/**
 * The data columns (without Op and the timestamp column) of a layout that has `deficit` fewer than the newest
 * (`kept` + `added`), checked against `records` (their fields from `offset` on), or why it cannot be decided.
 */
export function earlierLayout(
  ev: LayoutEvidence,
  deficit: number,
  rows: { records: CsvRecord[]; offset: number }[],
): { columns: string[] } | { problem: string } {
  const base = [...ev.kept, ...ev.added]
  const candidates = new Map<string, { columns: string[]; why: string }>()
  const add = (drop: string[], why: string): void => {
    const gone = new Set(drop.map((d) => d.toLowerCase()))
    const columns = base.filter((c) => !gone.has(c.toLowerCase()))
    if (columns.length !== base.length - deficit) return
    const k = columns.join('\u0000')
    if (!candidates.has(k)) candidates.set(k, { columns, why })
  }
  const history = (ev.addedLater ?? []).filter((c) => ev.kept.some((k) => k.toLowerCase() === c.toLowerCase()))
  if (history.length >= deficit)
    add(
      history.slice(history.length - deficit),
      `the DDL's ALTER TABLE … ADD of ${history.slice(history.length - deficit).join(', ')}`,
    )
  // ADD COLUMN appends in PostgreSQL, SQL Server and Oracle; MySQL's may be FIRST or AFTER a column (its history then)
  if (ev.dialect !== 'mysql' && deficit <= ev.kept.length)
    add(
      ev.kept.slice(ev.kept.length - deficit),
      `${ev.dialect} ADD COLUMN appending ${ev.kept.slice(ev.kept.length - deficit).join(', ')}`,
    )
  if (ev.added.length > 0 && deficit === ev.added.length)
    add(ev.added, `the table mapping's columns ${ev.added.join(', ')} added later`)
  const fitting = [...candidates.values()].filter((c) =>
    rows.every((r) => fits(c.columns, r.records, r.offset, ev.typeOf)),
  )
  if (fitting.length === 1) return { columns: fitting[0]!.columns }
  const lacks = `its files have ${deficit} field${deficit === 1 ? '' : 's'} fewer than the DDL and mapping give`
  if (candidates.size === 0)
    return {
      problem: `${lacks}, and nothing says which columns they lack (${ev.dialect === 'mysql' ? 'MySQL ADD COLUMN may insert anywhere: ' : ''}add the ALTER TABLE … ADD statements to --ddl, or configure columnsFrom by hand)`,
    }
  if (fitting.length === 0)
    return {
      problem: `${lacks}; the sampled values fit none of the explanations (${[...candidates.values()].map((c) => c.why).join('; ')}): configure columnsFrom by hand`,
    }
  return {
    problem: `${lacks}, and more than one explanation fits the sampled values (${fitting.map((c) => c.why).join('; ')}): configure columnsFrom by hand`,
  }
}

const INTEGER_RE = /^-?\d+$/
const DECIMAL_RE = /^-?(\d+\.?\d*|\.\d+)$/
const DOUBLE_RE = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-?(Infinity|inf|NaN)$/i
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/
const TS_RE = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,9})?$/
const BOOL_RE = /^(true|false|t|f|0|1|yes|no|y|n)$/i

/** Every sampled value of a typed column parses as its type (an empty unquoted field is NULL). */
function fits(columns: string[], records: CsvRecord[], offset: number, typeOf: (name: string) => string): boolean {
  const res = columns.map((c) => {
    const t = typeOf(c)
    if (t === 'integer') return INTEGER_RE
    if (t.startsWith('decimal')) return DECIMAL_RE
    if (t === 'double') return DOUBLE_RE
    if (t === 'date') return DATE_RE
    if (t === 'timestamp') return TS_RE
    if (t === 'boolean') return BOOL_RE
    return undefined
  })
  return records.every(
    (r) =>
      r.fields.length === columns.length + offset &&
      columns.every((_, i) => {
        const f = r.fields[i + offset]!
        return res[i] === undefined || (f.text === '' && !f.quoted) || res[i]!.test(f.text)
      }),
  )
}
