// The delta path of Iceberg commits: a state that continues the table's current snapshot (watch mode's warm polls,
// the later dates of one run) commits only the keys that changed since its last commit, without taking the whole
// state's snapshot. Its tables must equal, by content, those of commits that take the whole snapshot and compare it
// with the table (a cold run per poll: the state restored from the table, no delta).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce, type TableMemory } from '../src/run.js'
import { KeyedState } from '../src/apply.js'
import { LocalStore } from '../src/store/local-store.js'
import { IcebergTable } from '../src/iceberg/table.js'
import { storeUri } from '../src/iceberg-sink.js'
import { configJson, generateStream, writeLanding } from './helpers/dms-gen.js'
import { tableRows } from './helpers/iceberg-cases.js'
import { readOutputTree, tempDir } from './helpers/outputs.js'

const tmp = tempDir('cdc-iceberg-delta-')
test.after(tmp.remove)

/** Counts the state's takes while `work` runs: whole snapshots, and change sets that were tracked. */
async function counting<T>(work: () => Promise<T>): Promise<{ out: T; snapshots: number; deltas: number }> {
  const proto = KeyedState.prototype
  const snapshot = Object.getOwnPropertyDescriptor(proto, 'snapshot')!
  const changes = Object.getOwnPropertyDescriptor(proto, 'changes')!
  const n = { snapshots: 0, deltas: 0 }
  Object.defineProperty(proto, 'snapshot', {
    ...snapshot,
    value(this: KeyedState, ...args: unknown[]) {
      n.snapshots++
      return (snapshot.value as (...a: unknown[]) => unknown).apply(this, args)
    },
  })
  Object.defineProperty(proto, 'changes', {
    ...changes,
    value(this: KeyedState) {
      const c = (changes.value as () => unknown).apply(this)
      if (c !== undefined) n.deltas++
      return c
    },
  })
  try {
    return { out: await work(), ...n }
  } finally {
    Object.defineProperty(proto, 'snapshot', snapshot)
    Object.defineProperty(proto, 'changes', changes)
  }
}

async function open(c: Config, table: string): Promise<IcebergTable> {
  const store = new LocalStore(c.curated)
  return IcebergTable.open(store, table, `${storeUri(store)}/${table}`, table)
}

/** Every date tag and the live table of each table equal the plain layout's date folders (full snapshots), by content. */
async function assertSame(ice: Config, plain: Config, tables: string[], what: string): Promise<void> {
  const tree = readOutputTree(plain.curated)
  for (const t of tables) {
    const dates = Object.keys(tree)
      .filter((k) => k.startsWith(`${t}/`))
      .map((k) => k.slice(t.length + 1))
      .sort()
    const table = await open(ice, t)
    const refs = Object.keys(table.meta?.refs ?? {}).filter((r) => r !== 'main')
    assert.deepEqual(refs.sort(), dates.map((d) => `d${d}`).sort(), `${what}: ${t}'s tags`)
    for (const d of dates)
      assert.deepEqual(tableRows((await table.read(`d${d}`))!), tree[`${t}/${d}`], `${what}: ${t} d${d}`)
    if (dates.length > 0)
      assert.deepEqual(tableRows((await table.read('main'))!), tree[`${t}/${dates.at(-1)}`], `${what}: ${t} live`)
  }
}

for (const [seed, iceberg] of [
  [29, {}],
  [39, { compactDeleteShare: 0.05, compactDataFiles: 4 }],
  [8, { compactDataFiles: 3 }],
  [35, {}],
  [19, { compactDeleteShare: 0.02 }],
  [15, {}],
] as const) {
  test(`seed ${seed}${Object.keys(iceberg).length ? ' (compacting often)' : ''}: polls that commit only their changes leave every tag and the live table as full snapshots`, async () => {
    const stream = generateStream(seed)
    const dir = join(tmp.path, `seed-${seed}`)
    const landing = join(dir, 'landing')
    const make = (name: string, tableFormat: 'parquet' | 'iceberg'): Config =>
      parseConfig(
        {
          ...configJson(stream.tables, {
            landing,
            raw: join(dir, name, 'raw'),
            curated: join(dir, name, 'curated'),
            state: join(dir, name, 'state.sqlite'),
          }),
          tableFormat,
          iceberg,
        },
        dir,
      )
    // both sides poll as watch mode does (the state kept in memory); the plain layout writes each date whole
    const sides = [make('iceberg', 'iceberg'), make('plain', 'parquet')] as const
    const memory = sides.map(() => new Map<string, TableMemory>())
    const tables = stream.tables.map((t) => `${t.source}/${t.name}`)
    let deltas = 0
    // one file per poll
    for (const [i, f] of stream.files.entries()) {
      writeLanding(landing, [f])
      const outcomes: string[] = []
      for (const [k, c] of sides.entries()) {
        const r = await counting(() => runOnce(c, { memory: memory[k] }))
        if (k === 0) deltas += r.deltas
        // a late file stops both sides alike (its code), nothing else may fail
        outcomes.push(JSON.stringify(r.out.tables.map((t) => (t.error as { code?: string } | undefined)?.code ?? null)))
      }
      assert.equal(outcomes[0], outcomes[1], `poll ${i}: the same outcome on both sides`)
      assert.doesNotMatch(outcomes[0]!, /CDC_WRITE_FAILED/, `poll ${i}`)
      await assertSame(sides[0], sides[1], tables, `poll ${i} (${f.path})`)
    }
    assert.ok(deltas > stream.files.length / 3, `the delta path was taken (${deltas} of ${stream.files.length} polls)`)
  })
}

test('a warm poll on an Iceberg table takes only the changes: no whole snapshot of the state', async () => {
  const stream = generateStream(21, { tables: 1 })
  const dir = join(tmp.path, 'spy')
  const landing = join(dir, 'landing')
  const c = parseConfig(
    {
      ...configJson(stream.tables, {
        landing,
        raw: join(dir, 'raw'),
        curated: join(dir, 'curated'),
        state: join(dir, 'state.sqlite'),
      }),
      tableFormat: 'iceberg',
    },
    dir,
  )
  const memory = new Map<string, TableMemory>()
  const cdc = stream.files.filter((f) => f.kind === 'cdc')
  const last = cdc.at(-1)!
  // everything up to the newest date's last file, then that file alone: a poll that continues the committed state
  writeLanding(
    landing,
    stream.files.filter((f) => f !== last),
  )
  const first = await runOnce(c, { memory })
  assert.equal(first.tables[0]!.status, 'ok', String(first.tables[0]!.error))
  const before = await open(c, `${stream.tables[0]!.source}/${stream.tables[0]!.name}`)
  writeLanding(landing, [last])
  const poll = await counting(() => runOnce(c, { memory }))
  assert.equal(poll.out.tables[0]!.status, 'ok', String(poll.out.tables[0]!.error))
  assert.equal(poll.snapshots, 0, 'the state was not snapshot whole')
  assert.equal(poll.deltas, 1, 'one commit of the changes')
  const after = await open(c, `${stream.tables[0]!.source}/${stream.tables[0]!.name}`)
  assert.notEqual(after.current()!['snapshot-id'], before.current()!['snapshot-id'], 'the poll committed a snapshot')
})
