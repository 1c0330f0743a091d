// A watcher's polls in one process (test/iceberg-roll.test.ts): delivers the change files of <files.json> (name and
// content, in order) not yet in <table folder> one per poll, each followed by a runOnce with the state kept in memory
// (a warm poll, as watch mode makes), so that the commits of one date after the first roll. Exits 0 when all are done.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseConfig } from '../../src/config.js'
import { runOnce, type TableMemory } from '../../src/run.js'

const [cfgFile, filesFile, folder] = process.argv.slice(2) as [string, string, string]
const cfg = parseConfig(JSON.parse(readFileSync(cfgFile, 'utf8')) as object, join(cfgFile, '..'))
const files = JSON.parse(readFileSync(filesFile, 'utf8')) as { name: string; content: string }[]
const memory = new Map<string, TableMemory>()
// a restart first commits what is there (the state restored from the table, no roll)
const first = await runOnce(cfg, { memory })
if (first.tables[0]?.status !== 'ok') throw new Error(String(first.tables[0]?.error))
for (const f of files) {
  if (existsSync(join(folder, f.name))) continue
  writeFileSync(join(folder, f.name), f.content)
  const r = await runOnce(cfg, { memory })
  if (r.tables[0]?.status !== 'ok') throw new Error(String(r.tables[0]?.error))
}
