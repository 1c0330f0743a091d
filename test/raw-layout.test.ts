// RAW follows tableFormat: a tableFormat "iceberg" table has its RAW as an Iceberg table by default (iceberg.raw
// defaults to true, false opts out), and a table whose RAW is still date folders from an earlier run (no RAW Iceberg
// metadata, a watermark past its full load) is refused with CDC_RAW_LAYOUT_CHANGED before anything is written, never
// continued in a second RAW layout; with iceberg.raw false it goes on with its folders, and a reprocess moves it.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseConfig } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { resetTable } from '../src/reset.js'
import { exitCodeFor } from '../src/errors.js'
import { tempDir } from './helpers/outputs.js'

const tmp = tempDir('cdc-raw-layout-')
test.after(tmp.remove)

function put(name: string, lines: string[], mtime: string): void {
  const p = join(tmp.path, 'landing', 'shop/items', name)
  mkdirSync(dirname(p), { recursive: true })
  writeFileSync(p, lines.join('\n') + '\n')
  utimesSync(p, new Date(mtime), new Date(mtime))
}

function config(iceberg?: Record<string, unknown>): ReturnType<typeof parseConfig> {
  return parseConfig(
    {
      source: 'S',
      landing: join(tmp.path, 'landing'),
      raw: join(tmp.path, 'raw'),
      curated: join(tmp.path, 'curated'),
      state: join(tmp.path, 'state.sqlite'),
      settleSeconds: 0,
      tableFormat: 'iceberg',
      ...(iceberg ? { iceberg } : {}),
      tables: [
        {
          name: 'items',
          path: 'shop/items',
          includeOpForFullLoad: true,
          columns: [{ name: 'id', type: 'integer' }, { name: 'name' }],
          primaryKey: ['id'],
        },
      ],
    },
    tmp.path,
  )
}

function ok(s: Awaited<ReturnType<typeof runOnce>>): void {
  const e = s.tables[0]!.error
  assert.equal(e, undefined, e?.message)
}

const rawDir = (): string[] => readdirSync(join(tmp.path, 'raw', 'S', 'items')).sort()

test('iceberg.raw defaults to true under tableFormat "iceberg", false keeps it out', () => {
  assert.equal(config().iceberg.raw, true)
  assert.equal(config({ raw: false }).iceberg.raw, false)
})

test('RAW date folders of an earlier run are refused (CDC_RAW_LAYOUT_CHANGED), kept with iceberg.raw false, moved by a reprocess', async () => {
  put('LOAD00000001.csv', ['I,1,apple', 'I,2,pear'], '2024-06-10T08:00:00Z')
  put('20240610-100000000.csv', ['U,1,apple v2'], '2024-06-10T10:00:00Z')
  put('20240611-100000000.csv', ['I,3,plum'], '2024-06-11T10:00:00Z')
  // as an earlier version (or iceberg.raw false) ran it: RAW date folders
  let s = await runOnce(config({ raw: false }))
  ok(s)
  assert.deepEqual(rawDir(), ['20240610', '20240611'])
  // the default now: refused before anything is read or written
  put('20240612-100000000.csv', ['D,2,'], '2024-06-12T10:00:00Z')
  s = await runOnce(config())
  const err = s.tables[0]!.error as (Error & { code?: string; hint?: string }) | undefined
  assert.equal(err?.code, 'CDC_RAW_LAYOUT_CHANGED', err?.message)
  assert.match(err!.message, /table S\.items: its RAW .*S\/items is Parquet date folders \(20240610, …\)/)
  assert.match(err!.hint ?? '', /cdc-apply reset --table S\.items --yes.*"raw": false/)
  assert.equal(exitCodeFor(err), 2)
  assert.deepEqual(rawDir(), ['20240610', '20240611'], 'no second RAW layout was started')
  // the opt-out goes on with the folders
  s = await runOnce(config({ raw: false }))
  ok(s)
  assert.deepEqual(rawDir(), ['20240610', '20240611', '20240612'])
  // a reprocess moves RAW to an Iceberg table, which later runs continue
  await resetTable(config(), 'S.items')
  s = await runOnce(config())
  ok(s)
  assert.ok(
    ['data', 'metadata'].every((d) => rawDir().includes(d)),
    rawDir().join(', '),
  )
  put('20240613-100000000.csv', ['I,4,fig'], '2024-06-13T10:00:00Z')
  s = await runOnce(config())
  ok(s)
  assert.ok(existsSync(join(tmp.path, 'raw', 'S', 'items', 'data', 'partition_0=20240613')))
})
