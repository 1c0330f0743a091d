// The expected RAW and curated outputs of a landing folder, computed two ways that share no code with cdc-apply:
// DuckDB SQL over the files themselves, and a plain JS model over the rows the generator put into them.
//
// Rules (the design): a change file's date is the date in its name; the full load's date is the date of the
// greatest timestamp-column value in the LOAD files (the newest LOAD object's modification time without a
// timestamp column); change files dated on or before it belong to it. RAW of a date = every row of its files.
// Curated of date D = per primary key the change with the greatest (ts, seq, file rank, row) among the files of
// dates <= D, NULL lowest, LOAD files before change files, kept unless it is a delete; one partition for every
// date from the load date to the newest file's date.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { sortRows, type Row } from './outputs.js'
import type { GenColumn, GenFile, GenTable } from './dms-gen.js'

/** `{ "<Source>/<TableName>/<YYYYMMDD>": rows sorted by sortRows }`, the shape of readOutputTree. */
export type Tree = Record<string, Row[]>

export interface Expected {
  raw: Tree
  curated: Tree
}

const LOAD_NAME = /^LOAD[0-9A-F]{8}\.csv$/
const CDC_NAME = /^(\d{8})-\d{9}\.csv$/

// ---------------------------------------------------------------- DuckDB

interface LandingFile {
  name: string
  abs: string
  kind: 'load' | 'cdc'
  nameDate: string
  mtime: Date
}

/** The table's DMS files under the landing folder: LOAD files at the table's root, change files anywhere below. */
function landingFiles(landing: string, t: GenTable): { load: LandingFile[]; cdc: LandingFile[] } {
  const root = join(landing, ...t.path.split('/'))
  const load: LandingFile[] = []
  const cdc: LandingFile[] = []
  const walk = (dir: string, top: boolean): void => {
    let names: string[]
    try {
      names = readdirSync(dir)
    } catch {
      return
    }
    for (const name of names) {
      const abs = join(dir, name)
      const st = statSync(abs)
      if (st.isDirectory()) walk(abs, false)
      else if (top && LOAD_NAME.test(name)) load.push({ name, abs, kind: 'load', nameDate: '', mtime: st.mtime })
      else if (CDC_NAME.test(name))
        cdc.push({ name, abs, kind: 'cdc', nameDate: CDC_NAME.exec(name)![1]!, mtime: st.mtime })
    }
  }
  walk(root, true)
  const byName = (a: LandingFile, b: LandingFile): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  return { load: load.sort(byName), cdc: cdc.sort(byName) }
}

function duckType(type: string): string {
  const t = type.trim().toLowerCase()
  if (t === 'string') return 'VARCHAR'
  if (t === 'integer') return 'BIGINT'
  if (t === 'double') return 'DOUBLE'
  if (t === 'boolean') return 'BOOLEAN'
  if (t === 'date') return 'DATE'
  if (t === 'timestamp') return 'TIMESTAMP'
  const dec = /^decimal\((\d+),\s*(\d+)\)$/.exec(t)
  if (dec) return `DECIMAL(${dec[1]},${dec[2]})`
  throw new Error(`oracle: unknown column type ${type}`)
}

const q = (name: string): string => `"${name.replaceAll('"', '""')}"`
const lit = (s: string): string => `'${s.replaceAll("'", "''")}'`

/** The SQL expression giving a column's value in the form readOutputTree returns. */
function canonSql(c: GenColumn, prefix = ''): string {
  const col = prefix + q(c.name)
  const t = duckType(c.type)
  if (t === 'BIGINT' || t.startsWith('DECIMAL')) return `CAST(${col} AS VARCHAR)`
  if (t === 'TIMESTAMP') return `CAST(epoch_us(${col}) AS VARCHAR)`
  if (t === 'DATE') return `CAST(${col} - DATE '1970-01-01' AS INTEGER)`
  return col
}

export class DuckOracle {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  static async create(): Promise<DuckOracle> {
    const instance = await DuckDBInstance.create(':memory:', {
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      allow_community_extensions: 'false',
      // One thread keeps each read_csv in file order, which row_number() OVER () relies on.
      threads: '1',
    })
    const conn = await instance.connect()
    return new DuckOracle(instance, conn)
  }

  close(): void {
    this.conn.closeSync()
    this.instance.closeSync()
  }

  private async rows(sql: string): Promise<Record<string, unknown>[]> {
    const r = await this.conn.runAndReadAll(sql)
    return r.getRowObjectsJS() as Record<string, unknown>[]
  }

