// Random DMS streams through cdc-apply, checked against two independent oracles (DuckDB SQL over the landing
// files and a plain JS model over the generated rows). Each stream is delivered in 1 run, in 2 runs and one file
// per run into separate folders: every arrival's outputs must match the oracles, and all deliveries must end equal.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { parseConfig } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { StateStore, type Watermark } from '../src/state/index.js'
import { configJson, generateStream, writeLanding, type DmsStream } from './helpers/dms-gen.js'
import { DuckOracle, diffTrees, modelOutputs, type Tree } from './helpers/duckdb-oracle.js'
import { readOutputTree, tempDir, type Row } from './helpers/outputs.js'
import { Rng, seeds } from './helpers/random.js'

const SEEDS = seeds(Number(process.env.CDC_ORACLE_SEEDS ?? 16))

let oracle: DuckOracle
before(async () => {
  oracle = await DuckOracle.create()
})
after(() => oracle.close())

interface Final {
  raw: Tree
  curated: Tree
  watermarks: (Watermark | undefined)[]
}

function describeStream(s: DmsStream): string {
  const t = s.tables.map(
    (x) =>
      `${x.name}(pk ${x.primaryKey.join('+')}, ts ${x.timestampColumn ? x.columns.find((c) => c.name === x.timestampColumn)!.type : 'none'}, seq ${x.sequenceColumn ? 'yes' : 'no'}, opForLoad ${x.includeOpForFullLoad})`,
  )
  return `${t.join(', ')}; ${s.files.length} files`
}

function fail(what: string, problems: string[]): void {
  if (problems.length > 0)
    assert.fail(
      `${what}:\n${problems.slice(0, 6).join('\n')}${problems.length > 6 ? `\n… ${problems.length - 6} more` : ''}`,
    )
}

/** Delivers the stream's files in arrivals ending at `ends`, runs after each, checks every arrival. */
async function deliver(stream: DmsStream, ends: number[], plan: string): Promise<Final> {
  const dir = tempDir()
  try {
    const dirs = {
      landing: join(dir.path, 'landing'),
      raw: join(dir.path, 'raw'),
      curated: join(dir.path, 'curated'),
      state: join(dir.path, 'state.sqlite'),
    }
    const config = parseConfig(configJson(stream.tables, dirs), dir.path)
    const pkOf = (p: string): string[] => stream.tables.find((t) => p.startsWith(`${t.source}/${t.name}/`))!.primaryKey
    const provenance = (): string[] => ['cdc_file', 'cdc_row']
    let start = 0
    let final: Final | undefined
    for (const [arrival, end] of ends.entries()) {
      writeLanding(dirs.landing, stream.files.slice(start, end))
      start = end
      const at = `seed ${stream.seed}, ${plan}, arrival ${arrival + 1}/${ends.length} (files 1..${end}, last ${stream.files[end - 1]!.path})`
      const summary = await runOnce(config)
      for (const t of summary.tables)
        assert.equal(
          t.error,
          undefined,
          `${at}: ${t.source}.${t.table} failed: ${(t.error as Error | undefined)?.message}`,
        )

      const model = modelOutputs(stream.tables, stream.files.slice(0, end))
      const duck = await oracle.expected(dirs.landing, stream.tables)
      // The two oracles first agree with each other (else the test itself is wrong).
      fail(`${at}: DuckDB oracle vs JS model, RAW`, diffTrees(duck.raw, model.raw, provenance))
      fail(`${at}: DuckDB oracle vs JS model, curated`, diffTrees(duck.curated, model.curated, pkOf))

      const raw = readOutputTree(dirs.raw)
      const curated = readOutputTree(dirs.curated)
      fail(`${at}: RAW differs from the oracle`, diffTrees(raw, duck.raw, provenance))
      fail(`${at}: curated differs from the oracle`, diffTrees(curated, duck.curated, pkOf))
      checkProvenance(raw, curated, at)
      final = { raw, curated, watermarks: watermarks(dirs.state, stream) }
    }

    // Running again with nothing new changes nothing.
    const again = await runOnce(config)
    for (const t of again.tables)
      assert.equal(
        t.error,
        undefined,
        `seed ${stream.seed}, ${plan}, rerun: ${t.source}.${t.table} failed: ${(t.error as Error | undefined)?.message}`,
      )
    fail(
      `seed ${stream.seed}, ${plan}: a rerun without new files changed RAW`,
      diffTrees(readOutputTree(dirs.raw), final!.raw, provenance),
    )
    fail(
      `seed ${stream.seed}, ${plan}: a rerun without new files changed curated`,
      diffTrees(readOutputTree(dirs.curated), final!.curated, pkOf),
    )
    assert.deepEqual(
      watermarks(dirs.state, stream),
      final!.watermarks,
      `seed ${stream.seed}, ${plan}: a rerun without new files moved the watermark`,
    )
    return final!
  } finally {
    dir.remove()
  }
}

