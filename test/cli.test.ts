// The command line end to end through bin/cdc-apply.js: transform, verify and snapshot on the pipelines fixture,
// configured pipelines triggered by `run` and by watch mode, and the gate that keeps a pipeline run from seeing a
// table mid-write.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig } from '../src/config.js'
import type { PipelineRun } from '../src/steps/run-steps.js'
import { pipelineRuns } from '../src/state/index.js'
import { Gate, PipelineTrigger } from '../src/watch-pipelines.js'
import { parquetRows, tempDir } from './helpers/outputs.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = join(root, 'bin', 'cdc-apply.js')
const FIXTURE = join(root, 'fixtures', 'pipelines')
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }

function cli(args: string[], cwd = root): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd, env })
}

/**
 * A lake in `dir`: the fixture's bucket copied to `dir/landing` (without the files named in `hold`), the fixture's
 * tables, outputs under `dir/out`, and a pipeline `dir/p/latest.json` writing restaurants' snapshot of `{lpd}` to
 * `dir/marts/latest` (an output root), run after restaurants advances.
 */
function lake(
  dir: string,
  opts: { hold?: string[]; pipeline?: unknown } = {},
): { config: string; landing: string; state: string } {
  const landing = join(dir, 'landing')
  cpSync(join(FIXTURE, 'bucket', 'dms'), landing, { recursive: true })
  for (const f of opts.hold ?? []) rmSync(join(landing, f))
  mkdirSync(join(dir, 'p'), { recursive: true })
  writeFileSync(
    join(dir, 'p', 'latest.json'),
    JSON.stringify(
      opts.pipeline ?? {
        table: 'demo.restaurants',
        steps: [
          {
            fun: 'sql',
            out: 'a',
            query: 'select id, city, partition_0 from demo.restaurants where partition_0 = {lpd}',
          },
          { fun: 'write', out: '../marts/latest', query: 'a' },
        ],
      },
    ),
  )
  const fixture = JSON.parse(readFileSync(join(FIXTURE, 'cdc-apply.json'), 'utf8')) as Record<string, unknown>
  const config = join(dir, 'cdc-apply.json')
  writeFileSync(
    config,
    JSON.stringify({
      ...fixture,
      landing: 'landing',
      raw: 'out/raw',
      curated: 'out/curated',
      state: 'out/state.sqlite',
      settleSeconds: 0, // the landing was copied just now
      outputs: ['marts'],
      pipelines: [{ file: 'p/latest.json', after: ['demo.restaurants'] }],
    }),
  )
  return { config, landing, state: join(dir, 'out', 'state.sqlite') }
}

function martRows(dir: string): Record<string, unknown>[] {
  const folder = join(dir, 'marts', 'latest')
  return readdirSync(folder)
    .filter((f) => f.endsWith('.parquet'))
    .flatMap((f) => parquetRows(readFileSync(join(folder, f))))
    .sort((a, b) => Number(a.id) - Number(b.id))
}

test('run: a configured pipeline runs after a run in which its table advanced, and not after one without new files', async (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const held = 'demo/restaurants/20220930-093010001.csv'
  const l = lake(tmp.path, { hold: [held] })
  let r = cli(['run', '-c', l.config])
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(
    pipelineRuns(l.state).map((p) => [p.pipeline, p.status, p.runs]),
    [['latest', 'Success', 1]],
  )
  assert.deepEqual(
    martRows(tmp.path).map((x) => [x.id, x.city, x.partition_0]),
    [
      ['1', 'delhi', '20220928'],
      ['2', 'mumbai', '20220928'],
      ['3', 'delhi', '20220928'],
      ['5', 'delhi', '20220928'],
    ],
  )

  r = cli(['run', '-c', l.config])
  assert.equal(r.status, 0, r.stderr)
  assert.equal(pipelineRuns(l.state)[0]!.runs, 1, 'nothing advanced: the pipeline did not run again')

  cpSync(join(FIXTURE, 'bucket', 'dms', held), join(l.landing, held))
  r = cli(['run', '-c', l.config])
  assert.equal(r.status, 0, r.stderr)
  assert.equal(pipelineRuns(l.state)[0]!.runs, 2)
  assert.deepEqual(
    martRows(tmp.path).map((x) => [x.id, x.city, x.partition_0]),
    [
      ['1', 'delhi', '20220930'],
      ['2', 'mumbai', '20220930'],
      ['3', 'gurgaon', '20220930'],
      ['5', 'delhi', '20220930'],
    ],
  )
  const status = JSON.parse(cli(['status', '-c', l.config, '--json']).stdout) as {
    pipelines: { pipeline: string; runs: number }[]
  }
  assert.deepEqual(
    status.pipelines.map((p) => [p.pipeline, p.runs]),
    [['latest', 2]],
  )
  assert.match(cli(['status', '-c', l.config]).stdout, /pipelines\n.*PIPELINE[\s\S]*latest +Success/)
})

