// The golden case suite: every folder under fixtures/cases/ is one test (see fixtures/cases/README.md).
// Each case runs cdc-apply on its bucket with outputs in a temp folder and compares RAW, curated and the
// watermark with hand-derived expected files by content. UPDATE_GOLDEN=1 rewrites the expected files from the
// tool's output (for maintenance after a reviewed behaviour change; never to create a case's expectations).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { basename, dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce, type RunSummary } from '../src/run.js'
import { StateStore } from '../src/state/index.js'
import { CdcError, exitCodeFor } from '../src/errors.js'
import { parquetSchema, readOutputTree, sortRows, tempDir, type Row } from './helpers/outputs.js'

const CASES = fileURLToPath(new URL('../../fixtures/cases/', import.meta.url))
const UPDATE = process.env.UPDATE_GOLDEN === '1'

/** Optional `case.json` of a case. */
interface CaseSpec {
  /**
   * One entry per run: the case folders (one or a list) copied on top of each other as `bucket/` into an empty
   * temp landing before that run, minus the objects whose base names are listed in `without`. Files of earlier
   * runs that a run's landing lacks are gone for that run.
   */
  runs?: (string | string[] | { folders: string[]; without?: string[] })[]
  /** ISO time set as the modification time of every landing object (the full-load date without a timestamp column). */
  mtime?: string
  /** A tool bug this case is known to expose (reported, not fixed yet): put in front of every failure message. */
  knownBug?: string
}

interface ExpectedError {
  table: string
  code: string
  exitCode: number
  /** Optional: the object (key under the landing) and the 1-based line the error points at. */
  file?: string
  line?: number
}

interface WatermarkRow {
  Source: string
  TableName: string
  FullLoad: boolean
  LPF: string
}

type Tree = Record<string, Row[]>

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T: the JSON shape the caller expects
function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })
}

/** `expected/<kind>/<Source>/<TableName>/<YYYYMMDD>.json` files as `{ "<Source>/<TableName>/<YYYYMMDD>": rows }`. */
function expectedTree(dir: string): Tree {
  const out: Tree = {}
  for (const f of walk(dir).sort()) {
    if (!f.endsWith('.json')) continue
    out[relative(dir, f).split(/[\\/]/).join('/').slice(0, -'.json'.length)] = sortRows(readJson<Row[]>(f))
  }
  return out
}

function writeTree(dir: string, tree: Tree): void {
  for (const [key, rows] of Object.entries(tree)) {
    const file = join(dir, `${key}.json`)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, `[\n${rows.map((r) => `  ${JSON.stringify(r)}`).join(',\n')}\n]\n`)
  }
}

function watermarks(config: Config): WatermarkRow[] {
  const state = StateStore.open(config.state)
  try {
    return config.tables.flatMap((t) => {
      const w = state.get(t.source, t.name)
      return w ? [{ Source: t.source, TableName: t.name, FullLoad: w.fullLoad, LPF: w.lpf }] : []
    })
  } finally {
    state.close()
  }
}

function byTable(rows: WatermarkRow[]): WatermarkRow[] {
  return [...rows].sort((a, b) => (`${a.Source}.${a.TableName}` < `${b.Source}.${b.TableName}` ? -1 : 1))
}

function setMtime(dir: string, iso: string): void {
  const when = new Date(iso)
  for (const f of walk(dir)) utimesSync(f, when, when)
}

function describeErrors(summary: RunSummary): string {
  return summary.tables
    .filter((r) => r.status === 'error')
    .map((r) => `${r.source}.${r.table}: ${(r.error as CdcError | undefined)?.code ?? ''} ${r.error?.message ?? ''}`)
    .join('; ')
}

function tableOf(key: string): string {
  return key.split('/').slice(0, 2).join('.')
}

const names = existsSync(CASES)
  ? readdirSync(CASES)
      .filter((n) => statSync(join(CASES, n)).isDirectory())
      .sort()
  : []

