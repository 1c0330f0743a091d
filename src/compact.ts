// `cdc-apply compact`: compacts the curated Iceberg tables now (compaction, snapshot expiry, orphan removal), under
// the state lock that run and reset take, so no run or watcher commits to a table meanwhile.
import { resolveLocal, tableLabel, type Config } from './config.js'
import { StateStore } from './state/index.js'
import { findTable } from './table-glob.js'
import { openStores } from './run.js'
import { openCuratedIceberg } from './catalog/iceberg.js'
import { compactTable, icebergUpkeep, type Compacted } from './iceberg/compact.js'
import { idForJson, type Snapshot } from './iceberg/metadata.js'

export type CompactResult =
  | { table: string; status: 'plain' }
  | { table: string; status: 'empty' }
  | ({ table: string; status: 'compacted' | 'unchanged'; snapshotId: number | string | undefined } & Omit<
      Compacted,
      'compacted'
    >)

/** Compacts each labelled table; tables with the plain layout are reported, not touched. Takes the state lock. */
export async function compactTables(config: Config, labels: string[], signal?: AbortSignal): Promise<CompactResult[]> {
  const tables = labels.map((l) => findTable(config, l))
  const state = StateStore.open(resolveLocal(config, config.state))
  try {
    state.lock()
    const stores = await openStores(config)
    try {
      const out: CompactResult[] = []
      for (const t of tables) {
        const table = tableLabel(t)
        if (t.tableFormat !== 'iceberg') {
          out.push({ table, status: 'plain' })
          continue
        }
        const ice = await openCuratedIceberg(stores.curated, t, {
          ...icebergUpkeep(config),
          ...(signal ? { signal } : {}),
        })
        if (!ice.meta) {
          out.push({ table, status: 'empty' })
          continue
        }
        const { compacted, ...r } = await compactTable(
          ice,
          { parquet: config.parquet, keepSnapshots: config.iceberg.keepSnapshots },
          signal,
        )
        out.push({
          table,
          status: compacted ? 'compacted' : 'unchanged',
          snapshotId: snapshotIdOf(ice.current()),
          ...r,
        })
      }
      return out
    } finally {
      await Promise.all([stores.landing.close(), stores.raw.close(), stores.curated.close()])
    }
  } finally {
    state.close()
  }
}

function snapshotIdOf(s: Snapshot | undefined): number | string | undefined {
  return s && idForJson(s['snapshot-id'])
}
