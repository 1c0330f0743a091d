// The landing against the ledger (processed_files): superseded change files, late files, reloads, an unchanged
// landing. Pure, except `landingHashes`, which reads the few objects whose ETag changed but not their size.
import type { Discovery } from './discover.js'
import type { DmsFile } from './dms-names.js'
import { md5Of } from './read-object.js'
import { objectChunks, type ObjectStore } from './store/object-store.js'
import type { ProcessedFile, Watermark } from './state/index.js'

type Listing = Pick<Discovery, 'load' | 'cdc'>

/** Change files superseded by a table reload stay out of every later run. */
export function dropSuperseded<L extends Listing>(listing: L, ledger: ProcessedFile[]): L {
  const superseded = new Set(ledger.filter((f) => f.superseded === true).map((f) => f.file))
  if (superseded.size === 0 || !listing.cdc.some((f) => superseded.has(f.stem))) return listing
  return { ...listing, cdc: listing.cdc.filter((f) => !superseded.has(f.stem)) }
}

/**
 * The objects the ledger check must hash: change files at or before the LPF and full-load files whose ETag differs
 * from the ledger's but whose size does not (a copied folder gives new ETags to the same bytes). In check order.
 */
export function filesToHash(wm: Watermark, listing: Listing, ledger: ProcessedFile[]): DmsFile[] {
  const byName = new Map(ledger.map((f) => [f.file, f]))
  const listed = [...listing.cdc.filter((f) => f.stem <= wm.lpf), ...listing.load]
  return listed.filter((f) => {
    const known = byName.get(f.stem)
    return known !== undefined && known.etag !== f.etag && known.size === f.size && known.checksum !== ''
  })
}

/** MD5 of each object, by stem, read one after another. */
export async function landingHashes(
  landing: ObjectStore,
  files: DmsFile[],
  signal: AbortSignal | undefined,
): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const f of files) out.set(f.stem, await md5Of(objectChunks(landing, f.key, { signal })))
  return out
}

/**
 * Compares a full listing with the ledger: change files at or before the LPF that were never processed, or whose
 * content changed, are late; full-load files that are new or changed mean a DMS table reload. An object whose ETag
 * differs but whose content hash matches (a copied folder) is unchanged. `hashes` holds the `filesToHash`.
 */
export function ledgerCheck(
  wm: Watermark,
  listing: Listing,
  ledger: ProcessedFile[],
  hashes: ReadonlyMap<string, string>,
): { late: DmsFile[]; reload: DmsFile[] } {
  const byName = new Map(ledger.map((f) => [f.file, f]))
  const changed = (f: DmsFile): boolean => {
    const known = byName.get(f.stem)
    if (known === undefined) return true
    if (known.etag === f.etag) return false
    if (known.size !== f.size) return true
    return known.checksum === '' || hashes.get(f.stem) !== known.checksum
  }
  return { late: listing.cdc.filter((f) => f.stem <= wm.lpf && changed(f)), reload: listing.load.filter(changed) }
}

/** True when the landing holds exactly the files of the ledger, unchanged (same names and ETags). */
export function unchangedSinceLedger(all: ProcessedFile[], listing: Listing): boolean {
  const ledger = all.filter((f) => !f.superseded)
  const files = [...listing.load, ...listing.cdc]
  if (files.length !== ledger.length) return false
  const byName = new Map(ledger.map((f) => [f.file, f.etag]))
  return files.every((f) => byName.get(f.stem) === f.etag)
}
