// The emitted Spark job against cdc-apply on what the golden cases do not cover: a DMS table reload under
// onReload "reset" (superseded change files in the ledger), settleSeconds on a folder landing, and the fingerprint
// check (CDC_TABLE_CHANGED with cdc-apply's message, on a state written by cdc-apply and on one written by the job),
// and onBadRow "quarantine" (RAW's _quarantine folder, with every row's file, line, code, reason and record).
// RAW and curated by content, the watermark, the tombstones and the ledger (with its counts) equal cdc-apply's.
// All job runs share ONE Spark session (test/python/spark_job_runs.py).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { StateStore, exportTable, type ProcessedFile } from '../src/state/index.js'
import { emitSparkJob } from '../src/spark/emit-job.js'
import { readHandover } from '../src/spark/handover.js'
import { openStore } from '../src/store/open-store.js'
import { main } from '../src/cli/main.js'
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import { readOutputTree, tempDir } from './helpers/outputs.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const HARNESS = join(ROOT, 'test/python/spark_job_runs.py')
const PYTHON = process.env['CDC_APPLY_PYSPARK_PYTHON'] || 'python3'
const TABLE = 'shop/items'
const tmp = tempDir('cdc-apply-spark-gaps-')
let skipReason: string | undefined
let results: { exitCode: number; stdout: Record<string, unknown>[] }[] = []

interface File {
  name: string
  text: string | Uint8Array
  mtime: Date
}

function parquet(columns: Record<string, A.Vector>): Uint8Array {
  return pw.writeParquet(pw.Table.fromIPCStream(A.tableToIPC(new A.Table(columns), 'stream')))
}

function table(extra: object = {}): object {
  return {
    name: 'items',
    path: TABLE,
    includeOpForFullLoad: true,
    columns: [{ name: 'ts' }, { name: 'id', type: 'integer' }, { name: 'name' }, { name: 'n', type: 'integer' }],
    primaryKey: ['id'],
    timestampColumn: 'ts',
    ...extra,
  }
}

function configJson(dir: string, landing: string, extra: object = {}, top: object = {}): Record<string, unknown> {
  return {
    source: 'S',
    landing,
    raw: join(dir, 'raw'),
    curated: join(dir, 'curated'),
    state: join(dir, 'state.sqlite'),
    settleSeconds: 0,
    tables: [table(extra)],
    ...top,
  }
}

function config(json: Record<string, unknown>): Config {
  return parseConfig(json, tmp.path)
}

/** A landing folder holding these files with these modification times (the ETag of a folder object uses it). */
function landing(name: string, files: File[]): string {
  const root = join(tmp.path, 'landings', name)
  for (const f of files) {
    const p = join(root, TABLE, f.name)
    mkdirSync(dirname(p), { recursive: true })
    writeFileSync(p, f.text)
    utimesSync(p, f.mtime, f.mtime)
  }
  return root
}

const at = (iso: string): Date => new Date(iso)
const LOAD: File = {
  name: 'LOAD00000001.csv',
  text: 'I,2024-06-10 08:00:00.000000,1,apple,10\nI,2024-06-10 08:00:00.000000,2,pear,20\nI,2024-06-10 08:00:00.000000,3,plum,30\n',
  mtime: at('2024-06-10T08:00:00Z'),
}
// a stale update (older than the load's row of key 1), a delete, an insert: the ledger counts only applied changes
const C0610: File = {
  name: '20240610-100000000.csv',
  text: 'U,2024-06-10 07:00:00.000000,1,apple old,11\nD,2024-06-10 09:00:00.000000,2,,\nI,2024-06-10 09:30:00.000000,4,fig,40\n',
  mtime: at('2024-06-10T10:00:00Z'),
}
const C0611: File = {
  name: '20240611-100000000.csv',
  text: 'U,2024-06-11 09:59:00.000000,1,apple v2,12\nU,2024-06-10 06:00:00.000000,4,fig stale,41\n',
  mtime: at('2024-06-11T10:00:00Z'),
}
const RELOAD: File = {
  name: 'LOAD00000001.csv',
  text: 'I,2024-06-12 08:00:00.000000,1,apple v2,12\nI,2024-06-12 08:00:00.000000,5,kiwi,50\n',
  mtime: at('2024-06-12T08:00:05Z'),
}
const C0612: File = {
  name: '20240612-100000000.csv',
  text: 'U,2024-06-12 09:59:00.000000,5,kiwi v2,51\nD,2024-06-12 10:00:00.000000,1,,\n',
  mtime: at('2024-06-12T10:00:00Z'),
}
const C0613: File = {
  name: '20240613-100000000.csv',
  text: 'I,2024-06-13 09:00:00.000000,6,lime,60\n',
  mtime: at('2024-06-13T10:00:00Z'),
}

