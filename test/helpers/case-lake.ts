// A golden case (fixtures/cases/<name>) run into a temp lake, for tests that need real outputs (catalog, DDL).
import { cpSync, existsSync, readdirSync, readFileSync, statSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig, type Config } from '../../src/config.js'
import { tempDir } from './outputs.js'

export const CASES = fileURLToPath(new URL('../../../fixtures/cases/', import.meta.url))

export interface CaseLake {
  /** The temp folder: landing under bucket/, outputs under out/. */
  dir: string
  /** The case's config JSON with raw, curated and state in the temp folder, plus `extra` keys. */
  json: Record<string, unknown>
  config: Config
  remove(): void
}

/** Copies the case's bucket into a temp folder and points the outputs there (nothing is written under fixtures/). */
export function caseLake(name: string, extra: Record<string, unknown> = {}): CaseLake {
  const tmp = tempDir('cdc-catalog-')
  cpSync(join(CASES, name, 'bucket'), join(tmp.path, 'bucket'), { recursive: true })
  // case.json "mtime": the full-load date of a table without a timestamp column comes from the objects' times.
  const spec = join(CASES, name, 'case.json')
  const mtime = existsSync(spec) ? (JSON.parse(readFileSync(spec, 'utf8')) as { mtime?: string }).mtime : undefined
  if (mtime !== undefined)
    for (const f of walk(join(tmp.path, 'bucket'))) utimesSync(f, new Date(mtime), new Date(mtime))
  const json = {
    ...(JSON.parse(readFileSync(join(CASES, name, 'cdc-apply.json'), 'utf8')) as Record<string, unknown>),
    raw: 'out/raw',
    curated: 'out/curated',
    state: 'out/cdc-apply.sqlite',
    settleSeconds: 0,
    ...extra,
  }
  return { dir: tmp.path, json, config: parseConfig(json, tmp.path), remove: tmp.remove }
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })
}
