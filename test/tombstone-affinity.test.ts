// Tombstone ordering values survive the state file as given (state format 5): Ts and Seq of a non-STRICT table
// declared ANY had NUMERIC affinity, so a 35-digit $AR_H_CHANGE_SEQ came back as a REAL without its last digits.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { parseConfig } from '../src/config.js'
import { openStores, runCycle } from '../src/run.js'
import { StateStore } from '../src/state/index.js'
import type { CdcError } from '../src/errors.js'
import { DuckOracle, diffTrees } from './helpers/duckdb-oracle.js'
import { readOutputTree, tempDir } from './helpers/outputs.js'
import type { GenTable } from './helpers/dms-gen.js'

const TABLE: GenTable = {
  source: 'OP',
  name: 'items',
  path: 'op/items',
  format: 'csv',
  includeOpForFullLoad: true,
  columns: [
    { name: 'dms_commit_ts', type: 'timestamp' },
    { name: 'dms_change_seq', type: 'string' },
    { name: 'id', type: 'integer' },
    { name: 'name', type: 'string' },
  ],
  primaryKey: ['id'],
  timestampColumn: 'dms_commit_ts',
  sequenceColumn: 'dms_change_seq',
}

// Two sequences of one commit that differ only in the 35th digit: equal as doubles, ordered as text.
const SEQ_OLD = '20221234567890123456789012345600001'
const SEQ_NEW = '20221234567890123456789012345600002'

let oracle: DuckOracle
before(async () => {
  oracle = await DuckOracle.create()
})
after(() => oracle.close())

async function run(dir: string): Promise<void> {
  const config = parseConfig(
    {
      source: 'OP',
      landing: 'landing',
      raw: 'raw',
      curated: 'curated',
      state: 'state.sqlite',
      settleSeconds: 0,
      tables: [TABLE],
    },
    dir,
  )
  const state = StateStore.open(join(dir, 'state.sqlite'))
  try {
    state.lock()
    const stores = await openStores(config)
    try {
      const summary = await runCycle(config, stores, state)
      const err = summary.tables[0]?.error as CdcError | undefined
      assert.equal(err, undefined, `run failed: ${err?.code} ${err?.message}`)
    } finally {
      await Promise.all([stores.landing.close(), stores.raw.close(), stores.curated.close()])
    }
  } finally {
    state.close()
  }
}

function put(dir: string, stem: string, text: string): void {
  const p = join(dir, 'landing', 'op', 'items', `${stem}.csv`)
  mkdirSync(dirname(p), { recursive: true })
  writeFileSync(p, text)
}

test('a delete saved as a tombstone beats a later-arriving older change whose seq differs beyond double precision', async () => {
  const dir = tempDir()
  try {
    put(
      dir.path,
      'LOAD00000001',
      `I,2022-09-26 08:00:00.000000,${'1'.repeat(35)},1,first\nI,2022-09-26 08:00:00.000000,${'1'.repeat(35)},2,second\n`,
    )
    put(dir.path, '20220926-100000000', `D,2022-09-26 09:59:00.000000,${SEQ_NEW},1,\n`)
    put(
      dir.path,
      '20220927-090000000',
      `U,2022-09-27 08:59:00.000000,30221234567890123456789012345600000,2,second again\n`,
    )
    await run(dir.path)
    const db = new Database(join(dir.path, 'state.sqlite'), { readonly: true })
    try {
      assert.deepEqual(
        db.prepare('SELECT Seq, typeof(Seq) AS type FROM tombstones').all(),
        [{ Seq: SEQ_NEW, type: 'text' }],
        'the tombstone keeps its seq as text',
      )
    } finally {
      db.close()
    }
    // The older change of the same commit arrives in a later file: only the tombstone (not re-read) can reject it.
    put(dir.path, '20220928-090000000', `U,2022-09-26 09:59:00.000000,${SEQ_OLD},1,resurrected\n`)
    await run(dir.path)
    const expected = await oracle.expected(join(dir.path, 'landing'), [TABLE])
    const actual = readOutputTree(join(dir.path, 'curated'))
    const diff = diffTrees(actual, expected.curated, () => ['id'])
    assert.deepEqual(diff, [], `curated differs from the DuckDB oracle:\n${diff.join('\n')}`)
    assert.ok(!JSON.stringify(actual['OP/items/20220928']).includes('resurrected'), 'the deleted key stays deleted')
  } finally {
    dir.remove()
  }
})

