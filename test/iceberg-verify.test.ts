// verify on curated Iceberg tables: the curated side is each date tag d<YYYYMMDD> (and the live table when it is
// not the newest tag's snapshot), read by cdc-apply's own reader with the position deletes applied; RAW mode and
// --against must give the verdicts the plain layout gets for the same input, and a tampered data file is found.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { verify } from '../src/check/verify.js'
import { LocalStore } from '../src/store/local-store.js'
import { IcebergTable } from '../src/iceberg/table.js'
import { storeUri } from '../src/iceberg-sink.js'
import { generate, benchConfig, DEFAULT_GEN } from '../scripts/bench/gen.js'
import { parquetRows, sortRows, tempDir } from './helpers/outputs.js'
import { tableRows } from './helpers/iceberg-cases.js'
import { snapshotAsOf } from '../src/check/snapshot.js'

const tmp = tempDir('cdc-iceberg-verify-')
test.after(tmp.remove)

const src = join(tmp.path, 'src')
const gen = generate({ ...DEFAULT_GEN, dir: src, changes: 1200, keys: 200, rowsPerFile: 200, dates: 3 })

async function twin(name: string, iceberg: object = {}): Promise<{ plain: Config; ice: Config }> {
  const dir = join(tmp.path, name)
  const landing = join(dir, 'landing')
  for (const f of gen.files) {
    mkdirSync(dirname(join(landing, f.key)), { recursive: true })
    copyFileSync(join(src, f.key), join(landing, f.key))
  }
  const cfg = (format: string, extra: object): Config =>
    parseConfig({ ...benchConfig(landing, join(dir, format), 'csv'), tableFormat: format, ...extra }, dir)
  const plain = cfg('parquet', {})
  const ice = cfg('iceberg', { iceberg })
  for (const c of [plain, ice]) assert.equal((await runOnce(c)).tables[0]!.status, 'ok')
  return { plain, ice }
}

function openIce(c: Config): Promise<IcebergTable> {
  const store = new LocalStore(c.curated)
  return IcebergTable.open(store, 'BENCH/orders', `${storeUri(store)}/BENCH/orders`, 'BENCH.orders')
}

test('verify reads an Iceberg table: every date tag is compared with RAW, equal as the plain layout of the same input, with merge-on-read deletes applied', async () => {
  const { plain, ice } = await twin('equal', { compactDeleteShare: 1 })
  const table = await openIce(ice)
  assert.ok((await table.files(table.current()!)).deletes.length > 0, 'the table has position deletes to apply')
  const [p, i] = [await verify(plain, { record: false }), await verify(ice, { record: false })]
  assert.equal(p.verdict, 'equal')
  assert.equal(
    i.verdict,
    'equal',
    JSON.stringify(i.tables[0]!.error ?? i.tables[0]!.dates.filter((d) => d.verdict !== 'equal')),
  )
  const tags = Object.keys(table.meta!.refs).filter((r) => r !== 'main')
  assert.deepEqual(
    i.tables[0]!.dates.map((d) => d.ref),
    tags.sort(),
    'one check per date tag (main is the newest tag: not read twice)',
  )
  const strip = (r: typeof p): unknown =>
    r.tables[0]!.dates.map((d) => ({ date: d.date, expected: d.expectedRows, curated: d.curatedRows }))
  assert.deepEqual(strip(i), strip(p), 'the same rows per date as the plain layout')
  assert.deepEqual(i.tables[0]!.columns, p.tables[0]!.columns)

  // --against: the newest tag compared with an extract (the plain layout's newest folder)
  const last = p.tables[0]!.dates.at(-1)!.date
  const against = join(plain.curated, 'BENCH', 'orders', last)
  const a = await verify(ice, { record: false, against })
  assert.equal(a.verdict, 'equal', JSON.stringify(a.tables[0]!.error))
  assert.equal(a.tables[0]!.dates[0]!.date, last)
})

