// Seeded generator of DMS S3 landing folders (header-less CSV) for the oracle tests: a full load of 1..3 LOAD
// files, then change files over 2..5 calendar dates, with the awkward cases DMS produces in practice. It knows
// nothing of cdc-apply's code: it returns file texts (and the rows they encode) plus the table config JSON.
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { Rng } from './random.js'

export interface GenColumn {
  name: string
  type: string
}

/** One table as the config file's `tables[]` entry describes it (source included). */
export interface GenTable {
  source: string
  name: string
  path: string
  format: 'csv'
  includeOpForFullLoad: boolean
  columns: GenColumn[]
  primaryKey: string[]
  timestampColumn?: string
  sequenceColumn?: string
}

export interface GenRow {
  /** I, U or D; full-load rows are I whether or not the file carries the Op column. */
  op: 'I' | 'U' | 'D'
  /** Field texts in column order: null = NULL (empty unquoted field), '' = empty string. */
  values: (string | null)[]
}

export interface GenFile {
  /** `Source.TableName` of the table the file belongs to. */
  table: string
  /** Key below the landing root, e.g. `op/restaurants/2022/09/27/20220927-135523276.csv`. */
  path: string
  /** Base name, e.g. `LOAD00000001.csv` or `20220927-135523276.csv`. */
  name: string
  kind: 'load' | 'cdc'
  /** YYYYMMDD: the name's date for change files, the date of the greatest timestamp so far for LOAD files. */
  date: string
  /** The object's modification time (written with utimes). */
  mtime: Date
  content: string
  rows: GenRow[]
}

export interface DmsStream {
  seed: number
  tables: GenTable[]
  /** Every file of every table in the order DMS writes them: deliver prefixes of this list. */
  files: GenFile[]
}

export interface GenOptions {
  /** Number of tables (default: 1 or 2, seeded). */
  tables?: number
}

const SOURCE = 'OP'
const TS = 'dms_commit_ts'
const SEQ = 'dms_change_seq'
const DAY_MS = 86_400_000

const NAMES = [
  'Spice Route',
  'Dosa Corner',
  'Smith, Bob',
  'She said "hi"',
  'line one\nline two',
  'Café €',
  '',
  ' padded ',
  'a,"b",c',
  'x\r\ny',
  'NULL',
  '"',
  ',',
]
const CITIES = ['delhi', 'mumbai', 'Paris, FR', 'São Paulo', '', 'new\nline']
const REGIONS = ['eu', 'us', 'a,b', 'q"t', '']

/** A whole stream for one seed: 1 or 2 tables, files of all tables interleaved in write order. */
export function generateStream(seed: number, opts: GenOptions = {}): DmsStream {
  const rng = new Rng(seed)
  const count = opts.tables ?? (rng.chance(0.35) ? 2 : 1)
  const day0 = Date.UTC(2022, 0, 1) + rng.int(900) * DAY_MS
  const tables: GenTable[] = []
  const files: GenFile[] = []
  for (let i = 0; i < count; i++) {
    const g = new TableGen(rng, i, day0 + (i > 0 && rng.chance(0.5) ? DAY_MS : 0))
    tables.push(g.table)
    files.push(...g.files())
  }
  files.sort((a, b) => a.mtime.getTime() - b.mtime.getTime() || (a.path < b.path ? -1 : 1))
  return { seed, tables, files }
}

/** The config file JSON for a stream's tables and the given folders. */
export function configJson(
  tables: GenTable[],
  dirs: { landing: string; raw: string; curated: string; state: string },
): Record<string, unknown> {
  return {
    source: SOURCE,
    landing: dirs.landing,
    raw: dirs.raw,
    curated: dirs.curated,
    state: dirs.state,
    settleSeconds: 0,
    // files arrive over several runs: a table's folder appears with its first file
    tables: tables.map((t) => ({ missingFolder: 'ignore', ...t })),
  }
}

