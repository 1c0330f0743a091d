// One cycle over every configured table: discover → read → apply → write RAW and curated → commit the watermark.
import * as A from 'apache-arrow'
import pLimit from 'p-limit'
import { CdcError, ConfigError, DataError, WatermarkError, WriteError } from './errors.js'
import { META, resolveLocal, type Config, type TableConfig } from './config.js'
import { discoverFiles, type Discovery, type DmsFile } from './discover.js'
import { configuredSchema, tableLabel, type Rejected } from './read.js'
import { PIECE_BYTES, md5Of, readObject } from './read-object.js'
import { SharedListing } from './listing.js'
import { finishBatch, keySpec, type ChangeBatch, type TableSchema } from './batch.js'
import { KeyedState, type ApplyCounts } from './apply.js'
import { curatedSchema, encodePartition, putPartition, rawRecordBatch, rawSchema, recordBatch, writePartition, type EncodedPartition } from './write.js'
import { curatedSink, type CuratedPut, type CuratedSink } from './curated-sink.js'
import { StateStore, timeOfName, type ProcessedFile, type Watermark } from './state.js'
import { dateOfMillis, dateOfText, dateRange } from './dates.js'
import { columnValues, nullData } from './columns.js'
import { errFields, silentLogger, type Logger } from './log.js'
import { joinKey, objectChunks, type ObjectStore } from './store/object-store.js'
import { openStore } from './store/open-store.js'
import { byteCompare } from './store/local-store.js'
import { checkTables, findTable } from './table-glob.js'
import { faultPoint } from './fault.js'
import { checkFingerprint, fingerprintOf } from './fingerprint.js'
import { markerFor, writeMarker } from './marker.js'
import { stemOf } from './apply.js'
import { addDays } from './dates.js'
import { checkLanding, checkOutputsWritable, tableFolder } from './preflight.js'
import { openRegistrar, type CatalogOutcome, type Registrar } from './catalog/register.js'
import { readSchemaFields } from './catalog/output-schema.js'

export interface Stores {
  landing: ObjectStore
  raw: ObjectStore
  curated: ObjectStore
}

export interface TableResult {
  source: string
  table: string
  status: 'ok' | 'unchanged' | 'no-files' | 'error' | 'aborted'
  fullLoad: boolean | undefined
  lpf: string | undefined
  files: number
  rows: number
  inserts: number
  updates: number
  deletes: number
  stale: number
  /** Rows set aside under onBadRow "quarantine". */
  quarantined: number
  liveRows: number | undefined
  /** Stem of the newest DMS file seen in the landing (for lag). */
  newest: string | undefined
  rawDates: string[]
  curatedDates: string[]
  error: CdcError | Error | undefined
  ms: number
  /** Catalog registration after the commit (with a `catalog` config); undefined when none was due. */
  catalog: CatalogOutcome | undefined
}

export interface RunSummary {
  tables: TableResult[]
  ms: number
}

export interface RunOptions {
  logger?: Logger
  signal?: AbortSignal
  /** Only these tables (`Source.TableName`). */
  tables?: string[]
  /** Kept across cycles by watch mode so that a poll does not reload tables. */
  memory?: Map<string, TableMemory>
  /** One listing pass for many tables (watch mode keeps one across polls); runCycle makes one when it pays. */
  listing?: SharedListing
  /** `performance.now()` when this table's previous poll ended: the shared pass it uses must start after it. */
  listedAfter?: number
  /** Called after each applied file, with how many of the run's files are done. */
  onProgress?: (event: ProgressEvent) => void
  /** Kept across cycles by watch mode: the condition last logged per table, so a lasting one is logged once. */
  notes?: Map<string, string>
  /** Registers tables in the catalog after their commits; runOnce opens one from config.catalog. */
  catalog?: Registrar
}

export interface ProgressEvent {
  table: string
  file: string
  rows: number
  filesDone: number
  filesTotal: number
  /** Bytes of the objects applied so far and of all this run's objects (sizes from the listing). */
  bytesDone: number
  bytesTotal: number
}

/** What watch mode keeps of a table between polls. */
export interface TableMemory {
  lpf: string
  schema: TableSchema
  state: KeyedState
  /** The landing key of the LPF file: the next poll lists only keys after it. */
  lpfKey: string | undefined
  /** Full-load files and change files of the LPF's date (the next RAW rewrite of that date needs them)... */
  sameDate: DmsFile[]
  /** ...and their decoded batches, so that a poll reads only new objects. */
  batches: Map<string, ChangeBatch[]>
  rejected: Map<string, Rejected[]>
  /** At the last full listing, landing keys sorted as the files' times: listing after the LPF's key is safe. */
  keyOrdered: boolean
  fullListedAt: number
}

export async function openStores(config: Config): Promise<Stores> {
  const base = { baseDir: config.baseDir, ...(config.s3 ? { s3: config.s3 } : {}) }
  return {
    landing: await openStore(config.landing, base),
    raw: await openStore(config.raw, { ...base, ...(config.encryption.raw ? { encryption: config.encryption.raw } : {}) }),
    curated: await openStore(config.curated, { ...base, ...(config.encryption.curated ? { encryption: config.encryption.curated } : {}) }),
  }
}

