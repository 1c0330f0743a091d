// Opens a landing or output location: a folder path (relative to the config's folder) or an s3:// url.
import { resolve } from 'node:path'
import { LocalStore } from './local-store.js'
import type { ObjectStore } from './object-store.js'
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
