// Merge-on-read Iceberg commits: a commit that changes a few keys of a larger table writes one data file with the
// new rows and one position-delete file for the superseded and deleted ones (its size follows the change, not the
// table), every tag still equals the plain layout, and compaction rewrites the rows into fresh files as a replace
// snapshot once the deleted share passes iceberg.compactDeleteShare.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { LocalStore } from '../src/store/local-store.js'
import { IcebergTable } from '../src/iceberg/table.js'
import { storeUri } from '../src/iceberg-sink.js'
import { benchConfig } from '../scripts/bench/gen.js'
import { readOutputTree, tempDir } from './helpers/outputs.js'
import { tableRows } from './helpers/iceberg-cases.js'

const tmp = tempDir('cdc-iceberg-mor-')
test.after(tmp.remove)

const ROWS = 3000
const row = (op: string, ts: string, id: number, i: number): string =>
  op === 'D'
    ? `D,${ts},${id},,,,,,,,`
    : `${op},${ts},${id},${i % 1000},${i % 100000}.25,C${i % 50},Name ${i % 977},"note, ${i}",delhi,${(i % 10000) / 100},2021-01-0${1 + (i % 9)}`

/** A load of ROWS keys, then one change file per date from 2024-06-11 with `changes` changes (every 10th a delete, a few inserts). */
function landing(dir: string, dates: number, changes: number): string {
  const table = join(dir, 'landing', 'bench', 'orders')
  mkdirSync(table, { recursive: true })
  const load: string[] = []
  for (let id = 0; id < ROWS; id++) load.push(row('I', '2024-06-10 08:00:00.000000', id, id))
  writeFileSync(join(table, 'LOAD00000001.csv'), load.join('\n') + '\n')
  for (let d = 0; d < dates; d++) {
    const day = `2024-06-${11 + d}`
    const lines: string[] = []
    for (let i = 0; i < changes; i++) {
      const op = i % 10 === 9 ? 'D' : i % 10 === 4 ? 'I' : 'U'
      lines.push(
        row(
          op,
          `${day} 10:00:00.${String(i).padStart(6, '0')}`,
          op === 'I' ? ROWS + d * changes + i : (d * 7919 + i * 104729) % ROWS,
          i + d,
        ),
      )
    }
    writeFileSync(join(table, `${day.replaceAll('-', '')}-100000000.csv`), lines.join('\n') + '\n')
  }
  return join(dir, 'landing')
}

function config(dir: string, land: string, format: 'parquet' | 'iceberg', extra: object = {}): Config {
  return parseConfig({ ...benchConfig(land, join(dir, format), 'csv'), tableFormat: format, ...extra }, dir)
}

async function open(c: Config): Promise<IcebergTable> {
  const store = new LocalStore(c.curated)
  return IcebergTable.open(store, 'BENCH/orders', `${storeUri(store)}/BENCH/orders`, 'BENCH.orders')
}

/** Runs the landing in both formats (one run per date's file arrival is not needed: one run commits a snapshot per date). */
async function twin(
  name: string,
  dates: number,
  changes: number,
  extra: object = {},
): Promise<{ ice: IcebergTable; plain: Record<string, unknown> }> {
  const dir = join(tmp.path, name)
  const land = landing(dir, dates, changes)
  const plain = config(dir, land, 'parquet')
  const iceberg = config(dir, land, 'iceberg', extra)
  for (const c of [plain, iceberg]) {
    const s = await runOnce(c)
    assert.equal(s.tables[0]!.status, 'ok', String(s.tables[0]!.error))
  }
  return { ice: await open(iceberg), plain: readOutputTree(plain.curated) }
}

async function assertTags(ice: IcebergTable, plain: Record<string, unknown>): Promise<void> {
  const dates = Object.keys(plain)
    .map((k) => k.split('/').at(-1)!)
    .sort()
  assert.deepEqual(
    Object.keys(ice.meta!.refs)
      .filter((r) => r !== 'main')
      .sort(),
    dates.map((d) => `d${d}`),
  )
  for (const d of dates)
    assert.deepEqual(tableRows((await ice.read(`d${d}`))!), plain[`BENCH/orders/${d}`], `tag d${d}`)
  assert.deepEqual(tableRows((await ice.read('main'))!), plain[`BENCH/orders/${dates.at(-1)}`], 'the live table')
}

