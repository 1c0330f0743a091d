// What the bench cases share: one measured child process (child.ts) and the comparison of cdc-apply's outputs with
// the DuckDB equivalent's.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import { BENCH_COLUMNS } from './gen.js'

export interface Sample {
  ms: number
  maxRssMB: number
  /** The main thread's memory (MB) at the highest RSS sampled: rss, heapUsed, arrayBuffers, external (WASM). */
  atPeakMB?: Record<string, number>
}

const child = join(fileURLToPath(new URL('.', import.meta.url)), 'child.js')
const log = (s: string): void => void process.stderr.write(s + '\n')

/** Runs child.ts in a fresh process (`node` flags first, e.g. --max-old-space-size) and returns its time and peak RSS. */
export function measure(mode: 'cdc' | 'duckdb', args: object, node: string[] = []): Sample {
  const r = spawnSync(process.execPath, [...node, child, mode, JSON.stringify(args)], {
    encoding: 'utf8',
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    maxBuffer: 1 << 26,
  })
  if (r.status !== 0) throw new Error(`${mode} run failed (${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`)
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Sample
}

/**
 * Whether the last cdc-apply run and the last DuckDB run produced the same outputs: every date's curated snapshot
 * equal as a multiset of rows (data columns and cdc_file), and the same RAW row count per date.
 */
export async function agree(cdcOut: string, duckOut: string): Promise<boolean> {
  const inst = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  })
  const con = await inst.connect()
  const lit = (x: string): string => `'${x.replaceAll("'", "''")}'`
  const cols = [...BENCH_COLUMNS.map((c) => `"${c.name}"`), 'cdc_file'].join(', ')
  const count = async (sql: string): Promise<number> => Number((await con.runAndReadAll(sql)).getRows()[0]![0])
  try {
    const curated = join(cdcOut, 'curated', 'BENCH', 'orders')
    const dates = readdirSync(curated)
      .filter((n) => /^\d{8}$/.test(n))
      .sort() // not the _cdc_apply.json marker
    const duckDates = readdirSync(duckOut)
      .filter((n) => n.startsWith('curated-'))
      .map((n) => n.slice(8, 16))
      .sort()
    if (dates.join() !== duckDates.join())
      return (log(`disagree: curated dates ${dates.join()} vs ${duckDates.join()}`), false)
    for (const d of dates) {
      const a = `SELECT ${cols} FROM read_parquet(${lit(join(curated, d, '*.parquet'))})`
      const b = `SELECT ${cols} FROM read_parquet(${lit(join(duckOut, `curated-${d}.parquet`))})`
      const diff = await count(`SELECT count(*) FROM ((${a} EXCEPT ALL ${b}) UNION ALL (${b} EXCEPT ALL ${a}))`)
      if (diff !== 0) return (log(`disagree: curated ${d} differs in ${diff} rows`), false)
      const rawA = await count(
        `SELECT count(*) FROM read_parquet(${lit(join(cdcOut, 'raw', 'BENCH', 'orders', d, '*.parquet'))})`,
      )
      const rawB = await count(`SELECT count(*) FROM read_parquet(${lit(join(duckOut, 'raw', `d=${d}`, '*.parquet'))})`)
      if (rawA !== rawB) return (log(`disagree: RAW ${d} has ${rawA} rows vs ${rawB}`), false)
    }
    return true
  } finally {
    con.closeSync()
    inst.closeSync()
  }
}
