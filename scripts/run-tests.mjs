// Runs the compiled test files (dist-test/test/**/*.test.js) with node's test runner, one process per file.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? find(p) : name.endsWith('.test.js') ? [p] : []
  })
}
const only = process.argv.slice(2)
const files = find('dist-test/test')
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' })
process.exit(r.status ?? 1)