test('a commit of 30 changes on a 3000-row table adds one data file of the new rows and one position-delete file; every tag equals the plain layout', async () => {
  const { ice, plain } = await twin('mor', 3, 30)
  await assertTags(ice, plain)
  const snaps = ice.meta!.snapshots
  const merges = snaps.filter((s) => s.summary['cdc-apply.date']! > '20240610')
  assert.equal(merges.length, 3, 'one snapshot per change date')
  const first = snaps.find((s) => s.summary['cdc-apply.date'] === '20240610')!
  for (const s of merges) {
    const sum = s.summary
    assert.equal(sum.operation, 'overwrite', `${sum['cdc-apply.date']}: merge-on-read adds rows and deletes positions`)
    assert.equal(sum['added-data-files'], '1')
    assert.equal(sum['added-position-delete-files'], '1')
    assert.equal(sum['deleted-data-files'], '0', 'no data file is removed')
    // 30 changes: 3 inserts, 24 updates, 3 deletes; the updates and deletes supersede live rows
    assert.equal(sum['added-records'], '27')
    assert.equal(sum['added-position-deletes'], '27')
    assert.ok(
      Number(sum['added-files-size']) * 5 < Number(first.summary['added-files-size']),
      `${sum['cdc-apply.date']}: the commit writes far less than the table (${sum['added-files-size']} vs ${first.summary['added-files-size']} bytes)`,
    )
  }
  // the delete files apply only to older data files: sequence numbers increase, each delete after what it deletes
  const live = await ice.files(ice.current()!)
  assert.equal(live.data.length, 4)
  assert.equal(live.deletes.length, 3)
  for (const d of live.deletes) {
    const target = live.data.find((e) => e.data_file.file_path === d.data_file.referenced_data_file)
    if (target) assert.ok(target.sequence_number! < d.sequence_number!)
  }
  assert.equal(ice.current()!.summary['total-records'], String(ROWS + 3 * 27))
})

test('past iceberg.compactDeleteShare a merge commit is followed by a replace snapshot of the same rows, without delete files, carrying the date tag', async () => {
  const { ice, plain } = await twin('compact', 3, 30, { iceberg: { compactDeleteShare: 0.015 } })
  await assertTags(ice, plain)
  const ops = ice.meta!.snapshots.map((s) => `${s.summary['cdc-apply.date']}:${s.summary.operation}`)
  // 27 deleted positions of ~3000 (0.9%) stay below 1.5%; after the second date (1.8%) the table is compacted
  assert.deepEqual(ops, [
    '20240610:append',
    '20240611:overwrite',
    '20240612:overwrite',
    '20240612:replace',
    '20240613:overwrite',
  ])
  const replace = ice.meta!.snapshots[3]!
  assert.equal(
    ice.meta!.refs['d20240612']!['snapshot-id'],
    replace['snapshot-id'],
    'the tag moved to the compacted snapshot',
  )
  assert.equal(replace.summary['total-delete-files'], '0')
  assert.equal(replace.summary['total-data-files'], '1')
  assert.equal(
    replace.summary['cdc-apply.lpf'],
    ice.meta!.snapshots[2]!.summary['cdc-apply.lpf'],
    'the replace snapshot carries the watermark of the commit it compacts',
  )
  assert.deepEqual(
    config(tmp.path, 'x', 'iceberg').iceberg,
    {
      compactDeleteShare: 0.25,
      compactDataFiles: 100,
      keepSnapshots: 10,
      keepMetadataVersions: 100,
      orphanMinAgeSeconds: 3600,
      raw: true,
    },
    'the defaults',
  )
})

test('snapshot expiry removes the snapshots no ref names beyond iceberg.keepSnapshots and deletes the files only they referenced; every tag still reads', async () => {
  const { ice, plain } = await twin('expire', 3, 30, { iceberg: { compactDeleteShare: 0.015, keepSnapshots: 1 } })
  await assertTags(ice, plain)
  // the merge snapshot of 2024-06-12 lost its tag to the replace snapshot that compacted it: it is the one expired
  const ops = ice.meta!.snapshots.map((s) => `${s.summary['cdc-apply.date']}:${s.summary.operation}`)
  assert.deepEqual(ops, ['20240610:append', '20240611:overwrite', '20240612:replace', '20240613:overwrite'])
  assert.ok(
    !ice.meta!['snapshot-log'].some((e) => !ice.meta!.snapshots.some((s) => s['snapshot-id'] === e['snapshot-id'])),
    'the snapshot log names kept snapshots only',
  )
  const replace = ice.meta!.snapshots[2]!
  const expiredId = replace['parent-snapshot-id']!
  assert.ok(!ice.meta!.snapshots.some((s) => s['snapshot-id'] === expiredId))
  // its files were written as data/20240612-00003-…: the data file and the delete file are gone, the manifest list too
  const dataDir = join(tmp.path, 'expire', 'iceberg', 'curated', 'BENCH', 'orders')
  const path = (uri: string): string => fileURLToPath(uri)
  const live = new Set<string>()
  for (const s of ice.meta!.snapshots) {
    const f = await ice.files(s)
    for (const e of [...f.data, ...f.deletes]) live.add(e.data_file.file_path)
    assert.ok(existsSync(path(s['manifest-list'])), 'kept snapshots keep their manifest lists')
  }
  for (const p of live) assert.ok(existsSync(path(p)), `a file a kept snapshot reads is kept: ${p}`)
  const { readdirSync } = await import('node:fs')
  const files = readdirSync(join(dataDir, 'data'))
  assert.deepEqual(
    files.filter((f) => f.startsWith('20240612-00003-')),
    [],
    "the expired snapshot's data and delete files were deleted",
  )
  assert.ok(
    !readdirSync(join(dataDir, 'metadata')).some((f) => f.startsWith(`snap-${expiredId}-`)),
    'and its manifest list',
  )
})
