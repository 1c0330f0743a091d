// The docs are part of the product: every ErrorCode has a section in docs/errors.md, every config key a heading in
// docs/config.md, every example config parses, every relative link in docs/ resolves, and the SQL and the reprocess
// steps the docs give do what the docs say. The lists come from the source text, so a new code or key without docs
// fails here.
import { ROOT_KEYS, type Keys } from '../src/config-keys.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { DuckDBInstance } from '@duckdb/node-api'
import { DEFAULTS, parseConfig, type Config } from '../src/config.js'
import * as errors from '../src/errors.js'
import { EXIT, exitCodeFor } from '../src/errors.js'
import { runOnce } from '../src/run.js'
import { StateStore } from '../src/state/index.js'
import { readOutputTree, tempDir } from './helpers/outputs.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const DOCS = join(ROOT, 'docs')

function read(rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8')
}

/** Markdown lines outside fenced code blocks, with their 0-based line numbers. */
function proseLines(md: string): { line: string; n: number }[] {
  const out: { line: string; n: number }[] = []
  let fenced = false
  md.split('\n').forEach((line, n) => {
    if (/^\s*```/.test(line)) fenced = !fenced
    else if (!fenced) out.push({ line, n })
  })
  return out
}

interface Section {
  level: number
  /** The heading text as written, e.g. "`s3.region`" or "CDC_USAGE". */
  title: string
  /** The text up to the next heading of any level. */
  body: string
}

function sections(md: string): Section[] {
  const lines = md.split('\n')
  const heads = proseLines(md).flatMap(({ line, n }) => {
    const m = /^(#{1,6})\s+(.*?)\s*$/.exec(line)
    return m ? [{ level: m[1]!.length, title: m[2]!, n }] : []
  })
  return heads.map((h, i) => ({
    level: h.level,
    title: h.title,
    body: lines.slice(h.n + 1, heads[i + 1]?.n ?? lines.length).join('\n'),
  }))
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered -1, -2, … */
function anchors(md: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const s of sections(md)) {
    const base = s.title
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const k = seen.get(base) ?? 0
    seen.set(base, k + 1)
    out.add(k === 0 ? base : `${base}-${k}`)
  }
  return out
}

/** The `code` spans of a heading. */
function codeSpans(title: string): string[] {
  return [...title.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)
}

// ---------------------------------------------------------------- errors.md

/** The members of the ErrorCode union, parsed from the source text of src/errors.ts. */
function errorCodes(): string[] {
  const src = read('src/errors.ts')
  const m = /export type ErrorCode\s*=([\s\S]*?)(?:\n\s*\n|;)/.exec(src)
  assert.ok(m, 'src/errors.ts: no `export type ErrorCode =` union found')
  const codes = [...m[1]!.matchAll(/'(CDC_[A-Z0-9_]+)'/g)].map((x) => x[1]!)
  assert.ok(codes.length > 0, 'src/errors.ts: the ErrorCode union has no members')
  return codes
}

/** Source files under src/ except errors.ts, as [path, text]. */
function sources(): [string, string][] {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    )
  return walk(join(ROOT, 'src'))
    .filter((f) => !f.endsWith(join('src', 'errors.ts')))
    .map((f) => [relative(ROOT, f), readFileSync(f, 'utf8')])
}

test('docs/errors.md has a complete section for every ErrorCode in src/errors.ts, and none for codes that do not exist', () => {
  const codes = errorCodes()
  const md = read('docs/errors.md')
  const byTitle = new Map(
    sections(md)
      .filter((s) => s.level === 2)
      .map((s) => [s.title, s]),
  )
  const src = sources()
  const problems: string[] = []
  for (const code of codes) {
    const s = byTitle.get(code)
    if (!s) {
      problems.push(`${code}: no "## ${code}" heading in docs/errors.md`)
      continue
    }
    for (const field of ['Meaning', 'Usual cause', 'What to do', 'Exit code', 'Transient']) {
      if (!s.body.includes(`**${field}:**`)) problems.push(`${code}: the section has no **${field}:** line`)
    }
    const used = src.filter(([, text]) => text.includes(`'${code}'`))
    if (used.length === 0) {
      if (!/reserved/i.test(s.body))
        problems.push(`${code}: raised nowhere in src/, so its section must say it is reserved`)
      continue
    }
    if (/\*Reserved\.\*/.test(s.body))
      problems.push(`${code}: raised in ${used.map(([f]) => f).join(', ')}, but its section still says *Reserved.*`)
    // Where the code is constructed directly (`new XError('CDC_…'`), the documented exit code must be exitCodeFor's.
    const classes = new Set(
      used.flatMap(([, text]) => [...text.matchAll(new RegExp(`new (\\w+)\\(\\s*'${code}'`, 'g'))].map((m) => m[1]!)),
    )
    const exitLine = /\*\*Exit code:\*\*(.*)/.exec(s.body)?.[1] ?? ''
    for (const cls of classes) {
      const Ctor = (errors as unknown as Record<string, new (code: string, message: string) => Error>)[cls]
      if (typeof Ctor !== 'function') continue
      const exit = exitCodeFor(new Ctor(code, 'probe'))
      if (!exitLine.includes(`\`${exit}\``))
        problems.push(`${code}: raised as ${cls} (exit ${exit}), but its **Exit code:** line does not say \`${exit}\``)
    }
  }
  for (const title of byTitle.keys()) {
    if (/^CDC_[A-Z0-9_]+$/.test(title) && !codes.includes(title))
      problems.push(`docs/errors.md has "## ${title}" but src/errors.ts has no such ErrorCode`)
  }
  assert.deepEqual(problems, [])
})

