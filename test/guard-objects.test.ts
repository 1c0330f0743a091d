// Guard rails for odd objects and locations (issue 11): half-written and far-future objects, stale locks of a
// process with the same PID, large objects and memory bounds, local error classes, unwritable outputs, misspelt
// folders, symlinks, BOMs, repeated warnings and credentials in URLs.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  existsSync,
  mkdirSync,
  rmSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
  renameSync,
} from 'node:fs'
import { gzipSync } from 'node:zlib'
import { hostname } from 'node:os'
import { join, dirname } from 'node:path'
import Database from 'better-sqlite3'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce, type TableResult } from '../src/run.js'
import { pollDone, runWatch } from '../src/watch.js'
import { StateStore, processIdentity } from '../src/state/index.js'
import { CdcError, exitCodeFor, redactUrl } from '../src/errors.js'
import { LocalStore } from '../src/store/local-store.js'
import { readObject, RecordSplitter } from '../src/read-object.js'
import { parseDmsName } from '../src/discover.js'
import { ndjsonLogger } from '../src/log.js'
import { editDistance, nearest } from '../src/preflight.js'
import { columnValues } from '../src/arrow/values.js'
import { Metrics } from '../src/metrics.js'
import { readOutputTree, tempDir, type Row } from './helpers/outputs.js'

const TABLE = 'shop/items'
const OLD = new Date('2024-06-10T08:00:00Z')

function table(extra: object = {}): object {
  return {
    name: 'items',
    path: TABLE,
    includeOpForFullLoad: true,
    columns: [{ name: 'ts' }, { name: 'id', type: 'integer' }, { name: 'name' }],
    primaryKey: ['id'],
    timestampColumn: 'ts',
    ...extra,
  }
}

interface Lake {
  dir: string
  landing: string
  put(name: string, text: string | Uint8Array, mtime?: Date): string
  config(extra?: object, top?: object): Config
  run(extra?: object, top?: object): Promise<Awaited<ReturnType<typeof runOnce>>['tables'][number]>
  curated(date: string): Row[]
  wm(): { fullLoad: boolean; lpf: string } | undefined
}

function lake(t: { after: (fn: () => void) => void }): Lake {
  const tmp = tempDir('cdc-guard-')
  t.after(tmp.remove)
  const landing = join(tmp.path, 'landing')
  mkdirSync(landing, { recursive: true })
  const l: Lake = {
    dir: tmp.path,
    landing,
    put(name, text, mtime = OLD) {
      const p = join(landing, TABLE, name)
      mkdirSync(dirname(p), { recursive: true })
      writeFileSync(p, text)
      utimesSync(p, mtime, mtime)
      return p
    },
    config(extra = {}, top = {}) {
      return parseConfig(
        {
          source: 'S',
          landing,
          raw: 'out/raw',
          curated: 'out/curated',
          state: 'out/state.sqlite',
          tables: [table(extra)],
          ...top,
        },
        tmp.path,
      )
    },
    async run(extra = {}, top = {}) {
      return (await runOnce(l.config(extra, top))).tables[0]!
    },
    curated(date) {
      return readOutputTree(join(tmp.path, 'out', 'curated'))[`S/items/${date}`] ?? []
    },
    wm() {
      if (!existsSync(join(tmp.path, 'out', 'state.sqlite'))) return undefined
      const s = StateStore.open(join(tmp.path, 'out', 'state.sqlite'))
      try {
        return s.get('S', 'items')
      } finally {
        s.close()
      }
    },
  }
  return l
}

const LOAD = 'I,2024-06-10 08:00:00.000000,1,apple\nI,2024-06-10 08:00:00.000000,2,pear\n'
const names = (rows: Row[]): string[] => rows.map((r) => `${r.id}:${r.name}`).sort()
const code = (r: { error: unknown }): string | undefined => (r.error as CdcError | undefined)?.code