  /** The expected outputs of every table from the files now in `landing`. */
  async expected(landing: string, tables: readonly GenTable[]): Promise<Expected> {
    const out: Expected = { raw: {}, curated: {} }
    for (const t of tables) await this.table(landing, t, out)
    return out
  }

  private async table(landing: string, t: GenTable, out: Expected): Promise<void> {
    const { load, cdc } = landingFiles(landing, t)
    const all = [...load, ...cdc]
    if (all.length === 0) return
    const colDefs = t.columns.map((c) => `${lit(c.name)}: ${lit(duckType(c.type))}`)
    const reads = all.map((f, rank) => {
      const hasOp = f.kind === 'cdc' || t.includeOpForFullLoad
      const columns = `{${[...(hasOp ? [`'Op': 'VARCHAR'`] : []), ...colDefs].join(', ')}}`
      const csv = `read_csv(${lit(f.abs)}, header = false, columns = ${columns}, nullstr = '', auto_detect = false, allow_quoted_nulls = false, quote = '"', escape = '"', delim = ',', new_line = '\\n')`
      return `SELECT ${hasOp ? '' : `'I' AS "Op", `}*, ${rank} AS file_rank, ${lit(f.name)} AS cdc_file, ${lit(f.nameDate)} AS name_date, row_number() OVER () AS cdc_row FROM ${csv}`
    })
    await this.conn.run(
      `CREATE OR REPLACE TEMP TABLE changes AS ${reads.map((r) => `(${r})`).join(' UNION ALL BY NAME ')}`,
    )

    // The load date.
    let loadDate: string | undefined
    if (load.length > 0 && t.timestampColumn !== undefined) {
      const tsCol = t.columns.find((c) => c.name === t.timestampColumn)!
      const expr =
        duckType(tsCol.type) === 'TIMESTAMP'
          ? `strftime(max(${q(tsCol.name)}), '%Y%m%d')`
          : `replace(left(max(${q(tsCol.name)}), 10), '-', '')`
      const [r] = await this.rows(`SELECT ${expr} AS d FROM changes WHERE file_rank < ${load.length}`)
      loadDate = (r!.d as string | null) ?? undefined
    }
    if (loadDate === undefined && load.length > 0)
      loadDate = new Date(Math.max(...load.map((f) => f.mtime.getTime())))
        .toISOString()
        .slice(0, 10)
        .replaceAll('-', '')
    loadDate ??= cdc[0]!.nameDate
    const fdate = `CASE WHEN file_rank < ${load.length} THEN ${lit(loadDate)} ELSE greatest(name_date, ${lit(loadDate)}) END`
    await this.conn.run(`CREATE OR REPLACE TEMP TABLE dated AS SELECT *, ${fdate} AS fdate FROM changes`)

    const data = t.columns.map((c) => `${canonSql(c, 'c.')} AS ${q(c.name)}`).join(', ')
    const prov = `c.cdc_file AS cdc_file, CAST(c.cdc_row AS VARCHAR) AS cdc_row`
    const label = `${t.source}/${t.name}`

    for (const r of await this.rows(`SELECT c.fdate AS _date, c."Op" AS "Op", ${data}, ${prov} FROM dated c`)) {
      const { _date, ...row } = r
      ;(out.raw[`${label}/${_date as string}`] ??= []).push(row as Row)
    }

    const [last] = await this.rows(`SELECT max(fdate) AS d FROM dated`)
    const dates = dateRange(loadDate, last!.d as string)
    const order = [
      ...(t.timestampColumn === undefined ? [] : [`c.${q(t.timestampColumn)} DESC NULLS LAST`]),
      ...(t.sequenceColumn === undefined ? [] : [`c.${q(t.sequenceColumn)} DESC NULLS LAST`]),
      'c.file_rank DESC',
      'c.cdc_row DESC',
    ].join(', ')
    const pk = t.primaryKey.map((k) => `c.${q(k)}`).join(', ')
    const sql = `
      WITH d AS (SELECT * FROM (VALUES ${dates.map((x) => `(${lit(x)})`).join(', ')}) v(day)),
      ranked AS (
        SELECT d.day AS _date, c.*, row_number() OVER (PARTITION BY d.day, ${pk} ORDER BY ${order}) AS rn
        FROM d JOIN dated c ON c.fdate <= d.day)
      SELECT _date, ${data}, ${prov} FROM ranked c WHERE rn = 1 AND "Op" <> 'D'`
    for (const day of dates) out.curated[`${label}/${day}`] = []
    for (const r of await this.rows(sql)) {
      const { _date, ...row } = r
      out.curated[`${label}/${_date as string}`]!.push(row as Row)
    }
    for (const tree of [out.raw, out.curated])
      for (const k of Object.keys(tree)) if (k.startsWith(`${label}/`)) tree[k] = sortRows(tree[k]!)
  }
}