for (const name of names) {
  test(name, async (t) => {
    const caseDir = join(CASES, name)
    const json = readJson<Record<string, unknown>>(join(caseDir, 'cdc-apply.json'))
    const spec: CaseSpec = existsSync(join(caseDir, 'case.json')) ? readJson<CaseSpec>(join(caseDir, 'case.json')) : {}
    const expectedDir = join(caseDir, 'expected')
    const errorFile = join(expectedDir, 'error.json')
    const expectedError = existsSync(errorFile) ? readJson<ExpectedError>(errorFile) : undefined
    const label = spec.knownBug === undefined ? name : `${name} [KNOWN TOOL BUG, see its README: ${spec.knownBug}]`

    const tmp = tempDir(`cdc-apply-case-${name}-`)
    t.after(tmp.remove)
    const landing = String(json.landing)
    const copied = spec.runs !== undefined || spec.mtime !== undefined
    if (copied)
      assert.ok(
        landing === 'bucket' || landing.startsWith('bucket/'),
        `${label}: with case.json runs or mtime the landing must be under bucket/, got ${landing}`,
      )
    const config = parseConfig(json, caseDir)
    config.landing = copied ? join(tmp.path, landing) : join(caseDir, landing)
    config.raw = join(tmp.path, 'raw')
    config.curated = join(tmp.path, 'curated')
    config.state = join(tmp.path, 'state.sqlite')
    config.settleSeconds = 0 // fixtures are copied just before the run

    // ---- the runs
    const runs = spec.runs ?? ['bucket']
    let summary: RunSummary | undefined
    for (const [i, entry] of runs.entries()) {
      const folders = typeof entry === 'string' ? [entry] : Array.isArray(entry) ? entry : entry.folders
      const without = typeof entry === 'object' && !Array.isArray(entry) ? (entry.without ?? []) : []
      if (copied) {
        rmSync(join(tmp.path, 'bucket'), { recursive: true, force: true })
        for (const folder of folders) cpSync(join(caseDir, folder), join(tmp.path, 'bucket'), { recursive: true })
        const drop = walk(join(tmp.path, 'bucket')).filter((f) => without.includes(basename(f)))
        assert.equal(
          drop.length,
          without.length,
          `${label}: run ${i + 1}: every name in "without" must match one object`,
        )
        for (const f of drop) rmSync(f)
        if (spec.mtime !== undefined) setMtime(join(tmp.path, 'bucket'), spec.mtime)
      }
      summary = await runOnce(config)
      const last = i === runs.length - 1
      if (!last || expectedError === undefined) {
        assert.equal(describeErrors(summary), '', `${label}: run ${i + 1} (${folders.join(' + ')}) must not fail`)
      }
      const between = join(expectedDir, `watermark-run${i + 1}.json`)
      if (!last && existsSync(between)) {
        assert.deepEqual(
          byTable(watermarks(config)),
          byTable(readJson<WatermarkRow[]>(between)),
          `${label}: watermark after run ${i + 1} differs from expected/watermark-run${i + 1}.json`,
        )
      }
    }
    assert.ok(summary)

    // ---- the expected error of the last run
    if (expectedError !== undefined) {
      const r = summary.tables.find((x) => `${x.source}.${x.table}` === expectedError.table)
      assert.ok(r, `${label}: table ${expectedError.table} is not in the run summary`)
      assert.equal(r.status, 'error', `${label}: ${expectedError.table} should fail with ${expectedError.code}`)
      assert.ok(
        r.error instanceof CdcError,
        `${label}: the error is not a CdcError: ${String(r.error?.stack ?? r.error)}`,
      )
      assert.equal(r.error.code, expectedError.code, `${label}: error code (message: ${r.error.message})`)
      assert.equal(exitCodeFor(r.error), expectedError.exitCode, `${label}: exit code of ${expectedError.code}`)
      if (expectedError.file !== undefined)
        assert.equal(r.error.file, expectedError.file, `${label}: the object the error points at`)
      if (expectedError.line !== undefined)
        assert.equal(r.error.line, expectedError.line, `${label}: the line the error points at`)
      const others = summary.tables.filter((x) => x !== r && x.status === 'error')
      assert.equal(others.length, 0, `${label}: only ${expectedError.table} may fail: ${describeErrors(summary)}`)
    }

    // ---- outputs and watermark
    const raw = readOutputTree(config.raw)
    const curated = readOutputTree(config.curated)
    const wm = byTable(watermarks(config))
    if (UPDATE && spec.knownBug === undefined) {
      // A case with a known tool bug keeps its hand-derived files: it is compared below as usual.
      rmSync(join(expectedDir, 'curated'), { recursive: true, force: true })
      writeTree(join(expectedDir, 'curated'), curated)
      if (existsSync(join(expectedDir, 'raw'))) {
        rmSync(join(expectedDir, 'raw'), { recursive: true, force: true })
        writeTree(join(expectedDir, 'raw'), raw)
      }
      writeFileSync(
        join(expectedDir, 'watermark.json'),
        `[\n${wm.map((w) => `  ${JSON.stringify(w)}`).join(',\n')}\n]\n`,
      )
      if (expectedError !== undefined && wm.length === 0) rmSync(join(expectedDir, 'watermark.json'))
      return
    }

    const expCurated = expectedTree(join(expectedDir, 'curated'))
    assert.deepEqual(
      Object.keys(curated).sort(),
      Object.keys(expCurated).sort(),
      `${label}: the set of curated partitions`,
    )
    for (const [key, rows] of Object.entries(expCurated)) {
      assert.deepEqual(
        curated[key],
        rows,
        `${label}: curated partition ${key} differs from expected/curated/${key}.json`,
      )
    }
    const expRaw = expectedTree(join(expectedDir, 'raw'))
    for (const [key, rows] of Object.entries(expRaw)) {
      assert.ok(raw[key] !== undefined, `${label}: RAW partition ${key} is missing`)
      assert.deepEqual(raw[key], rows, `${label}: RAW partition ${key} differs from expected/raw/${key}.json`)
    }
    const wmFile = join(expectedDir, 'watermark.json')
    const expWm = existsSync(wmFile) ? byTable(readJson<WatermarkRow[]>(wmFile)) : []
    assert.deepEqual(wm, expWm, `${label}: watermark rows (ops_table) differ from expected/watermark.json`)

    if (expectedError !== undefined) {
      // The failed table: no watermark row unless one is expected (an earlier run's), no output of its own.
      const [source, table] = expectedError.table.split('.') as [string, string]
      if (!expWm.some((w) => w.Source === source && w.TableName === table)) {
        for (const key of [...Object.keys(raw), ...Object.keys(curated)]) {
          assert.notEqual(
            tableOf(key),
            expectedError.table,
            `${label}: the failed table ${expectedError.table} has output ${key}`,
          )
        }
      }
    }

    // ---- curated column types, when the case pins them: { "<Source>/<TableName>": ["name:ArrowType", ...] }
    const schemaFile = join(expectedDir, 'schema.json')
    if (existsSync(schemaFile)) {
      for (const [prefix, want] of Object.entries(readJson<Record<string, string[]>>(schemaFile))) {
        const parts = walk(join(config.curated, prefix)).filter((f) => f.endsWith('.parquet'))
        assert.ok(parts.length > 0, `${label}: no curated files under ${prefix}`)
        for (const f of parts)
          assert.deepEqual(
            parquetSchema(readFileSync(f)),
            want,
            `${label}: curated schema of ${relative(config.curated, f)}`,
          )
      }
    }

    // ---- a second run with no new files changes nothing
    if (expectedError === undefined) {
      const again = await runOnce(config)
      assert.equal(describeErrors(again), '', `${label}: the second run must not fail`)
      for (const r of again.tables)
        assert.equal(
          r.status,
          'unchanged',
          `${label}: status of ${r.source}.${r.table} on a second run with no new files`,
        )
      assert.deepEqual(readOutputTree(config.raw), raw, `${label}: RAW changed on a second run with no new files`)
      assert.deepEqual(
        readOutputTree(config.curated),
        curated,
        `${label}: curated changed on a second run with no new files`,
      )
      assert.deepEqual(
        byTable(watermarks(config)),
        wm,
        `${label}: the watermark changed on a second run with no new files`,
      )
    }
  })
}

test('fixtures/cases holds cases', () => {
  assert.ok(names.length > 0, `no case folders under ${CASES}`)
})
