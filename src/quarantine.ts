// Rows set aside under onBadRow "quarantine": written to <raw>/_quarantine/<source>/<table>/<date>/, rewritten whole
// together with the date's RAW partition.
import * as A from 'apache-arrow'
import type { Config, TableConfig } from './config.js'
import type { Rejected } from './rejected.js'
import { joinKey, type ObjectStore } from './store/object-store.js'
import { writePartition } from './write.js'

/** Where quarantined rows go, under the RAW location. */
export const QUARANTINE = '_quarantine'

/** The quarantine folder of a RAW partition (`<source>/<table>/<date>`). */
export function quarantinePrefix(partition: string): string {
  return joinKey(QUARANTINE, partition)
}

/**
 * Rewrites the quarantine partition of a RAW date: the rejected rows of the date's files, or, when there are none
 * under onBadRow "quarantine", removes what an earlier run set aside there.
 */
export async function writeQuarantine(
  raw: ObjectStore,
  partition: string,
  rejected: Rejected[],
  t: Pick<TableConfig, 'onBadRow'>,
  parquet: Config['parquet'],
  signal: AbortSignal | undefined,
): Promise<void> {
  const prefix = quarantinePrefix(partition)
  if (rejected.length > 0) await writePartition(raw, prefix, quarantineTable(rejected), parquet, signal)
  else if (t.onBadRow === 'quarantine') {
    const stale: string[] = []
    for await (const o of raw.list(`${prefix}/`, { signal })) stale.push(o.key)
    if (stale.length > 0) await raw.delete(stale, { signal })
  }
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