// ---------------------------------------------------------------- the plain JS model

interface ModelChange {
  op: 'I' | 'U' | 'D'
  key: string
  ts: bigint | string | null
  seq: string | null
  rank: number
  row: number
  date: string
  values: Row
}

/** The expected outputs of every table from the files delivered so far, computed from the generator's rows. */
export function modelOutputs(tables: readonly GenTable[], delivered: readonly GenFile[]): Expected {
  const out: Expected = { raw: {}, curated: {} }
  for (const t of tables) {
    const mine = delivered.filter((f) => f.table === `${t.source}.${t.name}`)
    const byName = (a: GenFile, b: GenFile): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    const load = mine.filter((f) => f.kind === 'load').sort(byName)
    const cdc = mine.filter((f) => f.kind === 'cdc').sort(byName)
    if (load.length + cdc.length === 0) continue
    const tsIdx = t.timestampColumn === undefined ? -1 : t.columns.findIndex((c) => c.name === t.timestampColumn)
    const seqIdx = t.sequenceColumn === undefined ? -1 : t.columns.findIndex((c) => c.name === t.sequenceColumn)
    const pkIdx = t.primaryKey.map((k) => t.columns.findIndex((c) => c.name === k))

    let loadDate: string | undefined
    if (load.length > 0 && tsIdx >= 0) {
      for (const f of load)
        for (const r of f.rows) {
          const v = r.values[tsIdx]
          const d = v == null ? undefined : v.slice(0, 10).replaceAll('-', '')
          if (d !== undefined && (loadDate === undefined || d > loadDate)) loadDate = d
        }
    }
    if (loadDate === undefined && load.length > 0)
      loadDate = new Date(Math.max(...load.map((f) => f.mtime.getTime())))
        .toISOString()
        .slice(0, 10)
        .replaceAll('-', '')
    loadDate ??= cdc[0]!.date

    const changes: ModelChange[] = []
    ;[...load, ...cdc].forEach((f, rank) => {
      const date = f.kind === 'load' || f.date < loadDate ? loadDate : f.date
      f.rows.forEach((r, i) => {
        const values: Row = {}
        t.columns.forEach((c, j) => (values[c.name] = canonValue(c.type, r.values[j]!)))
        const tsText = tsIdx < 0 ? null : r.values[tsIdx]!
        changes.push({
          op: r.op,
          key: JSON.stringify(pkIdx.map((j) => r.values[j])),
          ts:
            tsText === null
              ? null
              : t.columns[tsIdx]!.type === 'timestamp'
                ? BigInt(canonValue('timestamp', tsText) as string)
                : tsText,
          seq: seqIdx < 0 ? null : r.values[seqIdx]!,
          rank,
          row: i + 1,
          date,
          values: { ...values, cdc_file: f.name, cdc_row: String(i + 1) },
        })
      })
    })

    const label = `${t.source}/${t.name}`
    for (const c of changes) (out.raw[`${label}/${c.date}`] ??= []).push({ Op: c.op, ...c.values })
    const last = changes.reduce((m, c) => (c.date > m ? c.date : m), loadDate)
    const winners = new Map<string, ModelChange>()
    const sorted = [...changes].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0))
    let next = 0
    for (const day of dateRange(loadDate, last)) {
      for (; next < sorted.length && sorted[next]!.date <= day; next++) {
        const c = sorted[next]!
        const w = winners.get(c.key)
        if (w === undefined || later(c, w)) winners.set(c.key, c)
      }
      out.curated[`${label}/${day}`] = [...winners.values()].filter((c) => c.op !== 'D').map((c) => c.values)
    }
    for (const tree of [out.raw, out.curated])
      for (const k of Object.keys(tree)) if (k.startsWith(`${label}/`)) tree[k] = sortRows(tree[k]!)
  }
  return out
}

/** a comes after b in the order (ts, seq, file rank, row), NULL lowest. */
function later(a: ModelChange, b: ModelChange): boolean {
  const cmp = <T extends bigint | string>(x: T | null, y: T | null): number =>
    x === y ? 0 : x === null ? -1 : y === null ? 1 : x < y ? -1 : x > y ? 1 : 0
  const c = cmp(a.ts, b.ts) || cmp(a.seq, b.seq) || a.rank - b.rank || a.row - b.row
  if (c === 0) throw new Error('model: two changes with the same place in the order')
  return c > 0
}

