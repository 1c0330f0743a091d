// Curated as an Iceberg v2 table (tableFormat "iceberg"): `<curated>/<Source>/<TableName>/`, one snapshot per
// watermark commit, a tag per date (docs/iceberg.md). The CuratedSink of curated-sink.ts for that format.
import { randomUUID } from 'node:crypto'
import * as A from 'apache-arrow'
import type { Config } from './config.js'
import { toParquet } from './write.js'
import { WriteError } from './errors.js'
import { joinKey, type ObjectStore } from './store/object-store.js'
import { LocalStore } from './store/local-store.js'
import { IcebergTable, type NewFile } from './iceberg/table.js'
import { LiveRows, type Change } from './iceberg/live-rows.js'
import { deleteTable } from './iceberg/deletes.js'
import { nextRoll, planRoll, TAIL_ROWS, type Roll } from './iceberg/roll.js'
import { faultPoint } from './fault.js'
import { expireSnapshots } from './iceberg/expire.js'
import { columnsKey, withFieldIds } from './iceberg/schema.js'
import { icebergUpkeep } from './iceberg/compact.js'
import type { SnapshotId } from './iceberg/metadata.js'
import type { CommitInfo, CuratedPut, CuratedRows, CuratedSink } from './curated-sink.js'

/** A table's rows as a sink takes them: all, no changes tracked. */
function tableRows(table: A.Table): CuratedRows {
  return {
    schema: table.schema,
    since: 0,
    live: table.numRows,
    all: () => ({ table, mark: 0 }),
    changes: () => undefined,
  }
}

/** The Iceberg tag of the snapshot that ends a date (a name, not a number: Spark reads numbers as snapshot ids). */
export function dateTag(date: string): string {
  return `d${date}`
}

/** The URI of a store's root as Iceberg metadata records it. */
export function storeUri(store: ObjectStore): string {
  return store instanceof LocalStore ? `file://${store.root}` : store.url.replace(/\/+$/, '')
}

/**
 * `<curated>/<Source>/<TableName>/` as an Iceberg v2 table. Each put with new files commits one snapshot (main and
 * the date's tag point at it) that holds the date's rows: a merge-on-read commit (a data file with the rows that are
 * new since the current snapshot, a position-delete file for the rows they supersede or delete) when the state
 * continues the table's, a full overwrite when the state was rebuilt (see LiveRows). A date without new files only
 * gets its tag on the current snapshot. When the state is the one whose last take this process committed as the
 * current snapshot (a Link), the commit takes only its changes (the delta path); otherwise the whole state, compared
 * with the row index.
 */
export class IcebergSink implements CuratedSink {
  private table: Promise<IcebergTable> | undefined
  /** Where the current snapshot's rows are (built from the table on the first merge, then kept up to date). */
  private rows: Promise<LiveRows> | undefined
  /** The take of a state the current snapshot holds, known after its commit (kept in WARM between sinks). */
  private link: Link | undefined
  /** The current snapshot's date and the files of it that the date's next commit replaces (see roll.ts). */
  private roll: Roll | undefined
  /** The take the last started commit will make the current snapshot hold (start() compares the next take with it). */
  private started: Omit<Link, 'snapshot'> | undefined
  /** Puts run one after the other (run.ts already orders them); encodes may start before the previous put ends. */
  private last: Promise<unknown> = Promise.resolve()

  constructor(
    readonly config: Config,
    readonly store: ObjectStore,
    readonly prefix: string,
    readonly label: string,
  ) {}

  private get key(): string {
    return `${this.store.url}/${this.prefix}`
  }

  /** Opens the table; the table and index a previous sink of this process left are reused when the table is unchanged. */
  private open(signal?: AbortSignal): Promise<IcebergTable> {
    this.table ??= (async () => {
      const ice = await IcebergTable.open(
        this.store,
        this.prefix,
        `${storeUri(this.store)}/${this.prefix}`,
        this.label,
        { ...(signal ? { signal } : {}), ...icebergUpkeep(this.config) },
      )
      const w = WARM.get(this.key)
      WARM.delete(this.key)
      if (w && ice.meta && w.ice.meta?.['table-uuid'] === ice.meta['table-uuid'] && w.ice.version === ice.version) {
        this.rows ??= Promise.resolve(w.rows)
        this.link ??= w.link
        this.roll ??= w.roll
        return w.ice
      }
      return ice
    })()
    this.table.catch(() => (this.table = undefined))
    return this.table
  }

