// Starts a throwaway MinIO server on 127.0.0.1 for the S3 tests. The binary is built once by scripts/build-minio.sh.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, rmSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative, sep } from 'node:path'
import { CreateBucketCommand } from '@aws-sdk/client-s3'
import { cachedToolPath } from './cached-tool.js'
import pLimit from 'p-limit'
import { createS3Client, S3Store, type S3Options } from '../../src/store/s3-store.js'

export const MINIO_SKIP_REASON = 'MinIO not built: run bash scripts/build-minio.sh to enable the S3 tests'

export interface MinioServer {
  endpoint: string
  accessKey: string
  secretKey: string
  region: string
  /** A KMS key the server has (MINIO_KMS_SECRET_KEY), so SSE-S3 and SSE-KMS writes work. */
  kmsKeyId: string
  s3Options: S3Options
  createBucket(name: string): Promise<void>
  /** Uploads every file under localDir to s3://bucket/prefix/<relative path>; returns the number of files. */
  upload(localDir: string, bucket: string, prefix: string): Promise<number>
  /** SIGTERM (then SIGKILL) and removes the data folder. Final. */
  stop(): Promise<void>
  /** SIGKILL, keeping the data folder: simulates the server dying in the middle of a run. */
  kill(): Promise<void>
  /** Starts the server again on the same port and data folder. */
  restart(): Promise<void>
}

const START_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 10_000

/** MINIO_BIN, else the path scripts/build-minio.sh caches to. */
export function minioBinaryPath(): string {
  return cachedToolPath({
    env: 'MINIO_BIN',
    script: 'build-minio.sh',
    versionVar: 'MINIO_VERSION',
    under: (v) => join('minio', v, 'bin', 'minio'),
  })
}

/**
 * Starts MinIO, or returns undefined when it is not built (after `t.skip` with the reason, when given a test context).
 * In CI (CI=true) a missing binary is an error: the S3 tests must not silently disappear there.
 */
export async function startMinio(t?: { skip(message?: string): void }): Promise<MinioServer | undefined> {
  const bin = minioBinaryPath()
  if (!existsSync(bin)) {
    if (process.env['CI'] === 'true') {
      throw new Error(`MinIO is required in CI but ${bin} does not exist: run bash scripts/build-minio.sh first`)
    }
    t?.skip(MINIO_SKIP_REASON)
    return undefined
  }
  const accessKey = `cdc${randomBytes(6).toString('hex')}`
  const secretKey = randomBytes(18).toString('hex')
  // A static single-key KMS: without one MinIO answers every SSE request with 501 NotImplemented.
  const kmsKeyId = 'cdc-test-key'
  const kmsSecret = `${kmsKeyId}:${randomBytes(32).toString('base64')}`
  const dataDir = await mkdtemp(join(tmpdir(), 'cdc-minio-'))
  dataDirs.add(dataDir)
  let proc: MinioProcess | undefined
  // A freshly found free port can be taken by someone else before MinIO binds it: retry with new ports.
  for (let attempt = 1; proc === undefined; attempt++) {
    const [port, consolePort] = await freePorts(2)
    try {
      proc = await MinioProcess.start(bin, dataDir, port!, consolePort!, accessKey, secretKey, kmsSecret)
    } catch (err) {
      if (attempt >= 3) {
        await rm(dataDir, { recursive: true, force: true })
        dataDirs.delete(dataDir)
        throw err
      }
    }
  }
  // The SDK default provider chain reads these; a leftover session token or profile would override or break them.
  process.env['AWS_ACCESS_KEY_ID'] = accessKey
  process.env['AWS_SECRET_ACCESS_KEY'] = secretKey
  delete process.env['AWS_SESSION_TOKEN']
  delete process.env['AWS_PROFILE']

  let current = proc
  const endpoint = `http://127.0.0.1:${current.port}`
  const region = 'us-east-1'
  const s3Options: S3Options = { endpoint, region, forcePathStyle: true }
  return {
    endpoint,
    accessKey,
    secretKey,
    region,
    kmsKeyId,
    s3Options,
    async createBucket(name) {
      const client = createS3Client(s3Options)
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }))
      } finally {
        client.destroy()
      }
    },
    async upload(localDir, bucket, prefix) {
      const files = await walk(localDir)
      const store = new S3Store(prefix === '' ? `s3://${bucket}` : `s3://${bucket}/${prefix}`, { s3: s3Options })
      const limit = pLimit(8)
      try {
        await Promise.all(
          files.map((f) => limit(async () => store.put(relative(localDir, f).split(sep).join('/'), await readFile(f)))),
        )
      } finally {
        await store.close()
      }
      return files.length
    },
    async stop() {
      await current.stop(true)
      await rm(dataDir, { recursive: true, force: true })
      dataDirs.delete(dataDir)
    },
    async kill() {
      await current.stop(false)
    },
    async restart() {
      await current.stop(true)
      current = await MinioProcess.start(
        bin,
        dataDir,
        current.port,
        current.consolePort,
        accessKey,
        secretKey,
        kmsSecret,
      )
    },
  }
}

