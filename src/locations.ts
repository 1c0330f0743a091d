// Where a config's locations really are: folders compared by real path (symlinks resolved, a path that does not
// exist yet by its nearest existing ancestor), s3:// locations by bucket and prefix. Used by the config check that
// landing, RAW, curated, state, cache and outputs are disjoint, and by the guards of pipeline writes and snapshots.
import { lstatSync, readlinkSync, realpathSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path'
import type { Config } from './config.js'

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i

/**
 * The real location of a folder or file: an absolute path with every symlink resolved (for a path that does not
 * exist yet, its nearest existing ancestor's real path plus the rest), or `s3://bucket/prefix` without trailing
 * slashes. Relative paths resolve against `baseDir`.
 */
export function realLocation(location: string, baseDir = process.cwd()): string {
  if (location.startsWith('s3://'))
    return (
      's3://' +
      location
        .slice(5)
        .replace(/\/{2,}/g, '/')
        .replace(/\/+$/, '')
    )
  if (URL_SCHEME.test(location)) return location
  return realPath(resolve(baseDir, location), 0)
}

function realPath(path: string, depth: number): string {
  const rest: string[] = []
  let p = path
  for (;;) {
    try {
      const r = realpathSync.native(p)
      return rest.length === 0 ? r : join(r, ...rest.reverse())
    } catch {
      // a dangling symlink still says where it points: follow it (a bounded number of times)
      if (depth < 40) {
        try {
          if (lstatSync(p).isSymbolicLink())
            return realPath(join(resolve(dirname(p), readlinkSync(p)), ...rest.reverse()), depth + 1)
        } catch {
          /* not there at all: go up */
        }
      }
      const parent = dirname(p)
      if (parent === p) return path
      rest.push(basename(p))
      p = parent
    }
  }
}

/** Whether `child` is `parent` (unless strict) or below it, comparing the locations as given (already real). */
export function within(child: string, parent: string, strict = false): boolean {
  if (child.startsWith('s3://') !== parent.startsWith('s3://')) return false
  if (child.startsWith('s3://')) {
    const c = child.replace(/\/+$/, '')
    const p = parent.replace(/\/+$/, '')
    return (!strict && c === p) || c.startsWith(`${p}/`)
  }
  const rel = relative(parent, child)
  if (rel === '') return !strict
  return !rel.startsWith('..') && !isAbsolute(rel)
}

/** Whether two real locations overlap: one is the other or holds it. */
export function overlap(a: string, b: string): boolean {
  return within(a, b) || within(b, a)
}

/** A named location of a config, for messages: `$.raw`, `$.outputs[0]`, ... */
export interface NamedLocation {
  path: string
  location: string
}

/** The first pair of locations that overlap by real path, or undefined. Locations of one `group` may overlap. */
export function firstOverlap(
  locations: readonly (NamedLocation & { group?: string })[],
  baseDir: string,
): { a: NamedLocation; b: NamedLocation; real: [string, string] } | undefined {
  const real = locations.map((l) => realLocation(l.location, baseDir))
  for (let i = 0; i < locations.length; i++) {
    for (let j = i + 1; j < locations.length; j++) {
      const gi = locations[i]!.group
      if (gi !== undefined && gi === locations[j]!.group) continue
      if (overlap(real[i]!, real[j]!)) return { a: locations[i]!, b: locations[j]!, real: [real[i]!, real[j]!] }
    }
  }
  return undefined
}

/** A write target that would write into, or replace a folder holding, one of `protect`: its clash, or undefined. */
export function protectedClash(
  target: string,
  protect: readonly string[],
  baseDir = process.cwd(),
): { location: string; real: string } | undefined {
  const t = realLocation(target, baseDir)
  for (const p of protect) {
    const r = realLocation(p, baseDir)
    if (
      overlap(t, r) ||
      overlap(
        target.startsWith('s3://') ? target : resolve(baseDir, target),
        p.startsWith('s3://') ? p : resolve(baseDir, p),
      )
    )
      return { location: p, real: t }
  }
  return undefined
}

/**
 * The locations nothing else may write into or replace: landing, RAW, curated, the state file and the pipeline
 * cache (default `<state file's folder>/cache`), absolute or s3://, with the config key that names each.
 */
export function protectedLocations(
  config: Pick<Config, 'baseDir' | 'landing' | 'raw' | 'curated' | 'state' | 'cache'>,
): NamedLocation[] {
  const abs = (l: string): string => (l.startsWith('s3://') ? l : resolve(config.baseDir, l))
  const state = abs(config.state)
  return [
    { path: 'landing', location: abs(config.landing) },
    { path: 'raw', location: abs(config.raw) },
    { path: 'curated', location: abs(config.curated) },
    { path: 'state', location: state },
    { path: 'cache', location: config.cache === undefined ? join(dirname(state), 'cache') : abs(config.cache) },
  ]
}
