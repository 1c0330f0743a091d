// The cost of one Iceberg commit of --changes changes (90% updates, 10% deletes) on a table of --rows live rows:
// merge-on-read (what cdc-apply commits now: a data file with the new rows and a position-delete file) against a
// full overwrite of the same state (what every commit wrote before merge-on-read, and what a rebuilt state still
// writes). Bytes written are the sizes of the files the commit added under curated (data, deletes, manifests,
// manifest list, metadata). `npm run bench:iceberg -- --rows 1000000 --changes 1000`.
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { parseConfig } from '../../src/config.js'
import { runOnce } from '../../src/run.js'
import { IcebergSink, storeUri } from '../../src/iceberg-sink.js'
import { LocalStore } from '../../src/store/local-store.js'
import { IcebergTable } from '../../src/iceberg/table.js'
import * as A from 'apache-arrow'
import { utf8Column } from '../../src/arrow/gather.js'
import { benchConfig } from './gen.js'

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    changes: { type: 'string', default: '1000' },
    json: { type: 'boolean', default: false },
  },
})
const rows = Number(values.rows)
const changes = Number(values.changes)
const dir = join(tmpdir(), `cdc-apply-iceberg-commit-${rows}`)
rmSync(dir, { recursive: true, force: true })
const table = join(dir, 'landing', 'bench', 'orders')
mkdirSync(table, { recursive: true })

const row = (op: string, ts: string, id: number, i: number): string =>
  op === 'D'
    ? `D,${ts},${id},,,,,,,,`
    : `${op},${ts},${id},${i % 1000},${i % 100000}.25,C${i % 50},Name ${i % 977},"note, ${i}",delhi,${(i % 10000) / 100},2021-01-0${1 + (i % 9)}`
const load: string[] = []
for (let id = 0; id < rows; id++) load.push(row('I', '2024-06-10 08:00:00.000000', id, id))
writeFileSync(join(table, 'LOAD00000001.csv'), load.join('\n') + '\n')
load.length = 0

const cfg = parseConfig({ ...benchConfig(join(dir, 'landing'), join(dir, 'out'), 'csv'), tableFormat: 'iceberg' }, dir)
const curated = join(dir, 'out', 'curated')

function sizes(): Map<string, number> {
  const out = new Map<string, number>()
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n)
      const s = statSync(p)
      if (s.isDirectory()) walk(p)
      else out.set(p, s.size)
    }
  }
  walk(curated)
  return out
}
function written(before: Map<string, number>): { bytes: number; files: number } {
  let bytes = 0
  let files = 0
  for (const [p, n] of sizes()) {
    if (before.get(p) === n) continue
    bytes += n
    files++
  }
  return { bytes, files }
}

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now()
  const value = await f()
  return { ms: Math.round(performance.now() - t0), value }
}

const load1 = await timed(() => runOnce(cfg))
if (load1.value.tables[0]!.status !== 'ok') throw new Error(String(load1.value.tables[0]!.error))

// One change on the next date closes the load date (the first run past it redoes the load date whole, by design);
// the measured change file comes on the date after, so its run restores the state from a tag (a cold run).
writeFileSync(join(table, '20240611-100000000.csv'), row('U', '2024-06-11 10:00:00.000000', 0, 1) + '\n')
const pass = await runOnce(cfg)
if (pass.tables[0]!.status !== 'ok') throw new Error(String(pass.tables[0]!.error))
const lines: string[] = []
for (let i = 0; i < changes; i++)
  lines.push(row(i % 10 === 9 ? 'D' : 'U', '2024-06-12 10:00:00.000000', (i * 104729) % rows, i + 7))
writeFileSync(join(table, '20240612-100000000.csv'), lines.join('\n') + '\n')
let before = sizes()
const mor = await timed(() => runOnce(cfg))
if (mor.value.tables[0]!.status !== 'ok') throw new Error(String(mor.value.tables[0]!.error))
const morBytes = written(before)

// The same state committed as a full overwrite (the commit before merge-on-read), timed from the table's rows.
const store = new LocalStore(curated)
const ice = await IcebergTable.open(store, 'BENCH/orders', `${storeUri(store)}/BENCH/orders`, 'BENCH.orders')
const state = (await ice.read('main'))!
before = sizes()
const sink = new IcebergSink(cfg, store, 'BENCH/orders', 'BENCH.orders')
const overwrite = await timed(() =>
  sink.start('20240613', state, true, true).put({ lpf: '20240612-100000000', fullLoad: true }),
)
const overwriteBytes = written(before)

// The commit alone, merge-on-read, on the same sink (its index is the overwrite's): the first changes/10 rows
// deleted, the next 9·changes/10 updated (a new version each, named by another change file).
const del = Math.floor(changes / 10)
const fi = state.schema.fields.findIndex((f) => f.name === 'cdc_file')
const upd = state.slice(del, changes).batches.map((b) => {
  const children = b.data.children.map((c, i) =>
    i === fi ? utf8Column(new Array<string>(b.numRows).fill('20240613-100000000.csv')) : c,
  )
  return new A.RecordBatch(
    state.schema,
    A.makeData({ type: new A.Struct(state.schema.fields), length: b.numRows, nullCount: 0, children }),
  )
})
const next = new A.Table(state.schema, [...state.slice(changes).batches, ...upd])
before = sizes()
const commit = await timed(() =>
  sink.start('20240614', next, true, false).put({ lpf: '20240613-100000000', fullLoad: true }),
)
const commitBytes = written(before)

const result = {
  liveRows: state.numRows,
  changes,
  loadRunMs: load1.ms,
  mergeOnRead: {
    runMs: mor.ms,
    bytes: morBytes.bytes,
    files: morBytes.files,
    commitMs: commit.ms,
    commitBytes: commitBytes.bytes,
  },
  overwrite: { commitMs: overwrite.ms, bytes: overwriteBytes.bytes, files: overwriteBytes.files },
  loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
}
process.stdout.write(
  values.json
    ? JSON.stringify(result) + '\n'
    : `iceberg commit of ${changes} changes on ${state.numRows} rows: ${JSON.stringify(result)}\n`,
)
rmSync(dir, { recursive: true, force: true })
