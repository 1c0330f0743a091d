// Watch mode as a daemon: a real child process polling a folder (and MinIO), the state lock, signals, health
// and metrics, and proof that a poll does not reload the table.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { parseConfig } from '../src/config.js'
import { openStores, runOnce, type Stores } from '../src/run.js'
import { runWatch } from '../src/watch.js'
import { StateStore } from '../src/state/index.js'
import type { ObjectStore } from '../src/store/object-store.js'
import { generate, benchConfig, DEFAULT_GEN } from '../scripts/bench/gen.js'
import { readOutputTree, tempDir } from './helpers/outputs.js'
import { MINIO_SKIP_REASON, startMinio } from './helpers/minio.js'

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true'
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = join(root, 'bin', 'cdc-apply.js')

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

interface Daemon {
  child: ChildProcess
  stderr: () => string
  exit: Promise<number | null>
}

function daemon(args: string[], env: Record<string, string> = {}): Daemon {
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
  })
  let err = ''
  child.stderr!.on('data', (d) => (err += d))
  child.stdout!.resume()
  const exit = once(child, 'exit').then(([code, signal]) => (code ?? (signal ? 128 : null)) as number | null)
  return { child, stderr: () => err, exit }
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

function lpf(statePath: string): string | undefined {
  const s = StateStore.open(statePath)
  try {
    return s.status()[0]?.lpf
  } finally {
    s.close()
  }
}

/** A generated stream: the files in order, so a test can drop them into a landing folder one by one. */
function stream(dir: string, changes = 3000, rowsPerFile = 300) {
  const src = join(dir, 'src')
  const g = generate({ ...DEFAULT_GEN, dir: src, changes, keys: 400, rowsPerFile, dates: 3 })
  return { src, files: g.files.map((f) => f.key) }
}

function drop(src: string, landing: string, key: string): void {
  mkdirSync(dirname(join(landing, key)), { recursive: true })
  copyFileSync(join(src, key), join(landing, key))
}

test('a watching child process applies files dropped over time and ends with the outputs of one run over the same files', async (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const { src, files } = stream(tmp.path)
  const landing = join(tmp.path, 'landing')
  mkdirSync(landing)
  const cfgPath = join(tmp.path, 'watch.json')
  writeFileSync(cfgPath, JSON.stringify(benchConfig(landing, join(tmp.path, 'watch'), 'csv')))
  const d = daemon(['--watch', '-c', cfgPath, '--interval', '0.1'])
  for (const key of files) {
    drop(src, landing, key)
    const stem = key.split('/').pop()!.replace('.csv', '')
    if (!stem.startsWith('LOAD'))
      await until(`LPF ${stem}`, () => lpf(join(tmp.path, 'watch', 'state.sqlite')) === stem)
  }
  d.child.kill('SIGTERM')
  assert.equal(await d.exit, 0, d.stderr())
  // one run over the same files
  const once = parseConfig(benchConfig(src, join(tmp.path, 'once'), 'csv'), tmp.path)
  await runOnce(once)
  assert.deepEqual(readOutputTree(join(tmp.path, 'watch', 'raw')), readOutputTree(join(tmp.path, 'once', 'raw')))
  assert.deepEqual(
    readOutputTree(join(tmp.path, 'watch', 'curated')),
    readOutputTree(join(tmp.path, 'once', 'curated')),
  )
  assert.equal(lpf(join(tmp.path, 'watch', 'state.sqlite')), lpf(join(tmp.path, 'once', 'state.sqlite')))
})

test('a watching child process over MinIO applies files uploaded over time', async (t) => {
  const minio = await startMinio()
  if (!minio) return t.skip(MINIO_SKIP_REASON)
  const tmp = tempDir()
  t.after(async () => {
    await minio.stop()
    tmp.remove()
  })
  const { src, files } = stream(tmp.path, 1500, 300)
  await minio.createBucket('watch')
  const cfg = {
    ...benchConfig('s3://watch/dms', join(tmp.path, 'out'), 'csv'),
    raw: 's3://watch/raw',
    curated: 's3://watch/curated',
    s3: minio.s3Options,
  }
  const cfgPath = join(tmp.path, 'watch.json')
  writeFileSync(cfgPath, JSON.stringify(cfg))
  const d = daemon(['--watch', '-c', cfgPath, '--interval', '0.1'])
  const { S3Store } = await import('../src/store/s3-store.js')
  const landing = new S3Store('s3://watch/dms', { s3: minio.s3Options })
  const { readFileSync } = await import('node:fs')
  for (const key of files) {
    await landing.put(key, readFileSync(join(src, key)))
    const stem = key.split('/').pop()!.replace('.csv', '')
    if (!stem.startsWith('LOAD')) await until(`LPF ${stem}`, () => lpf(join(tmp.path, 'out', 'state.sqlite')) === stem)
  }
  await landing.close()
  d.child.kill('SIGINT')
  assert.equal(await d.exit, 0, d.stderr())
  const s = StateStore.open(join(tmp.path, 'out', 'state.sqlite'))
  assert.equal(s.status()[0]!.rows, 1500)
  s.close()
})

