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
// A test that hangs fails after 15 minutes (a test's own `timeout` wins), and a file whose tests have all ended but
// that keeps the event loop alive (a worker left ref'd) is ended instead of holding the run until CI's limit.
const guards = ['--test-timeout=900000', '--test-force-exit']
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...guards, ...files], { stdio: 'inherit' })
process.exit(r.status ?? 1)
