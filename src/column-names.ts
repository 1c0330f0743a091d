// Column names that come from the data (a CSV header, a Parquet schema) obey the rules configured names obey:
// not empty, each once, not a name cdc-apply adds (cdc_file, cdc_row, Op) and not a second Op column.
import { DataError } from './errors.js'
import { META } from './config.js'

export interface NamesContext {
  label: string
  /** The object's key, for messages. */
  key: string
  /** Where the names come from, for messages: 'header' or 'schema'. */
  from: 'header' | 'schema'
  opColumn: string
}

/**
 * Checks the data column names of a file (without its Op field, which the caller has taken out).
 * `ordinal(i)` gives the 1-based field number of names[i] in the file. Throws CDC_SCHEMA_MISMATCH at file:column.
 */
export function checkColumnNames(
  names: readonly string[],
  ctx: NamesContext,
  ordinal: (i: number) => number = (i) => i + 1,
): void {
  const seen = new Set<string>()
  const where = ctx.from === 'header' ? `the header of ${ctx.key}` : `the schema of ${ctx.key}`
  names.forEach((name, i) => {
    const n = ordinal(i)
    const fail = (problem: string, hint: string): DataError =>
      new DataError(
        'CDC_SCHEMA_MISMATCH',
        `table ${ctx.label}: column ${n} (${JSON.stringify(name)}) in ${where} ${problem}`,
        {
          table: ctx.label,
          file: ctx.key,
          ...(ctx.from === 'header' ? { line: 1 } : {}),
          column: name,
          hint,
        },
      )
    if (name.trim() === '')
      throw fail(
        'has no name; expected a non-empty column name',
        'every column needs a name; check the DMS endpoint settings that write the header',
      )
    if (name === META.file || name === META.row)
      throw fail(
        `is reserved; expected a name other than ${META.file} and ${META.row} (cdc-apply adds those columns)`,
        'rename the column with a DMS transformation rule (rename-column)',
      )
    if (name === ctx.opColumn || name === META.op) {
      throw fail(
        `is a second Op column; expected ${JSON.stringify(ctx.opColumn)} only once, as the first field`,
        'a full-load file with an Op column needs "includeOpForFullLoad": true; otherwise rename the column with a DMS transformation rule',
      )
    }
    if (seen.has(name))
      throw fail(
        'appears twice; expected each column name once',
        'the file names a column twice; fix the DMS table mapping',
      )
    seen.add(name)
  })
}
