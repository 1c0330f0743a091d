// One cycle over every configured table, each table in stages: list its folder (table-listing.ts) → check it against
// the ledger and plan the run (reconcile.ts, plan.ts) → read, apply, write RAW and curated, commit the watermark
// (execute.ts) → keep its state for the next poll (watch-memory.ts).
import type * as A from 'apache-arrow'
import pLimit from 'p-limit'
import { CdcError } from './errors.js'
import { resolveLocal, tableLabel, type Config, type TableConfig } from './config.js'
import { configuredSchema } from './read.js'
import { SharedListing } from './listing.js'
import { curatedSink } from './curated-sink.js'
import { StateStore, type Watermark } from './state/index.js'
import { errFields, silentLogger, type Logger } from './log.js'
import { joinKey, type ObjectStore } from './store/object-store.js'
import { openStore } from './store/open-store.js'
import { checkTables } from './table-glob.js'
import { checkFingerprint } from './fingerprint.js'
import { checkLanding, checkOutputsWritable } from './preflight.js'
import { checkRawLayout } from './raw-layout.js'
import { openRegistrar, type CatalogOutcome, type Registrar } from './catalog/register.js'
import { readSchemaFields } from './catalog/output-schema.js'
import { listTable } from './table-listing.js'
import { dropSuperseded, filesToHash, landingHashes } from './reconcile.js'
import { planTable, type TablePlan } from './plan.js'
import { executeDates, executeLoad, TableRun, type Executed, type Outcome } from './execute.js'
import { lpfDate } from './dms-names.js'
import { listingMode, remember, type TableMemory } from './watch-memory.js'
import { registerIcebergTable } from './catalog/iceberg.js'

export type { TableMemory } from './watch-memory.js'

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
  /**
   * Parallel-load segment files in the table's folder: DMS full-load data that is not applied. Undefined when the
   * listing was incremental (a watch poll between full listings), which does not see them all.
   */
  segments: number | undefined
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