test('run: a failing pipeline exits 5 after the tables were applied; a pipeline after an unknown table is a config error', async (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const l = lake(tmp.path, {
    pipeline: {
      steps: [
        { fun: 'sql', out: 'a', query: "select error('boom') as y" },
        { fun: 'write', out: '../marts/latest', query: 'a' },
      ],
    },
  })
  const r = cli(['run', '-c', l.config, '--json'])
  assert.equal(r.status, 5, r.stderr)
  const doc = JSON.parse(r.stdout) as { tables: { status: string; error?: unknown }[] }
  assert.ok(
    doc.tables.every((x) => x.status === 'ok' && x.error === undefined),
    'the tables themselves were applied',
  )
  assert.match(r.stderr, /boom/)
  assert.equal(pipelineRuns(l.state)[0]!.status, 'Error')

  const cfg = JSON.parse(readFileSync(l.config, 'utf8')) as Record<string, unknown>
  writeFileSync(l.config, JSON.stringify({ ...cfg, pipelines: [{ file: 'p/latest.json', after: ['demo.nope'] }] }))
  const bad = cli(['run', '-c', l.config])
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /CDC_CONFIG_INVALID.*pipelines\[0\]\.after\[0\].*demo\.nope/)
})

test('transform, verify and snapshot through the command line', async (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const l = lake(tmp.path)
  writeFileSync(l.config, JSON.stringify({ ...(JSON.parse(readFileSync(l.config, 'utf8')) as object), pipelines: [] }))
  assert.equal(cli(['run', '-c', l.config]).status, 0)

  // transform: a relative pipeline path resolves against the working directory
  let r = cli(['transform', 'p/latest.json', '-c', 'cdc-apply.json', '--param', 'note=a=b'], tmp.path)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /Success/)
  assert.equal(martRows(tmp.path).length, 4)
  r = cli(['transform', 'p/latest.json', '-c', l.config, '--json'], tmp.path)
  assert.equal((JSON.parse(r.stdout) as { status: string }).status, 'Success')
  for (const [args, pattern] of [
    [['transform', '-c', l.config], /needs a pipeline file/],
    [['transform', 'p/latest.json', 'extra', '-c', l.config], /unexpected argument "extra"/],
    [['transform', 'p/latest.json', '-c', l.config, '--param', 'novalue'], /--param must be name=value/],
    [['transform', 'p/latest.json', '-c', l.config, '--emit', 'scala'], /--emit supports only pyspark/],
    [['verify', '-c', l.config, '--limit', 'x'], /--limit must be a whole number/],
    [['snapshot', '-c', l.config, '--table', 'demo.restaurants', '--out', 'x'], /snapshot needs --as-of/],
  ] as const) {
    r = cli([...args], tmp.path)
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, pattern)
  }
  r = cli(['transform', 'p/latest.json', '-c', l.config, '--emit', 'pyspark'], tmp.path)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /spark\.sql\(/)

  // verify: equal on every date of both tables
  r = cli(['verify', '-c', l.config, '--json'])
  assert.equal(r.status, 0, r.stderr)
  const report = JSON.parse(r.stdout) as { verdict: string; tables: { table: string; verdict: string }[] }
  assert.equal(report.verdict, 'equal')
  assert.deepEqual(report.tables.map((x) => [x.table, x.verdict]).sort(), [
    ['restaurants', 'equal'],
    ['transaction', 'equal'],
  ])
  r = cli(['verify', '-c', l.config, '--table', 'demo.restaurants', '--date', '20220928'])
  assert.equal(r.status, 0, r.stderr)
  assert.match(cli(['status', '-c', l.config]).stdout, /last verify[\s\S]*restaurants +20220928 +equal/)

  // snapshot: the table right after the 20220928 file (restaurant 4 deleted, 1 updated)
  r = cli(
    [
      'snapshot',
      '-c',
      l.config,
      '--table',
      'demo.restaurants',
      '--as-of',
      '20220928-181133560',
      '--out',
      'snap/r',
      '--json',
    ],
    tmp.path,
  )
  assert.equal(r.status, 0, r.stderr)
  const files = readdirSync(join(tmp.path, 'snap', 'r')).filter((f) => f.endsWith('.parquet'))
  const rows = files
    .flatMap((f) => parquetRows(readFileSync(join(tmp.path, 'snap', 'r', f))))
    .sort((a, b) => Number(a.id) - Number(b.id))
  assert.deepEqual(
    rows.map((x) => [x.id, String(x.rating)]),
    [
      ['1', '4.7'],
      ['2', '4.1'],
      ['3', '4.0'],
      ['5', '4.6'],
    ],
  )
})