/** Writes files into a landing folder with their modification times. */
export function writeLanding(landing: string, files: readonly GenFile[]): void {
  for (const f of files) {
    const p = join(landing, ...f.path.split('/'))
    mkdirSync(dirname(p), { recursive: true })
    writeFileSync(p, f.content)
    utimesSync(p, f.mtime, f.mtime)
  }
}

// ---------------------------------------------------------------- one table

interface Change {
  op: 'I' | 'U' | 'D'
  key: (string | null)[]
  /** Microseconds since the epoch of the commit (the timestamp column). */
  ts: number
  /** Full row (false: a delete carrying only the key). */
  full: boolean
}

class TableGen {
  readonly table: GenTable
  private readonly withSeq: boolean
  private readonly composite: boolean
  private readonly datePartitioned: boolean
  private readonly live = new Map<string, (string | null)[]>()
  private readonly dead = new Map<string, (string | null)[]>()
  private nextId = 1
  private counter = 0
  /** A key the latest transaction changed (a transaction split over two files continues with it). */
  private lastTxKey: (string | null)[] | undefined
  private readonly tsShiftUs: number
  private readonly eveningLoad: boolean
  /** The full load's first commit time: some changes tie with it. */
  private loadStartUs = 0

  constructor(
    private readonly rng: Rng,
    index: number,
    private readonly loadDay: number,
  ) {
    this.composite = index % 2 === 1
    const tsMode = rng.pick(['timestamp', 'timestamp', 'string', 'none'] as const)
    this.withSeq = rng.chance(0.5)
    this.datePartitioned = rng.chance(0.3)
    // Sometimes the source's clock runs ahead of UTC (the timestamp column is not documented to be UTC) and the
    // full load runs in the evening: its timestamps fall on the next date, so change files named on the evening's
    // UTC date belong to the load date.
    this.tsShiftUs = rng.chance(0.2) ? rng.pick([5.5, 9]) * 3_600_000_000 : 0
    this.eveningLoad = this.tsShiftUs > 0 && rng.chance(0.7)
    const name = this.composite ? 'branches' : 'restaurants'
    const columns: GenColumn[] = [
      { name: TS, type: tsMode === 'string' ? 'string' : 'timestamp' },
      ...(this.composite ? [{ name: 'region', type: 'string' }] : []),
      { name: 'id', type: 'integer' },
      { name: 'name', type: 'string' },
      { name: 'city', type: 'string' },
      { name: 'qty', type: 'integer' },
      { name: 'price', type: 'decimal(10,2)' },
      { name: 'score', type: 'double' },
      { name: 'active', type: 'boolean' },
      { name: 'opened', type: 'date' },
      ...(this.withSeq ? [{ name: SEQ, type: 'string' }] : []),
    ]
    this.table = {
      source: SOURCE,
      name,
      path: `op/${name}`,
      format: 'csv',
      includeOpForFullLoad: rng.chance(0.5),
      columns,
      primaryKey: this.composite ? ['region', 'id'] : ['id'],
      ...(tsMode === 'none' ? {} : { timestampColumn: TS }),
      ...(this.withSeq ? { sequenceColumn: SEQ } : {}),
    }
  }