function capture(): { log: ReturnType<typeof ndjsonLogger>; lines: () => { msg: string; [k: string]: unknown }[] } {
  const out: string[] = []
  return {
    log: ndjsonLogger((l) => out.push(l), 'debug'),
    lines: () => out.map((l) => JSON.parse(l) as { msg: string }),
  }
}

// ---------------------------------------------------------------- item 8: half-written objects

test('a local object modified less than settleSeconds ago is not read yet, nor anything after it; once settled it is applied, not called late', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put('20240610-100000000.csv', 'U,2024-06-10 09:59:00.000000,1,apple v2\n')
  l.put('20240610-110000000.csv', 'U,2024-06-10 10:59:00.000000,2,pear v', new Date()) // a copy in progress
  l.put('20240610-120000000.csv', 'D,2024-06-10 11:59:00.000000,1,\n')
  const r = await l.run({}, { settleSeconds: 60 })
  assert.equal(r.error, undefined, r.error?.message)
  assert.equal(l.wm()?.lpf, '20240610-100000000', 'the watermark stops before the unsettled object')
  assert.deepEqual(names(l.curated('20240610')), ['1:apple v2', '2:pear'])
  // the copy completes; once it is older than settleSeconds it and the files after it are applied in order
  l.put('20240610-110000000.csv', 'U,2024-06-10 10:59:00.000000,2,pear v2\n', new Date(Date.now() - 120_000))
  const again = await l.run({}, { settleSeconds: 60 })
  assert.equal(again.error, undefined, again.error?.message)
  assert.equal(l.wm()?.lpf, '20240610-120000000')
  assert.deepEqual(names(l.curated('20240610')), ['2:pear v2'])
})

test('an unsettled full-load part makes the table wait: nothing is written', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD, new Date())
  const r = await l.run({}, { settleSeconds: 60 })
  assert.equal(r.error, undefined)
  assert.equal(r.status, 'unchanged')
  assert.equal(l.wm(), undefined)
  assert.equal(existsSync(join(l.dir, 'out', 'curated')), false)
  // S3-like stores (no settles flag) and settleSeconds 0 read at once
  assert.equal((await l.run({}, { settleSeconds: 0 })).status, 'ok')
})

// ---------------------------------------------------------------- item 9: far-future names

test('a change-file name more than maxFutureSeconds ahead of the clock is CDC_FILE_NAME_INVALID naming the file; nothing is written', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put('20240610-100000000.csv', 'U,2024-06-10 09:59:00.000000,1,apple v2\n')
  const ahead = new Date(Date.now() + 365 * 86_400_000)
  const stem = `${ahead.toISOString().slice(0, 10).replaceAll('-', '')}-120000000`
  l.put(`${stem}.csv`, 'U,2024-06-10 09:59:00.000000,1,apple v3\n')
  const r = await l.run()
  assert.equal(code(r), 'CDC_FILE_NAME_INVALID')
  assert.match(r.error!.message, new RegExp(`${stem}\\.csv.*ahead of the clock`))
  assert.equal(exitCodeFor(r.error), 3)
  assert.equal(l.wm(), undefined)
  assert.equal(existsSync(join(l.dir, 'out', 'raw', 'S')), false)
  // a name one hour ahead is within the default day
  rmSync(join(l.landing, TABLE, `${stem}.csv`))
  const soon = new Date(Date.now() + 3_600_000).toISOString()
  l.put(
    `${soon.slice(0, 10).replaceAll('-', '')}-${soon.slice(11, 13)}0000000.csv`,
    'U,2024-06-10 09:59:00.000000,1,apple v3\n',
  )
  assert.equal((await l.run()).error, undefined)
  assert.equal(parseDmsName('a/20240101-000000000.csv', { format: 'csv', label: 'x' })?.kind, 'cdc')
})

// ---------------------------------------------------------------- item 11: stale lock of a process with the same PID

