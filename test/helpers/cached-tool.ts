// Where a tool that a setup script of scripts/ installs lives: the path in its environment variable when set, else
// the one the script caches to under ${CDC_APPLY_CACHE:-~/.cache/cdc-apply}, with the version read from the script
// (one source of truth for the pin). Used by helpers/minio.ts and helpers/moto.ts.
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface CachedTool {
  /** The environment variable that names the tool's binary, e.g. MINIO_BIN. */
  env: string
  /** The setup script, e.g. build-minio.sh. */
  script: string
  /** The script's version line, e.g. MINIO_VERSION (as `MINIO_VERSION="..."`). */
  versionVar: string
  /** The binary's path under the cache for a version. */
  under(version: string): string
}

/** The project root: the nearest folder above this file that holds scripts/<script> (works from src and dist). */
function projectRoot(script: string): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'scripts', script))) return dir
    const up = dirname(dir)
    if (up === dir) throw new Error(`cannot find scripts/${script} above ${fileURLToPath(import.meta.url)}`)
    dir = up
  }
}

export function cachedToolPath(tool: CachedTool): string {
  const fromEnv = process.env[tool.env]
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  const text = readFileSync(join(projectRoot(tool.script), 'scripts', tool.script), 'utf8')
  const version = new RegExp(`^${tool.versionVar}="([^"]+)"`, 'm').exec(text)?.[1]
  if (version === undefined) throw new Error(`scripts/${tool.script} has no ${tool.versionVar}="..." line`)
  const cache = process.env['CDC_APPLY_CACHE'] || join(homedir(), '.cache', 'cdc-apply')
  return join(cache, tool.under(version))
}