  files(): GenFile[] {
    const rng = this.rng
    const out: GenFile[] = []
    // Full load from 08:00 (20:00 for an evening load) of its day: one task-start timestamp for all rows
    // (UseTaskStartTimeForFullLoadTimestamp) or increasing ones.
    const start = this.loadDay + (this.eveningLoad ? 20 : 8) * 3_600_000 + rng.int(1_800_000)
    const taskStart = rng.chance(0.4)
    this.loadStartUs = start * 1000
    const n = 5 + rng.int(30)
    const loadRows: { row: GenRow; ts: number }[] = []
    let ts = start * 1000
    for (let i = 0; i < n; i++) {
      const key = this.newKey()
      if (!taskStart && i > 0) ts += rng.int(400_000)
      this.live.set(JSON.stringify(key), key)
      loadRows.push({ row: this.row({ op: 'I', key, ts, full: true }, false), ts })
    }
    const parts = 1 + rng.int(Math.min(3, n))
    const cuts = pickCuts(rng, n, parts)
    let lastLoadMs = start
    cuts.forEach(([from, to], p) => {
      const rows = loadRows.slice(from, to)
      const lastMs = Math.floor(rows.at(-1)!.ts / 1000)
      lastLoadMs = Math.max(lastLoadMs, lastMs)
      const name = `LOAD${(p + 1).toString(16).toUpperCase().padStart(8, '0')}.csv`
      out.push(
        this.file(
          name,
          'load',
          ymd(lastLoadMs + this.tsShiftUs / 1000),
          new Date(lastMs + 1000),
          rows.map((r) => r.row),
        ),
      )
    })

    // Change files: a span of 2..5 calendar dates starting on the load date or the day after.
    const first = this.loadDay + (rng.chance(0.5) ? 0 : DAY_MS)
    const span = 2 + rng.int(4)
    let prevMs = lastLoadMs + 600_000 + rng.int(3_600_000)
    let lastTxTs = prevMs * 1000
    for (let d = 0; d < span; d++) {
      const day = first + d * DAY_MS
      const edge = d === 0 || d === span - 1
      const k = edge ? 1 + rng.int(3) : rng.chance(0.35) ? 0 : 1 + rng.int(3)
      const lower = Math.max(prevMs + 1000, day)
      const upper = day + DAY_MS - 1
      if (lower >= upper) continue
      const times = new Set<number>()
      while (times.size < k) times.add(lower + rng.int(upper - lower))
      for (const t of [...times].sort((a, b) => a - b)) {
        const changes = this.fileChanges(prevMs, t, lastTxTs)
        lastTxTs = changes.lastTs
        prevMs = t
        const name = `${ymd(t)}-${hms(t)}.csv`
        out.push(this.file(name, 'cdc', ymd(t), new Date(t + 500), changes.rows))
      }
    }
    return out
  }

  /** The rows of one change file named at `fileMs`: transactions committed since the previous file, some late. */
  private fileChanges(prevMs: number, fileMs: number, lastTxTs: number): { rows: GenRow[]; lastTs: number } {
    const rng = this.rng
    const rows: GenRow[] = []
    const txs = 1 + rng.int(8)
    const lo = Math.max(prevMs + 1, fileMs - 60_000) * 1000
    const hi = fileMs * 1000
    const stamps = Array.from({ length: txs }, () => lo + rng.int(Math.max(1, hi - lo))).sort((a, b) => a - b)
    // A transaction split over two files: the first one here shares the previous file's last commit time and
    // changes a key that transaction already changed.
    const split = this.lastTxKey !== undefined && rng.chance(0.2)
    if (split) stamps[0] = lastTxTs
    for (const [i, ts0] of stamps.entries()) {
      // A late-committed change: its commit time lies before changes of earlier files (sometimes exactly the
      // full load's first timestamp, a tie with load rows).
      const late = i === 0 && split ? 1 : rng.next()
      const ts = late < 0.04 ? this.loadStartUs : late < 0.16 ? lastTxTs - 1 - rng.int(2 * DAY_MS * 1000) : ts0
      const tx = this.transaction(ts, i === 0 && split ? this.lastTxKey : undefined)
      if (this.withSeq && tx.length > 1 && rng.chance(0.4)) shuffle(rng, tx)
      rows.push(...tx.map((c) => this.row(c.change, true, c.seq)))
    }
    return { rows, lastTs: stamps.at(-1)! }
  }