test('a lock left by an earlier process with the same PID and hostname (a container restarted in place) is taken over; a live holder in this process still blocks', async (t) => {
  const ours = processIdentity(process.pid)
  if (ours === undefined) return t.skip('no /proc on this system: process identity falls back to PID liveness')
  const tmp = tempDir('cdc-lock-')
  t.after(tmp.remove)
  const path = join(tmp.path, 'state.sqlite')
  StateStore.open(path).close()
  const db = new Database(path)
  const [boot, start] = ours.split(':')
  // the previous process: same PID, same host, fresh heartbeat, but another start time
  db.prepare(
    'INSERT INTO process_lock (Id, Token, Pid, Host, StartedAt, HeartbeatAt, Proc) VALUES (1, ?, ?, ?, ?, ?, ?)',
  ).run('previous', process.pid, hostname(), new Date().toISOString(), Date.now(), `${boot}:${Number(start) - 100}`)
  db.close()
  const s = StateStore.open(path)
  s.lock()
  const other = StateStore.open(path)
  assert.throws(
    () => other.lock(),
    (e: CdcError) => e.code === 'CDC_STATE_LOCKED',
  )
  other.close()
  s.close()
  // a lock from an earlier boot is stale too
  const db2 = new Database(path)
  db2
    .prepare(
      'INSERT INTO process_lock (Id, Token, Pid, Host, StartedAt, HeartbeatAt, Proc) VALUES (1, ?, ?, ?, ?, ?, ?)',
    )
    .run('before-reboot', process.pid, hostname(), new Date().toISOString(), Date.now(), `another-boot:${start}`)
  db2.close()
  const s2 = StateStore.open(path)
  s2.lock()
  s2.close()
})

// ---------------------------------------------------------------- item 13: large objects, memory bounds, error classes

test('a CSV record longer than limits.maxRecordBytes is CDC_RECORD_TOO_LARGE at file:line, not CDC_INTERNAL; nothing is written', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put(
    '20240610-100000000.csv',
    `U,2024-06-10 09:59:00.000000,1,apple\nU,2024-06-10 09:59:00.000000,2,${'x'.repeat(300_000)}\n`,
  )
  const r = await l.run({}, { limits: { maxRecordBytes: 100_000 } })
  assert.equal(code(r), 'CDC_RECORD_TOO_LARGE')
  assert.match(
    r.error!.message,
    /shop\/items\/20240610-100000000\.csv:2 is longer than limits\.maxRecordBytes = 100000/,
  )
  assert.equal(exitCodeFor(r.error), 3)
  assert.equal(l.wm(), undefined)
})

test('a small gzip that unpacks past limits.maxObjectBytes is CDC_OBJECT_TOO_LARGE (streamed: never unpacked whole)', async (t) => {
  const l = lake(t)
  l.put(
    'LOAD00000001.csv.gz',
    gzipSync(
      Buffer.concat([
        Buffer.from('I,2024-06-10 08:00:00.000000,1,'),
        Buffer.alloc(20_000_000, 0x61),
        Buffer.from('\n'),
      ]),
    ),
  )
  const r = await l.run({}, { limits: { maxObjectBytes: 5_000_000, maxRecordBytes: 50_000_000 } })
  assert.equal(code(r), 'CDC_OBJECT_TOO_LARGE')
  assert.match(
    r.error!.message,
    /LOAD00000001\.csv\.gz is larger than limits\.maxObjectBytes = 5000000 bytes once decompressed/,
  )
})

test('an object over 2 GiB (a sparse file) is streamed: it fails on its content (one endless record), not as an unreadable source', async (t) => {
  const l = lake(t)
  const p = l.put('LOAD00000001.csv', '')
  try {
    truncateSync(p, 2 ** 31 + 4096)
  } catch (err) {
    return t.skip(`cannot create a sparse 2 GiB file here: ${(err as Error).message}`)
  }
  utimesSync(p, OLD, OLD)
  const r = await l.run({}, { limits: { maxRecordBytes: 4 * 1024 * 1024 } })
  assert.equal(code(r), 'CDC_RECORD_TOO_LARGE', r.error?.message)
  assert.match(r.error!.message, /LOAD00000001\.csv:1 /)
})

