// Snapshot expiry: removes the snapshots no ref names (every date tag and main are kept) beyond the newest `keep`,
// then deletes the files only they referenced: the manifest lists of the expired snapshots, their manifests that no
// kept snapshot lists, and the data and delete files those manifests name (ADDED or EXISTING) that no kept manifest
// names live. A file can be named by several manifests: a commit of mode files that removes files (RAW Iceberg
// tables) writes the files it keeps again as EXISTING entries of a new manifest, so a file's ADDED manifest may
// expire while a kept snapshot still reads it through another one. Only the kept manifests that can name such a
// file are read: those with EXISTING entries (and, when an expired manifest has EXISTING entries, every kept one).
// `keepFile` protects more files (a RAW table's parts the state file still lists; raw-side.ts).
// The metadata without the expired snapshots is written first (the commit point); a crash before the deletes leaves
// unreferenced files behind, which removeOrphans deletes: after a compaction (the current snapshot is a replace:
// once per compaction, not per poll, since it lists the table's folders and reads every kept manifest), or when
// asked (cdc-apply compact).
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
  keepFile?: (key: string) => boolean,
): Promise<Expired> {
  const done = await expire(ice, keep, signal, keepFile)
  if (!orphans) return done
  return { ...done, orphans: (await removeOrphans(ice, ice.orphanMinAgeMs, signal, keepFile)).length }
}

async function expire(
  ice: IcebergTable,
  keep: number,
  signal?: AbortSignal,
  keepFile?: (key: string) => boolean,
): Promise<Expired> {
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
  const get = async (path: string): Promise<Uint8Array> => ice.store.get(ice.keyOf(path), { signal })
  const lists = async (snaps: Snapshot[]): Promise<Map<string, ManifestFile>> => {
    const out = new Map<string, ManifestFile>()
    for (const s of snaps)
      for (const m of await decodeManifestList(await get(s['manifest-list']))) out.set(m.manifest_path, m)
    return out
  }
  const keptManifests = await lists(kept)
  const gone = [...(await lists(expired)).values()].filter((m) => !keptManifests.has(m.manifest_path))
  const ids = new Set(expired.map((s) => s['snapshot-id']))
  await ice.replaceMetadata(
    { ...meta, snapshots: kept, 'snapshot-log': meta['snapshot-log'].filter((e) => !ids.has(e['snapshot-id'])) },
    signal,
  )
  // the files the gone manifests name, then those still live in a kept snapshot
  const candidates = new Set<string>()
  for (const m of gone)
    for (const e of (await decodeManifest(await get(m.manifest_path))).entries)
      if (e.status !== 2) candidates.add(e.data_file.file_path)
  const live =
    candidates.size === 0
      ? new Set<string>()
      : await liveIn(
          ice,
          keptManifests,
          gone.some((m) => m.existing_files_count > 0),
          signal,
        )
  const files = [...expired.map((s) => s['manifest-list']), ...gone.map((m) => m.manifest_path)]
  for (const f of candidates) if (!live.has(f)) files.push(f)
  const keys = files.map((f) => ice.keyOf(f)).filter((k) => !keepFile?.(k))
  await ice.store.delete(keys, { signal })
  return { snapshots: expired.length, files: keys.length, orphans: 0 }
}

/**
 * The files live (ADDED or EXISTING) in the kept manifests that may name a file of an expired manifest: those with
 * EXISTING entries, or all of them (`all`). The current snapshot's live files are known without a read.
 */
async function liveIn(
  ice: IcebergTable,
  kept: Map<string, ManifestFile>,
  all: boolean,
  signal?: AbortSignal,
): Promise<Set<string>> {
  const out = new Set<string>()
  const cur = ice.current()
  const now = cur ? await ice.files(cur, signal) : undefined
  for (const e of [...(now?.data ?? []), ...(now?.deletes ?? [])]) out.add(e.data_file.file_path)
  const read = new Set(now?.manifests.map((m) => m.manifest_path))
  for (const m of kept.values()) {
    if (read.has(m.manifest_path) || m.added_files_count + m.existing_files_count === 0) continue
    if (!all && m.existing_files_count === 0) continue
    for (const e of (await decodeManifest(await ice.store.get(ice.keyOf(m.manifest_path), { signal }))).entries)
      if (e.status !== 2) out.add(e.data_file.file_path)
  }
  return out
}
