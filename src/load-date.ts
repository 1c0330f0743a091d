// The date of the full load: from the greatest timestampColumn value of the full-load rows when configured, else
// the newest modification time of the full-load objects, else (no full load) the first change file's date.
import * as A from 'apache-arrow'
import type { TableConfig } from './config.js'
import type { ChangeBatch, TableSchema } from './batch.js'
import type { DmsFile } from './dms-names.js'
import { columnValues } from './arrow/values.js'
import { dateOfMillis, dateOfText } from './dates.js'

export function loadDateOf(
  t: Pick<TableConfig, 'timestampColumn'>,
  schema: TableSchema,
  load: DmsFile[],
  batches: Map<DmsFile, ChangeBatch[]>,
  cdc: DmsFile[],
): string {
  if (load.length === 0) return cdc[0]!.date
  const tsIdx = t.timestampColumn === undefined ? -1 : schema.fields.findIndex((f) => f.name === t.timestampColumn)
  if (tsIdx >= 0) {
    let best: string | undefined
    const type = schema.fields[tsIdx]!.type
    for (const f of load) {
      for (const b of batches.get(f)!) {
        for (const v of columnValues(b.columns[tsIdx]!)) {
          const d = dateOfValue(v, type)
          if (d !== undefined && (best === undefined || d > best)) best = d
        }
      }
    }
    if (best !== undefined) return best
  }
  return dateOfMillis(Math.max(...load.map((f) => f.lastModified.getTime())))
}

function dateOfValue(v: unknown, type: A.DataType): string | undefined {
  if (typeof v === 'string') return dateOfText(v)
  if (v === null || v === undefined) return undefined
  const n = Number(v)
  if (A.DataType.isDate(type)) return dateOfMillis(type.unit === A.DateUnit.DAY ? n * 86_400_000 : n)
  if (A.DataType.isTimestamp(type)) {
    const perMs = [1 / 1000, 1, 1000, 1_000_000][type.unit]!
    return dateOfMillis(n / perMs)
  }
  return undefined
}
