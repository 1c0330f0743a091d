// Watch mode: a table stopped by a bad object is retried when the object or the config changes, and /healthz recovers.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { StateStore } from '../src/state/index.js'
import { generate, benchConfig, DEFAULT_GEN } from '../scripts/bench/gen.js'
import { tempDir } from './helpers/outputs.js'

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

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  detail: () => string,
  ms = 30_000,
): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting for ${what}: ${detail().slice(-3000)}`)
}

function lpf(statePath: string): string | undefined {
  const s = StateStore.open(statePath)
  try {
    return s.status()[0]?.lpf
  } finally {
    s.close()
  }
}

test('watch: a table stopped by a bad object is retried when the object is fixed and when the config changes; /healthz goes back to 200', async (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const src = join(tmp.path, 'src')
  const files = generate({ ...DEFAULT_GEN, dir: src, changes: 1200, keys: 200, rowsPerFile: 300, dates: 3 }).files.map(
    (f) => f.key,
  )
  const landing = join(tmp.path, 'landing')
  const drop = (key: string): void => {
    mkdirSync(dirname(join(landing, key)), { recursive: true })
    copyFileSync(join(src, key), join(landing, key))
  }
  for (const key of files.slice(0, 2)) drop(key)
  const cfgPath = join(tmp.path, 'c.json')
  const cfg = benchConfig(landing, join(tmp.path, 'out'), 'csv') as { tables: Record<string, unknown>[] }
  // retryStoppedSeconds is long: every retry below is triggered by a change, not by the clock
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, retryStoppedSeconds: 3600 }))
  const port = await freePort()
  const child: ChildProcess = spawn(
    process.execPath,
    [bin, '--watch', '-c', cfgPath, '--interval', '0.1', '--metrics-port', String(port)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let err = ''
  child.stderr!.on('data', (d) => (err += d))
  const exit = once(child, 'exit').then(([c]) => c as number | null)
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  const health = async (): Promise<number> => {
    try {
      return (await fetch(`http://127.0.0.1:${port}/healthz`)).status
    } catch {
      return 0
    }
  }
  const statePath = join(tmp.path, 'out', 'state.sqlite')
  const stem = (key: string): string => key.split('/').pop()!.replace('.csv', '')
  await until(
    'healthy',
    async () => (await health()) === 200,
    () => err,
  )

  // 1. a bad object stops the table; fixing the object (here: replacing it with a good one) resumes it
  const bad = join(landing, 'bench', 'orders', '20240612-235959999.csv')
  writeFileSync(bad, 'X,2024-06-12 23:59:59.000000,1,,,,,,,,\n')
  await until(
    'unhealthy',
    async () => (await health()) === 503,
    () => err,
  )
  const stoppedAt = lpf(statePath)
  rmSync(bad)
  drop(files[2]!)
  await until(
    'recovered after the object was removed',
    async () => (await health()) === 200 && lpf(statePath) === stem(files[2]!),
    () => err,
  )
  assert.ok(stoppedAt! < stem(files[2]!))
  assert.match(err, /"reason":"object removed"/)

  // 2. stopped again; a config change (quarantine bad rows) resumes it
  writeFileSync(bad, 'X,2024-06-12 23:59:59.000000,1,,,,,,,,\n')
  await until(
    'unhealthy again',
    async () => (await health()) === 503,
    () => err,
  )
  writeFileSync(
    cfgPath,
    JSON.stringify({
      ...cfg,
      retryStoppedSeconds: 3600,
      tables: cfg.tables.map((x) => ({ ...x, onBadRow: 'quarantine' })),
    }),
  )
  await until(
    'recovered after the config changed',
    async () => (await health()) === 200 && lpf(statePath) === '20240612-235959999',
    () => err,
  )
  assert.match(err, /"reason":"config changed"/)
  assert.equal(err.match(/"msg":"table stopped"/g)?.length, 2, 'each stop is logged once, not on every retry check')

  child.kill('SIGTERM')
  assert.equal(await exit, 0, err.slice(-3000))
})
