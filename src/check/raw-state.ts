// The RAW recompute engine behind verify, snapshot --as-of and the steps' checks: the winning change of every key,
// rebuilt from RAW with DuckDB SQL (not with cdc-apply's apply code), one date at a time.
//
// The rebuild streams by date: RAW partitions are read one date at a time in date order and merged into a keyed
// `state` table that holds the winning change of every key, deletes included (tombstones). Memory and scratch disk
// are bounded by the table's keys plus one date of RAW. The winner is the documented ordering chain:
// `row_number() over (partition by <pk> order by <ts> desc nulls last, <seq> desc nulls last, <file rank> desc,
// cdc_row desc) = 1`, where the file rank puts every LOAD file (by name) before every change file (by name).
import { DataError } from '../errors.js'
import { META } from '../config.js'
import { quotedIdentifier, readParquetSql, type Column, type Duck } from './duck.js'

/** What decides which change of a key wins: the table's primary key and ordering columns. */
export interface OrderSpec {
  primaryKey: string[]
  timestampColumn: string | undefined
  sequenceColumn: string | undefined
  /** Primary-key column → its before-image column: a `U` row whose before-image key differs moves the row. */
  beforeImageColumns?: Record<string, string> | undefined
}

/** The file rank of a RAW row: every LOAD file (by name) before every change file (by name); extensions ignored. */
export const FILE_STEM_SQL = `split_part(${quotedIdentifier(META.file)}, '.', 1)`
export const FILE_KIND_SQL = `(CASE WHEN starts_with(${quotedIdentifier(META.file)}, 'LOAD') THEN 0 ELSE 1 END)`

/** The ordering chain, greatest first: ts, seq (NULL lowest), file rank, row in the file. */
export function orderChain(spec: OrderSpec): string {
  return [
    ...(spec.timestampColumn === undefined ? [] : [`${quotedIdentifier(spec.timestampColumn)} DESC NULLS LAST`]),
    ...(spec.sequenceColumn === undefined ? [] : [`${quotedIdentifier(spec.sequenceColumn)} DESC NULLS LAST`]),
    `${FILE_KIND_SQL} DESC`,
    // By name: DMS stems have a fixed length and are unique per table, so names order as their stems do.
    `${quotedIdentifier(META.file)} DESC`,
    `${quotedIdentifier(META.row)} DESC`,
  ].join(', ')
}

const STATE = '__cdc_state'
const BATCH = '__cdc_batch'
const TOUCHED = '__cdc_touched'

export interface MergeResult {
  /** RAW rows read (after the filter). */
  rows: number
  /** Rows matching the probe expression (before the filter). */
  probed: number
  /** The date holds a new full load (a DMS table reload) and the state started again from it. */
  reset: boolean
  /** The date holds a new full load none of whose rows pass the filter: nothing was merged (see merge). */
  notYet: boolean
}

/**
 * The winning change of every key (deletes included) over the RAW rows merged so far, in a DuckDB table.
 * Merging a date takes the winner per key among that date's rows, then re-ranks only the keys the date touched
 * against their current winner: the same result as ranking all rows at once, because the winner is a maximum.
 *
 * The documented rules beyond the chain are followed too: a column that appears in a later date's RAW joins the
 * table (NULL before); a `U` row that carries a different before-image key also deletes the old key at its own
 * place in the chain (primary-key updates); and a date whose RAW holds full-load rows after the first date is a
 * DMS table reload, from which the table starts again.
 */
export class KeyedRawState {
  private created = false
  /** Columns of the state: Op, data columns in order of appearance, cdc_file, cdc_row. */
  columns: Column[] = []
  rowsRead = 0

  constructor(
    private readonly duck: Duck,
    private readonly spec: OrderSpec,
    private readonly label: string,
  ) {}

  private pkOn(a: string, b: string): string {
    return this.spec.primaryKey.map((k) => `${a}.${quotedIdentifier(k)} = ${b}.${quotedIdentifier(k)}`).join(' AND ')
  }

