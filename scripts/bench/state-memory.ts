// What the in-memory state (KeyedState) costs per live row: reads a landing folder of the bench table (e.g. the
// scale case's cached data), applies every file in order, takes a snapshot at each date's end as a run does, and
// prints the heap and Arrow bytes the state keeps after a full GC, per live row. Nothing but the state is kept
// between files. `node --expose-gc dist-test/scripts/bench/state-memory.js --landing <cache>/scale-…/landing`
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { KeyedState } from '../../src/apply.js'
import { parseConfig } from '../../src/config.js'
import { parseDmsName } from '../../src/discover.js'
import { readFile } from '../../src/read.js'
import { benchConfig } from './gen.js'

const { values } = parseArgs({ options: { landing: { type: 'string' }, json: { type: 'boolean', default: false } } })
if (!values.landing) throw new Error('--landing <folder with bench/orders/> is required')
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with node --expose-gc')
const cfg = parseConfig(benchConfig(values.landing, '/nonexistent', 'csv'), process.cwd())
const table = cfg.tables[0]!
const dir = join(values.landing, 'bench', 'orders')
const files = readdirSync(dir)
  .map((n) => parseDmsName(`bench/orders/${n}`, { format: 'csv', label: 'BENCH.orders' })!)
  .sort((a, b) => (a.orderKey < b.orderKey ? -1 : 1))

const used = async (): Promise<{ heap: number; arrow: number }> => {
  // array buffers are freed after the GC that finds them dead, off the main thread: wait, then collect again
  gc()
  await new Promise((r) => setTimeout(r, 300))
  gc()
  const m = process.memoryUsage()
  return { heap: m.heapUsed, arrow: m.arrayBuffers }
}
const before = await used()
let state: KeyedState | undefined
let date = ''
const samples: object[] = []
const t0 = performance.now()
const sample = async (at: string): Promise<void> => {
  const m = await used()
  const n = state!.size
  const s = {
    at,
    liveRows: n,
    tombstones: state!.tombstones.size,
    heapMB: (m.heap - before.heap) / 2 ** 20,
    arrowMB: (m.arrow - before.arrow) / 2 ** 20,
    heapBytesPerRow: (m.heap - before.heap) / n,
    arrowBytesPerRow: (m.arrow - before.arrow) / n,
    seconds: (performance.now() - t0) / 1000,
  }
  samples.push(s)
  if (!values.json) process.stderr.write(JSON.stringify(s) + '\n')
}
for (const f of files) {
  const d = f.kind === 'load' ? '' : f.date
  if (state && d !== date && date !== '') {
    state.snapshot()
    await sample(`snapshot ${date}`)
  }
  if (d !== '') date = d
  const bytes = readFileSync(join(dir, f.name))
  const r = readFile(table, { ...f, size: statSync(join(dir, f.name)).size }, bytes, state?.schema)
  state ??= new KeyedState(r.schema)
  for (const b of r.batches) state.apply(b)
  if (f.kind === 'load' && f === files.filter((x) => x.kind === 'load').at(-1)) await sample('full load applied')
}
state!.snapshot()
await sample(`snapshot ${date}`)
if (values.json) process.stdout.write(JSON.stringify(samples) + '\n')
