// The config's side sections: the s3 and encryption blocks, the catalog, the pipelines list, and the check that
// the configured locations do not overlap. The tables and the top level are parsed in config.ts.
import { dirname, resolve } from 'node:path'
import { ConfigError } from './errors.js'
import { firstOverlap, within } from './locations.js'
import { CATALOG_KEYS, CHECKSUMS, ENCRYPTION_KEYS, PIPELINE_KEYS, S3_KEYS, SSE_MODES, keysOf } from './config-keys.js'
import type { CatalogConfig, Config, EncryptionConfig, PipelineConfig, S3Config } from './config.js'
import { arr, bool, describe, invalid, known, obj, oneOf, opt, posInt, req, str } from './config-validate.js'

/**
 * Landing, RAW, curated, the state file, the pipeline cache and each configured output must be disjoint by real
 * path (symlinks resolved) or by S3 bucket and prefix: none may be another or lie inside another.
 */
export function checkLocations(config: Config): Config {
  const state = resolve(config.baseDir, config.state)
  const locations = [
    { path: '$.landing', location: config.landing },
    { path: '$.raw', location: config.raw },
    { path: '$.curated', location: config.curated },
    { path: '$.state', location: state },
    {
      path: config.cache === undefined ? "$.cache (default: the state file's folder + /cache)" : '$.cache',
      location: config.cache ?? resolve(dirname(state), 'cache'),
    },
    ...(config.outputs ?? []).map((o, i) => ({ path: `$.outputs[${i}]`, location: o, group: 'outputs' })),
  ]
  const clash = firstOverlap(locations, config.baseDir)
  if (clash) {
    const [ra, rb] = clash.real
    const how = ra === rb ? 'the same location' : within(ra, rb) ? `inside ${clash.b.path}` : `holding ${clash.b.path}`
    throw new ConfigError(
      'CDC_CONFIG_INVALID',
      `config ${clash.a.path} is invalid: expected a location apart from ${clash.b.path}, got ${JSON.stringify(clash.a.location)}, ${how} (${JSON.stringify(ra)} and ${JSON.stringify(rb)} after resolving symlinks)`,
      {
        hint: 'landing, raw, curated, state, cache and outputs must not overlap: RAW history, snapshots and DMS files would overwrite each other (see docs/config.md)',
      },
    )
  }
  return config
}

/** Glue database and table names: lower case letters, digits and underscores (Athena's rule for names). */
const GLUE_NAME = /^[a-z0-9_]+$/

export function parseCatalog(json: unknown, path: string, defaultMaxAttempts: number): CatalogConfig {
  const c = obj(json, path)
  known(c, path, keysOf(CATALOG_KEYS))
  const type = req(c, 'type', path, (v, p) => oneOf(v, p, ['glue'] as const))
  const database = req(c, 'database', path, (v, p) => {
    const s = str(v, p)
    if (!GLUE_NAME.test(s) || s.length > 255)
      throw invalid(p, 'a Glue database name of lower case letters, digits and _', JSON.stringify(s))
    return s
  })
  const tablePrefix =
    opt(c, 'tablePrefix', path, (v, p) => {
      if (typeof v !== 'string' || (v !== '' && !GLUE_NAME.test(v)))
        throw invalid(p, 'lower case letters, digits and _ (or "")', describe(v))
      return v
    }) ?? ''
  const endpoint = opt(c, 'endpoint', path, (v, p) => {
    const s = str(v, p)
    if (!/^https?:\/\/[^/]+/.test(s)) throw invalid(p, 'an http:// or https:// URL', JSON.stringify(s))
    return s
  })
  return {
    type,
    database,
    region: opt(c, 'region', path, str),
    tablePrefix,
    endpoint,
    maxAttempts: opt(c, 'maxAttempts', path, posInt) ?? defaultMaxAttempts,
  }
}

export function parsePipeline(json: unknown, path: string, tables: ReadonlySet<string>): PipelineConfig {
  const o = obj(json, path)
  known(o, path, keysOf(PIPELINE_KEYS))
  const file = req(o, 'file', path, str)
  const after = req(o, 'after', path, (v, p) =>
    arr(v, p).map((x, i) => {
      const t = str(x, `${p}[${i}]`)
      if (!tables.has(t))
        throw invalid(`${p}[${i}]`, `a configured table (${[...tables].join(', ')})`, JSON.stringify(t))
      return t
    }),
  )
  if (after.length === 0)
    throw invalid(`${path}.after`, 'at least one table whose progress triggers the pipeline', 'an empty list')
  const paramsJson = o.params === undefined ? {} : obj(o.params, `${path}.params`)
  const params: Record<string, string> = {}
  for (const [k, v] of Object.entries(paramsJson)) params[k] = str(v, `${path}.params.${k}`)
  return { file, after, params }
}

export function parseS3(json: unknown, path: string): S3Config {
  const s = obj(json, path)
  known(s, path, keysOf(S3_KEYS))
  const out: S3Config = {}
  const region = opt(s, 'region', path, str)
  if (region !== undefined) out.region = region
  const endpoint = opt(s, 'endpoint', path, str)
  if (endpoint !== undefined) out.endpoint = endpoint
  const fps = opt(s, 'forcePathStyle', path, bool)
  if (fps !== undefined) out.forcePathStyle = fps
  const rcc = opt(s, 'requestChecksumCalculation', path, (v, p) => oneOf(v, p, CHECKSUMS))
  if (rcc !== undefined) out.requestChecksumCalculation = rcc
  const ma = opt(s, 'maxAttempts', path, posInt)
  if (ma !== undefined) out.maxAttempts = ma
  return out
}

export function parseEncryption(json: unknown, path: string): EncryptionConfig {
  const e = obj(json, path)
  known(e, path, keysOf(ENCRYPTION_KEYS))
  const mode = req(e, 'mode', path, (v, p) => oneOf(v, p, SSE_MODES))
  const kmsKeyId = opt(e, 'kmsKeyId', path, str)
  if (mode === 'SSE-S3' && kmsKeyId !== undefined)
    throw invalid(`${path}.kmsKeyId`, 'no key id with SSE-S3', JSON.stringify(kmsKeyId))
  return kmsKeyId === undefined ? { mode } : { mode, kmsKeyId }
}