/** Runs a CSV object through readObject cut into pieces of `piece` bytes and arriving in chunks of `chunk` bytes. */
async function decode(text: Buffer, piece: number, chunk: number, extra: object = {}) {
  const cfg = parseConfig(
    { source: 'S', landing: 'l', raw: 'r', curated: 'c', state: 's', tables: [table(extra)] },
    '/tmp',
  )
  const t = cfg.tables[0]!
  const f = parseDmsName(`${TABLE}/20240610-100000000.csv`, { format: 'csv', label: 'S.items' })!
  async function* chunks() {
    for (let i = 0; i < text.length; i += chunk) yield text.subarray(i, i + chunk)
  }
  const r = await readObject(
    t,
    f,
    chunks(),
    undefined,
    { maxRecordBytes: 1 << 20, maxObjectBytes: 1 << 30 },
    { pieceBytes: piece },
  )
  const rows = r.batches.flatMap((b) => {
    const name = columnValues(b.columns[2]!)
    return Array.from({ length: b.length }, (_, i) => ({
      key: b.keys[i],
      op: b.ops[i],
      line: b.lines?.[i],
      row: b.rowNums ? b.rowNums[i] : b.rowBase + i + 1,
      name: name[i],
    }))
  })
  return { rows, rejected: r.rejected.map((x) => `${x.line}:${x.code}`), checksum: r.checksum }
}

test('CSV read in pieces of whole records equals the object read whole: quotes, escaped quotes, line breaks in fields, CRLF, a BOM, quarantined rows', async () => {
  const lines: string[] = []
  for (let i = 1; i <= 400; i++) {
    const name =
      i % 7 === 0 ? `"multi\nline ""${i}"""` : i % 5 === 0 ? `"a,b ${i}"` : i % 11 === 0 ? `plain${i}` : `n${i}`
    const op = i % 13 === 0 ? 'X' : i % 3 === 0 ? 'U' : 'I'
    lines.push(
      `${op},2024-06-10 08:00:${String(i % 60).padStart(2, '0')}.000000,${i},${name}${i % 4 === 0 ? '\r\n' : '\n'}`,
    )
  }
  const text = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(lines.join(''))])
  const whole = await decode(text, 1 << 24, 1 << 24, { onBadRow: 'quarantine' })
  assert.equal(whole.rows.length + whole.rejected.length, 400)
  assert.ok(whole.rejected.length > 0)
  for (const [piece, chunk] of [
    [50, 7],
    [300, 64],
    [1000, 1],
    [4096, 333],
  ] as const) {
    assert.deepEqual(
      await decode(text, piece, chunk, { onBadRow: 'quarantine' }),
      whole,
      `pieces of ${piece} bytes, chunks of ${chunk}`,
    )
  }
  // the BOM is stripped: the first row's Op is read as I
  assert.equal(whole.rows[0]!.op, 0x49)
  // with a header (AddColumnName=true): only the first piece has it; lines and rows stay those of the object
  const headed = Buffer.concat([Buffer.from('Op,ts,id,name\n'), text.subarray(3)])
  const wholeH = await decode(headed, 1 << 24, 1 << 24, { onBadRow: 'quarantine', header: true })
  assert.equal(wholeH.rows[0]!.line, 2)
  assert.deepEqual(
    wholeH.rows.map((r) => r.key),
    whole.rows.map((r) => r.key),
  )
  assert.deepEqual(await decode(headed, 200, 50, { onBadRow: 'quarantine', header: true }), wholeH)
})