  /** Keeps the table and its index for the next sink of this table in this process (watch mode's next poll). */
  private async remember(ice: IcebergTable): Promise<void> {
    const rows = await this.rows
    if (!rows) return
    WARM.delete(this.key)
    WARM.set(this.key, { ice, rows, link: this.link, roll: this.roll })
    if (WARM.size > WARM_TABLES) WARM.delete(WARM.keys().next().value!)
  }

  start(date: string, input: CuratedRows | A.Table, changed: boolean, rebuilt = false): CuratedPut {
    const src = input instanceof A.Table ? tableRows(input) : input
    const shape = schemaKey(src.schema)
    // A state whose previous take is what the table's current snapshot holds (or will, once the puts before this one
    // are done) commits only its changes; any other state (rebuilt, restored, a new schema) is taken whole.
    const prev = this.started ?? this.link ?? WARM.get(this.key)?.link
    const continues = !rebuilt && src.since !== 0 && prev?.mark === src.since && prev.schema === shape
    const delta = continues && changed ? src.changes() : undefined
    const whole = continues && (delta !== undefined || !changed) ? undefined : src.all(true)
    const table = whole?.table
    if (changed) this.started = { mark: delta?.mark ?? whole!.mark, schema: shape }
    // A rebuilt state is written whole: start encoding it now (in worker threads), with the field ids the table gives
    // the columns now; put re-encodes in the rare case that a put in between changed them.
    const early = rebuilt && table ? this.open().then((ice) => this.encodeAll(ice, table)) : undefined
    early?.then((e) => e.parts).catch(() => undefined) // awaited by put
    const put = async (commit: CommitInfo | undefined, signal?: AbortSignal): Promise<void> => {
      const ice = await this.open(signal)
      if (!changed && ice.current() !== undefined) {
        WARM.delete(this.key)
        await ice.tag([dateTag(date)], signal)
        return this.remember(ice)
      }
      const summary: Record<string, string> = { 'cdc-apply.date': date }
      if (commit)
        Object.assign(summary, { 'cdc-apply.lpf': commit.lpf, 'cdc-apply.full-load': String(commit.fullLoad) })
      const tags = [dateTag(date)]
      try {
        if (delta) {
          const link = this.link
          if (link?.mark !== delta.since || link.snapshot !== ice.current()?.['snapshot-id'])
            throw this.broken('its current snapshot is not the one the last commit of this process left')
          const rows = await this.liveRows(ice, signal)
          const change = rows.change(delta.gone, delta.table)
          if (!change) throw this.broken('a row the state replaces is not live in the current snapshot')
          // compaction rewrites every row: read them back from the table (the state gave only its changes)
          await this.merge(
            ice,
            rows,
            date,
            delta.table,
            change,
            summary,
            tags,
            async () => (await ice.read('main', signal))!,
            signal,
          )
        } else if (!table) {
          throw this.broken('the table has no snapshot to continue')
        } else if (rebuilt || ice.current() === undefined || !typesKept(ice, table.schema)) {
          let enc = early ? await early : this.encodeAll(ice, table)
          if (enc.ids !== columnsKey(this.withIds(ice, table.schema))) enc = this.encodeAll(ice, table)
          await this.writeAll(ice, date, table, await enc.parts, 'overwrite', summary, tags, signal)
        } else {
          const rows = await this.liveRows(ice, signal)
          await this.merge(
            ice,
            rows,
            date,
            table,
            rows.diff(table),
            summary,
            tags,
            () => Promise.resolve(table),
            signal,
          )
        }
        this.link = { mark: delta?.mark ?? whole!.mark, snapshot: ice.current()!['snapshot-id'], schema: shape }
        await expireSnapshots(ice, this.config.iceberg.keepSnapshots, signal)
        await this.remember(ice)
      } catch (err) {
        // the table and the index may be behind what the store holds now: read them again next time
        WARM.delete(this.key)
        this.table = undefined
        this.rows = undefined
        this.link = undefined
        this.roll = undefined
        this.started = undefined
        throw err
      }
    }
    return {
      rows: src.live,
      put: (commit, signal) => {
        const done = this.last.then(() => put(commit, signal))
        this.last = done.catch(() => undefined)
        return done
      },
    }
  }

