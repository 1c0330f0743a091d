// Runs the same input twice, once with tableFormat "parquet" and once with "iceberg", for the Iceberg tests: every
// golden case under fixtures/cases that succeeds, and seeded oracle streams delivered in several runs.
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as A from 'apache-arrow'
import { parseConfig, type Config } from '../../src/config.js'
import { runOnce } from '../../src/run.js'
import { columnValues } from '../../src/arrow/values.js'
import { LocalStore } from '../../src/store/local-store.js'
import { IcebergTable } from '../../src/iceberg/table.js'
import { storeUri } from '../../src/iceberg-sink.js'
import { configJson, generateStream, writeLanding } from './dms-gen.js'
import { readOutputTree, sortRows, type Row } from './outputs.js'
import { Rng } from './random.js'

const CASES = fileURLToPath(new URL('../../../fixtures/cases/', import.meta.url))

/** One input run in both formats: `plain` and `iceberg` are the curated roots. */
export interface TwinRun {
  name: string
  plain: string
  iceberg: string
  /** `Source/TableName` of every table. */
  tables: string[]
}

interface CaseSpec {
  runs?: (string | string[] | { folders: string[]; without?: string[] })[]
  mtime?: string
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]))
}

/** The golden cases whose runs all succeed (no expected/error.json). */
export function succeedingCases(): string[] {
  return readdirSync(CASES)
    .filter((n) => statSync(join(CASES, n)).isDirectory() && !existsSync(join(CASES, n, 'expected', 'error.json')))
    .sort()
}

async function runBoth(
  name: string,
  out: string,
  make: (format: 'parquet' | 'iceberg', dir: string) => Config,
  rounds: number,
  deliver: (round: number) => void,
): Promise<TwinRun> {
  const configs = (['parquet', 'iceberg'] as const).map((f) => make(f, join(out, f)))
  for (let r = 0; r < rounds; r++) {
    deliver(r)
    for (const c of configs) {
      const s = await runOnce(c)
      const failed = s.tables.filter((t) => t.status === 'error')
      if (failed.length > 0)
        throw new Error(
          `${name} (${c.tables[0]!.tableFormat}) run ${r + 1}: ${failed.map((t) => `${t.error?.message}`).join('; ')}`,
        )
    }
  }
  if (!existsSync(configs[1]!.curated)) throw new Error(`${name}: the runs wrote no curated output`)
  return {
    name,
    plain: configs[0]!.curated,
    iceberg: configs[1]!.curated,
    tables: configs[0]!.tables.map((t) => `${t.source}/${t.name}`),
  }
}

/** Runs a golden case (with its case.json runs) in both formats under `out`. */
export function runCase(name: string, out: string): Promise<TwinRun> {
  const caseDir = join(CASES, name)
  const json = JSON.parse(readFileSync(join(caseDir, 'cdc-apply.json'), 'utf8')) as Record<string, unknown>
  const spec: CaseSpec = existsSync(join(caseDir, 'case.json'))
    ? (JSON.parse(readFileSync(join(caseDir, 'case.json'), 'utf8')) as CaseSpec)
    : {}
  const copied = spec.runs !== undefined || spec.mtime !== undefined
  const landing = String(json.landing)
  const runs = spec.runs ?? ['bucket']
  const make = (format: 'parquet' | 'iceberg', dir: string): Config => {
    const c = parseConfig({ ...json, tableFormat: format }, caseDir)
    c.landing = copied ? join(out, landing) : join(caseDir, landing)
    c.raw = join(dir, 'raw')
    c.curated = join(dir, 'curated')
    c.state = join(dir, 'state.sqlite')
    c.settleSeconds = 0 // the landing is written just before each run
    return c
  }
  const deliver = (i: number): void => {
    if (!copied) return
    const entry = runs[i]!
    const folders = typeof entry === 'string' ? [entry] : Array.isArray(entry) ? entry : entry.folders
    const without = typeof entry === 'object' && !Array.isArray(entry) ? (entry.without ?? []) : []
    rmSync(join(out, 'bucket'), { recursive: true, force: true })
    for (const folder of folders) cpSync(join(caseDir, folder), join(out, 'bucket'), { recursive: true })
    for (const f of walk(join(out, 'bucket'))) if (without.includes(basename(f))) rmSync(f)
    if (spec.mtime !== undefined)
      for (const f of walk(join(out, 'bucket'))) utimesSync(f, new Date(spec.mtime), new Date(spec.mtime))
  }
  return runBoth(name, out, make, runs.length, deliver)
}

/** Runs a seeded oracle stream (ties, deletes, re-inserts, key moves) delivered in 3 arrivals, in both formats. */
export function runStream(seed: number, out: string, iceberg?: object, name = `seed ${seed}`): Promise<TwinRun> {
  const stream = generateStream(seed)
  const rng = new Rng(seed)
  const landing = join(out, 'landing')
  const cuts = [rng.int(stream.files.length), rng.int(stream.files.length)].sort((a, b) => a - b)
  const bounds = [0, cuts[0]!, cuts[1]!, stream.files.length]
  const make = (format: 'parquet' | 'iceberg', dir: string): Config =>
    parseConfig(
      {
        ...configJson(stream.tables, {
          landing,
          raw: join(dir, 'raw'),
          curated: join(dir, 'curated'),
          state: join(dir, 'state.sqlite'),
        }),
        tableFormat: format,
        settleSeconds: 0,
        ...(iceberg ? { iceberg } : {}),
      },
      out,
    )
  return runBoth(name, out, make, 3, (r) => writeLanding(landing, stream.files.slice(bounds[r], bounds[r + 1])))
}

/** The plain layout's partitions of one table as `{ date: sortedRows }`. */
export function plainDates(run: TwinRun, table: string): Record<string, Row[]> {
  const out: Record<string, Row[]> = {}
  for (const [key, rows] of Object.entries(readOutputTree(run.plain)))
    if (key.startsWith(table + '/')) out[key.slice(table.length + 1)] = rows
  return out
}

/** Rows of an Arrow table in the canonical form of readOutputTree, sorted. */
export function tableRows(t: A.Table): Row[] {
  const rows: Row[] = []
  for (const b of t.batches) {
    const cols = t.schema.fields.map((f, i) => [f.name, columnValues(b.data.children[i]!)] as const)
    for (let r = 0; r < b.numRows; r++) {
      const row: Row = {}
      for (const [name, vals] of cols) {
        const v = vals[r]
        row[name] =
          v === null || v === undefined
            ? null
            : typeof v === 'bigint'
              ? v.toString()
              : typeof v === 'object'
                ? String(v)
                : (v as string | number | boolean)
      }
      rows.push(row)
    }
  }
  return sortRows(rows)
}

/** Opens a table of the Iceberg run with cdc-apply's own reader. */
export async function openIceberg(run: TwinRun, table: string): Promise<IcebergTable> {
  const store = new LocalStore(run.iceberg)
  return IcebergTable.open(store, table, `${storeUri(store)}/${table}`, table)
}