export async function openStores(config: Config): Promise<Stores> {
  const base = { baseDir: config.baseDir, ...(config.s3 ? { s3: config.s3 } : {}) }
  return {
    landing: await openStore(config.landing, base),
    raw: await openStore(config.raw, {
      ...base,
      ...(config.encryption.raw ? { encryption: config.encryption.raw } : {}),
    }),
    curated: await openStore(config.curated, {
      ...base,
      ...(config.encryption.curated ? { encryption: config.encryption.curated } : {}),
    }),
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

/** One cycle with stores and state already open (watch mode keeps them open between polls). */
export async function runCycle(
  config: Config,
  stores: Stores,
  state: StateStore,
  opts: RunOptions = {},
): Promise<RunSummary> {
  const started = Date.now()
  const log = opts.logger ?? silentLogger
  const limit = pLimit(config.concurrency.tables)
  checkTables(config, opts.tables ?? [])
  const tables = config.tables.filter((t) => !opts.tables || opts.tables.includes(tableLabel(t)))
  if (opts.listing === undefined && tables.length > 1) {
    const listing = new SharedListing(
      stores.landing,
      tables.map((t) => t.path),
    )
    opts = { ...opts, listing }
  }
  const results = await Promise.all(
    tables.map((t) => limit(() => runTableSafe(config, stores, state, t, opts, log.child({ table: tableLabel(t) })))),
  )
  return { tables: results, ms: Date.now() - started }
}

async function runTableSafe(
  config: Config,
  stores: Stores,
  state: StateStore,
  t: TableConfig,
  opts: RunOptions,
  log: Logger,
): Promise<TableResult> {
  const r = emptyResult(t)
  const label = tableLabel(t)
  const started = Date.now()
  let run: TableRun | undefined
  try {
    run = new TableRun(
      config,
      stores,
      state,
      t,
      label,
      opts.signal,
      log,
      curatedSink(config, t, stores.curated),
      configuredSchema(t),
      opts.onProgress,
    )
    await runTable(run, opts, r)
    takeOutcome(r, run.outcome)
    state.recordRun(t.source, t.name, undefined, r.newest, r.segments)
  } catch (err) {
    if (run) takeOutcome(r, run.outcome)
    opts.memory?.delete(label)
    r.status = 'error'
    if (opts.signal?.aborted) {
      // Stopped by a signal before the watermark moved: outputs and watermark are as after the last commit.
      r.status = 'aborted'
      r.error = new CdcError(
        'CDC_ABORTED',
        `table ${label}: stopped by a signal; the unit of work in flight was rolled back`,
        { table: label, cause: err },
      )
    } else {
      r.error = err as Error
      const e = err as CdcError
      state.recordRun(t.source, t.name, { code: e.code ?? 'CDC_INTERNAL', message: e.message }, r.newest, r.segments)
    }
  }
  const wm = run?.outcome.committed ?? state.get(t.source, t.name)
  r.fullLoad = wm?.fullLoad
  r.lpf = wm?.lpf
  if (opts.catalog && wm && !opts.signal?.aborted)
    r.catalog = await register(opts.catalog, stores, t, run?.schema?.fields, wm, r, log)
  r.ms = Date.now() - started
  return r
}

/** The executor's counts and dates into the table's result; a commit makes the status `ok`. */
function takeOutcome(r: TableResult, o: Outcome): void {
  Object.assign(r, {
    files: o.files,
    rows: o.rows,
    inserts: o.inserts,
    updates: o.updates,
    deletes: o.deletes,
    stale: o.stale,
    quarantined: o.quarantined,
    liveRows: o.liveRows,
    rawDates: o.rawDates,
    curatedDates: o.curatedDates,
  })
  if (o.committed) r.status = 'ok'
}

/** One table's run, stage by stage: list → reconcile and plan → execute → remember (docs/semantics.md). */
async function runTable(run: TableRun, opts: RunOptions, r: TableResult): Promise<void> {
  const { t, state, label } = run
  const wm = state.get(t.source, t.name)
  // A table past its load date restores from its snapshot and tombstones: refuse settings they were not written under.
  const saved = wm?.fullLoad ? state.meta(t.source, t.name)?.fingerprint : undefined
  if (saved) checkFingerprint(label, saved, t, configuredSchema(t))
  // RAW date folders of an earlier run are not continued as a RAW Iceberg table (checked once per watcher)
  if (run.rawIsIceberg && !opts.memory?.has(label)) await checkRawLayout(run.stores.raw, t, label, wm, run.signal)

  // 1. List the table's folder: in full, or (a warm watch poll) only after the LPF's key.
  const memory = opts.memory?.get(label)
  const mode = listingMode(memory, wm, run.config.fullListingSeconds, Date.now())
  const incremental = mode.startAfter !== undefined ? { startAfter: mode.startAfter, memory: memory! } : undefined
  const shared = opts.listing?.worthIt()
    ? { listing: opts.listing, ...(opts.listedAfter !== undefined ? { listedAfter: opts.listedAfter } : {}) }
    : undefined
  const listed = await listTable(
    { config: run.config, t, label, landing: run.stores.landing, log: run.log, signal: run.signal, notes: opts.notes },
    wm,
    incremental,
    shared,
  )
  r.newest = listed.newest
  r.segments = listed.segments
  if (listed.status === 'no-files') r.status = 'no-files'
  if (listed.listing === undefined) return

  // 2. Check the listing against the ledger (a full listing only) and decide what this run does.
  const ledger = wm && !incremental ? state.processedFiles(t.source, t.name) : undefined
  const hashes =
    wm?.fullLoad && ledger
      ? await landingHashes(
          run.stores.landing,
          filesToHash(wm, dropSuperseded(listed.listing, ledger), ledger),
          run.signal,
        )
      : new Map<string, string>()
  const plan = planTable({ label, table: t, watermark: wm, ledger, listing: listed.listing, warm: mode.warm, hashes })

  // 3. Carry it out: read → apply → write RAW and curated → commit, date by date.
  const executed = await execute(run, plan, memory, opts.memory)

  // 4. Keep the state for the next poll (watch mode).
  remember(
    opts.memory,
    label,
    executed.watermark,
    executed.state,
    plan.kind === 'stop' ? listed.listing : plan.kind === 'unchanged' ? plan.listing : plan,
    {
      schema: run.schema,
      fullListing: incremental === undefined,
    },
  )
}

async function execute(
  run: TableRun,
  plan: TablePlan,
  memory: TableMemory | undefined,
  memories: Map<string, TableMemory> | undefined,
): Promise<Executed> {
  if (plan.kind !== 'stop') for (const n of plan.notices) run.log.warn(n.fields, n.msg)
  if (plan.kind === 'load' && plan.watermark === undefined) memories?.delete(run.label)
  const fromMemory = plan.kind !== 'load' && plan.fromMemory === true && memory !== undefined
  if (fromMemory) {
    run.schema = memory.schema
  }
  switch (plan.kind) {
    case 'stop':
      throw plan.error
    case 'unchanged':
      // Nothing new, but a crash may have left RAW work: a compaction to redo or replaced parts to delete.
      await run.raw.settle(lpfDate(plan.watermark))
      return { watermark: plan.watermark, state: fromMemory ? memory.state : undefined }
    case 'load':
      run.filesTotal = plan.todo.files
      run.bytesTotal = plan.todo.bytes
      return executeLoad(run, plan)
    case 'dates':
      run.filesTotal = plan.todo.files
      run.bytesTotal = plan.todo.bytes
      return executeDates(run, plan, fromMemory ? memory.state : undefined)
  }
}

/**
 * After a table's commits (or when an earlier registration is still pending): registers its RAW and curated tables.
 * The columns come from this run's schema, else from the newest curated partition. Never throws.
 */
async function register(
  catalog: Registrar,
  stores: Stores,
  t: TableConfig,
  fields: A.Field[] | undefined,
  wm: Watermark,
  r: TableResult,
  log: Logger,
): Promise<CatalogOutcome | undefined> {
  const committed = r.status === 'ok' || (r.status === 'error' && r.curatedDates.length > 0)
  if (!committed && !catalog.pending(t)) return undefined
  if (t.tableFormat === 'iceberg') return registerIcebergTable(catalog, stores, t, fields, wm, log)
  let columns = fields
  if (columns === undefined) {
    try {
      columns = await readSchemaFields(stores.curated, joinKey(t.source, t.name), wm)
    } catch (err) {
      log.warn(
        { ...errFields(err) },
        "catalog: the table's columns could not be read back; registration waits for the next run",
      )
      return undefined
    }
  }
  if (columns === undefined) return undefined
  const outcome = await catalog.registerParquet(t, columns, wm.loadDate)
  if (outcome.error)
    log.warn(
      { tables: outcome.tables, ...errFields(outcome.error) },
      'catalog registration failed; retried at the next commit or poll',
    )
  else if (outcome.status === 'registered') log.info({ tables: outcome.tables }, 'catalog tables registered')
  return outcome
}

function emptyResult(t: TableConfig): TableResult {
  return {
    source: t.source,
    table: t.name,
    status: 'unchanged',
    fullLoad: undefined,
    lpf: undefined,
    files: 0,
    rows: 0,
    inserts: 0,
    updates: 0,
    deletes: 0,
    stale: 0,
    quarantined: 0,
    segments: undefined,
    liveRows: undefined,
    newest: undefined,
    rawDates: [],
    curatedDates: [],
    error: undefined,
    ms: 0,
    catalog: undefined,
  }
}