  /** A delta commit that cannot be made: the run fails, and the next one restores the state and commits it whole. */
  private broken(why: string): WriteError {
    return new WriteError(
      'CDC_WRITE_FAILED',
      `table ${this.label}: cannot commit only the changes to the Iceberg table at ${this.key}: ${why}`,
      {
        table: this.label,
        transient: true,
        hint: 'nothing was written; the next run restores the state from the table and commits it whole',
      },
    )
  }

  /**
   * A merge-on-read commit of `change` (rows of `source` to add, positions to delete), then the compaction of all
   * rows (`all`) when deletes exceed compactDeleteShare or data files compactDataFiles.
   */
  private async merge(
    ice: IcebergTable,
    rows: LiveRows,
    date: string,
    source: A.Table,
    change: Change,
    summary: Record<string, string>,
    tags: string[],
    all: () => Promise<A.Table>,
    signal?: AbortSignal,
  ): Promise<void> {
    const schema = this.withIds(ice, source.schema)
    const stem = this.fileStem(ice, date)
    // the date's earlier commits of this process, when the current snapshot is still the last of them
    const roll =
      this.roll?.date === date && this.roll.snapshot === ice.current()?.['snapshot-id'] ? this.roll : undefined
    const cap = Math.min(this.config.parquet.rowsPerFile, TAIL_ROWS)
    const batches = source.batches.map((b) => new A.RecordBatch(schema, b.data))
    const plan = planRoll(roll, rows, schema, batches, change, cap)
    const files = await this.putData(stem, new A.Table(schema, [plan.added]), signal)
    // one position-delete file per data file it deletes rows of, naming that file (readers pair it with it alone)
    const deletes: NewFile[] = []
    const written = new Map<string, string>()
    for (const [i, [path, ps]] of [...plan.deletes].entries()) {
      const body = await toParquet(deleteTable(new Map([[path, ps]])), this.config.parquet)
      const key = joinKey(this.prefix, 'data', `${stem}-deletes-${String(i).padStart(5, '0')}.parquet`)
      await this.store.put(key, body, { signal })
      deletes.push({ key, rows: ps.length, bytes: body.length, referenced: path })
      written.set(path, ice.uriOf(key))
    }
    faultPoint('iceberg-after-delta')
    const { remove, removeDeletes } = plan
    await ice.commit(
      { arrow: source.schema, files, deletes, mode: 'merge', remove, removeDeletes, summary, tags },
      signal,
    )
    const added = files.map((f) => ({ path: ice.uriOf(f.key), rows: f.rows }))
    rows.apply(change, added, plan.replaces)
    this.roll = nextRoll(roll, date, ice.current()!['snapshot-id'], plan, added, written, cap)
    // Compaction: too many deleted rows or data files slow readers down; rewrite the rows into fresh data files as
    // a replace snapshot of the same rows (the date's tag moves to it, so the merge snapshot can be expired).
    const o = this.config.iceberg
    if (rows.positions - rows.live > o.compactDeleteShare * rows.positions || rows.dataFiles > o.compactDataFiles) {
      const t = await all()
      await this.writeAll(ice, date, t, await this.encodeAll(ice, t).parts, 'replace', summary, tags, signal)
    }
  }

  private withIds(ice: IcebergTable, arrow: A.Schema): A.Schema {
    return withFieldIds(arrow, ice.schemaFor(arrow))
  }

  private fileStem(ice: IcebergTable, date: string): string {
    return `${date}-${String((ice.meta?.['last-sequence-number'] ?? 0) + 1).padStart(5, '0')}-${randomUUID()}`
  }

  private encodeAll(ice: IcebergTable, table: A.Table): { ids: string; parts: Promise<Uint8Array[]> } {
    const schema = this.withIds(ice, table.schema)
    const opts = this.config.parquet
    const slices: A.Table[] = []
    for (let p = 0; p < Math.ceil(table.numRows / opts.rowsPerFile); p++)
      slices.push(table.slice(p * opts.rowsPerFile, (p + 1) * opts.rowsPerFile))
    const parts = Promise.all(
      slices.map((s) =>
        toParquet(
          new A.Table(
            schema,
            s.batches.map((b) => new A.RecordBatch(schema, b.data)),
          ),
          opts,
        ),
      ),
    )
    return { ids: columnsKey(schema), parts }
  }