/** `cdc-apply run`: takes the state lock, processes every table once, releases the lock. */
export async function runOnce(config: Config, opts: RunOptions = {}): Promise<RunSummary> {
  checkOutputsWritable(config)
  const state = StateStore.open(resolveLocal(config, config.state))
  try {
    state.lock()
    const stores = await openStores(config)
    const catalog = opts.catalog ?? (await openRegistrar(config, state))
    try {
      await checkLanding(config, stores.landing)
      return await runCycle(config, stores, state, { ...opts, ...(catalog ? { catalog } : {}) })
    } finally {
      if (catalog !== opts.catalog) catalog?.close()
      await Promise.all([stores.landing.close(), stores.raw.close(), stores.curated.close()])
    }
  } finally {
    state.close()
  }
}

/**
 * `cdc-apply reset`: forgets a table so that the next run reprocesses it from its full load: deletes its RAW and
 * curated partitions, then its watermark, ledger and tombstones. Takes the state lock.
 */
export async function resetTable(config: Config, label: string): Promise<{ deleted: number }> {
  const t = findTable(config, label)
  const state = StateStore.open(resolveLocal(config, config.state))
  try {
    state.lock()
    const stores = await openStores(config)
    let deleted = 0
    try {
      for (const [store, prefix] of [[stores.raw, joinKey(t.source, t.name)], [stores.raw, joinKey(QUARANTINE, t.source, t.name)], [stores.curated, joinKey(t.source, t.name)]] as const) {
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

/** One cycle with stores and state already open (watch mode keeps them open between polls). */
export async function runCycle(config: Config, stores: Stores, state: StateStore, opts: RunOptions = {}): Promise<RunSummary> {
  const started = Date.now()
  const log = opts.logger ?? silentLogger
  const limit = pLimit(config.concurrency.tables)
  checkTables(config, opts.tables ?? [])
  const tables = config.tables.filter((t) => !opts.tables || opts.tables.includes(tableLabel(t)))
  if (opts.listing === undefined && tables.length > 1) {
    const listing = new SharedListing(stores.landing, tables.map((t) => t.path))
    opts = { ...opts, listing }
  }
  const results = await Promise.all(tables.map((t) => limit(() => runTableSafe(config, stores, state, t, opts, log.child({ table: tableLabel(t) })))))
  return { tables: results, ms: Date.now() - started }
}

async function runTableSafe(config: Config, stores: Stores, state: StateStore, t: TableConfig, opts: RunOptions, log: Logger): Promise<TableResult> {
  const r = emptyResult(t)
  const started = Date.now()
  let run: TableRun | undefined
  try {
    run = new TableRun(config, stores, state, t, opts, log, r)
    await runTable(run)
    state.recordRun(t.source, t.name, undefined, r.newest)
  } catch (err) {
    opts.memory?.delete(tableLabel(t))
    r.status = 'error'
    if (opts.signal?.aborted) {
      // Stopped by a signal before the watermark moved: outputs and watermark are as after the last commit.
      r.status = 'aborted'
      r.error = new CdcError('CDC_ABORTED', `table ${tableLabel(t)}: stopped by a signal; the unit of work in flight was rolled back`, { table: tableLabel(t), cause: err })
    } else {
      r.error = err as Error
      const e = err as CdcError
      state.recordRun(t.source, t.name, { code: e.code ?? 'CDC_INTERNAL', message: e.message }, r.newest)
    }
  }
  const wm = state.get(t.source, t.name)
  r.fullLoad = wm?.fullLoad
  r.lpf = wm?.lpf
  if (opts.catalog && wm && !opts.signal?.aborted) r.catalog = await register(opts.catalog, stores, t, run?.schema?.fields, wm, r, log)
  r.ms = Date.now() - started
  return r
}

/**
 * After a table's commits (or when an earlier registration is still pending): registers its RAW and curated tables.
 * The columns come from this run's schema, else from the newest curated partition. Never throws.
 */
async function register(catalog: Registrar, stores: Stores, t: TableConfig, fields: A.Field[] | undefined, wm: Watermark, r: TableResult, log: Logger): Promise<CatalogOutcome | undefined> {
  const committed = r.status === 'ok' || (r.status === 'error' && r.curatedDates.length > 0)
  if (!committed && !catalog.pending(t)) return undefined
  let columns = fields
  if (columns === undefined) {
    try {
      columns = await readSchemaFields(stores.curated, joinKey(t.source, t.name), wm)
    } catch (err) {
      log.warn({ ...errFields(err) }, 'catalog: the table\'s columns could not be read back; registration waits for the next run')
      return undefined
    }
  }
  if (columns === undefined) return undefined
  const outcome = await catalog.registerParquet(t, columns, wm.loadDate)
  if (outcome.error) log.warn({ tables: outcome.tables, ...errFields(outcome.error) }, 'catalog registration failed; retried at the next commit or poll')
  else if (outcome.status === 'registered') log.info({ tables: outcome.tables }, 'catalog tables registered')
  return outcome
}

function emptyResult(t: TableConfig): TableResult {
  return { source: t.source, table: t.name, status: 'unchanged', fullLoad: undefined, lpf: undefined, files: 0, rows: 0, inserts: 0, updates: 0, deletes: 0, stale: 0, quarantined: 0, liveRows: undefined, newest: undefined, rawDates: [], curatedDates: [], error: undefined, ms: 0, catalog: undefined }
}

/** The context of one table's run. */
class TableRun {
  readonly label: string
  schema: TableSchema | undefined
  /** Decoded batches by file stem, kept for the LPF's date in watch mode. */
  cache = new Map<string, ChangeBatch[]>()
  /** MD5 of each object read in this run, recorded in the ledger to tell a rewritten object from a copied one. */
  checksums = new Map<string, string>()
  /** Rows set aside per file (stem) under onBadRow "quarantine". */
  rejected = new Map<string, Rejected[]>()
  filesTotal = 0
  bytesTotal = 0
  bytesDone = 0
  fullListing = true
  /** Where curated snapshots go: a Parquet folder per date or an Iceberg table (tableFormat). */
  readonly curated: CuratedSink
  constructor(
    readonly config: Config,
    readonly stores: Stores,
    readonly state: StateStore,
    readonly t: TableConfig,
    readonly opts: RunOptions,
    readonly log: Logger,
    readonly result: TableResult,
  ) {
    this.label = tableLabel(t)
    this.schema = configuredSchema(t)
    this.curated = curatedSink(config, t, stores.curated)
  }

  partition(date: string): string {
    return joinKey(this.t.source, this.t.name, date)
  }

  /**
   * Fetches small objects with bounded concurrency ahead of decoding; decodes in order. Objects larger than one CSV
   * piece are streamed when their turn comes, so that memory holds one large object's pieces at a time, not its bytes.
   */
  async read(files: DmsFile[]): Promise<Map<DmsFile, ChangeBatch[]>> {
    const limit = pLimit(this.config.concurrency.prefetch)
    const signal = this.opts.signal
    const bodies = files.map((f) => (this.cache.has(f.stem) || f.size > PIECE_BYTES ? undefined : limit(() => this.stores.landing.get(f.key, { signal }))))
    bodies.forEach((p) => p?.catch(() => undefined)) // rejections are handled when awaited below
    const out = new Map<DmsFile, ChangeBatch[]>()
    for (let i = 0; i < files.length; i++) {
      this.opts.signal?.throwIfAborted()
      const f = files[i]!
      const cached = this.cache.get(f.stem)
      if (cached) {
        out.set(f, cached)
        continue
      }
      const prefetched = bodies[i]
      const chunks = prefetched ? (async function* () { yield await prefetched })() : objectChunks(this.stores.landing, f.key, { signal })
      const r = await readObject(this.t, f, chunks, this.schema, this.config.limits)
      this.checksums.set(f.stem, r.checksum)
      this.schema = r.schema
      this.rejected.set(f.stem, r.rejected)
      out.set(f, r.batches)
    }
    faultPoint('after-read')
    return out
  }

  /**
   * Starts a date's writes: takes the snapshot and starts encoding RAW and curated now (large parts in worker
   * threads), so `state` may move on at once; `put` writes the partitions, RAW then curated, once the bytes are there.
   */
  startDate(date: string, batches: ChangeBatch[] | undefined, state: KeyedState, wm?: Watermark, rebuilt = false): { put: () => Promise<void> } {
    const raw = batches ? this.encodeRaw(batches) : undefined
    const curated = this.encodeCurated(date, state, batches !== undefined, rebuilt)
    return {
      put: async () => {
        if (raw && batches) await this.putRaw(date, batches, raw)
        await this.putCurated(date, curated, wm)
      },
    }
  }

  private encodeRaw(batches: ChangeBatch[]): EncodedPartition {
    const schema = rawSchema(this.schema!)
    return encodePartition(new A.Table(schema, batches.map((b) => rawRecordBatch(schema, b))), this.config.parquet)
  }

  private async putRaw(date: string, batches: ChangeBatch[], encoded: EncodedPartition): Promise<void> {
    await putPartition(this.stores.raw, this.partition(date), encoded, this.opts.signal)
    // Quarantined rows of the same files go to <raw>/_quarantine/<source>/<table>/<date>/, rewritten whole too.
    const files = [...new Set(batches.map((b) => b.file.stem))]
    const rejected = files.flatMap((stem) => this.rejected.get(stem) ?? [])
    const qprefix = joinKey(QUARANTINE, this.partition(date))
    if (rejected.length > 0) await writePartition(this.stores.raw, qprefix, quarantineTable(rejected), this.config.parquet, this.opts.signal)
    else if (this.t.onBadRow === 'quarantine') {
      const stale: string[] = []
      for await (const o of this.stores.raw.list(`${qprefix}/`, { signal: this.opts.signal })) stale.push(o.key)
      if (stale.length > 0) await this.stores.raw.delete(stale, { signal: this.opts.signal })
    }
    faultPoint('after-raw-write')
    this.result.rawDates.push(date)
  }

  private encodeCurated(date: string, state: KeyedState, changed: boolean, rebuilt: boolean): CuratedPut {
    state.schema = this.schema!
    const snap = state.snapshot()
    const schema = curatedSchema(this.schema!)
    return this.curated.start(date, new A.Table(schema, [recordBatch(schema, snap.columns, snap.length)]), changed, rebuilt)
  }

  private async putCurated(date: string, encoded: CuratedPut, wm: Watermark | undefined): Promise<void> {
    await encoded.put(wm && { lpf: wm.lpf, fullLoad: wm.fullLoad }, this.opts.signal)
    faultPoint('after-curated-write')
    this.result.curatedDates.push(date)
    this.result.liveRows = encoded.rows
  }

  applyFiles(state: KeyedState, files: DmsFile[], batches: Map<DmsFile, ChangeBatch[]>): ProcessedFile[] {
    return files.map((f) => {
      const c: ApplyCounts = { inserts: 0, updates: 0, deletes: 0, stale: 0 }
      let rows = 0
      for (const b of batches.get(f)!) {
        const r = state.apply(b)
        c.inserts += r.inserts
        c.updates += r.updates
        c.deletes += r.deletes
        c.stale += r.stale
        rows += b.length
      }
      const res = this.result
      const quarantined = this.rejected.get(f.stem)?.length ?? 0
      res.quarantined += quarantined
      if (quarantined > 0) this.log.warn({ file: f.key, quarantined }, 'rows quarantined')
      res.files++
      res.rows += rows
      res.inserts += c.inserts
      res.updates += c.updates
      res.deletes += c.deletes
      res.stale += c.stale
      this.log.info({ file: f.key, rows, inserts: c.inserts, updates: c.updates, deletes: c.deletes, stale: c.stale }, 'file applied')
      this.bytesDone += f.size
      this.opts.onProgress?.({ table: this.label, file: f.key, rows, filesDone: res.files, filesTotal: this.filesTotal, bytesDone: this.bytesDone, bytesTotal: this.bytesTotal })
      return this.ledgerEntry(f, c, rows)
    })
  }

  ledgerEntry(f: DmsFile, c: ApplyCounts, rows: number): ProcessedFile {
    return { file: f.stem, key: f.key, date: f.date, size: f.size, etag: f.etag, checksum: this.checksums.get(f.stem) ?? '', rows, inserts: c.inserts, updates: c.updates, deletes: c.deletes, quarantined: this.rejected.get(f.stem)?.length ?? 0 }
  }

  commitChanges(wm: Watermark, files: ProcessedFile[], tombstones: ReturnType<KeyedState['takeTombstoneChanges']>, liveRows: number, reset: boolean, fingerprint?: string): void {
    faultPoint('before-commit')
    this.state.commit({ watermark: wm, files, tombstones, reset, liveRows, fingerprint, compositeKey: this.t.primaryKey.length > 1 })
    this.log.info({ fullLoad: wm.fullLoad, lpf: wm.lpf }, 'watermark moved')
  }

  /** The date of the full load: from the timestamp column when configured, else the objects' modification time. */
  loadDate(load: DmsFile[], batches: Map<DmsFile, ChangeBatch[]>, cdc: DmsFile[]): string {
    if (load.length === 0) return cdc[0]!.date
    const tsIdx = this.t.timestampColumn === undefined ? -1 : this.schema!.fields.findIndex((f) => f.name === this.t.timestampColumn)
    if (tsIdx >= 0) {
      let best: string | undefined
      const type = this.schema!.fields[tsIdx]!.type
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

  /** Rebuilds the state as of the end of `date` from its curated snapshot plus the saved tombstones. */
  async restore(date: string, lpf?: string): Promise<KeyedState> {
    const table = await this.curated.read(date, this.opts.signal)
    if (table === undefined) {
      throw new DataError('CDC_SNAPSHOT_MISSING', `table ${this.label}: the curated snapshot of ${date} (the watermark's date) is missing from ${this.stores.curated.url}`, {
        table: this.label,
        hint: 'the curated output was removed; reprocess the table from scratch: cdc-apply reset --table ' + this.label + ', then run',
      })
    }
    // The snapshot's columns, plus configured ones it lacks (a header or Parquet file may have added columns since
    // the config was written; a new config column list may name columns no file had yet).
    const dataFields = table.schema.fields.filter((f) => f.name !== META.file && f.name !== META.row)
    const base = this.schema ?? { fields: [], types: [] }
    const merged: TableSchema = { fields: [...base.fields], types: [...base.types] }
    for (const f of dataFields) {
      if (!merged.fields.some((x) => x.name === f.name)) {
        merged.fields.push(new A.Field(f.name, f.type, true))
        merged.types.push(undefined)
      }
    }
    this.schema = merged
    const spec = keySpec(this.label, this.schema, this.t.primaryKey, this.t.timestampColumn, this.t.sequenceColumn)
    const fake: DmsFile = { key: `${this.stores.curated.url}/${this.partition(date)}`, name: 'snapshot', stem: 'snapshot', kind: 'cdc', date, orderKey: '', format: 'parquet', gzip: false, size: 0, etag: '', lastModified: new Date(0) }
    const parts = table.batches.map((rb) => {
      const columns = this.schema!.fields.map((f) => {
        const i = table.schema.fields.findIndex((x) => x.name === f.name)
        return i < 0 ? nullData(f.type, rb.numRows) : rb.data.children[i]!
      })
      const batch = finishBatch(spec, { file: fake, rowBase: 0, length: rb.numRows, ops: new Uint8Array(rb.numRows), columns, lines: undefined })
      const names = columnValues(rb.data.children[table.schema.fields.findIndex((x) => x.name === META.file)]!) as string[]
      const rows = columnValues(rb.data.children[table.schema.fields.findIndex((x) => x.name === META.row)]!).map(Number)
      return { batch, names, rows }
    })
    const state = KeyedState.restore(this.schema, parts)
    state.loadTombstones(this.state.tombstones(this.t.source, this.t.name, this.t.primaryKey.length > 1))
    this.log.debug({ date, rows: state.size, tombstones: state.tombstones.size }, 'state restored')
    // Rows of change files named after the LPF: this snapshot was written by a run that stopped before committing it.
    this.restoredAhead = lpf !== undefined && parts.some((p) => p.names.some((n) => !n.startsWith('LOAD') && stemOf(n) > lpf))
    return state
  }

  /** Whether the last restore() found rows of files after the LPF it was given (an uncommitted snapshot). */
  restoredAhead = false

  /**
   * The state as committed at the LPF, on the LPF's date. Normally that date's snapshot; but a run that stopped
   * between writing that snapshot and committing it left changes of later files in it, and applying those files
   * again would count them as stale. Then the state is rebuilt from the day before's snapshot (nothing, on the load
   * date) plus the date's committed files, which the RAW rewrite of the date reads anyway.
   */
  async restoreCommitted(wm: Watermark, lpfDate: string, disc: Discovery): Promise<KeyedState> {
    const state = await this.restore(lpfDate, wm.lpf)
    if (!this.restoredAhead) return state
    this.log.warn({ date: lpfDate, lpf: wm.lpf }, 'curated snapshot is ahead of the watermark (a run stopped before its commit): rebuilding the date from the day before')
    let base: KeyedState
    if (lpfDate <= wm.loadDate) {
      base = new KeyedState(this.schema!)
      base.loadTombstones(this.state.tombstones(this.t.source, this.t.name, this.t.primaryKey.length > 1))
    } else base = await this.restore(addDays(lpfDate, -1))
    const committed = [...(lpfDate === wm.loadDate ? disc.load : []), ...disc.cdc.filter((f) => f.date === lpfDate && f.stem <= wm.lpf)]
    const batches = await this.read(committed)
    for (const f of committed) for (const b of batches.get(f)!) base.apply(b)
    for (const f of committed) this.cache.set(f.stem, batches.get(f)!)
    return base
  }
}

/** Where quarantined rows go, under the RAW location. */
export const QUARANTINE = '_quarantine'

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

/** Logs a lasting condition of the table once (watch mode keeps what it logged last in `notes`). */
function note(run: TableRun, what: string, level: 'info' | 'warn', fields: object, msg: string): void {
  const notes = run.opts.notes
  if (notes?.get(run.label) === what) return
  notes?.set(run.label, what)
  run.log[level](fields, msg)
}

function folderMissing(run: TableRun, hasWatermark: boolean, folder: { exists: boolean; suggestions: string[] }): CdcError {
  const { t } = run
  const where = `${JSON.stringify(t.path)} in ${run.stores.landing.url}`
  const what = folder.exists ? `table folder ${where} holds no DMS files` : `table folder ${where} does not exist`
  const near = folder.suggestions.length > 0 ? `did you mean ${folder.suggestions.map((x) => JSON.stringify(x)).join(' or ')}? ` : ''
  const hint = `${near}fix tables[].path (or landing); if the folder is gone on purpose (the source table was dropped), set the table's "missingFolder": "ignore"`
  if (hasWatermark) {
    return new WatermarkError('CDC_TABLE_FOLDER_MISSING', `table ${run.label}: ${what}, but the table has a watermark: its files vanished or the path is wrong; nothing was changed`, { table: run.label, hint })
  }
  // Without a watermark the folder may still appear (DMS creates it when the table's full load starts): `run` exits 2,
  // watch mode retries with backoff instead of stopping the table.
  return new ConfigError('CDC_TABLE_FOLDER_MISSING', `table ${run.label}: ${what}; expected the folder DMS writes the table's files to`, { table: run.label, hint, transient: true })
}

/**
 * A folder landing: objects modified less than settleSeconds ago may still be being written (a copy in progress) and
 * are not read yet, nor anything after them in the table's order, so that they are never called late later. Returns
 * the files to process now, or undefined when the table must wait this cycle (the young object sorts before work
 * already done: a new full-load part or a late file, judged once it is complete).
 */
function settle(run: TableRun, wm: Watermark | undefined, disc: Discovery): Discovery | undefined {
  const ms = run.config.settleSeconds * 1000
  if (!run.stores.landing.settles || ms <= 0) return disc
  const now = Date.now()
  const young = [...disc.load, ...disc.cdc].find((f) => now - f.lastModified.getTime() < ms)
  if (young === undefined) {
    run.opts.notes?.delete(run.label)
    return disc
  }
  const fields = { object: young.key, settleSeconds: run.config.settleSeconds }
  const cut = young.kind === 'cdc' && (wm === undefined || young.stem > wm.lpf)
  const kept = cut ? { ...disc, cdc: disc.cdc.filter((f) => f.orderKey < young.orderKey) } : undefined
  if (kept === undefined || (kept.load.length === 0 && kept.cdc.length === 0)) {
    note(run, `settle:${young.key}`, 'info', fields, 'waiting for an object to settle (it was modified moments ago: a copy may be in progress)')
    return undefined
  }
  note(run, `settle:${young.key}`, 'info', fields, 'processing the files before an object that is still settling (it was modified moments ago)')
  return kept
}

/** The design's state machine for one table. */
async function runTable(run: TableRun): Promise<void> {
  const { t, state, log, result, opts } = run
  let wm = state.get(t.source, t.name)
  // A table past its load date restores from its snapshot and tombstones: refuse settings they were not written under.
  const saved = wm?.fullLoad ? state.meta(t.source, t.name)?.fingerprint : undefined
  if (saved) checkFingerprint(run.label, saved, t, configuredSchema(t))
  const memory = opts.memory?.get(run.label)
  const warm = memory !== undefined && wm !== undefined && memory.lpf === wm.lpf
  // A warm poll lists only keys after the LPF's (when key order follows time order, which DDMMYYYY date folders
  // break) and takes the LPF date's files from memory. Cold runs, and warm polls every fullListingSeconds, list
  // the whole table folder: that is what finds late, rewritten and vanished files.
  const incremental = warm && memory.keyOrdered && memory.lpfKey !== undefined && Date.now() - memory.fullListedAt < run.config.fullListingSeconds * 1000
  const shared = opts.listing?.worthIt() ? { listing: opts.listing, ...(opts.listedAfter !== undefined ? { listedAfter: opts.listedAfter } : {}) } : {}
  const listed = await discoverFiles(run.stores.landing, t, { signal: opts.signal, maxFutureSeconds: run.config.maxFutureSeconds, ...(incremental ? { startAfter: memory.lpfKey! } : {}), ...shared })
  let disc = incremental ? mergeDiscovery(memory.sameDate, listed) : listed
  run.fullListing = !incremental
  for (const key of disc.skipped) log.warn({ object: key }, 'object skipped: not a DMS data file')
  for (const key of run.stores.landing.newSymlinks?.() ?? []) log.warn({ object: key }, 'symbolic link skipped: links in a landing folder are never followed; copy or move the file itself')
  result.newest = disc.cdc.at(-1)?.stem ?? disc.load.at(-1)?.stem
  if (disc.load.length === 0 && disc.cdc.length === 0) {
    result.status = 'no-files'
    const folder = await tableFolder(run.stores.landing, t.path, opts.signal)
    if (t.missingFolder === 'ignore') {
      note(run, 'gone', 'warn', { path: t.path }, 'table folder is empty or gone; missingFolder is "ignore": outputs left as they are')
      return
    }
    if (wm || !folder.exists) throw folderMissing(run, wm !== undefined, folder)
    note(run, 'empty', 'warn', { path: t.path, landing: run.stores.landing.url }, 'no DMS files under the table folder yet (its full load has not arrived; an empty source table has none)')
    return
  }
  const waiting = settle(run, wm, disc)
  if (waiting === undefined) return
  disc = waiting
  let superseded: DmsFile[] = []
  // While the full load is not past its date (FullLoad False) every run redoes the load date whole, so more LOAD
  // parts or late files of that date simply join it; only past it are they late files or a table reload.
  const ledger = wm && !incremental ? new Map(state.processedFiles(t.source, t.name).map((f) => [f.file, f])) : undefined
  if (ledger) {
    // change files superseded by a table reload stay out of every later run
    const old = (f: DmsFile): boolean => ledger.get(f.stem)?.superseded === true
    if (disc.cdc.some(old)) disc = { ...disc, cdc: disc.cdc.filter((f) => !old(f)) }
  }
  if (wm && wm.fullLoad && ledger) {
    const check = await checkAgainstLedger(run, wm, disc, ledger)
    if (check.reload.length > 0) {
      const names = check.reload.map((f) => f.key).join(', ')
      if (t.onReload === 'fail') {
        throw new DataError('CDC_RELOAD_DETECTED', `table ${run.label}: a new or rewritten full load (${names}) arrived after the table was loaded; a DMS table reload`, {
          table: run.label,
          file: check.reload[0]!.key,
          hint: 'set the table\'s onReload to "reset" to rebuild it from the new load, or run cdc-apply reset --table ' + run.label,
        })
      }
      // Rebuild from the new load: change files written before it are superseded by it.
      const since = Math.min(...check.reload.map((f) => f.lastModified.getTime()))
      superseded = disc.cdc.filter((f) => (timeOfName(f.stem) ?? 0) < since)
      disc = { ...disc, cdc: disc.cdc.filter((f) => (timeOfName(f.stem) ?? 0) >= since) }
      log.warn({ load: names, superseded: superseded.length }, 'table reload: rebuilding from the new full load')
      wm = undefined
    } else if (check.late.length > 0) {
      const names = check.late.map((f) => f.key).join(', ')
      if (t.lateFiles === 'fail') {
        throw new DataError('CDC_LATE_FILE', `table ${run.label}: ${check.late.length} change file(s) at or before the last processed file ${wm.lpf} arrived late or changed: ${names}`, {
          table: run.label,
          file: check.late[0]!.key,
          hint: 'set the table\'s lateFiles to "reprocess" to rebuild the table with them, or remove them',
        })
      }
      log.warn({ late: names }, 'late files: reprocessing the table from its full load')
      wm = undefined
    }
  }
  if (wm === undefined) opts.memory?.delete(run.label)
  let current: KeyedState | undefined
  if (warm && wm !== undefined) {
    current = memory.state
    run.schema = memory.schema
    run.cache = memory.batches
    run.rejected = memory.rejected
  }
  run.filesTotal = (!wm || !wm.fullLoad ? disc.load.length + disc.cdc.length : disc.cdc.filter((f) => f.stem > wm!.lpf).length)
  run.bytesTotal = (!wm || !wm.fullLoad ? [...disc.load, ...disc.cdc] : disc.cdc.filter((f) => f.stem > wm!.lpf)).reduce((n, f) => n + f.size, 0)

  if (wm && !wm.fullLoad && !warm && unchangedSinceLedger(state.processedFiles(t.source, t.name), disc)) return
  // Dates are pipelined: while one date's partitions are encoded (in worker threads) and put, and its watermark
  // committed, the next date is read and applied. Puts and commits stay in date order, each commit after its own
  // date's puts, so the watermark never passes data that was not written.
  let inflight: Promise<void> = Promise.resolve()
  const chain = (step: () => Promise<void>): void => {
    const prev = inflight
    inflight = prev.then(step)
    inflight.catch(() => undefined) // awaited below
  }
  if (!wm || (!wm.fullLoad && !warm)) {
    // No watermark, or the full load's date is not over yet: (re)process the load date whole.
    const loadBatches = await run.read(disc.load)
    if (disc.load.length === 0) log.warn({}, 'no full-load files: starting from the first change file')
    const loadDate = run.loadDate(disc.load, loadBatches, disc.cdc)
    const first = disc.cdc.filter((f) => f.date <= loadDate)
    if (wm && !wm.fullLoad) {
      // Redoing the load date: every file the last redo processed must still be there.
      const present = new Set([...disc.load, ...disc.cdc].map((f) => f.stem))
      const gone = state.processedFiles(t.source, t.name).filter((f) => !f.superseded && !present.has(f.file))
      if (gone.length > 0) {
        throw new WatermarkError('CDC_LANDING_BEHIND_WATERMARK', `table ${run.label}: ${gone.length} processed file(s) of the load date vanished from the landing (${gone.map((f) => f.key).join(', ')}); the last processed file is ${wm.lpf}`, {
          table: run.label,
          file: gone[0]!.key,
          hint: 'files vanished from the landing or clocks went back; nothing was changed. Restore them, or reprocess the table with cdc-apply reset',
        })
      }
    }
    const cdcBatches = await run.read(first)
    current = new KeyedState(run.schema!)
    const files = [...run.applyFiles(current, disc.load, loadBatches), ...run.applyFiles(current, first, cdcBatches), ...superseded.map((f) => ({ ...run.ledgerEntry(f, { inserts: 0, updates: 0, deletes: 0, stale: 0 }, 0), superseded: true }))]
    const later = disc.cdc.some((f) => f.date > loadDate)
    wm = { source: t.source, table: t.name, fullLoad: later, lpf: first.at(-1)?.stem ?? `${loadDate}-000000000`, loadDate }
    queueDate(run, chain, loadDate, [...disc.load.flatMap((f) => loadBatches.get(f)!), ...first.flatMap((f) => cdcBatches.get(f)!)], current, wm, files, true, disc.cdc.at(-1)?.date)
    if (!later) {
      await inflight
      return remember(run, wm, current, disc)
    }
  }
  let after: { wm: Watermark; current: KeyedState | undefined }
  try {
    after = await runDates(run, wm, current, disc, chain)
  } catch (err) {
    await inflight // an earlier date's failure comes first; otherwise its commit completes before this error
    throw err
  }
  await inflight
  return remember(run, after.wm, after.current, disc)
}

/** CDC: rewrites every date from the LPF's date through the newest file's date. */
async function runDates(run: TableRun, wm: Watermark, current: KeyedState | undefined, disc: Discovery, chain: (step: () => Promise<void>) => void): Promise<{ wm: Watermark; current: KeyedState | undefined }> {
  const { opts } = run

  // CDC: rewrite every date from the LPF's date through the newest file's date.
  // Change files named before the load date belong to the load date (as in the full-load phase).
  const loadDate = wm.loadDate
  if (disc.cdc.some((f) => f.date < loadDate)) disc = { ...disc, cdc: disc.cdc.map((f) => (f.date < loadDate ? { ...f, date: loadDate } : f)) }
  const mfd = disc.cdc.at(-1)
  const lpf = wm.lpf
  const lpfDate = lpf.slice(0, 8) < loadDate ? loadDate : lpf.slice(0, 8)
  if (mfd === undefined || mfd.stem < lpf) {
    if (mfd === undefined && lpf.endsWith('-000000000')) return { wm, current }
    throw new WatermarkError('CDC_LANDING_BEHIND_WATERMARK', `table ${run.label}: the newest change file ${mfd ? mfd.stem : '(none)'} is older than the last processed file ${lpf}`, {
      table: run.label,
      hint: 'files vanished from the landing or clocks went back; nothing was changed. Restore the files, or reprocess the table with cdc-apply reset',
    })
  }
  if (mfd.stem === lpf) return { wm, current }
  current ??= await run.restoreCommitted(wm, lpfDate, disc)
  const fresh = disc.cdc.filter((f) => f.stem > lpf)
  for (const date of dateRange(lpfDate, mfd.date)) {
    opts.signal?.throwIfAborted()
    const newFiles = fresh.filter((f) => f.date === date)
    if (newFiles.length === 0) {
      if (date !== lpfDate) {
        const w = run.startDate(date, undefined, current)
        chain(w.put)
      }
      continue
    }
    // RAW of a date is rewritten whole: the files already processed on it are read again, the load files too on the load date.
    const oldFiles = [...(date === wm.loadDate ? disc.load : []), ...disc.cdc.filter((f) => f.date === date && f.stem <= lpf)]
    const batches = await run.read([...oldFiles, ...newFiles])
    const files = run.applyFiles(current, newFiles, batches)
    wm = { ...wm, fullLoad: wm.fullLoad || date > wm.loadDate, lpf: newFiles.at(-1)!.stem }
    queueDate(run, chain, date, [...oldFiles, ...newFiles].flatMap((f) => batches.get(f)!), current, wm, files, false, mfd.date)
    run.cache = new Map(oldFiles.concat(newFiles).map((f) => [f.stem, batches.get(f)!]))
  }
  return { wm, current }
}

/**
 * Starts a date's writes now (snapshot taken, encoding under way) and queues its puts and then its watermark commit
 * (with the tombstone changes as of now) behind the dates before it.
 */
function queueDate(run: TableRun, chain: (step: () => Promise<void>) => void, date: string, batches: ChangeBatch[], state: KeyedState, wm: Watermark, files: ProcessedFile[], reset: boolean, newestDate: string | undefined): void {
  const w = run.startDate(date, batches, state, wm, reset)
  const tombstones = state.takeTombstoneChanges()
  const liveRows = state.size
  const fingerprint = fingerprintOf(run.t, run.schema!)
  chain(async () => {
    await w.put()
    run.commitChanges(wm, files, tombstones, liveRows, reset, fingerprint)
    run.result.status = 'ok'
    // After the commit, never before: the marker may trail the watermark (if this put fails) but never lead it.
    const marker = markerFor(wm, date, newestDate)
    try {
      await writeMarker(run.stores.curated, marker)
    } catch (err) {
      throw new WriteError('CDC_WRITE_FAILED', `table ${run.label}: the watermark moved to ${wm.lpf} but writing ${run.stores.curated.url}/${run.t.source}/${run.t.name}/_cdc_apply.json failed: ${(err as Error).message}`, {
        table: run.label,
        cause: err,
        transient: true,
        hint: 'the outputs and watermark are committed; the marker is rewritten after the next commit of the table',
      })
    }
  })
}

/** Keeps the table's state, the LPF date's files and their batches for the next poll (watch mode). */
function remember(run: TableRun, wm: Watermark, state: KeyedState | undefined, disc: Discovery): void {
  if (!state || !run.opts.memory || !run.schema) return
  const eff = (date: string): string => (date < wm.loadDate ? wm.loadDate : date)
  const lpfDate = eff(wm.lpf.slice(0, 8))
  const sameDate = [...(lpfDate === wm.loadDate ? disc.load : []), ...disc.cdc.filter((f) => eff(f.date) === lpfDate && f.stem <= wm.lpf).map((f) => ({ ...f, date: eff(f.date) }))]
  const lpfKey = disc.cdc.find((f) => f.stem === wm.lpf)?.key
  const keep = new Set(sameDate.map((f) => f.stem))
  const batches = new Map([...run.cache].filter(([stem]) => keep.has(stem)))
  const prev = run.opts.memory.get(run.label)
  const keyOrdered = run.fullListing ? disc.cdc.every((f, i) => i === 0 || byteCompare(disc.cdc[i - 1]!.key, f.key) < 0) : (prev?.keyOrdered ?? false)
  const fullListedAt = run.fullListing ? Date.now() : (prev?.fullListedAt ?? 0)
  const rejected = new Map([...run.rejected].filter(([stem]) => keep.has(stem)))
  run.opts.memory.set(run.label, { lpf: wm.lpf, schema: run.schema, state, lpfKey, sameDate, batches, rejected, keyOrdered, fullListedAt })
}

/**
 * Compares a full listing with the ledger: change files at or before the LPF that were never processed, or whose
 * content changed, are late; full-load files that are new or changed mean a DMS table reload. An object whose ETag
 * differs but whose content hash matches (a copied folder) is unchanged.
 */
async function checkAgainstLedger(run: TableRun, wm: Watermark, disc: Discovery, ledger: Map<string, ProcessedFile>): Promise<{ late: DmsFile[]; reload: DmsFile[] }> {
  const changed = async (f: DmsFile): Promise<boolean> => {
    const known = ledger.get(f.stem)
    if (known === undefined) return true
    if (known.etag === f.etag) return false
    if (known.size !== f.size) return true
    return known.checksum === '' || (await md5Of(objectChunks(run.stores.landing, f.key, { signal: run.opts.signal }))) !== known.checksum
  }
  const late: DmsFile[] = []
  for (const f of disc.cdc) if (f.stem <= wm.lpf && (await changed(f))) late.push(f)
  const reload: DmsFile[] = []
  for (const f of disc.load) if (await changed(f)) reload.push(f)
  return { late, reload }
}

/** True when the landing holds exactly the files of the ledger, unchanged (same names and ETags). */
function unchangedSinceLedger(all: ProcessedFile[], disc: Discovery): boolean {
  const ledger = all.filter((f) => !f.superseded)
  const files = [...disc.load, ...disc.cdc]
  if (files.length !== ledger.length) return false
  const byName = new Map(ledger.map((f) => [f.file, f.etag]))
  return files.every((f) => byName.get(f.stem) === f.etag)
}

function mergeDiscovery(known: DmsFile[], listed: Discovery): Discovery {
  const seen = new Set(known.map((f) => f.stem))
  const load = [...known.filter((f) => f.kind === 'load'), ...listed.load.filter((f) => !seen.has(f.stem))]
  const cdc = [...known.filter((f) => f.kind === 'cdc'), ...listed.cdc.filter((f) => !seen.has(f.stem))]
  const byOrder = (a: DmsFile, b: DmsFile): number => (a.orderKey < b.orderKey ? -1 : a.orderKey > b.orderKey ? 1 : 0)
  return { load: load.sort(byOrder), cdc: cdc.sort(byOrder), skipped: listed.skipped }
}

