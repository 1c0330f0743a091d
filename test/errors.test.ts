// The error taxonomy as one table (src/errors.ts CODES): every code's class, exit code and docs section, checked
// row by row against the classes, exitCodeFor, the throw sites in src/ and docs/errors.md.
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as errors from '../src/errors.js'
import { CODES, CdcError, EXIT, exitCodeFor, type ErrorCode } from '../src/errors.js'
import { Duck } from '../src/check/duck.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const ERRORS_MD = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8')
const rows = Object.entries(CODES) as [ErrorCode, (typeof CODES)[ErrorCode]][]

/** The level-2 sections of docs/errors.md by title. */
function sections(): Map<string, string> {
  const out = new Map<string, string>()
  const parts = ERRORS_MD.split(/^## /m).slice(1)
  for (const p of parts) out.set(p.slice(0, p.indexOf('\n')).trim(), p)
  return out
}

/** Every `new XError('CDC_…'` in src/ as [file, class, code]. */
function throwSites(): [string, string, string][] {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    )
  return walk(join(ROOT, 'src')).flatMap((f) =>
    [...readFileSync(f, 'utf8').matchAll(/new (\w+)\(\s*'(CDC_[A-Z0-9_]+)'/g)].map(
      (m) => [relative(ROOT, f), m[1]!, m[2]!] as [string, string, string],
    ),
  )
}

for (const [code, row] of rows) {
  test(`${code}: ${row.class.name} → exit ${row.exit}${row.or ? ` (or ${row.or.class.name} → exit ${row.or.exit})` : ''}, ${row.doc}`, () => {
    const err = new row.class(code, 'probe')
    assert.ok(err instanceof CdcError)
    assert.equal(err.name, row.class.name)
    assert.equal(exitCodeFor(err), row.exit)
    if (row.or) assert.equal(exitCodeFor(new row.or.class(code, 'probe')), row.or.exit)
    assert.ok(Object.values(EXIT).includes(row.exit), `${row.exit} is an EXIT value`)
    // its docs section exists under the anchor the table names, and its Exit code line says the table's exit
    const [file, anchor] = row.doc.split('#') as [string, string]
    assert.equal(file, 'docs/errors.md')
    assert.equal(anchor, code.toLowerCase(), 'GitHub anchor of "## CODE"')
    const body = sections().get(code)
    assert.ok(body !== undefined, `docs/errors.md has "## ${code}"`)
    const exitLine = /\*\*Exit code:\*\*(.*)/.exec(body)?.[1] ?? ''
    for (const exit of [row.exit, ...(row.or ? [row.or.exit] : [])])
      assert.ok(
        exitLine.includes(`\`${exit}\``) || /none of its own/.test(exitLine),
        `the Exit code line says \`${exit}\`: ${exitLine}`,
      )
  })
}

test('every throw site in src/ uses the class of its code in CODES', () => {
  const classes = errors as unknown as Record<string, unknown>
  const problems: string[] = []
  for (const [file, cls, code] of throwSites()) {
    const row = CODES[code as ErrorCode]
    if (row === undefined) {
      problems.push(`${file}: ${code} is not in CODES`)
      continue
    }
    if (typeof classes[cls] !== 'function') continue // not an error class of errors.ts
    if (cls !== row.class.name && cls !== row.or?.class.name)
      problems.push(`${file}: ${code} raised as ${cls}, CODES says ${row.class.name}`)
  }
  assert.deepEqual(problems, [])
})

test('each row of the exit-code table of docs/errors.md lists only codes with that exit', () => {
  const problems: string[] = []
  for (const m of ERRORS_MD.matchAll(/^\| `(\d+)` \| `(\w+)` \|.*$/gm)) {
    const exit = Number(m[1])
    if (exit === EXIT.ok) continue // "none, or CDC_ABORTED" (a first signal): not an exitCodeFor value
    for (const c of m[0].matchAll(/\]\(#(cdc_[a-z0-9_]+)\)/g)) {
      const code = c[1]!.toUpperCase() as ErrorCode
      const row = CODES[code]
      if (row === undefined) problems.push(`row ${exit}: ${code} is not in CODES`)
      else if (row.exit !== exit && row.or?.exit !== exit)
        problems.push(`row ${exit} lists ${code}, whose exit is ${row.exit}`)
    }
  }
  assert.deepEqual(problems, [])
})

test('a DuckDB failure in verify or snapshot is CDC_CHECK_FAILED (exit 4); in a pipeline step CDC_STEP_FAILED (exit 5)', async () => {
  for (const [purpose, code, cls, exit] of [
    [undefined, 'CDC_CHECK_FAILED', errors.CheckError, EXIT.unavailable],
    ['check', 'CDC_CHECK_FAILED', errors.CheckError, EXIT.unavailable],
    ['steps', 'CDC_STEP_FAILED', errors.StepError, EXIT.step],
  ] as const) {
    const duck = await Duck.open({ storage: 'memory', ...(purpose ? { purpose } : {}) })
    try {
      await assert.rejects(duck.rows('SELECT no_such_column FROM range(1)'), (err: unknown) => {
        assert.ok(err instanceof cls, `${purpose}: ${String(err)}`)
        assert.equal((err as CdcError).code, code)
        assert.equal(exitCodeFor(err), exit)
        assert.match((err as CdcError).hint ?? '', /the statement was: SELECT no_such_column/)
        return true
      })
    } finally {
      await duck.close()
    }
  }
})