  /** One transaction: one or more changes sharing a commit time, each with its change sequence. */
  private transaction(ts: number, continued?: (string | null)[]): { change: Change; seq: string }[] {
    const rng = this.rng
    const out: { change: Change; seq: string }[] = []
    const add = (op: 'I' | 'U' | 'D', key: (string | null)[], full = op !== 'D' || rng.chance(0.2)): void => {
      out.push({ change: { op, key, ts, full }, seq: seqOf(ts + this.tsShiftUs, ++this.counter) })
      this.lastTxKey = key
    }
    if (continued) {
      const k = JSON.stringify(continued)
      if (this.live.has(k)) add(rng.chance(0.7) ? 'U' : 'D', continued)
      else add('I', continued)
      if (out[0]!.change.op === 'D') this.setDead(continued)
      else this.setLive(continued)
    }
    const size = rng.chance(0.3) ? 2 + rng.int(3) : 1
    for (let i = 0; i < size; i++) {
      const r = rng.next()
      const liveKey = this.anyOf(this.live)
      const deadKey = this.anyOf(this.dead)
      if (r < 0.22 || liveKey === undefined) {
        const key = this.newKey()
        add('I', key)
        this.setLive(key)
      } else if (r < 0.5) {
        add('U', liveKey)
      } else if (r < 0.6) {
        add('D', liveKey)
        this.setDead(liveKey)
      } else if (r < 0.66 && deadKey) {
        add('I', deadKey) // delete then re-insert
        this.setLive(deadKey)
      } else if (r < 0.7) {
        add('U', deadKey ?? this.newKey()) // update of a missing key
      } else if (r < 0.74) {
        add('D', this.newKey()) // delete of an unknown key
      } else if (r < 0.78) {
        add('I', liveKey) // insert on an existing key
      } else {
        // Several changes to one key with the same commit time.
        const pattern = rng.pick([
          ['U', 'U'],
          ['D', 'I'],
          ['U', 'D'],
          ['D', 'I', 'U'],
          ['U', 'U', 'U'],
          ['I', 'U', 'D'],
        ] as const)
        const key = pattern[0] === 'I' ? this.newKey() : liveKey
        for (const op of pattern) add(op, key)
        if (pattern.at(-1) === 'D') this.setDead(key)
        else this.setLive(key)
      }
    }
    return out
  }

  private row(c: Change, cdc: boolean, seq?: string): GenRow {
    const rng = this.rng
    const values: (string | null)[] = []
    let k = 0
    for (const col of this.table.columns) {
      if (col.name === TS) values.push(tsText(c.ts + this.tsShiftUs))
      else if (col.name === SEQ) values.push(cdc ? seq! : null)
      else if (this.table.primaryKey.includes(col.name)) values.push(c.key[k++]!)
      else if (!c.full) values.push(null)
      else values.push(this.value(col.name, rng))
    }
    return { op: c.op, values }
  }

  private value(name: string, rng: Rng): string | null {
    switch (name) {
      case 'name':
        return rng.chance(0.1) ? null : rng.pick(NAMES)
      case 'city':
        return rng.chance(0.3) ? null : rng.pick(CITIES)
      case 'qty':
        return rng.chance(0.1) ? null : rng.chance(0.05) ? '9007199254740993' : String(rng.int(100_000) - 1000)
      case 'price': {
        if (rng.chance(0.1)) return null
        const cents = rng.int(2_000_000) - 100_000
        const abs = Math.abs(cents)
        const whole = Math.floor(abs / 100)
        const frac = String(abs % 100).padStart(2, '0')
        const text = rng.chance(0.2) && frac.endsWith('0') ? `${whole}.${frac[0]}` : `${whole}.${frac}`
        return cents < 0 ? `-${text}` : text
      }
      case 'score': {
        if (rng.chance(0.1)) return null
        const x = (rng.int(2_000_000) - 1_000_000) / 1000
        return dmsReal(x)
      }
      case 'active':
        return rng.chance(0.1) ? null : rng.pick(['true', 'false'])
      case 'opened':
        return rng.chance(0.2)
          ? null
          : new Date(Date.UTC(1990, 0, 1) + rng.int(12_000) * DAY_MS).toISOString().slice(0, 10)
      default:
        throw new Error(`no generator for column ${name}`)
    }
  }

