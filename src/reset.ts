// `cdc-apply reset`: forgets a table so that the next run reprocesses it from its full load.
import { resolveLocal, type Config } from './config.js'
import { StateStore } from './state/index.js'
import { joinKey } from './store/object-store.js'
import { findTable } from './table-glob.js'
import { QUARANTINE } from './quarantine.js'
import { openStores } from './run.js'

/**
 * Deletes the table's RAW, quarantine and curated partitions, then its watermark, ledger and tombstones. Takes the
 * state lock.
 */
export async function resetTable(config: Config, label: string): Promise<{ deleted: number }> {
  const t = findTable(config, label)
  const state = StateStore.open(resolveLocal(config, config.state))
  try {
    state.lock()
    const stores = await openStores(config)
    let deleted = 0
    try {
      for (const [store, prefix] of [
        [stores.raw, joinKey(t.source, t.name)],
        [stores.raw, joinKey(QUARANTINE, t.source, t.name)],
        [stores.curated, joinKey(t.source, t.name)],
      ] as const) {
        const keys: string[] = []
        for await (const o of store.list(`${prefix}/`)) keys.push(o.key)
        await store.delete(keys)
        deleted += keys.length
      }
    } finally {
      await Promise.all([stores.landing.close(), stores.raw.close(), stores.curated.close()])
    }
    state.resetTable(t.source, t.name)
    return { deleted }
  } finally {
    state.close()
  }
}