test('watch: a configured pipeline runs after a poll in which its table advanced', async (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const held = 'demo/restaurants/20220930-093010001.csv'
  const l = lake(tmp.path, { hold: [held] })
  const child = spawn(process.execPath, [bin, '--watch', '-c', l.config, '--interval', '0.2'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
  })
  let err = ''
  child.stderr!.on('data', (d) => (err += d))
  const exit = once(child, 'exit')
  const until = async (what: string, check: () => boolean): Promise<void> => {
    for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50)))
      if (check()) return
    throw new Error(`timed out waiting for ${what}: ${err.slice(-2000)}`)
  }
  const runs = (): number => (existsSync(l.state) ? (pipelineRuns(l.state)[0]?.runs ?? 0) : 0)
  await until('the first pipeline run', () => runs() === 1)
  cpSync(join(FIXTURE, 'bucket', 'dms', held), join(l.landing, held))
  await until('the second pipeline run', () => runs() === 2)
  assert.deepEqual(
    martRows(tmp.path).map((x) => [x.id, x.city]),
    [
      ['1', 'delhi'],
      ['2', 'mumbai'],
      ['3', 'gurgaon'],
      ['5', 'delhi'],
    ],
  )
  await new Promise((r) => setTimeout(r, 1000))
  assert.equal(runs(), 2, 'idle polls do not run the pipeline')
  child.kill('SIGTERM')
  assert.deepEqual(await exit, [0, null], err)
})

test('PipelineTrigger: never concurrent with itself, advances during a run queue one more run, and runs hold the gate exclusively', async () => {
  const config = parseConfig(
    {
      landing: 'l',
      raw: 'r',
      curated: 'c',
      state: 's.sqlite',
      source: 'S',
      tables: [
        { name: 'a', path: 'a', columns: [{ name: 'id' }], primaryKey: ['id'] },
        { name: 'b', path: 'b', columns: [{ name: 'id' }], primaryKey: ['id'] },
      ],
      pipelines: [{ file: 'p.json', after: ['S.a'] }],
    },
    '/tmp',
  )
  const gate = new Gate()
  const events: string[] = []
  let running = 0
  let release: (() => void) | undefined
  const trigger = new PipelineTrigger(config, {
    signal: new AbortController().signal,
    gate,
    run: async (p) => {
      running++
      assert.equal(running, 1, 'one run at a time')
      events.push('start')
      await new Promise<void>((r) => (release = r))
      events.push('end')
      running--
      return { pipeline: p.file, status: 'Success', ms: 0 } as PipelineRun
    },
  })
  trigger.advanced('S.b')
  await new Promise((r) => setImmediate(r))
  assert.equal(events.length, 0, 'a table the pipeline does not follow')

  // a table write in flight: the run waits for it, and a write asked for meanwhile waits for the run
  let writeDone: (() => void) | undefined
  const write1 = gate.withShared(() => new Promise<void>((r) => (writeDone = r)).then(() => void events.push('write1')))
  trigger.advanced('S.a')
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(events.length, 0, 'the run waits for the write in flight')
  const write2 = gate.withShared(async () => void events.push('write2'))
  writeDone!()
  await write1
  await new Promise((r) => setTimeout(r, 20))
  assert.deepEqual(events, ['write1', 'start'])
  trigger.advanced('S.a')
  trigger.advanced('S.a')
  release!()
  for (let i = 0; i < 100 && events.filter((e) => e === 'start').length < 2; i++)
    await new Promise((r) => setTimeout(r, 10))
  release!()
  await trigger.idle()
  await write2
  assert.deepEqual(
    events.filter((e) => e === 'start' || e === 'end'),
    ['start', 'end', 'start', 'end'],
    'three advances: the run in flight and one more',
  )
  let inRun = false
  for (const e of events) {
    if (e === 'start') inRun = true
    else if (e === 'end') inRun = false
    else assert.equal(inRun, false, `${e} happened during a pipeline run: ${events.join(' ')}`)
  }
  assert.ok(events.includes('write2'))
})