test('RecordSplitter cuts only at record ends, counts physical lines, and names the line of a record that grows too long', () => {
  const cuts: { bytes: string; firstLine: number }[] = []
  const s = new RecordSplitter(4, 1000, () => {
    throw new Error('too large')
  })
  for (const c of ['a,"x\ny",b\n', 'c,d\n', 'e,"f""\n', 'g"\n', 'h'])
    for (const p of s.push(Buffer.from(c))) cuts.push({ bytes: p.bytes.toString(), firstLine: p.firstLine })
  const last = s.end()!
  cuts.push({ bytes: last.bytes.toString(), firstLine: last.firstLine })
  assert.equal(cuts.map((c) => c.bytes).join(''), 'a,"x\ny",b\nc,d\ne,"f""\ng"\nh')
  for (const c of cuts.slice(0, -1)) assert.ok(c.bytes.endsWith('\n'))
  assert.deepEqual(
    cuts.map((c) => c.firstLine),
    [1, 3, 4, 6].slice(0, cuts.length),
  )
  const big = new RecordSplitter(10, 20, (line, bytes) => {
    throw new Error(`line ${line} ${bytes}`)
  })
  big.push(Buffer.from('ok\nok\n'))
  assert.throws(() => big.push(Buffer.from('x'.repeat(30))), /line 3 30/)
})

test('local errors are classified: a folder where an object should be (EISDIR) and a file where a folder should be (ENOTDIR) are permanent; a missing landing root is CDC_SOURCE_NOT_FOUND with the nearest names', async (t) => {
  const tmp = tempDir('cdc-errno-')
  t.after(tmp.remove)
  mkdirSync(join(tmp.path, 'land', 'a', 'dir.csv'), { recursive: true })
  const store = new LocalStore(join(tmp.path, 'land'))
  await assert.rejects(
    (async () => {
      for await (const _ of store.getStream('a/dir.csv')) continue
    })(),
    (e: CdcError) => e.code === 'CDC_SOURCE_UNAVAILABLE' && !e.transient,
  )
  writeFileSync(join(tmp.path, 'blocker'), 'x')
  const out = new LocalStore(join(tmp.path, 'blocker', 'raw'))
  await assert.rejects(
    out.put('S/t/x.parquet', new Uint8Array(1)),
    (e: CdcError) => e.code === 'CDC_WRITE_FAILED' && !e.transient,
  )
  await assert.rejects(
    new LocalStore(join(tmp.path, 'nope')).checkRoot(),
    (e: CdcError) => e.code === 'CDC_SOURCE_NOT_FOUND' && !e.transient,
  )
  const cfg = parseConfig(
    {
      source: 'S',
      landing: 'lnad',
      raw: 'out/raw',
      curated: 'out/curated',
      state: 'out/state.sqlite',
      tables: [table()],
    },
    tmp.path,
  )
  await assert.rejects(
    runOnce(cfg),
    (e: CdcError) =>
      e.code === 'CDC_SOURCE_NOT_FOUND' && /did you mean "land"/.test(e.hint ?? '') && exitCodeFor(e) === 4,
  )
  assert.equal(existsSync(join(tmp.path, 'out', 'curated')), false)
})

// ---------------------------------------------------------------- item 14: unwritable outputs

test('an output location that cannot be written is CDC_OUTPUT_NOT_WRITABLE before any input is read; no state file is created', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', 'X,2024-06-10 08:00:00.000000,1,apple\n') // would fail as CDC_ROW_INVALID_OP if read
  writeFileSync(join(l.dir, 'blocker'), 'a file where a folder should be')
  for (const top of [
    { raw: 'blocker/raw' },
    { curated: 'blocker' },
    { state: 'blocker/state.sqlite' },
    { cache: 'blocker/cache' },
    { outputs: ['blocker/marts'] },
  ]) {
    await assert.rejects(
      l.run({}, top),
      (e: CdcError) =>
        e.code === 'CDC_OUTPUT_NOT_WRITABLE' &&
        !e.transient &&
        exitCodeFor(e) === 4 &&
        e.message.includes(Object.keys(top)[0]!),
      JSON.stringify(top),
    )
    assert.equal(existsSync(join(l.dir, 'out', 'state.sqlite')), false)
  }
  await assert.rejects(
    runWatch(l.config({}, { raw: 'blocker/raw' }), { signal: new AbortController().signal, intervalSeconds: 1 }),
    (e: CdcError) => e.code === 'CDC_OUTPUT_NOT_WRITABLE',
  )
})

