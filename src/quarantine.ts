// Rows set aside under onBadRow "quarantine": written to <raw>/_quarantine/<source>/<table>/<date>/, one object per
// RAW write of the date (named like its parts), beside the date's RAW parts.
import * as A from 'apache-arrow'
import type { Config, TableConfig } from './config.js'
import type { Rejected } from './rejected.js'
import { joinKey, type ObjectStore } from './store/object-store.js'
import { toParquet } from './write.js'

/** Where quarantined rows go, under the RAW location. */
export const QUARANTINE = '_quarantine'

/** The quarantine folder of a RAW partition (`<source>/<table>/<date>`). */
export function quarantinePrefix(partition: string): string {
  return joinKey(QUARANTINE, partition)
}

/**
 * Writes the rejected rows of one RAW write's files (first..last) as `part-<first>-<last>-00000.parquet`, then
 * deletes what an uncommitted attempt of the same write left (objects named from the same first file), or, when the
 * run rebuilds the date, every other object of the date's quarantine folder.
 */
export async function writeQuarantine(
  raw: ObjectStore,
  partition: string,
  rejected: Rejected[],
  write: { first: string; last: string; rebuild: boolean },
  t: Pick<TableConfig, 'onBadRow'>,
  parquet: Config['parquet'],
  signal: AbortSignal | undefined,
): Promise<void> {
  if (rejected.length === 0 && t.onBadRow !== 'quarantine') return
  const prefix = quarantinePrefix(partition)
  const name = `part-${write.first}-${write.last}-00000.parquet`
  const opts = signal ? { signal } : {}
  if (rejected.length > 0)
    await raw.put(joinKey(prefix, name), await toParquet(quarantineTable(rejected), parquet), opts)
  const stale: string[] = []
  for await (const o of raw.list(`${prefix}/`, opts)) {
    const n = o.key.slice(prefix.length + 1)
    if (n === name && rejected.length > 0) continue
    if (write.rebuild || n.startsWith(`part-${write.first}-`)) stale.push(o.key)
  }
  if (stale.length > 0) await raw.delete(stale, opts)
}

function quarantineTable(rows: Rejected[]): A.Table {
  return A.tableFromArrays({
    cdc_file: rows.map((r) => r.file),
    line: BigInt64Array.from(rows, (r) => BigInt(r.line ?? -1)),
    cdc_row: BigInt64Array.from(rows, (r) => BigInt(r.row ?? -1)),
    code: rows.map((r) => r.code),
    reason: rows.map((r) => r.reason),
    record: rows.map((r) => r.record),
  })
}