test('a poll reads only the new object: the table is not reloaded and history is not replayed', async (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const { src, files } = stream(tmp.path)
  const landing = join(tmp.path, 'landing')
  for (const key of files.slice(0, -1)) drop(src, landing, key)
  const cfg = parseConfig(benchConfig(landing, join(tmp.path, 'out'), 'csv'), tmp.path)
  const real = await openStores(cfg)
  const gets: string[] = []
  const lists: string[] = []
  const count = (s: ObjectStore, name: string): ObjectStore => ({
    url: s.url,
    list: (p, o) => {
      lists.push(`${name}:${p}:${o?.startAfter ?? ''}`)
      return s.list(p, o)
    },
    get: (k, o) => {
      gets.push(`${name}:${k}`)
      return s.get(k, o)
    },
    put: (k, b, o) => s.put(k, b, o),
    delete: (k, o) => s.delete(k, o),
    close: () => s.close(),
  })
  const stores: Stores = {
    landing: count(real.landing, 'landing'),
    raw: count(real.raw, 'raw'),
    curated: count(real.curated, 'curated'),
  }
  const controller = new AbortController()
  let polls = 0
  let marks: { gets: number; lists: number } | undefined
  const idle: { gets: number; lists: number }[] = []
  await runWatch(cfg, {
    signal: controller.signal,
    intervalSeconds: 0.02,
    stores,
    onPoll: (r) => {
      assert.equal(r.error, undefined, r.error?.message)
      polls++
      if (polls === 1) {
        marks = { gets: gets.length, lists: lists.length }
      } else if (polls <= 3) {
        idle.push({ gets: gets.length, lists: lists.length })
        if (polls === 3) {
          marks = { gets: gets.length, lists: lists.length }
          drop(src, landing, files.at(-1)!)
        }
      } else if (r.status === 'ok') controller.abort()
    },
  })
  // idle polls: one listing each, no reads
  assert.equal(idle[0]!.gets, idle[1]!.gets)
  assert.equal(idle[1]!.lists - idle[0]!.lists, 1)
  const after = gets.slice(marks!.gets)
  assert.deepEqual(
    after,
    [`landing:${files.at(-1)}`],
    'the poll read only the new file (no snapshot restore, no re-read of older files)',
  )
  assert.ok(
    lists.slice(marks!.lists).some((l) => l.startsWith('landing:') && l.endsWith('.csv')),
    'the listing started after the LPF',
  )
  await Promise.all([real.landing.close(), real.raw.close(), real.curated.close()])
})

test('a second process on the same state file fails at once with CDC_STATE_LOCKED (exit 7); a lock left by a killed process does not block', async (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const { src, files } = stream(tmp.path, 600, 300)
  const landing = join(tmp.path, 'landing')
  for (const key of files) drop(src, landing, key)
  const cfgPath = join(tmp.path, 'c.json')
  writeFileSync(cfgPath, JSON.stringify(benchConfig(landing, join(tmp.path, 'out'), 'csv')))
  const first = daemon(['--watch', '-c', cfgPath, '--interval', '0.2'])
  await until('first poll', () => lpf(join(tmp.path, 'out', 'state.sqlite')) !== undefined)
  const started = Date.now()
  const second = spawnSync(process.execPath, [bin, 'run', '-c', cfgPath], { encoding: 'utf8' })
  assert.equal(second.status, 7, second.stderr)
  assert.match(second.stderr, /CDC_STATE_LOCKED/)
  assert.ok(Date.now() - started < 10_000)
  first.child.kill('SIGKILL')
  await first.exit
  const third = spawnSync(process.execPath, [bin, 'run', '-c', cfgPath], { encoding: 'utf8' })
  assert.equal(third.status, 0, third.stderr)
})