// ---------------------------------------------------------------- item 15: misspelt folders

test('a misspelt tables[].path is CDC_TABLE_FOLDER_MISSING (exit 2) naming the nearest folder; with a watermark it is exit 6; missingFolder "ignore" marks a folder gone on purpose', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  const typo = await l.run({ path: 'shop/itmes' })
  assert.equal(code(typo), 'CDC_TABLE_FOLDER_MISSING')
  assert.equal(exitCodeFor(typo.error), 2)
  assert.match((typo.error as CdcError).hint!, /did you mean "shop\/items"/)
  const typo2 = await l.run({ path: 'shpo/items' })
  assert.match((typo2.error as CdcError).hint!, /did you mean "shop\/items"/)
  assert.equal(l.wm(), undefined)
  // an existing folder without DMS files and without a watermark: the full load has not arrived yet
  mkdirSync(join(l.landing, 'shop', 'orders'))
  assert.equal((await l.run({ path: 'shop/orders' })).status, 'no-files')
  // with a watermark, a vanished folder is an error unless marked gone on purpose
  assert.equal((await l.run()).status, 'ok')
  renameSync(join(l.landing, TABLE), join(l.landing, 'shop', 'old-items'))
  const gone = await l.run()
  assert.equal(code(gone), 'CDC_TABLE_FOLDER_MISSING')
  assert.equal(exitCodeFor(gone.error), 6)
  const ignored = await l.run({ missingFolder: 'ignore' })
  assert.equal(ignored.error, undefined)
  assert.equal(ignored.status, 'no-files')
  assert.equal(l.wm()?.lpf, '20240610-000000000')
})

test('nearest folder names: edit distance, case-insensitive, at most three', () => {
  assert.equal(editDistance('items', 'itmes'), 2)
  assert.deepEqual(nearest('itmes', ['items', 'orders', 'item', 'x']), ['item', 'items'])
  assert.deepEqual(nearest('ORDERS', ['orders']), ['orders'])
})

// ---------------------------------------------------------------- item 20: symlinks, BOM, repeated warnings, credentials

test('a symbolic link in a local landing is skipped with one warning; a UTF-8 BOM at the start of an object is stripped', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(LOAD)]))
  writeFileSync(join(l.dir, 'elsewhere.csv'), 'U,2024-06-10 09:59:00.000000,1,apple v2\n')
  symlinkSync(join(l.dir, 'elsewhere.csv'), join(l.landing, TABLE, '20240610-100000000.csv'))
  const c = capture()
  const r = (await runOnce(l.config(), { logger: c.log })).tables[0]!
  assert.equal(r.error, undefined, r.error?.message)
  assert.deepEqual(names(l.curated('20240610')), ['1:apple', '2:pear'])
  const warned = c.lines().filter((x) => x.msg.startsWith('symbolic link skipped'))
  assert.equal(warned.length, 1)
  assert.equal(warned[0]!['object'], `${TABLE}/20240610-100000000.csv`)
})

test('in watch mode a lasting condition (an empty table folder) is logged once, not every poll', async (t) => {
  const l = lake(t)
  mkdirSync(join(l.landing, TABLE), { recursive: true })
  const c = capture()
  const controller = new AbortController()
  let polls = 0
  await runWatch(l.config(), {
    logger: c.log,
    signal: controller.signal,
    intervalSeconds: 0.01,
    onPoll: () => {
      if (++polls === 5) controller.abort()
    },
  })
  assert.equal(c.lines().filter((x) => x.msg.startsWith('no DMS files under the table folder')).length, 1)
})

