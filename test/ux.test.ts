// What a person at a terminal sees: errors that name the setting behind them (with their hint in the human
// output), log lines readable on a TTY and NDJSON elsewhere, usage errors without stacks, --version, the bin before
// a build, no AWS SDK warning on S3 runs, and a progress bar whose ETA counts bytes.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig } from '../src/config.js'
import { CdcError } from '../src/errors.js'
import { runOnce, type ProgressEvent } from '../src/run.js'
import { progressBar } from '../src/cli/progress.js'
import { prettyLogger } from '../src/log.js'
import { tempDir } from './helpers/outputs.js'
import { startMinio } from './helpers/minio.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = join(root, 'bin', 'cdc-apply.js')
const DEMO = join(root, 'fixtures', 'demo')
const PIPELINES = join(root, 'fixtures', 'pipelines')

/** The environment of a child cdc-apply, without the variables that would decide what the test checks. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra }
  if (!('CDC_APPLY_LOG_FORMAT' in extra)) delete env.CDC_APPLY_LOG_FORMAT
  if (!('CDC_APPLY_LOG_LEVEL' in extra)) delete env.CDC_APPLY_LOG_LEVEL
  return env
}

function cli(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd ?? root,
    env: childEnv({ AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...opts.env }),
  })
}

/** Runs the command on a pseudo-terminal (util-linux `script`): stdout and stderr both come back as `out`. */
function onTty(
  t: { skip(m: string): void },
  args: string[],
  cwd = root,
): { status: number | null; out: string } | undefined {
  const probe = spawnSync('script', ['--version'], { encoding: 'utf8' })
  if (probe.status !== 0) {
    if (process.env['CI'] === 'true') throw new Error('util-linux script is required in CI for the terminal tests')
    t.skip('util-linux script is not on this machine: no pseudo-terminal for the TTY tests')
    return undefined
  }
  const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`
  const r = spawnSync('script', ['-qec', [process.execPath, bin, ...args].map(quote).join(' '), '/dev/null'], {
    encoding: 'utf8',
    cwd,
    env: childEnv({ AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }),
  })
  return { status: r.status, out: r.stdout.replaceAll('\r\n', '\n') }
}

/** The demo lake (fixtures/demo) in `dir`, with the restaurants table patched; returns the config path. */
function demoLake(dir: string, patch: Record<string, unknown> = {}): string {
  cpSync(join(DEMO, 'bucket'), join(dir, 'bucket'), { recursive: true })
  const json = JSON.parse(readFileSync(join(DEMO, 'cdc-apply.json'), 'utf8')) as { tables: Record<string, unknown>[] }
  const config = join(dir, 'cdc-apply.json')
  writeFileSync(
    config,
    JSON.stringify({
      ...json,
      raw: 'out/raw',
      curated: 'out/curated',
      state: 'out/state.sqlite',
      settleSeconds: 0,
      tables: [{ ...json.tables[0], ...patch }],
    }),
  )
  return config
}

const DEMO_COLUMNS = [
  { name: 'dms_commit_ts', type: 'timestamp' },
  { name: 'id', type: 'integer' },
  { name: 'name' },
  { name: 'city' },
  { name: 'rating', type: 'decimal(3,1)' },
]

async function tableError(patch: Record<string, unknown>): Promise<CdcError> {
  const tmp = tempDir()
  try {
    const path = demoLake(tmp.path, patch)
    const config = parseConfig(JSON.parse(readFileSync(path, 'utf8')), tmp.path)
    const summary = await runOnce(config)
    const err = summary.tables[0]!.error
    assert.ok(err instanceof CdcError, `expected a CdcError, got ${String(err)}`)
    return err
  } finally {
    tmp.remove()
  }
}

// ---------------------------------------------------------------- 16: the setting behind a refused file

test('includeOpForFullLoad false on a full load that has Op: a field-count error naming the setting, with its hint in the human output', async (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const config = demoLake(tmp.path, { includeOpForFullLoad: false })
  const r = cli(['run', '-c', config, '--no-progress'])
  assert.equal(r.status, 3, r.stderr)
  assert.match(
    r.stdout,
    /OP\.restaurants +error .*CDC_CSV_FIELD_COUNT: table OP\.restaurants: expected 5 fields \(5 columns\), got 6; read as configured, column "dms_commit_ts" would get a value that is not a timestamp/,
  )
  assert.match(
    r.stdout,
    /\nhint \(OP\.restaurants\): the full-load file starts each row with an Op field \(I\): set the table's includeOpForFullLoad to true/,
  )
  assert.doesNotMatch(r.stdout, /fix the column's type/)

  // the reverse: includeOpForFullLoad true on a full load without Op
  const tmp2 = tempDir()
  t.after(tmp2.remove)
  const config2 = demoLake(tmp2.path)
  const load = join(tmp2.path, 'bucket', 'dms', 'op', 'restaurants', 'LOAD00000001.csv')
  writeFileSync(load, readFileSync(load, 'utf8').replace(/^I,/gm, ''))
  const r2 = cli(['run', '-c', config2, '--no-progress'])
  assert.equal(r2.status, 3, r2.stderr)
  assert.match(
    r2.stdout,
    /\nhint \(OP\.restaurants\): the full-load files have no Op column: set the table's includeOpForFullLoad to false/,
  )
})

test('header true on header-less DMS files: CDC_SCHEMA_MISMATCH at line 1 saying to set header to false (not a NULL key on line 2)', async () => {
  const err = await tableError({ header: true })
  assert.equal(err.code, 'CDC_SCHEMA_MISMATCH')
  assert.equal(
    err.message,
    'table OP.restaurants: the first record of op/restaurants/LOAD00000001.csv:1 names none of the configured columns nor "Op", so it is not a header; expected a header row (header is true)',
  )
  assert.equal(
    err.hint,
    "the files have no header row: set the table's header to false (the DMS endpoint has AddColumnName=false)",
  )
  assert.equal(err.line, 1)
  // with includeOpForFullLoad false the full load's first field is data too (the shape that gave "NULL on line 2")
  const err2 = await tableError({ header: true, includeOpForFullLoad: false })
  assert.equal(err2.code, 'CDC_SCHEMA_MISMATCH')
  assert.match(err2.hint ?? '', /set the table's header to false/)
})

test('a real header is still read as one, whatever its column names', async (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const config = demoLake(tmp.path, { header: true })
  const dir = join(tmp.path, 'bucket', 'dms', 'op', 'restaurants')
  for (const f of ['LOAD00000001.csv', '20220926-135523276.csv', '20220927-091502118.csv']) {
    writeFileSync(join(dir, f), 'Op,dms_commit_ts,id,name,city,rating\n' + readFileSync(join(dir, f), 'utf8'))
  }
  const summary = await runOnce(parseConfig(JSON.parse(readFileSync(config, 'utf8')), tmp.path))
  assert.equal(summary.tables[0]!.error, undefined, summary.tables[0]!.error?.message)
  assert.equal(summary.tables[0]!.liveRows, 1)
})

test('a column missing from the middle of columns: a field-count error that says where the column is missing', async () => {
  const err = await tableError({ columns: DEMO_COLUMNS.filter((c) => c.name !== 'city') })
  assert.equal(err.code, 'CDC_CSV_FIELD_COUNT')
  assert.equal(
    err.message,
    'table OP.restaurants: expected 5 fields (Op + 4 columns), got 6; read as configured, column "rating" would get a value that is not a decimal(3,1) in op/restaurants/LOAD00000001.csv:1',
  )
  assert.equal(
    err.hint,
    'the file has one more column than the table\'s "columns" lists: the missing column is after "id" and before "rating" (DMS writes the source table\'s columns in order; add it there)',
  )
  // one column too many: the surplus one is named
  const extra = await tableError({
    columns: [...DEMO_COLUMNS.slice(0, 2), { name: 'opened', type: 'date' }, ...DEMO_COLUMNS.slice(2)],
  })
  assert.equal(extra.code, 'CDC_CSV_FIELD_COUNT')
  assert.match(extra.hint ?? '', /one column less than the table's "columns" lists: "opened" is not in the file/)
  // a wrong type with the right field count stays a bad value
  const bad = await tableError({
    columns: DEMO_COLUMNS.map((c) => (c.name === 'city' ? { name: 'city', type: 'integer' } : c)),
  })
  assert.equal(bad.code, 'CDC_VALUE_INVALID')
})

// ---------------------------------------------------------------- 17: terminals, usage errors, --version, the bin

test('on a terminal logs are readable lines by default; --log-format json gives NDJSON; off a terminal NDJSON stays the default', async (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const config = demoLake(tmp.path)
  assert.equal(cli(['run', '-c', config]).status, 0)
  const tty = onTty(t, ['verify', '-c', config])
  if (tty === undefined) return
  assert.equal(tty.status, 0, tty.out)
  assert.match(tty.out, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}OP\.restaurants: table verified verdict=equal dates=2 /m)
  assert.doesNotMatch(tty.out, /\{"level"/)
  const json = onTty(t, ['verify', '-c', config, '--log-format', 'json'])!
  assert.match(json.out, /^\{"level":30,.*"msg":"table verified"\}$/m)
  const piped = cli(['verify', '-c', config])
  assert.equal(piped.status, 0)
  assert.match(piped.stderr, /^\{"level":30,.*"msg":"table verified"\}$/m)
  const pretty = cli(['verify', '-c', config, '--log-format', 'pretty'])
  assert.match(pretty.stderr, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}OP\.restaurants: table verified /m)
  const env = cli(['verify', '-c', config], { env: { CDC_APPLY_LOG_FORMAT: 'pretty' } })
  assert.match(env.stderr, /^\d\d:\d\d:\d\d\.\d{3} INFO /m)
  const wrong = cli(['verify', '-c', config, '--log-format', 'xml'])
  assert.equal(wrong.status, 2)
  assert.equal(
    wrong.stderr,
    `cdc-apply: CDC_USAGE: --log-format must be json or pretty, got "xml"\nhint: see 'cdc-apply verify --help'\n`,
  )
})

test('usage and config errors print one line and the hint, without a JSON line or a stack, on a terminal or not', async (t) => {
  for (const [args, first] of [
    [['--bogus'], null],
    [
      ['--version', '--table', 'x'],
      'cdc-apply: CDC_USAGE: --version takes no other option than --json, got "--table x"\n',
    ],
    [
      ['help', 'nope'],
      'cdc-apply: CDC_USAGE: no help for "nope": expected one of init, run, reset, status, transform, verify, snapshot, catalog, spark, state, compact\n',
    ],
    [['status', '-c', '/nonexistent/cdc-apply.json'], null],
  ] as const) {
    const r = cli([...args])
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
    const lines = r.stderr.split('\n')
    assert.equal(lines.length, 3, `${args.join(' ')}: two lines expected, got ${JSON.stringify(r.stderr)}`)
    assert.match(lines[0]!, /^cdc-apply: CDC_(USAGE|CONFIG_NOT_FOUND): /)
    assert.match(lines[1]!, /^hint: /)
    if (first !== null) assert.equal(lines[0] + '\n', first)
    assert.doesNotMatch(r.stderr, /\{"level"|\n\s+at /)
  }
  const tty = onTty(t, ['snapshot', '--table', 'x'])
  if (tty === undefined) return
  assert.equal(tty.status, 2)
  assert.doesNotMatch(tty.out, /\{"level"|\n\s+at /)
  assert.match(tty.out, /^cdc-apply: CDC_(USAGE|CONFIG_NOT_FOUND): .*\nhint: .*\n$/)
})

test('--version prints the package, Node, DuckDB and parquet-wasm versions; help <unknown> exits 2', () => {
  const pkg = (p: string): string => (JSON.parse(readFileSync(join(root, p), 'utf8')) as { version: string }).version
  const duck = pkg('node_modules/@duckdb/node-api/package.json')
  const r = cli(['--version'])
  assert.equal(r.status, 0, r.stderr)
  assert.equal(
    r.stdout,
    `cdc-apply ${pkg('package.json')}\nnode ${process.version}\nduckdb ${duck.replace(/-r\.\d+$/, '')} (@duckdb/node-api ${duck})\nparquet-wasm ${pkg('node_modules/parquet-wasm/package.json')}\n`,
  )
  assert.equal(r.stderr, '')
  const j = cli(['--version', '--json'])
  assert.deepEqual(JSON.parse(j.stdout), {
    cdcApply: pkg('package.json'),
    node: process.version,
    duckdb: duck.replace(/-r\.\d+$/, ''),
    duckdbNodeApi: duck,
    parquetWasm: pkg('node_modules/parquet-wasm/package.json'),
  })
  assert.equal(cli(['help', 'nope']).status, 2)
  assert.equal(cli(['help', 'verify']).status, 0)
})

test('the bin before a build says how to build, not a module-not-found stack', (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  mkdirSync(join(tmp.path, 'bin'))
  cpSync(bin, join(tmp.path, 'bin', 'cdc-apply.js'))
  writeFileSync(join(tmp.path, 'package.json'), JSON.stringify({ name: 'cdc-apply', type: 'module' }))
  const r = spawnSync(process.execPath, [join(tmp.path, 'bin', 'cdc-apply.js'), '--version'], { encoding: 'utf8' })
  assert.equal(r.status, 2)
  assert.equal(
    r.stderr,
    `cdc-apply: not built: ${join(tmp.path, 'dist', 'cli', 'main.js')} does not exist\nhint: run 'npm ci && npm run build' in ${tmp.path}/\n`,
  )
})

test('pretty log lines: table first, fields as key=value, the error code, message and hint; a stack only for a bug', () => {
  const lines: string[] = []
  const log = prettyLogger(
    (l) => lines.push(l),
    'info',
    {},
    () => new Date('2026-12-01T13:55:23.276Z'),
  ).child({ table: 'OP.t' })
  log.debug({ x: 1 }, 'hidden')
  log.info({ file: 'op/t/LOAD00000001.csv', rows: 3, note: 'two words' }, 'file applied')
  log.error(
    {
      err: {
        type: 'DataError',
        code: 'CDC_PK_MISSING',
        message: 'key is NULL',
        hint: 'check primaryKey',
        stack: 'DataError: x\n    at f (a.js:1:1)',
      },
    },
    'table failed',
  )
  log.error(
    { err: { type: 'TypeError', message: 'x is undefined', stack: 'TypeError: x is undefined\n    at g (b.js:2:2)' } },
    'internal error',
  )
  assert.deepEqual(lines, [
    '13:55:23.276 INFO  OP.t: file applied file=op/t/LOAD00000001.csv rows=3 note="two words"\n',
    '13:55:23.276 ERROR OP.t: table failed: CDC_PK_MISSING: key is NULL\n  hint: check primaryKey\n',
    '13:55:23.276 ERROR OP.t: internal error: TypeError: x is undefined\n  at g (b.js:2:2)\n',
  ])
})

// ---------------------------------------------------------------- 18: the AWS SDK's Node-version warning

test('loading the S3 store and creating a client prints nothing, with the SDK warning variable unset', (t) => {
  if (Number(process.versions.node.split('.')[0]) >= 22)
    return t.skip('the AWS SDK warns only on Node < 22: nothing to suppress on this Node')
  const store = join(root, 'dist', 'store', 's3-store.js')
  const env = { ...process.env }
  delete env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED']
  const probe = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { createS3Client } from ${JSON.stringify(store)}; createS3Client({ region: 'us-east-1' }).destroy()`,
    ],
    { encoding: 'utf8', env },
  )
  assert.equal(probe.status, 0, probe.stderr)
  assert.equal(probe.stderr, '')
  // the SDK itself does warn here: the test would fail without the suppression
  const sdk = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { S3Client } from '@aws-sdk/client-s3'; new S3Client({ region: 'us-east-1' }).destroy()`,
    ],
    { encoding: 'utf8', env, cwd: root },
  )
  assert.match(sdk.stderr, /NodeVersionSupportWarning/)
})

test('an S3 run at --log-level silent prints nothing on stderr (MinIO)', async (t) => {
  const minio = await startMinio(t)
  if (minio === undefined) return
  t.after(() => minio.stop())
  await minio.createBucket('cdc-ux')
  await minio.upload(join(DEMO, 'bucket', 'dms'), 'cdc-ux', 'dms')
  const tmp = tempDir()
  t.after(tmp.remove)
  const json = JSON.parse(readFileSync(join(DEMO, 'cdc-apply.json'), 'utf8')) as object
  const config = join(tmp.path, 'cdc-apply.json')
  writeFileSync(
    config,
    JSON.stringify({
      ...json,
      landing: 's3://cdc-ux/dms',
      raw: 's3://cdc-ux/raw',
      curated: 's3://cdc-ux/curated',
      state: 'state.sqlite',
      s3: { endpoint: minio.endpoint, region: minio.region, forcePathStyle: true },
    }),
  )
  const env = childEnv({ AWS_ACCESS_KEY_ID: minio.accessKey, AWS_SECRET_ACCESS_KEY: minio.secretKey })
  delete env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED']
  const r = spawnSync(process.execPath, [bin, 'run', '-c', config, '--log-level', 'silent', '--json'], {
    encoding: 'utf8',
    env,
  })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stderr, '')
  assert.equal((JSON.parse(r.stdout) as { tables: { liveRows: number }[] }).tables[0]!.liveRows, 1)
})

// ---------------------------------------------------------------- 19: progress in bytes

test('progress events carry the bytes of the objects from the listing', async (t) => {
  const tmp = tempDir()
  t.after(tmp.remove)
  const config = parseConfig(JSON.parse(readFileSync(join(PIPELINES, 'cdc-apply.json'), 'utf8')), PIPELINES)
  const events: ProgressEvent[] = []
  const summary = await runOnce(
    { ...config, raw: join(tmp.path, 'raw'), curated: join(tmp.path, 'curated'), state: join(tmp.path, 's.sqlite') },
    { onProgress: (e) => events.push(e) },
  )
  assert.ok(summary.tables.every((x) => x.error === undefined))
  for (const table of ['restaurants', 'transaction']) {
    const mine = events.filter((e) => e.table === `demo.${table}`)
    const size = (f: string): number => statSync(join(PIPELINES, 'bucket', 'dms', f)).size
    let done = 0
    for (const e of mine) {
      done += size(e.file)
      assert.equal(e.bytesDone, done, e.file)
    }
    const total = mine.map((e) => size(e.file)).reduce((a, b) => a + b, 0)
    assert.ok(
      mine.every((e) => e.bytesTotal === total),
      `${table}: bytesTotal is every object's size`,
    )
  }
})

test('the progress bar fills and estimates by bytes: after a big full load, little time is left', () => {
  let clock = 0
  const out: string[] = []
  const bar = progressBar(
    (s) => out.push(s),
    () => clock,
  )
  const ev = (filesDone: number, bytesDone: number): ProgressEvent => ({
    table: 'OP.orders',
    file: 'f',
    rows: 1,
    filesDone,
    filesTotal: 11,
    bytesDone,
    bytesTotal: 1_000_000 + 10 * 1000,
  })
  clock = 100_000 // the 1 MB full load took 100 s
  bar(ev(1, 1_000_000))
  // by files the ETA would be 1000 s (10 more files at 100 s each); by bytes it is 1 s
  assert.equal(out.at(-1), '\rOP.orders [####################] 977 KiB/986 KiB 1/11 files 1 rows ETA 1s ')
  clock = 101_000
  bar(ev(11, 1_010_000))
  assert.equal(out.at(-1), '\rOP.orders [####################] 986 KiB/986 KiB 11/11 files 2 rows ETA 0s ')
})