const C0614: File = {
  name: '20240614-100000000.csv',
  text: 'U,2024-06-14 09:00:00.000000,6,lime v2,61\n',
  mtime: at('2024-06-14T10:00:00Z'),
}

interface Compared {
  name: string
  cfg: Config
  /** The job's outputs and state location. */
  job: { raw: string; curated: string; state: string }
  /** cdc-apply's outputs and state file. */
  ref: { raw: string; curated: string; state: string }
}

const compared: Compared[] = []
const plan: { job: string; argv: string[] }[] = []
const expectations: { name: string; run: number; check: (r: (typeof results)[number]) => void }[] = []

function jobFile(name: string, json: Record<string, unknown>): string {
  const p = join(tmp.path, `${name}.py`)
  writeFileSync(p, emitSparkJob(config(json)))
  return p
}

function jobRun(job: string, land: string, out: Compared['job'], extra: string[] = []): number {
  plan.push({
    job,
    argv: ['--landing', land, '--raw', out.raw, '--curated', out.curated, '--state', out.state, ...extra],
  })
  return plan.length - 1
}

async function cliRun(json: Record<string, unknown>, land: string): Promise<Error | undefined> {
  const s = await runOnce(config({ ...json, landing: land }))
  return s.tables[0]!.error
}

function dirs(name: string): { cli: Compared['ref']; job: Compared['job'] } {
  const d = join(tmp.path, name)
  return {
    cli: { raw: join(d, 'cli/raw'), curated: join(d, 'cli/curated'), state: join(d, 'cli/state.sqlite') },
    job: { raw: join(d, 'job/raw'), curated: join(d, 'job/curated'), state: join(d, 'job/state') },
  }
}