test('verify on an Iceberg table finds a tampered data file (a value changed) at every tag that reads it, and the live table when main is not the newest tag', async () => {
  const { ice } = await twin('tampered', { compactDeleteShare: 1 })
  const table = await openIce(ice)
  // the load's data file is read by every tag: change one value of a row that is live in each
  const first = table.meta!.snapshots[0]!
  const file = (await table.files(first)).data[0]!.data_file.file_path
  const path = fileURLToPath(file)
  const t = A.tableFromIPC(pw.readParquet(readFileSync(path)).intoIPCStream())
  const rows = t.toArray().map((r) => ({ ...(r as object) }) as Record<string, unknown>)
  const col = t.schema.fields.find((f) => A.DataType.isUtf8(f.type) && !f.name.startsWith('cdc_'))!.name
  // the row of the key changed last of all: still live at every date? take the row the newest tag holds unchanged
  const live = new Set(
    (await table.read('main'))!
      .toArray()
      .map(
        (r) =>
          `${String((r as Record<string, unknown>)['cdc_file'])}#${String((r as Record<string, unknown>)['cdc_row'])}`,
      ),
  )
  const at = rows.findIndex((r) => live.has(`${String(r['cdc_file'])}#${String(r['cdc_row'])}`))
  assert.ok(at >= 0, 'a load row is live in the newest snapshot')
  const values = rows.map((r, i) => (i === at ? 'TAMPERED' : (r[col] as string | null)))
  const cols: Record<string, A.Vector> = {}
  for (const f of t.schema.fields)
    cols[f.name] = f.name === col ? A.vectorFromArray(values, new A.Utf8()) : t.getChild(f.name)!
  const changed = new A.Table(
    new A.Schema(t.schema.fields),
    new A.Table(cols).batches.map((b) => new A.RecordBatch(new A.Schema(t.schema.fields), b.data)),
  )
  writeFileSync(path, pw.writeParquet(pw.Table.fromIPCStream(A.tableToIPC(changed, 'stream'))))

  const r = await verify(ice, { record: false })
  assert.equal(r.verdict, 'mismatch')
  const dates = r.tables[0]!.dates
  assert.ok(dates.length > 0 && dates.every((d) => d.verdict === 'mismatch' && d.differ === 1), JSON.stringify(dates))
  assert.deepEqual(
    dates[0]!.differing[0]!.columns.map((c) => c.column),
    [col],
  )
})

test('snapshot --as-of on an Iceberg table: as of the LPF of each date tag it writes the rows of that tag (and names that snapshot), and what the plain layout of the same input gives', async () => {
  const { plain, ice } = await twin('as-of', { compactDeleteShare: 1 })
  const table = await openIce(ice)
  const tags = Object.keys(table.meta!.refs).filter((r) => r !== 'main')
  assert.ok(tags.length >= 3)
  for (const tag of tags) {
    const lpf = table.snapshot(tag)!.summary['cdc-apply.lpf']!
    const got: Record<string, unknown> = {}
    for (const [name, c] of [
      ['iceberg', ice],
      ['plain', plain],
    ] as const) {
      const out = join(tmp.path, 'as-of', `${name}-${tag}.parquet`)
      const r = await snapshotAsOf(c, { table: 'BENCH.orders', asOf: lpf, out })
      assert.equal(r.kind, 'file')
      if (name === 'plain') assert.equal(r.iceberg, undefined)
      else {
        // the snapshot whose cdc-apply.lpf is the file holds these rows: the result names it and its refs
        assert.equal(r.iceberg?.snapshotId, table.snapshot(tag)!['snapshot-id'], tag)
        assert.ok(r.iceberg.refs.includes(tag), r.iceberg.refs.join(','))
      }
      got[name] = sortRows(parquetRows(readFileSync(out)))
    }
    assert.deepEqual(got['iceberg'], got['plain'], `${tag} (${lpf}): as the plain layout`)
    assert.deepEqual(got['iceberg'], tableRows((await table.read(tag))!), `${tag} (${lpf}): the tag's rows`)
  }
})
