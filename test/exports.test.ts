// Dead code: every function, class or constant that a src/ module exports is used somewhere besides its own
// declaration (in src/, test/, scripts/ or bin/). An export nobody calls misleads a reader into thinking it matters.
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

function walk(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name)
    return e.isDirectory()
      ? e.name === 'node_modules' || e.name === 'python'
        ? []
        : walk(p)
      : /\.(ts|mjs|js)$/.test(e.name) && !e.name.endsWith('.d.ts')
        ? [p]
        : []
  })
}

test('every exported function, class and constant of src/ is used besides its declaration', () => {
  const src = walk(join(ROOT, 'src')).filter((f) => f.endsWith('.ts'))
  const texts = new Map(
    [...src, ...walk(join(ROOT, 'test')), ...walk(join(ROOT, 'scripts')), ...walk(join(ROOT, 'bin'))].map((f) => [
      f,
      readFileSync(f, 'utf8'),
    ]),
  )
  const unused: string[] = []
  for (const f of src) {
    for (const m of texts
      .get(f)!
      .matchAll(/^export (?:async )?(?:function\*?|const|let|class|abstract class) (\w+)/gm)) {
      const name = m[1]!
      const word = new RegExp(`\\b${name}\\b`, 'g')
      let uses = -1 // the declaration itself
      for (const text of texts.values()) uses += (text.match(word) ?? []).length
      if (uses <= 0) unused.push(`${relative(ROOT, f)}: ${name}`)
    }
  }
  assert.deepEqual(unused, [])
})
