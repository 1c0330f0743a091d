// One process of the `tables` bench case: a first `run` over many tables, then watch mode: its first round (a
// restarted daemon: no table in memory), an idle round, and a round in which some tables got a new change file;
// the landing requests of each round (S3: by command, counted by client middleware) and the peak RSS. Prints one
// JSON line.
import { mkdirSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { join } from 'node:path'
import { parseConfig } from '../../src/config.js'
import { runWatch } from '../../src/watch.js'
import { runOnce } from '../../src/run.js'
import { openStore } from '../../src/store/open-store.js'
import { S3Store, createS3Client } from '../../src/store/s3-store.js'
import { LocalStore } from '../../src/store/local-store.js'
import type { Stores, TableResult } from '../../src/run.js'
import type { ObjectInfo, ObjectStore, StoreOptions } from '../../src/store/object-store.js'

const args = JSON.parse(process.argv[2]!) as {
  config: Record<string, unknown>
  baseDir: string
  tables: number
  changed: number
  newFile: string
  landingDir?: string
}
const config = parseConfig(args.config, args.baseDir)
/** Every landing request: when, and which (S3 command, or list/get for a folder). */
const requestLog: { at: number; what: string }[] = []
const count = (what: string): void => void requestLog.push({ at: performance.now(), what })

/** A folder landing that counts list and get calls (a folder has no requests: one list() = one tree walk). */
class CountingStore implements ObjectStore {
  constructor(private readonly inner: ObjectStore) {}
  get url(): string {
    return this.inner.url
  }
  list(prefix: string, opts?: StoreOptions & { startAfter?: string }): AsyncIterable<ObjectInfo> {
    count('list')
    return this.inner.list(prefix, opts)
  }
  get(key: string, opts?: StoreOptions): Promise<Uint8Array> {
    count('get')
    return this.inner.get(key, opts)
  }
  put(key: string, body: Uint8Array, opts?: StoreOptions): Promise<void> {
    return this.inner.put(key, body, opts)
  }
  delete(keys: readonly string[], opts?: StoreOptions): Promise<void> {
    return this.inner.delete(keys, opts)
  }
  close(): Promise<void> {
    return this.inner.close()
  }
}

let landing: ObjectStore
if (config.landing.startsWith('s3://')) {
  const client = createS3Client(config.s3 ?? {})
  client.middlewareStack.add(
    (next, context) => async (a) => {
      count((context.commandName ?? 'request').replace(/Command$/, ''))
      return next(a)
    },
    { step: 'initialize', name: 'countRequests' },
  )
  landing = new S3Store(config.landing, { ...(config.s3 ? { s3: config.s3 } : {}) }, client)
} else landing = new CountingStore(new LocalStore(join(args.baseDir, config.landing), config.landing))
const base = { baseDir: args.baseDir, ...(config.s3 ? { s3: config.s3 } : {}) }
const stores: Stores = {
  landing,
  raw: await openStore(config.raw, base),
  curated: await openStore(config.curated, base),
}

// ms: from the round's first poll starting to its last ending (polls of a round are staggered as the previous round
// ended them, so this is at least that spread); cpuMs: the process's CPU time (user + system) since the previous
// round ended (the process sleeps between rounds), the round's own cost on a loaded machine
interface Round {
  ms: number
  cpuMs: number
  requests: Record<string, number>
  ok: number
  unchanged: number
}
const rounds: Round[] = []
const controller = new AbortController()

const firstStarted = performance.now()
const first = await runOnce(config)
const firstRunMs = performance.now() - firstStarted
let cpuAt = process.cpuUsage()
const failed = first.tables.find((t) => t.error)
if (failed) throw new Error(`${failed.source}.${failed.table}: ${JSON.stringify(failed.error)}`)

// Round k is the k-th watch poll of every table: from the first of them starting to the last ending; its requests
// are those made in that window (rounds are far apart: idle polls take much less than the interval).
const pollsOf = new Map<string, number>()
const open = new Map<number, { start: number; end: number; polls: TableResult[] }>()
let dropAfter = Infinity
const onPoll = (r: TableResult): void => {
  if (r.error) throw r.error
  const label = `${r.source}.${r.table}`
  const k = pollsOf.get(label) ?? 0
  pollsOf.set(label, k + 1)
  const now = performance.now()
  const round = open.get(k) ?? { start: Infinity, end: 0, polls: [] }
  open.set(k, round)
  round.start = Math.min(round.start, now - r.ms)
  round.end = Math.max(round.end, now)
  round.polls.push(r)
  if (round.polls.length < args.tables) return
  open.delete(k)
  const requests: Record<string, number> = {}
  // poll times are whole milliseconds: 2 ms of slack at the start
  for (const q of requestLog)
    if (q.at >= round.start - 2 && q.at <= round.end) requests[q.what] = (requests[q.what] ?? 0) + 1
  const cpu = process.cpuUsage(cpuAt)
  cpuAt = process.cpuUsage()
  const done: Round = {
    ms: round.end - round.start,
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    requests,
    ok: round.polls.filter((p) => p.status === 'ok').length,
    unchanged: round.polls.filter((p) => p.status === 'unchanged').length,
  }
  // the changed round is the first one that starts after every change file landed
  if (rounds.length < 2 || (dropAfter > 0 && round.start > dropAfter)) rounds.push(done)
  if (rounds.length === 1 && profile) profile.post('Profiler.start')
  if (rounds.length === 2 && profile) stopProfile()
  if (rounds.length === 2 && dropAfter === Infinity) {
    dropAfter = -1
    void dropChanges().then(() => (dropAfter = performance.now()))
  }
  if (rounds.length === 3) controller.abort()
}

// BENCH_PROFILE=<file.cpuprofile>: a CPU profile of the idle round only (from the end of the restart round)
const profileFile = process.env.BENCH_PROFILE
const profile = profileFile ? new Session() : undefined
if (profile) {
  profile.connect()
  profile.post('Profiler.enable')
  profile.post('Profiler.setSamplingInterval', { interval: 200 })
}
function stopProfile(): void {
  profile!.post('Profiler.stop', (err, r) => {
    if (!err) writeFileSync(profileFile!, JSON.stringify(r.profile))
  })
}

const writer = args.landingDir ? undefined : await openStore(config.landing, base)

/** After the idle round: a new change file in the first `changed` tables, written outside the counted store. */
async function dropChanges(): Promise<void> {
  for (let i = 0; i < args.changed; i++) {
    const t = config.tables[i]!
    const body = Buffer.from(
      Array.from(
        { length: 20 },
        (_, k) => `U,2024-06-12 09:00:00.${String(k).padStart(6, '0')},${k * 7},changed ${k},${k}.25`,
      ).join('\n') + '\n',
    )
    if (args.landingDir) {
      mkdirSync(join(args.landingDir, t.path), { recursive: true })
      writeFileSync(join(args.landingDir, t.path, args.newFile), body)
    } else await writer!.put(`${t.path}/${args.newFile}`, body)
  }
}

await runWatch(config, {
  signal: controller.signal,
  intervalSeconds: Number(process.env.BENCH_INTERVAL ?? 3),
  stores,
  onPoll,
})
await Promise.all([stores.landing.close(), stores.raw.close(), stores.curated.close(), writer?.close()])
process.stdout.write(
  JSON.stringify({
    firstRunMs,
    restartRound: rounds[0],
    idle: rounds[1],
    changed: rounds[2],
    maxRssMB: process.resourceUsage().maxRSS / 1024,
  }) + '\n',
)