before(
  async () => {
    const probe = spawnSync(PYTHON, ['-c', 'import pyspark'], { encoding: 'utf8' })
    if (probe.status !== 0) {
      if (process.env['CI'] === 'true' && process.env['CDC_APPLY_PYSPARK_PYTHON'])
        assert.fail(`pyspark is not importable by ${PYTHON}: ${probe.stderr}`)
      skipReason = `pyspark is not importable by ${PYTHON} (source /work/wt/env.sh or set CDC_APPLY_PYSPARK_PYTHON)`
      return
    }
    // ---- a table reload under onReload "reset": four arrivals, the second rewrites the full load
    {
      const d = dirs('reload')
      const json = {
        ...configJson(join(tmp.path, 'reload/cli'), join(tmp.path, 'landings')),
        tables: [table({ onReload: 'reset' })],
      }
      const arrivals = [
        landing('reload-1', [LOAD, C0610, C0611]),
        landing('reload-2', [RELOAD, C0610, C0611, C0612]),
        landing('reload-3', [RELOAD, C0610, C0611, C0612, C0613]),
        // after the redo of the new load date, the superseded files are still superseded (not late)
        landing('reload-4', [RELOAD, C0610, C0611, C0612, C0613, C0614]),
      ]
      const job = jobFile('reload', json)
      for (const l of arrivals) {
        const err = await cliRun(json, l)
        assert.equal(err, undefined, `cdc-apply on ${l}: ${err?.message}`)
        jobRun(job, l, d.job)
      }
      compared.push({ name: 'reload', cfg: config(json), job: d.job, ref: d.cli })
    }
    // ---- settleSeconds: the newest change file was modified just now; neither side reads it
    {
      const d = dirs('settle')
      const json = { ...configJson(join(tmp.path, 'settle/cli'), join(tmp.path, 'landings')), settleSeconds: 3600 }
      const young = { ...C0612, mtime: new Date() }
      const l = landing('settle-1', [LOAD, C0610, C0611, young])
      const err = await cliRun(json, l)
      assert.equal(err, undefined, err?.message)
      jobRun(jobFile('settle', json), l, d.job)
      compared.push({ name: 'settle', cfg: config(json), job: d.job, ref: d.cli })
      expectations.push({
        name: 'settle',
        run: plan.length - 1,
        check: (r) => assert.equal(r.exitCode, 0, JSON.stringify(r.stdout)),
      })
    }
    // ---- onBadRow "quarantine": bad rows of every kind set aside with cdc-apply's reasons, in two arrivals (the
    // second adds a file to a date already written, which the job writes whole)
    {
      const d = dirs('quarantine')
      const json = {
        ...configJson(join(tmp.path, 'quarantine/cli'), join(tmp.path, 'landings')),
        tables: [
          table({
            onBadRow: 'quarantine',
            columns: [
              { name: 'ts' },
              { name: 'id', type: 'integer' },
              { name: 'name' },
              { name: 'price', type: 'double' },
            ],
          }),
        ],
      }
      const f = (name: string, lines: string[], iso: string): File => ({
        name,
        text: lines.join('\n') + '\n',
        mtime: at(iso),
      })
      const load = f(
        'LOAD00000001.csv',
        [
          'I,2024-06-10 08:00:00.000000,1,apple,1.5',
          'I,2024-06-10 08:00:00.000000,,no key,0.000001', // CDC_PK_MISSING, its record as JSON
          'I,2024-06-10 08:00:00.000000,2,pear,2',
        ],
        '2024-06-10T08:00:00Z',
      )
      const q0610 = f(
        '20240610-100000000.csv',
        [
          'X,2024-06-10 09:00:00.000000,1,bad op,1', // CDC_ROW_INVALID_OP
          'U,2024-06-10 09:00:01.000000,1,apple v2,1e-7',
          'U,2024-06-10 09:00:02.000000,notanint,bad value,3', // CDC_VALUE_INVALID
          'U,2024-06-10 09:00:03.000000,2,too,4,many', // CDC_CSV_FIELD_COUNT
          'U,2024-06-10 09:00:04.000000,2,"quoted"x,5', // CDC_CSV_MALFORMED
          'I,2024-06-10 09:00:05.000000,3,"multi\nline",6',
          'U,2024-06-10 09:00:06.000000,x3,7', // CDC_CSV_FIELD_COUNT, read as configured a value would not fit
          'D,2024-06-10 09:00:07.000000,1,,',
        ],
        '2024-06-10T10:00:00Z',
      )
      const q0611a = f(
        '20240611-100000000.csv',
        ['I,2024-06-11 09:00:00.000000,4,fig,4.25', 'Q,2024-06-11 09:00:01.000000,4,bad,1', ''],
        '2024-06-11T10:00:00Z',
      )
      const q0611b = f(
        '20240611-120000000.csv',
        [
          'U,2024-06-11 12:00:00.000000,4,fig v2,,',
          'U,2024-06-11 12:00:01.000000,,x,1',
          'U,2024-06-11 12:00:02.000000,2,pear v2,2.5',
        ],
        '2024-06-11T12:00:00Z',
      )
      const q0612 = f(
        '20240612-100000000.csv',
        ['I,2024-06-12 10:00:00.000000,5,kiwi,-0.5', 'D,2024-06-12 10:00:01.000000,,,'],
        '2024-06-12T10:00:00Z',
      )
      const job = jobFile('quarantine', json)
      for (const l of [
        landing('quarantine-1', [load, q0610, q0611a]),
        landing('quarantine-2', [load, q0610, q0611a, q0611b, q0612]),
      ]) {
        const err = await cliRun(json, l)
        assert.equal(err, undefined, `cdc-apply on ${l}: ${err?.message}`)
        jobRun(job, l, d.job)
        expectations.push({
          name: `quarantine: ${l}`,
          run: plan.length - 1,
          check: (r) => assert.equal(r.exitCode, 0, JSON.stringify(r.stdout)),
        })
      }
      compared.push({ name: 'quarantine', cfg: config(json), job: d.job, ref: d.cli })
    }
    // ---- onBadRow "quarantine" on Parquet files: an unknown Op, a NULL Op, a NULL key, a NaN sequence value set
    // aside (their records are the rows' values as JSON: int32, int64, double, string)
    {
      const d = dirs('quarantine-parquet')
      const json = {
        ...configJson(join(tmp.path, 'quarantine-parquet/cli'), join(tmp.path, 'landings')),
        tables: [
          {
            name: 'items',
            path: TABLE,
            format: 'parquet',
            primaryKey: ['id'],
            timestampColumn: 'ts',
            sequenceColumn: 'seq',
            onBadRow: 'quarantine',
          },
        ],
      }
      const str = (v: (string | null)[]): A.Vector => A.vectorFromArray(v, new A.Utf8())
      const load: File = {
        name: 'LOAD00000001.parquet',
        text: parquet({
          ts: str(['2024-06-10 08:00:00.000000', '2024-06-10 08:00:00.000000', '2024-06-10 08:00:00.000000']),
          seq: A.vectorFromArray([1, 2, 3], new A.Float64()),
          id: A.vectorFromArray([1n, null, 2n], new A.Int64()),
          qty: A.vectorFromArray([10, 20, 30], new A.Int32()),
          price: A.vectorFromArray([1.5, 0.000001, 2], new A.Float64()),
        }),
        mtime: at('2024-06-10T08:00:00Z'),
      }
      const changes: File = {
        name: '20240610-100000000.parquet',
        text: parquet({
          Op: str(['U', 'Z', null, 'U', 'I', 'D']),
          ts: str([
            '2024-06-10 09:00:00.000000',
            '2024-06-10 09:00:01.000000',
            '2024-06-10 09:00:02.000000',
            '2024-06-10 09:00:03.000000',
            '2024-06-10 09:00:04.000000',
            '2024-06-10 09:00:05.000000',
          ]),
          seq: A.vectorFromArray([4, 5, 6, NaN, 8, 9], new A.Float64()),
          id: A.vectorFromArray([1n, 1n, 2n, 2n, 3n, 2n], new A.Int64()),
          qty: A.vectorFromArray([11, 12, null, 14, 15, null], new A.Int32()),
          price: A.vectorFromArray([1e-7, 1.25, 3, 4, 123456789012345680000, null], new A.Float64()),
        }),
        mtime: at('2024-06-10T10:00:00Z'),
      }
      const l = landing('quarantine-parquet-1', [load, changes])
      const err = await cliRun(json, l)
      assert.equal(err, undefined, `cdc-apply on ${l}: ${err?.message}`)
      jobRun(jobFile('quarantine-parquet', json), l, d.job)
      expectations.push({
        name: 'quarantine: Parquet',
        run: plan.length - 1,
        check: (r) => assert.equal(r.exitCode, 0, JSON.stringify(r.stdout)),
      })
      compared.push({ name: 'quarantine-parquet', cfg: config(json), job: d.job, ref: d.cli })
    }
    // ---- the fingerprint: a column's type changed after the table's load date
    {
      const d = dirs('fingerprint')
      const jsonA = configJson(join(tmp.path, 'fingerprint/cli'), join(tmp.path, 'landings'))
      const changed = {
        columns: [{ name: 'ts' }, { name: 'id', type: 'integer' }, { name: 'name' }, { name: 'n', type: 'double' }],
        primaryKey: ['id', 'name'],
      }
      const jsonB = { ...jsonA, tables: [table(changed)] }
      const l = landing('fingerprint-1', [LOAD, C0610, C0611])
      assert.equal(await cliRun(jsonA, l), undefined)
      const refused = await cliRun(jsonB, l)
      assert.equal((refused as { code?: string } | undefined)?.code, 'CDC_TABLE_CHANGED')
      const message = `CDC_TABLE_CHANGED: ${refused!.message}`
      // cdc-apply's state handed over to the job under the changed config
      const file = join(tmp.path, 'fingerprint.json')
      writeFileSync(file, JSON.stringify({ ...jsonA, landing: l }))
      const handed = join(tmp.path, 'fingerprint/handed-over')
      let err = ''
      const code = await main(
        ['state', 'export', '--config', file, '--table', 'S.items', handed, '--log-level', 'warn'],
        {
          stdout: () => undefined,
          stderr: (x) => void (err += x),
        },
      )
      assert.equal(code, 0, err)
      const jobA = jobFile('fingerprint-a', jsonA)
      const jobB = jobFile('fingerprint-b', jsonB)
      const refusedRun = (run: number, what: string): void =>
        void expectations.push({
          name: `fingerprint: ${what}`,
          run,
          check: (r) => {
            assert.equal(r.exitCode, 2, JSON.stringify(r.stdout))
            assert.equal(r.stdout[0]?.['code'], 'CDC_TABLE_CHANGED')
            assert.equal(r.stdout[0]?.['message'], message, "the job's message is cdc-apply's")
          },
        })
      refusedRun(jobRun(jobB, l, { ...d.job, state: handed }), 'on the state cdc-apply handed over')
      jobRun(jobA, l, d.job)
      refusedRun(jobRun(jobB, l, d.job), 'on the state the job wrote')
      compared.push({ name: 'fingerprint', cfg: config(jsonA), job: d.job, ref: d.cli })
    }
    writeFileSync(join(tmp.path, 'plan.json'), JSON.stringify({ runs: plan }))
    const r = spawnSync(PYTHON, [HARNESS, join(tmp.path, 'plan.json'), join(tmp.path, 'results.json')], {
      encoding: 'utf8',
      timeout: 1_800_000,
      env: { ...process.env, PYSPARK_PYTHON: PYTHON },
      maxBuffer: 1 << 28,
    })
    assert.equal(r.status, 0, `the Spark harness failed: ${r.stderr.split('\n').slice(-40).join('\n')}`)
    results = JSON.parse(readFileSync(join(tmp.path, 'results.json'), 'utf8')) as typeof results
  },
  { timeout: 2_400_000 },
)

