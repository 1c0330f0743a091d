// One measured run in a fresh process: `cdc` runs cdc-apply once, `duckdb` runs the equivalent SQL script.
// Prints one JSON line: { ms, maxRssMB }.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { parseConfig } from '../../src/config.js'
import { runOnce } from '../../src/run.js'
import { BENCH_COLUMNS } from './gen.js'

const [mode, argJson] = process.argv.slice(2)
const args = JSON.parse(argJson ?? '{}') as {
  config?: object
  baseDir?: string
  landing: string
  out: string
  format: 'csv' | 'parquet'
  threads?: number
  rawFrom?: string
  newFile?: string
}

const lit = (s: string): string => `'${s.replaceAll("'", "''")}'`
const DUCK_TYPES: Record<string, string> = {
  string: 'VARCHAR',
  integer: 'BIGINT',
  double: 'DOUBLE',
  date: 'DATE',
  'decimal(12,2)': 'DECIMAL(12,2)',
}

/** The files of the bench table in cdc-apply's order, with their dates (the load date is the first CDC date). */
function files(landing: string, ext: string): { path: string; name: string; rank: number; date: string }[] {
  const dir = join(landing, 'bench', 'orders')
  const names = readdirSync(dir).filter((n) => n.endsWith(ext))
  const load = names.filter((n) => n.startsWith('LOAD')).sort()
  const cdc = names.filter((n) => !n.startsWith('LOAD')).sort()
  const loadDate = '20240610'
  return [...load, ...cdc].map((name, rank) => ({
    path: join(dir, name),
    name,
    rank,
    date: name.startsWith('LOAD') ? loadDate : name.slice(0, 8) < loadDate ? loadDate : name.slice(0, 8),
  }))
}

function source(f: { path: string; name: string; rank: number; date: string }, format: 'csv' | 'parquet'): string {
  const cols = ['Op', ...BENCH_COLUMNS.map((c) => c.name)]
  const read =
    format === 'csv'
      ? `read_csv(${lit(f.path)}, header=false, auto_detect=false, nullstr='', allow_quoted_nulls=false, quote='"', escape='"', columns={${cols
          .map((c, i) => `${lit(c)}: ${lit(i === 0 ? 'VARCHAR' : DUCK_TYPES[BENCH_COLUMNS[i - 1]!.type]!)}`)
          .join(', ')}})`
      : `read_parquet(${lit(f.path)})`
  return `SELECT *, ${lit(f.name)} AS cdc_file, row_number() OVER () AS cdc_row, ${f.rank} AS file_rank, ${lit(f.date)} AS d FROM ${read}`
}

async function duck(): Promise<void> {
  const inst = await DuckDBInstance.create(':memory:', {
    threads: String(args.threads ?? 2),
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  })
  const con = await inst.connect()
  const fs = files(args.landing, args.format === 'csv' ? '.csv' : '.parquet')
  const data = BENCH_COLUMNS.map((c) => `"${c.name}"`).join(', ')
  if (args.rawFrom) {
    // incremental: recompute the newest snapshot from RAW plus the new file
    const nf = {
      path: args.newFile!,
      name: args.newFile!.split('/').pop()!,
      rank: 1e9,
      date: args.newFile!.split('/').pop()!.slice(0, 8),
    }
    await con.run(
      `CREATE TABLE src AS SELECT * EXCLUDE (cdc_row), cdc_row, 0 AS file_rank FROM read_parquet(${lit(join(args.rawFrom, '*', '*.parquet'))}) UNION ALL BY NAME ${source(nf, 'csv')}`,
    )
    await con.run(
      `COPY (SELECT ${data}, cdc_file, cdc_row FROM (SELECT *, row_number() OVER (PARTITION BY id ORDER BY dms_commit_ts DESC NULLS LAST, cdc_file DESC, cdc_row DESC) AS rn FROM src) WHERE rn = 1 AND Op <> 'D') TO ${lit(join(args.out, 'curated.parquet'))} (FORMAT parquet, COMPRESSION snappy)`,
    )
    return
  }
  await con.run(`CREATE TABLE src AS ${fs.map((f) => source(f, args.format)).join(' UNION ALL ')}`)
  await con.run(
    `COPY (SELECT Op, ${data}, cdc_file, cdc_row, d FROM src) TO ${lit(join(args.out, 'raw'))} (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (d), OVERWRITE_OR_IGNORE)`,
  )
  const dates = [...new Set(fs.map((f) => f.date))].sort()
  for (const d of dates) {
    await con.run(
      `COPY (SELECT ${data}, cdc_file, cdc_row FROM (SELECT *, row_number() OVER (PARTITION BY id ORDER BY dms_commit_ts DESC NULLS LAST, file_rank DESC, cdc_row DESC) AS rn FROM src WHERE d <= ${lit(d)}) WHERE rn = 1 AND Op <> 'D') TO ${lit(join(args.out, `curated-${d}.parquet`))} (FORMAT parquet, COMPRESSION snappy)`,
    )
  }
}

const started = performance.now()
// the main thread's memory at the highest RSS seen (sampled): where the peak is (JS heap, Arrow buffers, WASM)
let peak = process.memoryUsage()
const sampler = setInterval(() => {
  const m = process.memoryUsage()
  if (m.rss > peak.rss) peak = m
}, 250)
sampler.unref()
if (mode === 'cdc') {
  const r = await runOnce(parseConfig(args.config, args.baseDir ?? process.cwd()))
  const err = r.tables.find((t) => t.error)?.error
  if (err) throw err
} else if (mode === 'duckdb') await duck()
else throw new Error(`unknown mode ${mode}`)
const ms = performance.now() - started
const mb = (x: number): number => Math.round(x / 2 ** 20)
const at = {
  rss: mb(peak.rss),
  heapUsed: mb(peak.heapUsed),
  arrayBuffers: mb(peak.arrayBuffers),
  external: mb(peak.external),
}
process.stdout.write(JSON.stringify({ ms, maxRssMB: process.resourceUsage().maxRSS / 1024, atPeakMB: at }) + '\n')