test('SIGTERM stops a watching process with exit 0 and consistent outputs; a second signal during work exits 130', async (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const src = join(tmp.path, 'src')
  generate({ ...DEFAULT_GEN, dir: src, changes: 60_000, keys: 10_000, rowsPerFile: 5_000, dates: 3 })
  const cfgPath = join(tmp.path, 'c.json')
  writeFileSync(cfgPath, JSON.stringify(benchConfig(src, join(tmp.path, 'out'), 'csv')))
  // The fault hook blocks the child for a while right after it read its n-th file, so the signals below are sure
  // to arrive while a unit of work is in flight (not before it started or after the cycle ended).
  const faultLog = join(tmp.path, 'fault.log')
  const paused = (): boolean => existsSync(faultLog) && readFileSync(faultLog, 'utf8').includes('paused')
  const args = ['--watch', '-c', cfgPath, '--interval', '0.2', '--log-level', 'info']
  const inFlight = (n: number): Record<string, string> => ({
    CDC_APPLY_FAULT: `after-read:${n}:pause=3000`,
    CDC_APPLY_FAULT_LOG: faultLog,
  })

  // two signals during work: the second one exits at once with 130
  const d1 = daemon(args, inFlight(3))
  await until('the pause in flight', paused)
  d1.child.kill('SIGTERM')
  await new Promise((r) => setTimeout(r, 300))
  d1.child.kill('SIGTERM')
  assert.equal(await d1.exit, 130, d1.stderr())
  assert.match(d1.stderr(), /second signal: exiting now/)

  // one signal during work: the file in flight is finished or rolled back, exit 0
  rmSync(faultLog)
  const d2 = daemon(args, inFlight(2))
  await until('the pause in flight', paused)
  d2.child.kill('SIGTERM')
  assert.equal(await d2.exit, 0, d2.stderr())
  assert.match(d2.stderr(), /stopping/)
  const stoppedAt = lpf(join(tmp.path, 'out', 'state.sqlite'))

  // whatever was committed is consistent: a rerun completes and equals one uninterrupted run
  const r = spawnSync(process.execPath, [bin, 'run', '-c', cfgPath, '--json'], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  await runOnce(parseConfig(benchConfig(src, join(tmp.path, 'ref'), 'csv'), tmp.path))
  const lastLpf = lpf(join(tmp.path, 'ref', 'state.sqlite'))!
  assert.ok(stoppedAt === undefined || stoppedAt < lastLpf, `the stop came mid-stream (${stoppedAt} < ${lastLpf})`)
  assert.equal(lpf(join(tmp.path, 'out', 'state.sqlite')), lastLpf)
  assert.deepEqual(readOutputTree(join(tmp.path, 'out', 'curated')), readOutputTree(join(tmp.path, 'ref', 'curated')))
  assert.deepEqual(readOutputTree(join(tmp.path, 'out', 'raw')), readOutputTree(join(tmp.path, 'ref', 'raw')))
})

test('metrics and health: /healthz is 200 while polling and 503 once a table stopped on bad data; the exit code at shutdown reports it', async (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const { src, files } = stream(tmp.path, 900, 300)
  const landing = join(tmp.path, 'landing')
  for (const key of files.slice(0, 2)) drop(src, landing, key)
  const cfgPath = join(tmp.path, 'c.json')
  writeFileSync(cfgPath, JSON.stringify(benchConfig(landing, join(tmp.path, 'out'), 'csv')))
  const port = await freePort()
  const d = daemon(['--watch', '-c', cfgPath, '--interval', '0.1', '--metrics-port', String(port)])
  const get = async (path: string): Promise<{ status: number; text: string }> => {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`)
      return { status: res.status, text: await res.text() }
    } catch {
      return { status: 0, text: '' }
    }
  }
  await until('healthy', async () => (await get('/healthz')).status === 200)
  const m = await get('/metrics')
  for (const family of [
    'cdc_apply_files_processed_total',
    'cdc_apply_rows_processed_total',
    'cdc_apply_lag_seconds',
    'cdc_apply_poll_duration_seconds',
    'cdc_apply_errors_total',
    'cdc_apply_last_success_timestamp_seconds',
  ]) {
    assert.match(m.text, new RegExp(`# TYPE ${family} `))
  }
  assert.match(m.text, /cdc_apply_rows_processed_total\{table="BENCH.orders",op="I"\} \d+/)
  writeFileSync(join(landing, 'bench', 'orders', '20240612-235959999.csv'), 'X,2024-06-12 23:59:59.000000,1,,,,,,,,\n')
  await until('unhealthy', async () => (await get('/healthz')).status === 503).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}: ${d.stderr().slice(-3000)}`)
  })
  assert.match(
    (await get('/metrics')).text,
    /cdc_apply_errors_total\{table="BENCH.orders",code="CDC_ROW_INVALID_OP"\} 1/,
  )
  d.child.kill('SIGTERM')
  assert.equal(await d.exit, 3, d.stderr())
  const st = spawnSync(process.execPath, [bin, 'status', '-c', cfgPath, '--json'], { encoding: 'utf8' })
  const row = JSON.parse(st.stdout).tables[0]
  assert.equal(row.lastErrorCode, 'CDC_ROW_INVALID_OP')
  assert.equal(typeof row.lagSeconds, 'number')
})