/** Live MinIO children and data folders of this process, cleaned up when it exits or is interrupted. */
const live = new Set<ChildProcess>()
const dataDirs = new Set<string>()
let handlersInstalled = false

function cleanUpSync(): void {
  // At 'exit' nothing asynchronous can run, so there is no waiting for a graceful SIGTERM: SIGKILL directly.
  for (const c of live) c.kill('SIGKILL')
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true })
}

function installExitHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', cleanUpSync)
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanUpSync()
      process.kill(process.pid, sig) // the listener is gone now: the default action ends the process as before
    })
  }
}

class MinioProcess {
  private output = ''

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly consolePort: number,
  ) {}

  static async start(
    bin: string,
    dataDir: string,
    port: number,
    consolePort: number,
    user: string,
    password: string,
    kmsSecret: string,
  ): Promise<MinioProcess> {
    installExitHandlers()
    const child = spawn(
      bin,
      ['server', dataDir, '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'],
      {
        env: {
          ...process.env,
          MINIO_ROOT_USER: user,
          MINIO_ROOT_PASSWORD: password,
          MINIO_KMS_SECRET_KEY: kmsSecret,
          MINIO_UPDATE: 'off',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    live.add(child)
    const p = new MinioProcess(child, port, consolePort)
    const keep = (b: Buffer) => {
      p.output = (p.output + b.toString()).slice(-8192) // the tail is enough to explain a failed start
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    child.on('exit', () => live.delete(child))
    // A test that forgets stop() must not keep node alive; the exit handler kills the server.
    child.unref()
    ;(child.stdout as unknown as { unref?: () => void } | null)?.unref?.()
    ;(child.stderr as unknown as { unref?: () => void } | null)?.unref?.()
    try {
      await p.waitReady()
    } catch (err) {
      await p.stop(false)
      throw err
    }
    return p
  }

  private exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null
  }

  private async waitReady(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS
    const spawnError = new Promise<Error>((resolve) => this.child.once('error', resolve))
    let error: Error | undefined
    void spawnError.then((e) => (error = e))
    while (Date.now() < deadline) {
      if (error !== undefined) throw new Error(`MinIO could not be started: ${error.message}`)
      if (this.exited())
        throw new Error(
          `MinIO exited (${this.child.exitCode ?? this.child.signalCode}) while starting:\n${this.output}`,
        )
      try {
        const res = await fetch(`http://127.0.0.1:${this.port}/minio/health/ready`, {
          signal: AbortSignal.timeout(2000),
        })
        await res.arrayBuffer()
        if (res.status === 200) return
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200))
    }
    throw new Error(
      `MinIO was not ready on 127.0.0.1:${this.port} within ${START_TIMEOUT_MS / 1000} s:\n${this.output}`,
    )
  }

  /** Stops the process: SIGTERM then SIGKILL after a bounded wait when `graceful`, else SIGKILL at once. */
  async stop(graceful: boolean): Promise<void> {
    if (this.exited()) return
    const exit = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    this.child.kill(graceful ? 'SIGTERM' : 'SIGKILL')
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS)))
    if ((await Promise.race([exit, timeout])) === 'timeout') {
      this.child.kill('SIGKILL')
      await Promise.race([exit, new Promise((r) => setTimeout(r, STOP_TIMEOUT_MS))])
    }
    clearTimeout(timer)
  }
}

async function freePorts(n: number): Promise<number[]> {
  // Hold all n servers open at once so the ports differ, then release them for MinIO.
  const servers = Array.from({ length: n }, () => createServer())
  const ports = await Promise.all(
    servers.map(
      (s) =>
        new Promise<number>((resolve, reject) => {
          s.once('error', reject)
          s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port))
        }),
    ),
  )
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  return ports
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...(await walk(p)))
    else if (e.isFile()) out.push(p)
  }
  return out.sort()
}