const VALUES = ['20221234567890123456789012345600002', '007', '1e5', '-0', ' 12', '2022-09-26 08:00:00.000000']

test('tombstone ordering values come back from the state file identical in type and text', () => {
  const dir = tempDir()
  try {
    const path = join(dir.path, 'state.sqlite')
    const state = StateStore.open(path)
    try {
      state.lock()
      state.commit({
        watermark: { source: 'S', table: 't', fullLoad: true, lpf: '20220926-000000000', loadDate: '20220926' },
        files: [],
        tombstones: {
          upsert: [
            ...VALUES.map((v, i) => [`k${i}`, { ts: v, seq: v, file: '1:f', row: i }] as [string, never]),
            ['n', { ts: 1664179200000000, seq: null, file: '1:f', row: 9 }] as [string, never],
          ],
          remove: [],
        },
        liveRows: 0,
      } as never)
    } finally {
      state.close()
    }
    const reopened = StateStore.open(path)
    try {
      const got = new Map(reopened.tombstones('S', 't'))
      VALUES.forEach((v, i) =>
        assert.deepEqual(got.get(`k${i}`), { ts: v, seq: v, file: '1:f', row: i }, `value ${JSON.stringify(v)}`),
      )
      assert.deepEqual(got.get('n'), { ts: 1664179200000000, seq: null, file: '1:f', row: 9 })
    } finally {
      reopened.close()
    }
  } finally {
    dir.remove()
  }
})

test('migrating a format-4 file rebuilds tombstones without column types and keeps its rows', () => {
  const dir = tempDir()
  try {
    const path = join(dir.path, 'state.sqlite')
    StateStore.open(path).close()
    const db = new Database(path)
    db.exec(`DROP TABLE tombstones; CREATE TABLE tombstones (
  Source TEXT NOT NULL, TableName TEXT NOT NULL, Key TEXT NOT NULL, Ts ANY, Seq ANY, File TEXT NOT NULL, Row INTEGER NOT NULL,
  PRIMARY KEY (Source, TableName, Key)) WITHOUT ROWID`)
    db.prepare('INSERT INTO tombstones VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      'S',
      't',
      'k',
      1664179200000000,
      'seq-a',
      '1:f',
      3,
    )
    db.prepare('INSERT INTO tombstones VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      'S',
      't',
      'damaged',
      '2022',
      SEQ_NEW,
      '1:f',
      4,
    )
    db.pragma('user_version = 4')
    db.close()
    StateStore.open(path).close()
    const after = new Database(path, { readonly: true })
    try {
      const types = (after.prepare('PRAGMA table_info(tombstones)').all() as { name: string; type: string }[])
        .filter((c) => c.name === 'Ts' || c.name === 'Seq')
        .map((c) => c.type)
      assert.deepEqual(types, ['', ''])
      assert.deepEqual(
        after
          .prepare('SELECT Key, Ts, typeof(Ts) AS tt, Seq, typeof(Seq) AS st, Row FROM tombstones ORDER BY Key')
          .all(),
        [
          // converted by the old affinity before the migration: not repairable, copied as it is
          { Key: 'damaged', Ts: 2022, tt: 'integer', Seq: Number(SEQ_NEW), st: 'real', Row: 4 },
          { Key: 'k', Ts: 1664179200000000, tt: 'integer', Seq: 'seq-a', st: 'text', Row: 3 },
        ],
      )
    } finally {
      after.close()
    }
  } finally {
    dir.remove()
  }
})
