// Orphan removal: files under a table's data/ and metadata/ that nothing in the current metadata references. A crash
// leaves such files behind: the data, delete and manifest files and the manifest list of a commit killed before its
// vN.metadata.json, the files an expiry meant to delete after its metadata, the metadata versions a commit meant to
// delete after it. Referenced are: the current vN.metadata.json and those its metadata-log lists, version-hint.text,
// every kept snapshot's manifest list, the manifests they list and the files those manifests name as ADDED or
// EXISTING. A DELETED entry only records a removal (readers skip it): its file is referenced where it is still live,
// and a file that is live nowhere any more (an expiry killed before its deletes) goes.
// Only files older than a safety age go: a file younger than that may belong to a commit still being written. The
// caller may protect more files (`keepFile`: a RAW table's parts the state file lists, or a write in progress).
import { decodeManifest, decodeManifestList } from './avro.js'
import { joinKey } from '../store/object-store.js'
import type { IcebergTable } from './table.js'

const VERSION = /\/v(\d+)\.metadata\.json$/

/** Deletes the table's unreferenced files last modified at least `minAgeMs` ago; returns their keys. */
export async function removeOrphans(
  ice: IcebergTable,
  minAgeMs: number,
  signal?: AbortSignal,
  keepFile?: (key: string) => boolean,
): Promise<string[]> {
  const meta = ice.meta
  if (!meta) return []
  const opts = signal ? { signal } : {}
  const keep = new Set<string>([
    joinKey(ice.prefix, 'metadata', `v${ice.version}.metadata.json`),
    joinKey(ice.prefix, 'metadata', 'version-hint.text'),
    ...meta['metadata-log'].map((e) => ice.keyOf(e['metadata-file'])),
  ])
  const manifests = new Set<string>()
  for (const s of meta.snapshots) {
    keep.add(ice.keyOf(s['manifest-list']))
    for (const m of await decodeManifestList(await ice.store.get(ice.keyOf(s['manifest-list']), opts)))
      manifests.add(m.manifest_path)
  }
  for (const m of manifests) {
    keep.add(ice.keyOf(m))
    for (const e of (await decodeManifest(await ice.store.get(ice.keyOf(m), opts))).entries)
      if (e.status !== 2) keep.add(ice.keyOf(e.data_file.file_path))
  }
  const before = Date.now() - minAgeMs
  const gone: string[] = []
  for (const dir of ['data', 'metadata']) {
    for await (const o of ice.store.list(joinKey(ice.prefix, dir) + '/', opts)) {
      if (keep.has(o.key) || o.lastModified.getTime() > before || keepFile?.(o.key)) continue
      // a version above the one this table was opened at is another writer's commit: never ours to delete
      const v = VERSION.exec(o.key)
      if (v && Number(v[1]) >= ice.version) continue
      gone.push(o.key)
    }
  }
  await ice.store.delete(gone, opts)
  return gone
}