  /** Puts the encoded parts of all of `table`'s rows and commits them as the table's rows (overwrite or replace). */
  private async writeAll(
    ice: IcebergTable,
    date: string,
    table: A.Table,
    parts: Uint8Array[],
    mode: 'overwrite' | 'replace',
    summary: Record<string, string>,
    tags: string[],
    signal?: AbortSignal,
  ): Promise<void> {
    const stem = this.fileStem(ice, date)
    const files: NewFile[] = []
    let at = 0
    for (const [p, body] of parts.entries()) {
      const key = joinKey(this.prefix, 'data', `${stem}-${String(p).padStart(5, '0')}.parquet`)
      await this.store.put(key, body, { signal })
      const n = Math.min(this.config.parquet.rowsPerFile, table.numRows - at)
      files.push({ key, rows: n, bytes: body.length })
      at += n
    }
    await ice.commit({ arrow: table.schema, files, deletes: [], mode, summary, tags }, signal)
    this.roll = undefined
    this.rows = Promise.resolve(
      LiveRows.ofTable(
        table,
        files.map((f) => ({ path: ice.uriOf(f.key), rows: f.rows })),
      ),
    )
  }

  /** Encodes and puts rows as data files of at most rowsPerFile rows (none when there are no rows). */
  private async putData(stem: string, t: A.Table, signal?: AbortSignal): Promise<NewFile[]> {
    const opts = this.config.parquet
    const files: NewFile[] = []
    for (let p = 0; p * opts.rowsPerFile < t.numRows; p++) {
      const slice = t.slice(p * opts.rowsPerFile, (p + 1) * opts.rowsPerFile)
      const body = await toParquet(slice, opts)
      const key = joinKey(this.prefix, 'data', `${stem}-${String(p).padStart(5, '0')}.parquet`)
      await this.store.put(key, body, { signal })
      files.push({ key, rows: slice.numRows, bytes: body.length })
    }
    return files
  }

  private liveRows(ice: IcebergTable, signal?: AbortSignal): Promise<LiveRows> {
    this.rows ??= LiveRows.load(ice, signal)
    this.rows.catch(() => (this.rows = undefined))
    return this.rows
  }

  async read(date: string, signal?: AbortSignal): Promise<A.Table | undefined> {
    await this.last
    const ice = await this.open(signal)
    const tag = dateTag(date)
    // Reading the current snapshot (a restart restores from it): index its rows on the way.
    if (this.rows !== undefined || ice.snapshot(tag) === undefined || ice.snapshot(tag) !== ice.current())
      return ice.read(tag, signal)
    const rows = new LiveRows()
    const t = await ice.read(tag, signal, (path, all, deleted) => rows.addRows(path, all, deleted))
    this.rows = Promise.resolve(rows)
    this.roll = undefined
    return t
  }
}

/**
 * Tables and their row indexes kept between sinks of one process, by store URL and prefix (watch mode creates a sink
 * per poll): reused only when the table's newest metadata version and uuid are still those it was left at.
 */
const WARM = new Map<string, { ice: IcebergTable; rows: LiveRows; link: Link | undefined; roll: Roll | undefined }>()

/** Which take of a state (its mark) an Iceberg table's current snapshot holds: the same rows, by name. */
interface Link {
  mark: number
  snapshot: SnapshotId
  /** The curated schema's fields (schemaKey). */
  schema: string
}

/** The fields and types of a curated schema: a state with other fields is committed whole. */
function schemaKey(schema: A.Schema): string {
  return schema.fields.map((f) => `${f.name}:${String(f.type)}`).join(',')
}
const WARM_TABLES = 64

/** True when every column the current schema has keeps its type in `arrow` (added columns are fine: old files read them as NULL). */
function typesKept(ice: IcebergTable, arrow: A.Schema): boolean {
  const cur = ice.meta?.schemas.find((s) => s['schema-id'] === ice.meta!['current-schema-id'])
  if (!cur) return false
  const next = new Map(ice.schemaFor(arrow).fields.map((f) => [f.id, f.type]))
  return cur.fields.every((f) => next.get(f.id) === undefined || next.get(f.id) === f.type)
}