test('the exit-code tables of docs/errors.md and docs/operations.md list every EXIT value', () => {
  for (const doc of ['docs/errors.md', 'docs/operations.md']) {
    const md = read(doc)
    for (const [name, value] of Object.entries(EXIT)) {
      assert.match(
        md,
        new RegExp(`^\\| \`${value}\` \\|`, 'm'),
        `${doc}: the exit-code table has no row for EXIT.${name} = ${value}`,
      )
    }
  }
})

// ---------------------------------------------------------------- config.md

/**
 * Every key accepted by parseConfig, as its documented path (`tables[].columns[].name`): src/config.ts validates
 * with the key tables of src/config-keys.ts, so they are walked here. Column lists inside columnsFrom are the
 * same column objects as tables[].columns[] and documented there.
 */
function configKeys(): string[] {
  const out: string[] = []
  const walk = (keys: Keys, prefix: string): void => {
    for (const [k, def] of Object.entries(keys)) {
      out.push(prefix + k)
      if (def.kind.t === 'object') walk(def.kind.keys, `${prefix}${k}.`)
      if (
        def.kind.t === 'array' &&
        def.kind.items.t === 'object' &&
        `${prefix}${k}` !== 'tables[].columnsFrom[].columns'
      )
        walk(def.kind.items.keys, `${prefix}${k}[].`)
    }
  }
  walk(ROOT_KEYS, '')
  return out
}

test('docs/config.md has a heading for every key that parseConfig accepts', () => {
  const keys = configKeys()
  const md = read('docs/config.md')
  const documented = new Set(sections(md).flatMap((s) => codeSpans(s.title)))
  const missing = keys.filter((k) => !documented.has(k))
  assert.deepEqual(
    missing,
    [],
    `docs/config.md needs a heading with these keys in backticks (e.g. "### \`s3.region\`")`,
  )
})

/** Where each DEFAULTS entry is documented; null = mentioned anywhere in config.md. */
const DEFAULT_HEADINGS: Record<string, string | null> = {
  opColumn: 'tables[].opColumn',
  format: 'tables[].format',
  header: 'tables[].header',
  includeOpForFullLoad: 'tables[].includeOpForFullLoad',
  compression: 'parquet.compression',
  rowsPerFile: 'parquet.rowsPerFile',
  rowGroupSize: 'parquet.rowGroupSize',
  tablesConcurrency: 'concurrency.tables',
  prefetch: 'concurrency.prefetch',
  pollSeconds: 'pollSeconds',
  fullListingSeconds: 'fullListingSeconds',
  lateFiles: 'tables[].lateFiles',
  onReload: 'tables[].onReload',
  tableFormat: 'tableFormat',
  onBadRow: 'tables[].onBadRow',
  configFile: null,
  settleSeconds: 'settleSeconds',
  maxFutureSeconds: 'maxFutureSeconds',
  retryStoppedSeconds: 'retryStoppedSeconds',
  maxRecordBytes: 'limits.maxRecordBytes',
  maxObjectBytes: 'limits.maxObjectBytes',
  missingFolder: 'tables[].missingFolder',
  catalogMaxAttempts: 'catalog.maxAttempts',
  compactDeleteShare: 'iceberg.compactDeleteShare',
  compactDataFiles: 'iceberg.compactDataFiles',
  keepSnapshots: 'iceberg.keepSnapshots',
  keepMetadataVersions: 'iceberg.keepMetadataVersions',
  orphanMinAgeSeconds: 'iceberg.orphanMinAgeSeconds',
  icebergRaw: 'iceberg.raw',
}

