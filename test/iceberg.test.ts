// tableFormat "iceberg": the curated Iceberg table of every golden case that succeeds, and of seeded oracle
// streams, holds at each date tag what the plain layout holds in that date's folder (read back with cdc-apply's own
// reader; test/iceberg-readers.test.ts reads them with pyiceberg and Spark). Its metadata is checked against the
// Iceberg spec's required fields (format-version 2), and the config key is parsed as documented.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import avro from 'avsc'
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import { decodeManifest, decodeManifestList } from '../src/iceberg/avro.js'
import { columnValues } from '../src/arrow/values.js'
import { parseConfig } from '../src/config.js'
import { ConfigError } from '../src/errors.js'
import { StateStore } from '../src/state/index.js'
import { verify } from '../src/check/verify.js'
import { catalogEntries } from '../src/steps/catalog.js'
import { fileURLToPath } from 'node:url'
import {
  openIceberg,
  plainDates,
  runCase,
  runStream,
  succeedingCases,
  tableRows,
  type TwinRun,
} from './helpers/iceberg-cases.js'
import { tempDir } from './helpers/outputs.js'
import { seeds } from './helpers/random.js'

const CASES = fileURLToPath(new URL('../../fixtures/cases/', import.meta.url))
const tmp = tempDir('cdc-iceberg-')
test.after(tmp.remove)

async function assertSameAsPlain(run: TwinRun): Promise<void> {
  for (const table of run.tables) {
    const plain = plainDates(run, table)
    const ice = await openIceberg(run, table)
    const tags = Object.keys(ice.meta?.refs ?? {})
      .filter((r) => r !== 'main')
      .sort()
    assert.deepEqual(
      tags,
      Object.keys(plain)
        .sort()
        .map((d) => `d${d}`),
      `${run.name} ${table}: one tag per curated date`,
    )
    for (const [date, rows] of Object.entries(plain)) {
      assert.deepEqual(
        tableRows((await ice.read(`d${date}`))!),
        rows,
        `${run.name} ${table}: tag d${date} differs from the plain folder ${date}/`,
      )
    }
    const newest = Object.keys(plain).sort().at(-1)
    if (newest)
      assert.deepEqual(
        tableRows((await ice.read('main'))!),
        plain[newest],
        `${run.name} ${table}: the live table (main) differs from the newest date ${newest}`,
      )
  }
}

for (const name of succeedingCases()) {
  test(`golden case ${name}: every date tag and the live Iceberg table equal the plain layout`, async () => {
    await assertSameAsPlain(await runCase(name, join(tmp.path, name)))
  })
}

for (const seed of seeds(4)) {
  test(`oracle stream seed ${seed}, three arrivals: every date tag and the live table equal the plain layout`, async () => {
    await assertSameAsPlain(await runStream(seed, join(tmp.path, `seed-${seed}`)))
  })
}

// ---- the metadata against the spec (format/spec.md: table metadata, manifest lists, manifests; v2 columns)

const REQUIRED_METADATA: Record<string, string> = {
  'format-version': 'number',
  'table-uuid': 'string',
  location: 'string',
  'last-sequence-number': 'number',
  'last-updated-ms': 'number',
  'last-column-id': 'number',
  schemas: 'array',
  'current-schema-id': 'number',
  'partition-specs': 'array',
  'default-spec-id': 'number',
  'last-partition-id': 'number',
  'sort-orders': 'array',
  'default-sort-order-id': 'number',
}
/** manifest_file fields required in v2, by field id. */
const MANIFEST_LIST_IDS = {
  manifest_path: 500,
  manifest_length: 501,
  partition_spec_id: 502,
  content: 517,
  sequence_number: 515,
  min_sequence_number: 516,
  added_snapshot_id: 503,
  added_files_count: 504,
  existing_files_count: 505,
  deleted_files_count: 506,
  added_rows_count: 512,
  existing_rows_count: 513,
  deleted_rows_count: 514,
}
const MANIFEST_ENTRY_IDS = { status: 0, snapshot_id: 1, sequence_number: 3, file_sequence_number: 4, data_file: 2 }
const DATA_FILE_IDS = {
  content: 134,
  file_path: 100,
  file_format: 101,
  partition: 102,
  record_count: 103,
  file_size_in_bytes: 104,
}

