// Checks made before any input is read: every local output location is writable, the landing folder exists, and a
// table folder that is missing is named with the nearest existing folder names.
import { accessSync, constants, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { SourceError, WriteError } from './errors.js'
import { resolveLocal, type Config } from './config.js'
import type { ObjectStore } from './store/object-store.js'

/**
 * Every local output location (raw, curated, the state file's folder, the pipeline cache and outputs) must be a
 * folder this process can write, or a path whose nearest existing ancestor is one (missing folders are created on the
 * first write). Checked with access(2), so nothing is written. S3 locations are not probed: a probe would be a write;
 * their permissions surface at the first put as CDC_SOURCE_ACCESS_DENIED.
 */
export function checkOutputsWritable(config: Config): void {
  const statePath = resolveLocal(config, config.state)
  const locations: [string, string][] = [
    ['raw', config.raw],
    ['curated', config.curated],
    ['state', statePath],
    ['cache', config.cache ?? join(dirname(statePath), 'cache')],
    ...(config.outputs ?? []).map((o, i): [string, string] => [`outputs[${i}]`, o]),
  ]
  for (const [key, loc] of locations) {
    if (loc.startsWith('s3://')) continue
    const path = resolveLocal(config, loc)
    const problem = unwritable(path, key === 'state')
    if (problem !== undefined) {
      throw new WriteError(
        'CDC_OUTPUT_NOT_WRITABLE',
        `output location ${key} ${JSON.stringify(loc)} is not writable: ${problem}`,
        {
          hint: `fix the permissions or the path of ${key} (see docs/config.md); nothing was read or written`,
        },
      )
    }
  }
}

/** Why `path` cannot be written, or undefined. `file`: the path is a file (the state file), not a folder. */
function unwritable(path: string, file: boolean): string | undefined {
  let p = path
  for (;;) {
    let st
    try {
      st = statSync(p)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') {
        const up = dirname(p)
        if (up === p) return `no existing folder above ${path}`
        p = up
        continue
      }
      if (code === 'ENOTDIR') return `a part of ${p} is a file, not a folder`
      return `${p}: ${(err as Error).message}`
    }
    const isTarget = p === path
    if (isTarget && file) {
      if (!st.isFile()) return `${p} exists and is not a file`
    } else if (!st.isDirectory()) return `${p} is a file, not a folder`
    try {
      accessSync(p, constants.W_OK)
    } catch (err) {
      return `${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`
    }
    if (isTarget && file) {
      // the state file's folder must take SQLite's journal files too
      return unwritable(dirname(p), false)
    }
    return undefined
  }
}

/** The landing folder must exist (a folder landing); a misspelt one is named with its nearest siblings. */
export async function checkLanding(config: Config, landing: ObjectStore): Promise<void> {
  const check = (landing as { checkRoot?: () => Promise<void> }).checkRoot
  if (check === undefined) return
  try {
    await check.call(landing)
  } catch (err) {
    if (!(err instanceof SourceError) || err.code !== 'CDC_SOURCE_NOT_FOUND') throw err
    const root = resolveLocal(config, config.landing)
    const near = nearest(baseName(root), siblingFolders(dirname(root)))
    throw new SourceError('CDC_SOURCE_NOT_FOUND', err.message, {
      cause: err,
      hint:
        near.length > 0
          ? `did you mean ${near.map((n) => JSON.stringify(join(dirname(config.landing), n))).join(' or ')}? Fix "landing" in the config`
          : 'fix "landing" in the config, or mount the landing folder',
    })
  }
}

function baseName(p: string): string {
  return (
    p
      .split(/[\\/]/)
      .filter((x) => x !== '')
      .at(-1) ?? p
  )
}

function siblingFolders(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
  } catch {
    return []
  }
}

/**
 * Whether the table's folder exists (as a folder or an S3 common prefix), and if not, the nearest existing folder
 * paths: the first missing path segment is compared with the folders that do exist at its level.
 */
export async function tableFolder(
  landing: ObjectStore,
  path: string,
  signal?: AbortSignal,
): Promise<{ exists: boolean; suggestions: string[] }> {
  if (landing.folders === undefined) return { exists: true, suggestions: [] }
  const parts = path.split('/').filter((p) => p !== '')
  for (let i = 0; i < parts.length; i++) {
    const parent = parts.slice(0, i).join('/')
    const children = await landing.folders(parent, signal ? { signal } : {})
    if (!children.includes(parts[i]!)) {
      const near = nearest(parts[i]!, children)
      return { exists: false, suggestions: near.map((n) => [...parts.slice(0, i), n, ...parts.slice(i + 1)].join('/')) }
    }
  }
  return { exists: true, suggestions: [] }
}

/** Up to three names within a small edit distance of `name` (case-insensitive), nearest first. */
export function nearest(name: string, candidates: string[]): string[] {
  const max = Math.max(2, Math.floor(name.length / 3))
  return candidates
    .map((c) => ({ c, d: editDistance(name.toLowerCase(), c.toLowerCase()) }))
    .filter((x) => x.d <= max && x.c !== name)
    .sort((a, b) => a.d - b.d || (a.c < b.c ? -1 : 1))
    .slice(0, 3)
    .map((x) => x.c)
}

/** Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[b.length]!
}