function watermarks(statePath: string, stream: DmsStream): (Watermark | undefined)[] {
  const state = StateStore.open(statePath)
  try {
    return stream.tables.map((t) => state.get(t.source, t.name))
  } finally {
    state.close()
  }
}

/** Each curated row is the RAW row its cdc_file and cdc_row name, from a date on or before the curated date. */
function checkProvenance(raw: Tree, curated: Tree, at: string): void {
  const index = new Map<string, { date: string; row: Row }>()
  for (const [p, rows] of Object.entries(raw)) {
    const table = p.slice(0, p.lastIndexOf('/'))
    for (const r of rows)
      index.set(`${table}|${String(r.cdc_file)}|${String(r.cdc_row)}`, {
        date: p.slice(p.lastIndexOf('/') + 1),
        row: r,
      })
  }
  for (const [p, rows] of Object.entries(curated)) {
    const table = p.slice(0, p.lastIndexOf('/'))
    const date = p.slice(p.lastIndexOf('/') + 1)
    for (const r of rows) {
      const src = index.get(`${table}|${String(r.cdc_file)}|${String(r.cdc_row)}`)
      assert.ok(src, `${at}: curated ${p} row ${JSON.stringify(r)} names a change that is not in RAW`)
      assert.ok(
        src.date <= date,
        `${at}: curated ${p} row ${JSON.stringify(r)} comes from RAW of the later date ${src.date}`,
      )
      assert.notEqual(src.row.Op, 'D', `${at}: curated ${p} row ${JSON.stringify(r)} is a delete`)
      const { Op: _op, ...data } = src.row
      assert.deepEqual(r, data, `${at}: curated ${p} row differs from the RAW change it names`)
    }
  }
}

for (const seed of SEEDS) {
  test(`seed ${seed}: delivered in 1 run, 2 runs and one file per run, outputs match DuckDB and the JS model`, async (t) => {
    const stream = generateStream(seed)
    t.diagnostic(describeStream(stream))
    const n = stream.files.length
    const cut = 1 + new Rng(seed ^ 0x5eed).int(n - 1)
    const one = await deliver(stream, [n], '1 run')
    const two = await deliver(stream, [cut, n], `2 runs (cut after file ${cut})`)
    const each = await deliver(
      stream,
      Array.from({ length: n }, (_, i) => i + 1),
      `${n} runs`,
    )
    for (const [name, other] of [
      ['2 runs', two],
      [`${n} runs`, each],
    ] as const) {
      fail(
        `seed ${seed}: RAW after ${name} differs from RAW after 1 run`,
        diffTrees(other.raw, one.raw, () => ['cdc_file', 'cdc_row']),
      )
      fail(
        `seed ${seed}: curated after ${name} differs from curated after 1 run`,
        diffTrees(other.curated, one.curated),
      )
      assert.deepEqual(
        other.watermarks,
        one.watermarks,
        `seed ${seed}: watermark after ${name} differs from the one after 1 run`,
      )
    }
  })
}