function ledgerForm(files: ProcessedFile[]): string[] {
  return files
    .map((f) =>
      JSON.stringify([
        f.file,
        f.key,
        f.date,
        f.size,
        f.etag,
        f.checksum,
        f.rows,
        f.inserts,
        f.updates,
        f.deletes,
        f.quarantined ?? 0,
        f.superseded === true,
      ]),
    )
    .sort()
}

test('the Spark job equals cdc-apply on a table reload, settleSeconds and the fingerprint check', async (t) => {
  if (skipReason !== undefined) return t.skip(skipReason)
  for (const e of expectations) await t.test(e.name, () => e.check(results[e.run]!))
  for (const c of compared) {
    await t.test(c.name, async () => {
      assert.deepEqual(readOutputTree(c.job.raw), readOutputTree(c.ref.raw), `${c.name}: RAW`)
      assert.deepEqual(readOutputTree(c.job.curated), readOutputTree(c.ref.curated), `${c.name}: curated`)
      const st = StateStore.open(c.ref.state)
      const store = await openStore(c.job.state, { baseDir: tmp.path })
      try {
        const ref = exportTable(st, 'S', 'items', false)!
        const h = (await readHandover(store, 'S', 'items'))!
        assert.deepEqual(h.watermark, ref.watermark, `${c.name}: watermark`)
        assert.deepEqual(ledgerForm(h.ledger), ledgerForm(ref.ledger), `${c.name}: ledger`)
        const tomb = (x: { key: string; file: string; row: number }): string => `${x.key}@${x.file}:${x.row}`
        assert.deepEqual(h.tombstones.map(tomb).sort(), ref.tombstones.map(tomb).sort(), `${c.name}: tombstones`)
        if (c.name === 'reload')
          assert.deepEqual(
            h.ledger.filter((f) => f.superseded).map((f) => f.file),
            ['20240610-100000000', '20240611-100000000'],
            'the change files before the reload are superseded',
          )
        if (c.name === 'quarantine') {
          const q = readOutputTree(join(c.ref.raw, '_quarantine'))
          assert.deepEqual(
            Object.values(q)
              .flat()
              .map((x) => x.code)
              .sort(),
            [
              'CDC_CSV_FIELD_COUNT',
              'CDC_CSV_FIELD_COUNT',
              'CDC_CSV_FIELD_COUNT',
              'CDC_CSV_MALFORMED',
              'CDC_PK_MISSING',
              'CDC_PK_MISSING',
              'CDC_PK_MISSING',
              'CDC_ROW_INVALID_OP',
              'CDC_ROW_INVALID_OP',
              'CDC_ROW_INVALID_OP',
              'CDC_VALUE_INVALID',
            ],
            'cdc-apply set aside every kind of bad row (the comparison above covers the job)',
          )
          assert.ok(
            h.ledger.some((f) => (f.quarantined ?? 0) > 0),
            'the ledger counts set-aside rows',
          )
        }
        if (c.name === 'quarantine-parquet')
          assert.deepEqual(
            Object.values(readOutputTree(join(c.ref.raw, '_quarantine')))
              .flat()
              .map((x) => x.code)
              .sort(),
            ['CDC_PK_MISSING', 'CDC_ROW_INVALID_OP', 'CDC_ROW_INVALID_OP', 'CDC_VALUE_INVALID'],
            'cdc-apply set aside every kind of bad Parquet row',
          )
        if (c.name === 'settle')
          assert.ok(!h.ledger.some((f) => f.file === '20240612-100000000'), 'the settling file was not read')
      } finally {
        st.close()
        await store.close()
      }
    })
  }
})

after(() => tmp.remove())