function kind(v: unknown): string {
  return Array.isArray(v) ? 'array' : typeof v
}

function avroHeader(file: string): Promise<{
  schema: { fields: { name: string; 'field-id'?: number; type: unknown }[] }
  meta: Record<string, string>
}> {
  return new Promise((resolve, reject) => {
    const dec = avro.createFileDecoder(file)
    dec.on('metadata', (_t: unknown, _c: unknown, h: { meta: Record<string, Buffer> }) => {
      const meta = Object.fromEntries(Object.entries(h.meta).map(([k, v]) => [k, v.toString()]))
      resolve({ schema: JSON.parse(meta['avro.schema']!), meta })
      dec.destroy()
    })
    dec.on('error', reject)
  })
}

function ids(fields: { name: string; 'field-id'?: number }[]): Record<string, number | undefined> {
  return Object.fromEntries(fields.map((f) => [f.name, f['field-id']]))
}

test('the metadata has the fields the Iceberg v2 spec requires, and manifests carry the spec field ids', async () => {
  const run = await runCase('daily-runs', join(tmp.path, 'spec-daily-runs'))
  for (const table of run.tables) {
    const dir = join(run.iceberg, table, 'metadata')
    const versions = readdirSync(dir)
      .filter((f) => /^v\d+\.metadata\.json$/.test(f))
      .map((f) => Number(/\d+/.exec(f)![0]))
      .sort((a, b) => a - b)
    assert.deepEqual(
      versions,
      versions.map((_, i) => i + 1),
      'versions are 1..N without gaps',
    )
    assert.equal(readFileSync(join(dir, 'version-hint.text'), 'utf8'), String(versions.at(-1)))
    let lastSeq = 0
    for (const v of versions) {
      const m = JSON.parse(readFileSync(join(dir, `v${v}.metadata.json`), 'utf8')) as Record<string, any>
      for (const [k, t] of Object.entries(REQUIRED_METADATA)) assert.equal(kind(m[k]), t, `v${v}: ${k} must be a ${t}`)
      assert.equal(m['format-version'], 2)
      assert.ok(m['last-sequence-number'] >= lastSeq, 'last-sequence-number never goes back')
      lastSeq = m['last-sequence-number']
      assert.ok(
        m.schemas.some((s: any) => s['schema-id'] === m['current-schema-id']),
        'current-schema-id names a schema',
      )
      for (const s of m.schemas) {
        assert.equal(s.type, 'struct')
        for (const f of s.fields)
          assert.ok(
            Number.isInteger(f.id) &&
              f.id <= m['last-column-id'] &&
              typeof f.required === 'boolean' &&
              typeof f.type === 'string',
            `field ${f.name}`,
          )
      }
      assert.equal(m.refs.main['snapshot-id'], m['current-snapshot-id'], 'main is the current snapshot')
      assert.equal(m.refs.main.type, 'branch')
      const snapIds = new Set(m.snapshots.map((s: any) => s['snapshot-id']))
      for (const [name, ref] of Object.entries<any>(m.refs)) {
        assert.ok(snapIds.has(ref['snapshot-id']), `ref ${name} names a kept snapshot`)
        if (name !== 'main') assert.ok(/^d\d{8}$/.test(name) && ref.type === 'tag', `ref ${name} is a date tag`)
      }
      let prevSeq = 0
      for (const s of m.snapshots) {
        assert.ok(
          s['sequence-number'] > prevSeq && s['sequence-number'] <= m['last-sequence-number'],
          'snapshot sequence numbers increase',
        )
        prevSeq = s['sequence-number']
        for (const k of ['snapshot-id', 'timestamp-ms', 'manifest-list', 'summary', 'schema-id'])
          assert.ok(s[k] !== undefined, `snapshot field ${k}`)
        assert.ok(['append', 'overwrite', 'replace', 'delete'].includes(s.summary.operation))
        assert.match(s.summary['cdc-apply.lpf'], /^\d{8}-\d{9}$/, 'the summary carries the watermark LPF')
        assert.ok(['true', 'false'].includes(s.summary['cdc-apply.full-load']), 'the summary carries FullLoad')
        // a parent may have expired (spec: snapshot expiry); a kept parent is older
        const parent = m.snapshots.find((p: any) => p['snapshot-id'] === s['parent-snapshot-id'])
        if (parent) assert.ok(parent['sequence-number'] < s['sequence-number'])
      }
    }
    const m = JSON.parse(readFileSync(join(dir, `v${versions.at(-1)}.metadata.json`), 'utf8')) as Record<string, any>
    assert.equal(m['metadata-log'].length, versions.length - 1, 'metadata-log lists every earlier version')
    for (const s of m.snapshots) {
      const list = await avroHeader(s['manifest-list'].replace(/^file:\/\//, ''))
      assert.deepEqual(
        Object.fromEntries(Object.keys(MANIFEST_LIST_IDS).map((k) => [k, ids(list.schema.fields)[k]])),
        MANIFEST_LIST_IDS,
      )
      assert.equal(list.meta['snapshot-id'], String(s['snapshot-id']))
      assert.equal(list.meta['sequence-number'], String(s['sequence-number']))
      assert.equal(list.meta['format-version'], '2')
    }
    const manifests = readdirSync(dir).filter((f) => /-m\d+\.avro$/.test(f))
    assert.ok(manifests.length > 0)
    for (const f of manifests) {
      const h = await avroHeader(join(dir, f))
      assert.deepEqual(
        Object.fromEntries(Object.keys(MANIFEST_ENTRY_IDS).map((k) => [k, ids(h.schema.fields)[k]])),
        MANIFEST_ENTRY_IDS,
      )
      const df = h.schema.fields.find((x) => x.name === 'data_file')!.type as {
        fields: { name: string; 'field-id': number }[]
      }
      assert.deepEqual(Object.fromEntries(Object.keys(DATA_FILE_IDS).map((k) => [k, ids(df.fields)[k]])), DATA_FILE_IDS)
      for (const k of ['schema', 'schema-id', 'partition-spec', 'partition-spec-id', 'format-version', 'content'])
        assert.ok(h.meta[k] !== undefined, `manifest metadata ${k}`)
      assert.equal(h.meta['format-version'], '2')
      assert.ok(['data', 'deletes'].includes(h.meta.content!))
    }
    // Each snapshot's manifests: the header's content matches the list's, entries match the manifest's content, and a
    // position delete applies only to data files of a lower sequence number (written before it).
    let deleteFiles = 0
    for (const s of m.snapshots) {
      const list = await decodeManifestList(readFileSync(s['manifest-list'].replace(/^file:\/\//, '')))
      const dataSeq = new Map<string, number>()
      const deletes: { path: string; seq: number }[] = []
      for (const mf of list) {
        const { entries, meta } = await decodeManifest(readFileSync(mf.manifest_path.replace(/^file:\/\//, '')))
        assert.equal(meta.content, mf.content === 1 ? 'deletes' : 'data', 'manifest header content matches the list')
        for (const e of entries) {
          assert.equal(
            e.data_file.content,
            mf.content === 1 ? 1 : 0,
            'a data manifest holds data files, a delete manifest position deletes',
          )
          const seq = e.sequence_number ?? mf.sequence_number
          assert.ok(seq <= s['sequence-number'], 'entries are not newer than their snapshot')
          if (e.status === 2) continue
          if (e.data_file.content === 0) dataSeq.set(e.data_file.file_path, seq)
          else deletes.push({ path: e.data_file.file_path, seq })
        }
      }
      for (const d of deletes) {
        deleteFiles++
        const t = A.tableFromIPC(pw.readParquet(readFileSync(d.path.replace(/^file:\/\//, ''))).intoIPCStream())
        assert.deepEqual(
          t.schema.fields.map((f) => [f.name, f.metadata.get('PARQUET:field_id'), f.nullable]),
          [
            ['file_path', '2147483546', false],
            ['pos', '2147483545', false],
          ],
          'position-delete schema with the reserved field ids',
        )
        for (const p of new Set(columnValues(t.getChildAt(0)!.data[0]!) as string[])) {
          const seq = dataSeq.get(p)
          if (seq !== undefined) assert.ok(seq < d.seq, 'a delete names only data files written before it')
        }
      }
    }
    assert.ok(deleteFiles > 0, 'the runs committed merge-on-read snapshots with position deletes')
  }
})

test('the snapshot that ends a date carries the watermark it was committed with', async () => {
  const run = await runCase('design-example', join(tmp.path, 'summary-design-example'))
  const ice = await openIceberg(run, run.tables[0]!)
  const main = ice.snapshot('main')!
  const state = StateStore.open(join(dirname(run.iceberg), 'state.sqlite'))
  const [source, name] = run.tables[0]!.split('/') as [string, string]
  const wm = state.get(source, name)!
  state.close()
  assert.equal(main.summary['cdc-apply.lpf'], wm.lpf)
  assert.equal(main.summary['cdc-apply.full-load'], String(wm.fullLoad))
})

test('config: tableFormat at the top level and per table, "parquet" by default; anything else is refused', () => {
  const base = { landing: 'l', raw: 'r', curated: 'c', state: 's', source: 'OP' }
  const table = (extra: object = {}): object => ({
    name: 't',
    path: 'op/t',
    columns: [{ name: 'id', type: 'integer' }],
    primaryKey: ['id'],
    ...extra,
  })
  assert.equal(parseConfig({ ...base, tables: [table()] }, '/').tables[0]!.tableFormat, 'parquet')
  const c = parseConfig(
    { ...base, tableFormat: 'iceberg', tables: [table(), table({ name: 'u', tableFormat: 'parquet' })] },
    '/',
  )
  assert.deepEqual(
    c.tables.map((t) => t.tableFormat),
    ['iceberg', 'parquet'],
  )
  assert.throws(
    () => parseConfig({ ...base, tables: [table({ tableFormat: 'delta' })] }, '/'),
    (e: unknown) => e instanceof ConfigError && e.code === 'CDC_CONFIG_INVALID' && /tableFormat/.test(e.message),
  )
})

test('verify reads a curated Iceberg table (every date tag equal to RAW); the steps catalog has its curated entries', async () => {
  const run = await runCase('design-example', join(tmp.path, 'guards-design-example'))
  const json = JSON.parse(readFileSync(join(CASES, 'design-example', 'cdc-apply.json'), 'utf8')) as Record<
    string,
    unknown
  >
  const config = parseConfig({ ...json, tableFormat: 'iceberg' }, join(CASES, 'design-example'))
  config.raw = join(dirname(run.iceberg), 'raw')
  config.curated = run.iceberg
  config.state = join(dirname(run.iceberg), 'state.sqlite')
  const report = await verify(config, { record: false })
  assert.ok(report.tables.length > 0)
  for (const t of report.tables) {
    assert.equal(t.verdict, 'equal', String(t.error))
    assert.ok(t.dates.length > 0 && t.dates.every((d) => d.ref === `d${d.date}`))
  }
  const curated = catalogEntries(config).filter((e) => e.zone === 'curated')
  assert.ok(
    curated.length > 0 && curated.every((e) => e.iceberg !== undefined),
    'the curated entries of Iceberg tables are read from their tags (test/iceberg-steps.test.ts)',
  )
})
