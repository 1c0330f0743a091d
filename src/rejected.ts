// The rejected-row record of the readers (onBadRow "quarantine"): one shape from the CSV and Parquet readers to
// RAW's _quarantine partition, and the row text of a rejected Parquet row, with each column read once per part.
import type * as A from 'apache-arrow'
import { columnValues, type JsValue } from './arrow/values.js'
import type { TableSchema } from './batch.js'

/** A quarantined row: where it was, why, and what it held (one row of the _quarantine partition). */
export interface Rejected {
  /** The DMS file's name without its extensions (cdc_file). */
  file: string
  /** CSV: the physical line where the record starts; null for Parquet. */
  line: number | null
  /** Parquet: the row's number in the file (1-based); null for CSV. */
  row: number | null
  /** The error code the row would have failed the file with. */
  code: string
  /** That error's message. */
  reason: string
  /** CSV: the record as it stands in the file (without its line end); Parquet: the row's values as JSON. */
  record: string
}

/**
 * The values of a part's columns, read on first use and kept: a part with many rejected rows reads each column once
 * (not once per rejected row).
 */
export class PartValues {
  private readonly cache: (JsValue[] | undefined)[]
  constructor(
    private readonly schema: TableSchema,
    private readonly columns: readonly A.Data[],
  ) {
    this.cache = new Array<JsValue[] | undefined>(columns.length)
  }

  /** The values of column `c`. */
  column(c: number): JsValue[] {
    return (this.cache[c] ??= columnValues(this.columns[c]!))
  }

  /** Row `i` as the JSON text of a Parquet rejected row's record (bigints as strings). */
  rowText(i: number): string {
    return JSON.stringify(
      Object.fromEntries(this.schema.fields.map((f, c) => [f.name, this.column(c)[i] ?? null])),
      (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
    )
  }
}
