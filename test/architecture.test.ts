// docs/architecture.md matches the tree: every `src/…` file it names exists, and every file under src/ is named in
// its module table, so a file that moves, is split or is added shows up here until the page is updated.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const page = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8')

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory()
      ? sources(p)
      : name.endsWith('.ts')
        ? [relative(root, p).split('\\').join('/')]
        : []
  })
}

/** The first-column paths of the module table: rows like "| `src/run.ts` | ... |". */
function tableModules(md: string): string[] {
  return [...md.matchAll(/^\| `(src\/[^`]+\.ts)` \|/gm)].map((m) => m[1]!)
}

test('every src/ file named in docs/architecture.md exists', () => {
  const named = [...new Set([...page.matchAll(/\bsrc\/[\w./-]+\.ts\b/g)].map((m) => m[0]))]
  assert.ok(named.length > 0, 'docs/architecture.md names no src/ file')
  const missing = named.filter((p) => !existsSync(join(root, p)))
  assert.deepEqual(missing, [], 'named in docs/architecture.md but not in the tree')
})

test('every file under src/ has a row in the module table of docs/architecture.md, once', () => {
  const rows = tableModules(page)
  const twice = rows.filter((p, i) => rows.indexOf(p) !== i)
  assert.deepEqual(twice, [], 'modules with more than one row')
  const unnamed = sources(join(root, 'src'))
    .filter((p) => !rows.includes(p))
    .sort()
  assert.deepEqual(unnamed, [], 'files under src/ missing from the module table of docs/architecture.md')
})
