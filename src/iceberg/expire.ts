// Snapshot expiry: removes the snapshots no ref names (every date tag and main are kept) beyond the newest `keep`,
// then deletes the files only they referenced. A data or delete file is live in a snapshot exactly when the manifest
// that added it is in the snapshot's manifest list (cdc-apply adds each file in one manifest, and a merge lists
// the parent's manifests again), so the files to delete are the manifest lists of the expired snapshots, their
// manifests that no kept snapshot lists, and the files those manifests added, but those a kept manifest lists again
// as EXISTING (a commit that removed files rewrote the manifest that listed them with the others). The metadata without the expired
// snapshots is written first (the commit point); a crash before the deletes leaves unreferenced files behind, which
// removeOrphans deletes: after a compaction (the current snapshot is a replace: once per compaction, not per poll,
// since it lists the table's folders and reads every kept manifest), or when asked (cdc-apply compact).
import { decodeManifest, decodeManifestList, type ManifestFile } from './avro.js'
import { removeOrphans } from './orphans.js'
import type { IcebergTable, Snapshot } from './table.js'

export interface Expired {
  snapshots: number
  files: number
  /** Unreferenced files deleted (0 when orphans were not looked for). */
  orphans: number
}

export async function expireSnapshots(
  ice: IcebergTable,
  keep: number,
  signal?: AbortSignal,
  orphans = ice.current()?.summary.operation === 'replace',
): Promise<Expired> {
  const done = await expire(ice, keep, signal)
  return orphans ? { ...done, orphans: (await removeOrphans(ice, ice.orphanMinAgeMs, signal)).length } : done
}

async function expire(ice: IcebergTable, keep: number, signal?: AbortSignal): Promise<Expired> {
  const meta = ice.meta
  if (!meta) return { snapshots: 0, files: 0, orphans: 0 }
  const named = new Set(Object.values(meta.refs).map((r) => r['snapshot-id']))
  const newest = new Set(
    [...meta.snapshots]
      .sort((a, b) => b['sequence-number'] - a['sequence-number'])
      .slice(0, keep)
      .map((s) => s['snapshot-id']),
  )
  const kept = meta.snapshots.filter((s) => named.has(s['snapshot-id']) || newest.has(s['snapshot-id']))
  const expired = meta.snapshots.filter((s) => !kept.includes(s))
  if (expired.length === 0) return { snapshots: 0, files: 0, orphans: 0 }
  const lists = async (snaps: Snapshot[]): Promise<Map<string, ManifestFile>> => {
    const out = new Map<string, ManifestFile>()
    for (const s of snaps)
      for (const m of await decodeManifestList(await ice.store.get(ice.keyOf(s['manifest-list']), { signal })))
        out.set(m.manifest_path, m)
    return out
  }
  const keptManifests = await lists(kept)
  const gone = [...(await lists(expired)).keys()].filter((m) => !keptManifests.has(m))
  const ids = new Set(expired.map((s) => s['snapshot-id']))
  await ice.replaceMetadata(
    { ...meta, snapshots: kept, 'snapshot-log': meta['snapshot-log'].filter((e) => !ids.has(e['snapshot-id'])) },
    signal,
  )
  const files = expired.map((s) => s['manifest-list'])
  // A file a kept manifest lists again as EXISTING (a commit that rewrote the manifest listing it) stays; so does an
  // EXISTING entry's file when a kept manifest was written by the snapshot that added it (it may list it as ADDED).
  const still = new Set<string>()
  const adders = new Set<unknown>()
  for (const m of keptManifests.values()) {
    adders.add(m.added_snapshot_id)
    if (m.existing_files_count === 0) continue
    for (const e of (await decodeManifest(await ice.store.get(ice.keyOf(m.manifest_path), { signal }))).entries)
      if (e.status !== 2) still.add(e.data_file.file_path)
  }
  for (const m of gone) {
    const { entries } = await decodeManifest(await ice.store.get(ice.keyOf(m), { signal }))
    for (const e of entries)
      if ((e.status === 1 || (e.status === 0 && !adders.has(e.snapshot_id))) && !still.has(e.data_file.file_path))
        files.push(e.data_file.file_path)
    files.push(m)
  }
  await ice.store.delete(
    files.map((f) => ice.keyOf(f)),
    { signal },
  )
  return { snapshots: expired.length, files: files.length, orphans: 0 }
}