  private file(name: string, kind: 'load' | 'cdc', date: string, mtime: Date, rows: GenRow[]): GenFile {
    const hasOp = kind === 'cdc' || this.table.includeOpForFullLoad
    const content = rows
      .map((r) => [...(hasOp ? [r.op] : []), ...r.values.map((v) => csvField(v, this.rng))].join(',') + '\n')
      .join('')
    const folder =
      kind === 'cdc' && this.datePartitioned
        ? `${this.table.path}/${date.slice(0, 4)}/${date.slice(4, 6)}/${date.slice(6, 8)}`
        : this.table.path
    return {
      table: `${this.table.source}.${this.table.name}`,
      path: `${folder}/${name}`,
      name,
      kind,
      date,
      mtime,
      content,
      rows,
    }
  }

  private newKey(): (string | null)[] {
    const rng = this.rng
    const id = rng.chance(0.03)
      ? String(9_007_199_254_740_000 + this.nextId++)
      : rng.chance(0.05)
        ? String(-this.nextId++)
        : String(this.nextId++)
    return this.composite ? [rng.pick(REGIONS), id] : [id]
  }

  private anyOf(m: Map<string, (string | null)[]>): (string | null)[] | undefined {
    if (m.size === 0) return undefined
    const i = this.rng.int(m.size)
    let j = 0
    for (const v of m.values()) if (j++ === i) return v
    return undefined
  }

  private setLive(key: (string | null)[]): void {
    const k = JSON.stringify(key)
    this.dead.delete(k)
    this.live.set(k, key)
  }

  private setDead(key: (string | null)[]): void {
    const k = JSON.stringify(key)
    this.live.delete(k)
    this.dead.set(k, key)
  }
}

// ---------------------------------------------------------------- text forms

/** RFC 4180 as DMS writes it: NULL is an empty field, "" an empty string; quotes where needed, sometimes more. */
function csvField(v: string | null, rng: Rng): string {
  if (v === null) return ''
  const must = v === '' || /[",\r\n]/.test(v)
  return must || rng.chance(0.1) ? `"${v.replaceAll('"', '""')}"` : v
}

/** `2022-09-27 13:55:23.276543` from microseconds since the epoch. */
export function tsText(us: number): string {
  const ms = Math.floor(us / 1000)
  const d = new Date(ms)
  const micros = String(us - Math.floor(us / 1_000_000) * 1_000_000).padStart(6, '0')
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)}.${micros}`
}

/** A 35-digit `$AR_H_CHANGE_SEQ`: commit time to 1/100 s (16 digits), then a 19-digit counter. */
function seqOf(us: number, counter: number): string {
  const t = tsText(us)
  const prefix =
    t.slice(0, 4) +
    t.slice(5, 7) +
    t.slice(8, 10) +
    t.slice(11, 13) +
    t.slice(14, 16) +
    t.slice(17, 19) +
    t.slice(20, 22)
  return prefix + String(counter).padStart(19, '0')
}

/** DMS's rendering of a PostgreSQL real: `+3.23800011e+01`. */
function dmsReal(x: number): string {
  const [m, e] = Math.abs(x).toExponential(8).split('e') as [string, string]
  const exp = Number(e)
  return `${x < 0 ? '-' : '+'}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`
}

function ymd(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '')
}

function hms(ms: number): string {
  const iso = new Date(ms).toISOString()
  return iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + iso.slice(20, 23)
}

function pickCuts(rng: Rng, n: number, parts: number): [number, number][] {
  const points = new Set<number>()
  while (points.size < parts - 1) points.add(1 + rng.int(n - 1))
  const edges = [0, ...[...points].sort((a, b) => a - b), n]
  return edges.slice(1).map((to, i) => [edges[i]!, to])
}

function shuffle(rng: Rng, xs: unknown[]): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[xs[i], xs[j]] = [xs[j]!, xs[i]!]
  }
}