test('an s3.endpoint with user:password is redacted in messages and hints', async (t) => {
  assert.equal(
    redactUrl('nothing answered at http://admin:s3cret@127.0.0.1:9/: check'),
    'nothing answered at http://***@127.0.0.1:9/: check',
  )
  const tmp = tempDir('cdc-redact-')
  t.after(tmp.remove)
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true'
  process.env['AWS_ACCESS_KEY_ID'] ??= 'test'
  process.env['AWS_SECRET_ACCESS_KEY'] ??= 'test'
  const cfg = parseConfig(
    {
      source: 'S',
      landing: 's3://bucket/dms',
      raw: 'out/raw',
      curated: 'out/curated',
      state: 'out/state.sqlite',
      s3: { endpoint: 'http://admin:s3cret@127.0.0.1:9', region: 'us-east-1', maxAttempts: 1 },
      tables: [table()],
    },
    tmp.path,
  )
  const r = (await runOnce(cfg)).tables[0]!
  assert.ok(r.error, 'the closed port fails')
  const e = r.error as CdcError
  assert.doesNotMatch(`${e.message} ${e.hint ?? ''}`, /s3cret/)
  assert.match(e.hint ?? '', /\*\*\*@127\.0\.0\.1/)
})

// ---------------------------------------------------------------- issue 12: defects found by the review

test('watch: a poll that ends ok logs "poll done" once, at info only when it applied files', () => {
  const lines = (r: { status: TableResult['status']; files: number }): { level: number; advanced: boolean } => {
    const c = capture()
    const advanced = pollDone(c.log, { ...r, rows: 0, lpf: undefined, ms: 1 })
    const done = c.lines().filter((x) => x.msg === 'poll done')
    assert.equal(done.length, 1, `status ${r.status} with ${r.files} files: ${JSON.stringify(done)}`)
    return { level: Number(done[0]!['level']), advanced }
  }
  const INFO = 30
  const DEBUG = 20
  assert.deepEqual(lines({ status: 'ok', files: 3 }), { level: INFO, advanced: true })
  assert.deepEqual(lines({ status: 'ok', files: 0 }), { level: DEBUG, advanced: false })
  assert.deepEqual(lines({ status: 'unchanged', files: 0 }), { level: DEBUG, advanced: false })
  assert.deepEqual(lines({ status: 'no-files', files: 0 }), { level: DEBUG, advanced: false })
})

test('parallel-load segments are DMS data not applied: their own warning (not "not a DMS data file"), counted in the result, status and metrics', async (t) => {
  const l = lake(t)
  l.put('LOAD00000001.csv', LOAD)
  l.put('part-2024/LOAD00000001.csv', 'I,2024-06-10 08:00:00.000000,7,plum\n')
  l.put('SEGMENT2_LOAD00000001.csv', 'I,2024-06-10 08:00:00.000000,8,fig\n')
  l.put('README.txt', 'not data')
  const c = capture()
  const r = (await runOnce(l.config(), { logger: c.log })).tables[0]!
  assert.equal(r.error, undefined, r.error?.message)
  assert.deepEqual(names(l.curated('20240610')), ['1:apple', '2:pear'], 'segments are not applied')
  const objects = (msg: string): string[] =>
    c
      .lines()
      .filter((x) => x.msg.startsWith(msg))
      .map((x) => String(x['object']))
      .sort()
  assert.deepEqual(objects('parallel-load segment not applied'), [
    `${TABLE}/SEGMENT2_LOAD00000001.csv`,
    `${TABLE}/part-2024/LOAD00000001.csv`,
  ])
  assert.deepEqual(objects('object skipped: not a DMS data file'), [`${TABLE}/README.txt`])
  assert.equal(r.segments, 2)
  const s = StateStore.open(join(l.dir, 'out', 'state.sqlite'))
  try {
    assert.equal(s.status()[0]!.segmentFiles, 2)
  } finally {
    s.close()
  }
  const m = new Metrics(60_000)
  m.record(r, false)
  assert.match(m.render(), /^cdc_apply_segment_files_not_applied\{table="S\.items"\} 2$/m)
})