  /**
   * Merges one date's RAW files (only rows matching `where`, when given). `probe` counts matching rows before the
   * filter. With `where`, a reload date none of whose full-load rows pass the filter is not merged (`notYet`):
   * the reload had not started as of the filter.
   */
  async merge(paths: readonly string[], opts: { where?: string; probe?: string } = {}): Promise<MergeResult> {
    const src = readParquetSql(paths)
    const cols = await this.duck.describe(`SELECT * FROM ${src}`)
    const names = new Set(cols.map((c) => c.name))
    const bi = this.spec.beforeImageColumns
    for (const c of [
      META.op,
      META.file,
      META.row,
      ...this.spec.primaryKey,
      this.spec.timestampColumn,
      this.spec.sequenceColumn,
      ...Object.values(bi ?? {}),
    ]) {
      if (c !== undefined && !names.has(c)) {
        throw new DataError(
          'CDC_SCHEMA_MISMATCH',
          `table ${this.label}: column ${JSON.stringify(c)} is missing from the RAW partition files (${[...names].join(', ')})`,
          {
            table: this.label,
            column: c,
            hint: 'RAW was not written by this cdc-apply, or the table config changed since; reprocess the table',
          },
        )
      }
    }
    const pass = opts.where ?? 'true'
    const isLoad = `${FILE_KIND_SQL} = 0`
    const [n] = await this.duck.rows(
      `SELECT count(*) FILTER (WHERE ${pass}) AS n, count(*) FILTER (WHERE ${isLoad}) AS loads, count(*) FILTER (WHERE ${isLoad} AND ${pass}) AS loads_pass${opts.probe !== undefined ? `, count(*) FILTER (WHERE ${opts.probe}) AS p` : ''} FROM ${src}`,
    )
    const probed = opts.probe === undefined ? 0 : Number(n!.p)
    let reset = false
    if (this.created && Number(n!.loads) > 0) {
      if (Number(n!.loads_pass) === 0) return { rows: 0, probed, reset: false, notYet: true }
      await this.duck.run(`DROP TABLE ${STATE}`)
      this.created = false
      reset = true
    }
    const rows = Number(n!.n)
    this.rowsRead += rows
    // Nothing of this date passes the filter: it changes nothing, and its new columns do not join the table yet.
    if (this.created && rows === 0) return { rows, probed, reset, notYet: false }
    const filter = opts.where ? ` WHERE ${opts.where}` : ''
    let changes = `(SELECT * FROM ${src}${filter})`
    if (bi !== undefined) {
      // A primary-key update: the old key is deleted at the U row's place in the chain.
      const type = new Map(cols.map((c) => [c.name, c.type]))
      const keep = [
        ...this.spec.primaryKey.map(
          (k) => `CAST(${quotedIdentifier(bi[k]!)} AS ${type.get(k)}) AS ${quotedIdentifier(k)}`,
        ),
        ...[this.spec.timestampColumn, this.spec.sequenceColumn, META.file, META.row]
          .filter((c): c is string => c !== undefined)
          .map(quotedIdentifier),
      ]
      const moved = `${quotedIdentifier(META.op)} = 'U' AND ${this.spec.primaryKey.map((k) => `${quotedIdentifier(bi[k]!)} IS NOT NULL`).join(' AND ')} AND (${this.spec.primaryKey.map((k) => `CAST(${quotedIdentifier(bi[k]!)} AS ${type.get(k)}) IS DISTINCT FROM ${quotedIdentifier(k)}`).join(' OR ')})`
      changes = `(${changes.slice(1, -1)} UNION ALL BY NAME SELECT 'D' AS ${quotedIdentifier(META.op)}, ${keep.join(', ')} FROM ${src} WHERE ${moved}${opts.where ? ` AND ${opts.where}` : ''})`
    }
    const pk = this.spec.primaryKey.map(quotedIdentifier).join(', ')
    const winners = `QUALIFY row_number() OVER (PARTITION BY ${pk} ORDER BY ${orderChain(this.spec)}) = 1`
    if (!this.created) {
      await this.duck.run(`CREATE OR REPLACE TABLE ${STATE} AS SELECT ${selectList(cols)} FROM ${changes} ${winners}`)
      this.columns = cols
      this.created = true
    } else {
      // Columns first seen on this date join the state (NULL in earlier rows), as they join the table.
      const known = new Set(this.columns.map((c) => c.name))
      for (const c of cols) {
        if (known.has(c.name)) continue
        await this.duck.run(`ALTER TABLE ${STATE} ADD COLUMN ${quotedIdentifier(c.name)} ${c.type}`)
        this.columns.push(c)
      }
      await this.duck.run(`CREATE OR REPLACE TABLE ${BATCH} AS SELECT * FROM ${changes} ${winners}`)
      await this.duck.run(
        `CREATE OR REPLACE TABLE ${TOUCHED} AS SELECT * FROM (SELECT s.* FROM ${STATE} s SEMI JOIN ${BATCH} b ON ${this.pkOn('s', 'b')} UNION ALL BY NAME SELECT * FROM ${BATCH}) ${winners}`,
      )
      await this.duck.run(`DELETE FROM ${STATE} s USING ${BATCH} b WHERE ${this.pkOn('s', 'b')}`)
      await this.duck.run(`INSERT INTO ${STATE} BY NAME SELECT * FROM ${TOUCHED}`)
      await this.duck.run(`DROP TABLE ${BATCH}; DROP TABLE ${TOUCHED}`)
    }
    return { rows, probed, reset, notYet: false }
  }

  get empty(): boolean {
    return !this.created
  }

  /** The live rows (winners that are not deletes) as a SQL relation: data columns, cdc_file, cdc_row. */
  liveSql(): string {
    if (!this.created) throw new Error('KeyedRawState.liveSql before the first merge')
    return `(SELECT ${selectList(this.liveColumns())} FROM ${STATE} WHERE ${quotedIdentifier(META.op)} IS DISTINCT FROM 'D')`
  }

  /** The live columns: the data columns in order of appearance, then cdc_file and cdc_row. */
  liveColumns(): Column[] {
    const meta = new Set<string>([META.op, META.file, META.row])
    const data = this.columns.filter((c) => !meta.has(c.name))
    const tail = [META.file, META.row].map((n) => this.columns.find((c) => c.name === n)!)
    return [...data, ...tail]
  }

  async counts(): Promise<{ live: number; tombstones: number }> {
    if (!this.created) return { live: 0, tombstones: 0 }
    const [r] = await this.duck.rows(
      `SELECT count(*) FILTER (WHERE ${quotedIdentifier(META.op)} IS DISTINCT FROM 'D') AS live, count(*) FILTER (WHERE ${quotedIdentifier(META.op)} = 'D') AS tombs FROM ${STATE}`,
    )
    return { live: Number(r!.live), tombstones: Number(r!.tombs) }
  }
}

function selectList(cols: readonly Column[]): string {
  return cols.map((c) => quotedIdentifier(c.name)).join(', ')
}
