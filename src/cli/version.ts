// `cdc-apply --version`: this package's version and those of the engines it runs on, read from the installed
// packages' package.json files (loading DuckDB's native library to ask it would cost ~0.25 s).
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface Versions {
  cdcApply: string
  node: string
  /** The DuckDB library version (the npm package's version without its `-r.N` release suffix). */
  duckdb: string
  duckdbNodeApi: string
  parquetWasm: string
}

/** The nearest package.json named `name` at or above `from` (a file or folder). */
function packageJson(from: string, name: string): { name: string; version: string } | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const p = join(dir, 'package.json')
    if (existsSync(p)) {
      const j = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string }
      if (j.name === name && typeof j.version === 'string') return { name, version: j.version }
    }
    if (dirname(dir) === dir) return undefined
  }
}

/** The installed version of a dependency, resolved as this module's imports resolve it; '?' when not found. */
function dependencyVersion(name: string): string {
  try {
    return packageJson(dirname(fileURLToPath(import.meta.resolve(name))), name)?.version ?? '?'
  } catch {
    return '?'
  }
}

export function versions(): Versions {
  const here = dirname(fileURLToPath(import.meta.url))
  const api = dependencyVersion('@duckdb/node-api')
  return {
    cdcApply: packageJson(here, 'cdc-apply')?.version ?? '?',
    node: process.version,
    duckdb: api.replace(/-r\.\d+$/, ''),
    duckdbNodeApi: api,
    parquetWasm: dependencyVersion('parquet-wasm'),
  }
}

export function renderVersions(v: Versions): string {
  return `cdc-apply ${v.cdcApply}\nnode ${v.node}\nduckdb ${v.duckdb} (@duckdb/node-api ${v.duckdbNodeApi})\nparquet-wasm ${v.parquetWasm}\n`
}
