// `npm run bench:csv`: the hand-written DMS CSV parser (src/read-csv.ts, typed Arrow columns out) against csv-parse
// (the library it is differential-tested against in test/read-csv.test.ts, strings out), on the same generated files.
// Prints rows per second of each and the speedup. Not a test.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { parseArgs } from 'node:util'
import { parse } from 'csv-parse/sync'
import { parseCsv } from '../../src/read-csv.js'
import { generate, DEFAULT_GEN, BENCH_COLUMNS } from './gen.js'
import type { ColumnConfig } from '../../src/config.js'
import { parseType } from '../../src/config.js'

const { values } = parseArgs({
  options: {
    changes: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
  },
})
const dir = join(tmpdir(), `cdc-apply-bench-csv-${values.changes}`)
generate({ ...DEFAULT_GEN, dir, changes: Number(values.changes), keys: Math.max(1000, Number(values.changes) / 5) })
const folder = join(dir, 'bench', 'orders')
const files = readdirSync(folder)
  .filter((f) => f.endsWith('.csv'))
  .map((f) => readFileSync(join(folder, f)))
const columns: ColumnConfig[] = BENCH_COLUMNS.map((c) => ({ name: c.name, type: parseType(c.type, c.name) }))
const rows = files.reduce((n, b) => n + b.toString('latin1').split('\n').length - 1, 0)
const time = (f: () => void): number => {
  const xs: number[] = []
  for (let r = 0; r < Number(values.rounds); r++) {
    const t0 = performance.now()
    f()
    xs.push(performance.now() - t0)
  }
  return xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
}
const ours = time(() => {
  for (const b of files)
    parseCsv(b, { label: 'BENCH.orders', key: 'f', columns, hasOp: true, header: false, opColumn: 'Op' })
})
const theirs = time(() => {
  for (const b of files)
    parse(b, { cast: (v: string, ctx: { quoting: boolean }) => (v === '' && !ctx.quoting ? null : v) })
})
const result = {
  rows,
  mb: files.reduce((n, b) => n + b.length, 0) / 2 ** 20,
  cdcApplyMs: ours,
  csvParseMs: theirs,
  speedup: theirs / ours,
}
process.stdout.write(values.json ? JSON.stringify(result) + '\n' : `${JSON.stringify(result)}\n`)