test('docs/config.md states every value of DEFAULTS under its key', () => {
  const md = read('docs/config.md')
  const all = sections(md)
  const problems: string[] = []
  for (const [name, value] of Object.entries(DEFAULTS)) {
    if (!(name in DEFAULT_HEADINGS)) {
      problems.push(
        `DEFAULTS.${name}: add the config key it is the default of to DEFAULT_HEADINGS in test/docs.test.ts`,
      )
      continue
    }
    const key = DEFAULT_HEADINGS[name]
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value)
    if (key === null) {
      if (!md.includes(String(value))) problems.push(`DEFAULTS.${name} = ${shown} is not mentioned in docs/config.md`)
      continue
    }
    const s = all.find((x) => codeSpans(x.title).includes(key))
    if (!s) problems.push(`DEFAULTS.${name}: no heading for \`${key}\``)
    else if (!s.body.includes(`Default: \`${shown}\``))
      problems.push(`\`${key}\`: expected "Default: \`${shown}\`" (DEFAULTS.${name})`)
  }
  assert.deepEqual(problems, [])
})

test('every config in docs/examples/ and the complete example in docs/config.md pass parseConfig', () => {
  const dir = join(DOCS, 'examples')
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
  assert.ok(files.length > 0, 'docs/examples/ has no .json files')
  const base = tempDir('cdc-apply-docs-')
  try {
    for (const f of files) {
      let json: unknown
      try {
        json = JSON.parse(readFileSync(join(dir, f), 'utf8'))
      } catch (err) {
        assert.fail(`docs/examples/${f} is not valid JSON: ${(err as Error).message}`)
      }
      const config = parseConfig(json, base.path)
      assert.ok(config.tables.length > 0, `docs/examples/${f}: an example should configure at least one table`)
    }
    const complete = sections(read('docs/config.md')).find((s) => s.title === 'A complete example')
    assert.ok(complete, 'docs/config.md has no "## A complete example" section')
    const block = /```json\n([\s\S]*?)\n```/.exec(complete.body)
    assert.ok(block, 'the complete example has no ```json block')
    parseConfig(JSON.parse(block[1]!), base.path)
  } finally {
    base.remove()
  }
})

// ---------------------------------------------------------------- links

test('every relative link in docs/*.md points at an existing file and heading', () => {
  const problems: string[] = []
  const docs = readdirSync(DOCS).filter((f) => f.endsWith('.md'))
  for (const doc of docs) {
    const file = join(DOCS, doc)
    const md = readFileSync(file, 'utf8')
    for (const { line, n } of proseLines(md)) {
      for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) {
        const href = m[1]!
        if (/^[a-z]+:/.test(href)) continue
        const [path, anchor] = href.split('#') as [string, string | undefined]
        const target = path === '' ? file : resolve(dirname(file), path)
        if (!existsSync(target)) {
          problems.push(`docs/${doc}:${n + 1}: ${href}: ${relative(ROOT, target)} does not exist`)
          continue
        }
        if (anchor !== undefined && target.endsWith('.md') && !anchors(readFileSync(target, 'utf8')).has(anchor)) {
          problems.push(`docs/${doc}:${n + 1}: ${href}: no heading with anchor #${anchor} in ${relative(ROOT, target)}`)
        }
      }
    }
  }
  assert.deepEqual(problems, [])
})

// ---------------------------------------------------------------- executed examples

