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
// A file whose tests have all ended but that keeps the event loop alive (a worker left ref'd) is ended instead of
// holding the run until CI's limit; a file that hangs fails after 30 minutes (the runner applies the timeout to each
// file as a whole: the Spark files take 5-10 minutes on a quiet machine, over 15 on a loaded one).
const guards = ['--test-timeout=1800000', '--test-force-exit']
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...guards, ...files], { stdio: 'inherit' })
process.exit(r.status ?? 1)
