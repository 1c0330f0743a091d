// Deterministic generator of DMS-like landing data for the benchmark: a full load plus CDC files over several dates.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface GenOptions {
  dir: string
  /** Total change rows, full load included. */
  changes: number
  /** Distinct primary keys. */
  keys: number
  /** Rows per CDC file. */
  rowsPerFile: number
  /** Calendar dates the CDC files spread over. */
  dates: number
  seed: number
  /** Fraction of inserts, updates, deletes among CDC rows. */
  mix: [number, number, number]
}

export const DEFAULT_GEN: Omit<GenOptions, 'dir'> = {
  changes: 100_000,
  keys: 20_000,
  rowsPerFile: 10_000,
  dates: 3,
  seed: 42,
  mix: [0.2, 0.7, 0.1],
}

export const BENCH_COLUMNS = [
  { name: 'dms_commit_ts', type: 'string' },
  { name: 'id', type: 'integer' },
  { name: 'qty', type: 'integer' },
  { name: 'price', type: 'decimal(12,2)' },
  { name: 'code', type: 'string' },
  { name: 'name', type: 'string' },
  { name: 'note', type: 'string' },
  { name: 'city', type: 'string' },
  { name: 'score', type: 'double' },
  { name: 'created', type: 'date' },
] as const

export interface Generated {
  files: { key: string; date: string; rows: number }[]
  loadRows: number
  totalRows: number
}

class Rng {
  private s: number
  constructor(seed: number) {
    this.s = seed >>> 0
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
}

const CITIES = ['delhi', 'mumbai', 'Paris', 'Lyon', 'São Paulo', 'Reims']
const NAMES = ['Alice', 'Bob', 'Smith, Bob', 'Carol "CJ" Jones', 'Dan', 'Émilie']

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0')
}

function tsText(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '') + '000'
}

function csvField(s: string | null): string {
  if (s === null) return ''
  return s === '' || /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

/** Writes `<dir>/bench/orders/LOAD00000001.csv` and CDC files; returns what it wrote. */
export function generate(o: GenOptions): Generated {
  const rng = new Rng(o.seed)
  const tableDir = join(o.dir, 'bench', 'orders')
  mkdirSync(tableDir, { recursive: true })
  const start = Date.UTC(2024, 5, 10, 8, 0, 0)
  const row = (op: string, ts: string, id: number, del: boolean): string => {
    if (del) return `${op},${ts},${id},,,,,,,,`
    const note =
      rng.int(10) === 0
        ? null
        : rng.int(10) === 0
          ? ''
          : `note ${rng.int(1000)}${rng.int(5) === 0 ? ', with comma' : ''}`
    return [
      op,
      ts,
      String(id),
      String(rng.int(1000)),
      `${rng.int(100000)}.${pad(rng.int(100), 2)}`,
      `C${rng.int(50)}`,
      NAMES[rng.int(NAMES.length)]!,
      note,
      CITIES[rng.int(CITIES.length)]!,
      String(rng.int(100000) / 100),
      `2020-0${1 + rng.int(9)}-1${rng.int(9)}`,
    ]
      .map((v, i) => (i === 0 ? v : csvField(v)))
      .join(',')
  }
  const loadRows = Math.min(o.keys, o.changes)
  const lines: string[] = []
  const live = new Uint8Array(o.keys)
  for (let id = 0; id < loadRows; id++) {
    lines.push(row('I', tsText(start + Math.floor(id / 100)), id, false))
    live[id] = 1
  }
  writeFileSync(join(tableDir, 'LOAD00000001.csv'), lines.join('\n') + '\n')
  const files: Generated['files'] = [{ key: 'bench/orders/LOAD00000001.csv', date: '20240610', rows: loadRows }]
  const cdcRows = o.changes - loadRows
  const nFiles = Math.max(1, Math.ceil(cdcRows / o.rowsPerFile))
  const perDate = Math.ceil(nFiles / o.dates)
  let ts = start + 3_600_000
  let written = 0
  for (let f = 0; f < nFiles; f++) {
    const day = Math.floor(f / perDate)
    const dayStart = Date.UTC(2024, 5, 10 + day, 0, 0, 0) + 3_600_000
    if (ts < dayStart) ts = dayStart
    const n = Math.min(o.rowsPerFile, cdcRows - written)
    const out: string[] = []
    for (let r = 0; r < n; r++) {
      if (rng.int(4) !== 0) ts += 1 + rng.int(3) // ties: a quarter of the rows share the previous timestamp
      const x = rng.next()
      const id = rng.int(o.keys)
      const op = x < o.mix[0] ? 'I' : x < o.mix[0] + o.mix[1] ? 'U' : 'D'
      out.push(row(op, tsText(ts), id, op === 'D'))
      live[id] = op === 'D' ? 0 : 1
    }
    written += n
    const name = new Date(ts + 60_000).toISOString()
    const stem = `${name.slice(0, 4)}${name.slice(5, 7)}${name.slice(8, 10)}-${name.slice(11, 13)}${name.slice(14, 16)}${name.slice(17, 19)}${name.slice(20, 23)}`
    writeFileSync(join(tableDir, `${stem}.csv`), out.join('\n') + '\n')
    files.push({ key: `bench/orders/${stem}.csv`, date: stem.slice(0, 8), rows: n })
    ts += 1000
  }
  return { files, loadRows, totalRows: o.changes }
}

export function benchConfig(landing: string, out: string, format: 'csv' | 'parquet'): object {
  return {
    source: 'BENCH',
    landing,
    raw: join(out, 'raw'),
    curated: join(out, 'curated'),
    state: join(out, 'state.sqlite'),
    // generated files are read at once (their writer is done): no wait for a copy in progress to settle
    settleSeconds: 0,
    tables: [
      {
        name: 'orders',
        path: 'bench/orders',
        format,
        includeOpForFullLoad: true,
        ...(format === 'csv' ? { columns: BENCH_COLUMNS.map((c) => ({ name: c.name, type: c.type })) } : {}),
        primaryKey: ['id'],
        timestampColumn: 'dms_commit_ts',
      },
    ],
  }
}