/** Runs the design example into `<dir>/out/{raw,curated}` and `<dir>/out/cdc-apply.sqlite`, as the docs' paths say. */
async function runDesignExample(dir: string): Promise<Config> {
  const caseDir = join(ROOT, 'fixtures', 'cases', 'design-example')
  const config = parseConfig(JSON.parse(readFileSync(join(caseDir, 'cdc-apply.json'), 'utf8')), caseDir)
  config.raw = join(dir, 'out', 'raw')
  config.curated = join(dir, 'out', 'curated')
  config.state = join(dir, 'out', 'cdc-apply.sqlite')
  const summary = await runOnce(config)
  for (const t of summary.tables) assert.equal(t.error, undefined, `design-example: ${t.error?.message}`)
  return config
}

test('the DuckDB query in docs/semantics.md rebuilds a curated partition from RAW', async () => {
  const md = read('docs/semantics.md')
  const m = /<!-- docs\.test\.ts runs this query[^>]*-->\s*```sql\n([\s\S]*?)\n```/.exec(md)
  assert.ok(m, 'docs/semantics.md: the marked ```sql block is missing')
  const dateMatch = /raw_date <= '(\d{8})'/.exec(m[1]!)
  assert.ok(dateMatch, "the query filters on raw_date <= 'YYYYMMDD'")
  const dir = tempDir('cdc-apply-docs-sql-')
  const instance = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    allow_community_extensions: 'false',
  })
  const conn = await instance.connect()
  try {
    const config = await runDesignExample(dir.path)
    const sql = m[1]!.replaceAll("'out/", `'${dir.path}/out/`)
    const rows = (await conn.runAndReadAll(sql)).getRowObjectsJson()
    const got = rows.map((r) => `${String(r.id)} ${String(r.cdc_file)}:${String(r.cdc_row)}`).sort()
    const curated = readOutputTree(config.curated)[`OP/restaurants/${dateMatch[1]}`]
    assert.ok(curated, `no curated partition ${dateMatch[1]}`)
    const want = curated.map((r) => `${String(r.id)} ${String(r.cdc_file)}:${String(r.cdc_row)}`).sort()
    assert.deepEqual(got, want)
  } finally {
    conn.closeSync()
    instance.closeSync()
    dir.remove()
  }
})

test('the reprocess steps in docs/operations.md reset one table and the next run rebuilds the same outputs', async () => {
  const md = read('docs/operations.md')
  const section = sections(md).find((s) => s.title === 'Reprocessing a table from scratch')
  assert.ok(section, 'docs/operations.md has no "## Reprocessing a table from scratch" section')
  const sql = /<<'SQL'\n([\s\S]*?)\n\s*SQL\n/.exec(section.body)?.[1]
  assert.ok(sql, 'the section has no sqlite3 heredoc')
  const rm = /^\s*rm -rf (.+)$/m.exec(section.body)?.[1]?.trim().split(/\s+/)
  assert.ok(rm && rm.length > 0, 'the section has no rm -rf line')

  const dir = tempDir('cdc-apply-docs-reset-')
  try {
    const config = await runDesignExample(dir.path)
    const before = { raw: readOutputTree(config.raw), curated: readOutputTree(config.curated) }
    const db = new Database(config.state)
    try {
      db.exec(
        sql
          .split('\n')
          .map((l) => l.trim())
          .join('\n'),
      )
      for (const table of ['ops_table', 'processed_files', 'tombstones', 'table_runs']) {
        const n = db
          .prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE Source = 'OP' AND TableName = 'restaurants'`)
          .get() as { n: number }
        assert.equal(n.n, 0, `${table} still has rows of OP.restaurants after the documented statements`)
      }
    } finally {
      db.close()
    }
    for (const p of rm) rmSync(join(dir.path, p), { recursive: true, force: true })
    assert.deepEqual(readOutputTree(config.curated), {}, 'the documented rm -rf leaves curated partitions behind')

    const again = await runOnce(config)
    assert.equal(again.tables[0]!.status, 'ok')
    assert.deepEqual({ raw: readOutputTree(config.raw), curated: readOutputTree(config.curated) }, before)
    const state = StateStore.open(config.state)
    try {
      assert.deepEqual(state.get('OP', 'restaurants'), {
        source: 'OP',
        table: 'restaurants',
        fullLoad: true,
        lpf: '20220928-181133560',
        loadDate: '20220926',
      })
    } finally {
      state.close()
    }
  } finally {
    dir.remove()
  }
})
