// Starts a throwaway moto server (an AWS API emulator: Glue, IAM) on 127.0.0.1 on a free port for the catalog
// tests. moto is installed once by scripts/setup-moto.sh into a cached virtualenv; CDC_APPLY_MOTO_SERVER names its
// moto_server. Like MinIO (helpers/minio.ts): skipped with a printed reason when missing, required when CI=true.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { cachedToolPath } from './cached-tool.js'

export const MOTO_SKIP_REASON =
  'moto is not installed: run bash scripts/setup-moto.sh (and export CDC_APPLY_MOTO_SERVER) to enable the Glue tests'
/** moto's fixed account id (its ARNs use it). */
export const MOTO_ACCOUNT = '123456789012'

export interface MotoServer {
  endpoint: string
  port: number
  region: string
  /** Runs a Python snippet with boto3 (from moto's virtualenv) against this server; `ENDPOINT` is defined. */
  python(code: string): string
  stop(): Promise<void>
}

export interface MotoOptions {
  /**
   * Enforce IAM on every request after the first `n` (moto's INITIAL_NO_AUTH_ACTION_COUNT): requests must then
   * be signed with the keys of an IAM user created on this server, and are checked against its policies.
   */
  iamAfter?: number
}

/** CDC_APPLY_MOTO_SERVER, else where scripts/setup-moto.sh installs it. */
export function motoServerPath(): string {
  return cachedToolPath({
    env: 'CDC_APPLY_MOTO_SERVER',
    script: 'setup-moto.sh',
    versionVar: 'MOTO_VERSION',
    under: (v) => join(`moto-${v}`, 'bin', 'moto_server'),
  })
}

const live = new Set<ChildProcess>()
let exitHook = false

/** Starts moto, or returns undefined after `t.skip(reason)` when it is not installed (an error in CI). */
export async function startMoto(
  t: { skip(message?: string): void } | undefined,
  opts: MotoOptions = {},
): Promise<MotoServer | undefined> {
  const bin = motoServerPath()
  if (!existsSync(bin)) {
    if (process.env['CI'] === 'true')
      throw new Error(`moto is required in CI but ${bin} does not exist: run bash scripts/setup-moto.sh first`)
    t?.skip(MOTO_SKIP_REASON)
    return undefined
  }
  if (!exitHook) {
    exitHook = true
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL')
    })
  }
  const python = join(dirname(bin), 'python')
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const env: NodeJS.ProcessEnv = { ...process.env, MOTO_PORT: String(port) }
    if (opts.iamAfter !== undefined) env['INITIAL_NO_AUTH_ACTION_COUNT'] = String(opts.iamAfter)
    else delete env['INITIAL_NO_AUTH_ACTION_COUNT']
    const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(child)
    let output = ''
    const keep = (b: Buffer): void => {
      output = (output + b.toString()).slice(-4096)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    child.on('exit', () => live.delete(child))
    child.unref()
    ;(child.stdout as unknown as { unref?: () => void } | null)?.unref?.()
    ;(child.stderr as unknown as { unref?: () => void } | null)?.unref?.()
    const endpoint = `http://127.0.0.1:${port}`
    const stop = async (): Promise<void> => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    if (await ready(endpoint, child)) {
      return {
        endpoint,
        port,
        region: 'us-east-1',
        python(code) {
          const r = spawnSync(python, ['-c', `import boto3, json\nENDPOINT = ${JSON.stringify(endpoint)}\n${code}`], {
            encoding: 'utf8',
            env: { ...process.env, AWS_DEFAULT_REGION: 'us-east-1' },
          })
          if (r.status !== 0) throw new Error(`python against moto failed (${r.status}):\n${r.stderr}`)
          return r.stdout
        },
        stop,
      }
    }
    await stop()
    if (attempt >= 3) throw new Error(`moto did not start on ${endpoint}:\n${output}`)
  }
}

/** Polls moto's own API (/moto-api/) until it answers; false when the process exited or 30 s passed. */
async function ready(endpoint: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false
    try {
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(2000) })
      await res.arrayBuffer()
      if (res.status === 200) return true
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150))
  }
  return false
}

/** A port that nothing listens on now (also used as the "unreachable catalog" endpoint). */
export async function freePort(): Promise<number> {
  const s = createServer()
  const port = await new Promise<number>((resolve, reject) => {
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port))
  })
  await new Promise((r) => s.close(r))
  return port
}