/** A field's text as readOutputTree shows the value: bigints and decimals as strings, dates as day numbers. */
export function canonValue(type: string, text: string | null): string | number | boolean | null {
  if (text === null) return null
  const t = type.trim().toLowerCase()
  if (t === 'string') return text
  if (t === 'integer') return BigInt(text).toString()
  if (t === 'double') return Number(text)
  if (t === 'boolean') return text === 'true' || text === 't' || text === '1'
  if (t === 'date')
    return Date.UTC(Number(text.slice(0, 4)), Number(text.slice(5, 7)) - 1, Number(text.slice(8, 10))) / 86_400_000
  if (t === 'timestamp') {
    const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(text)
    if (!m) throw new Error(`model: timestamp ${text}`)
    const secs = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000
    return (BigInt(secs) * 1_000_000n + BigInt((m[7] ?? '').padEnd(6, '0'))).toString()
  }
  const dec = /^decimal\((\d+),\s*(\d+)\)$/.exec(t)
  if (dec) {
    const scale = Number(dec[2])
    const neg = text.startsWith('-')
    const [whole, frac = ''] = text.replace(/^[-+]/, '').split('.') as [string, string?]
    const digits = BigInt(whole + frac.padEnd(scale, '0'))
    if (digits === 0n) return scale === 0 ? '0' : `0.${'0'.repeat(scale)}`
    const s = digits.toString().padStart(scale + 1, '0')
    return `${neg ? '-' : ''}${scale === 0 ? s : `${s.slice(0, -scale)}.${s.slice(-scale)}`}`
  }
  throw new Error(`model: unknown column type ${type}`)
}

// ---------------------------------------------------------------- comparing trees

/** Every calendar date from `from` through `to` (YYYYMMDD). */
export function dateRange(from: string, to: string): string[] {
  const out: string[] = []
  let ms = Date.UTC(Number(from.slice(0, 4)), Number(from.slice(4, 6)) - 1, Number(from.slice(6, 8)))
  for (;;) {
    const d = new Date(ms).toISOString().slice(0, 10).replaceAll('-', '')
    if (d > to) return out
    out.push(d)
    ms += 86_400_000
  }
}

/**
 * The differences between two trees, readably: partitions only on one side, then per partition the rows only
 * on one side (at most `limit` of each). Rows pair up by the primary key when `keys` names it.
 */
export function diffTrees(
  actual: Tree,
  expected: Tree,
  keys: (partition: string) => string[] = () => [],
  limit = 4,
): string[] {
  const out: string[] = []
  for (const p of Object.keys(expected))
    if (!(p in actual)) out.push(`partition ${p}: missing (expected ${expected[p]!.length} rows)`)
  for (const p of Object.keys(actual))
    if (!(p in expected)) out.push(`partition ${p}: not expected (has ${actual[p]!.length} rows)`)
  for (const p of Object.keys(expected)) {
    if (!(p in actual)) continue
    const a = actual[p]!.map((r) => JSON.stringify(sortKeys(r)))
    const e = expected[p]!.map((r) => JSON.stringify(sortKeys(r)))
    const extra = multisetMinus(a, e)
    const missing = multisetMinus(e, a)
    if (extra.length === 0 && missing.length === 0) continue
    const pk = keys(p)
    const keyOf = (s: string): string => JSON.stringify(pk.map((k) => (JSON.parse(s) as Row)[k]))
    const lines: string[] = []
    if (pk.length > 0) {
      const byKey = new Map<string, { a: string[]; e: string[] }>()
      for (const s of extra) (byKey.get(keyOf(s)) ?? byKey.set(keyOf(s), { a: [], e: [] }).get(keyOf(s))!).a.push(s)
      for (const s of missing) (byKey.get(keyOf(s)) ?? byKey.set(keyOf(s), { a: [], e: [] }).get(keyOf(s))!).e.push(s)
      for (const [k, v] of [...byKey].slice(0, limit))
        lines.push(`  key ${k}: expected ${v.e.join(' ') || '(no row)'}\n    actual ${v.a.join(' ') || '(no row)'}`)
    } else {
      for (const s of missing.slice(0, limit)) lines.push(`  missing ${s}`)
      for (const s of extra.slice(0, limit)) lines.push(`  extra   ${s}`)
    }
    out.push(`partition ${p}: ${missing.length} rows missing, ${extra.length} rows not expected\n${lines.join('\n')}`)
  }
  return out
}

function sortKeys(r: Row): Row {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)))
}

function multisetMinus(a: string[], b: string[]): string[] {
  const counts = new Map<string, number>()
  for (const s of b) counts.set(s, (counts.get(s) ?? 0) + 1)
  const out: string[] = []
  for (const s of a) {
    const n = counts.get(s) ?? 0
    if (n > 0) counts.set(s, n - 1)
    else out.push(s)
  }
  return out
}
