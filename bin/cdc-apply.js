#!/usr/bin/env node
// The cdc-apply command. All logic lives in dist/cli/main.js (built by `npm run build`).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const mainUrl = new URL('../dist/cli/main.js', import.meta.url)
if (!existsSync(fileURLToPath(mainUrl))) {
  // A clone before its first build: say how to build rather than print a module-not-found stack.
  const root = fileURLToPath(new URL('..', import.meta.url))
  process.stderr.write(
    `cdc-apply: not built: ${fileURLToPath(mainUrl)} does not exist\nhint: run 'npm ci && npm run build' in ${root}\n`,
  )
  process.exit(2)
}
const { main } = await import(mainUrl.href)
process.exitCode = await main(process.argv.slice(2))
