// Opens a landing or output location: a folder path (relative to the config's folder) or an s3:// url.
import { resolve } from 'node:path'
import { LocalStore } from './local-store.js'
import type { ObjectStore } from './object-store.js'
import type { Config } from '../config.js'
// Type-only: erased at compile time, so importing them does not load the AWS SDK.
import type { Encryption, S3Options } from './s3-store.js'

export type { Encryption, S3Options }

export interface OpenStoreOptions {
  /** Folder that relative paths are resolved against (the config file's folder). */
  baseDir: string
  s3?: S3Options
  /** Applied to every object written to an S3 location; ignored for folders. */
  encryption?: Encryption
}

export async function openStore(location: string, opts: OpenStoreOptions): Promise<ObjectStore> {
  if (location.startsWith('s3://')) {
    // Loaded on first use: the SDK takes a noticeable time to load and folder-only configs never need it.
    const { S3Store } = await import('./s3-store.js')
    return new S3Store(location, { s3: opts.s3, encryption: opts.encryption })
  }
  return new LocalStore(resolve(opts.baseDir, location), location)
}

/** The configured locations a store is opened on: the landing (read) and the two outputs (written). */
export type Zone = 'landing' | 'raw' | 'curated'

type ZoneConfig = Pick<Config, 'baseDir' | 's3' | 'encryption' | Zone>

/**
 * The options to open a location as the config says: its S3 settings and, for a location written like RAW or
 * curated, that zone's encryption (none for the landing and other inputs). Relative paths resolve in `baseDir`.
 */
export function zoneOptions(config: ZoneConfig, zone: Zone | undefined, baseDir = config.baseDir): OpenStoreOptions {
  const encryption = zone === 'raw' || zone === 'curated' ? config.encryption[zone] : undefined
  return { baseDir, ...(config.s3 ? { s3: config.s3 } : {}), ...(encryption ? { encryption } : {}) }
}

/** Opens a zone's store: its configured location (or `location`, an output written like that zone). */
export function openZone(
  config: ZoneConfig,
  zone: Zone,
  location: string = config[zone],
  baseDir = config.baseDir,
): Promise<ObjectStore> {
  return openStore(location, zoneOptions(config, zone, baseDir))
}
