// The first stage of a table's run: list its folder (in full, or after the LPF's key in a warm watch poll), log what
// is not applied, refuse a missing folder, and hold back objects that are still settling.
import type { Config, TableConfig } from './config.js'
import { ConfigError, WatermarkError, type CdcError } from './errors.js'
import { discoverFiles, type Discovery } from './discover.js'
import type { SharedListing } from './listing.js'
import type { Logger } from './log.js'
import { tableFolder } from './preflight.js'
import type { Watermark } from './state/index.js'
import type { ObjectStore } from './store/object-store.js'
import { mergeDiscovery, type TableMemory } from './watch-memory.js'

export interface ListContext {
  config: Config
  t: TableConfig
  label: string
  landing: ObjectStore
  log: Logger
  signal: AbortSignal | undefined
  /** Watch mode: the condition last logged per table, so that a lasting one is logged once. */
  notes: Map<string, string> | undefined
}

export interface Listed {
  /** The settled files to plan with; undefined when there is nothing to do this cycle (see `status`). */
  listing: Discovery | undefined
  status: 'files' | 'no-files' | 'waiting'
  /** Stem of the newest DMS file seen (for lag), settling ones included. */
  newest: string | undefined
  /** Parallel-load segment files seen; undefined for an incremental listing, which does not see them all. */
  segments: number | undefined
}

/** Lists the table: after `startAfter` when given (merged with the LPF date's files kept in memory), else in full. */
export async function listTable(
  ctx: ListContext,
  wm: Watermark | undefined,
  incremental: { startAfter: string; memory: TableMemory } | undefined,
  shared: { listing: SharedListing; listedAfter?: number } | undefined,
): Promise<Listed> {
  const { t, log } = ctx
  const listed = await discoverFiles(ctx.landing, t, {
    signal: ctx.signal,
    maxFutureSeconds: ctx.config.maxFutureSeconds,
    ...(incremental ? { startAfter: incremental.startAfter } : {}),
    ...(shared ?? {}),
  })
  const disc = incremental ? mergeDiscovery(incremental.memory.sameDate, listed) : listed
  for (const key of disc.skipped) log.warn({ object: key }, 'object skipped: not a DMS data file')
  for (const key of disc.segments)
    log.warn(
      { object: key },
      'parallel-load segment not applied: DMS full-load data that cdc-apply does not read yet; its rows are missing from the table',
    )
  for (const key of ctx.landing.newSymlinks?.() ?? [])
    log.warn(
      { object: key },
      'symbolic link skipped: links in a landing folder are never followed; copy or move the file itself',
    )
  const newest = disc.cdc.at(-1)?.stem ?? disc.load.at(-1)?.stem
  const segments = incremental ? undefined : disc.segments.length
  if (disc.load.length === 0 && disc.cdc.length === 0) {
    const folder = await tableFolder(ctx.landing, t.path, ctx.signal)
    if (t.missingFolder === 'ignore') {
      note(
        ctx,
        'gone',
        'warn',
        { path: t.path },
        'table folder is empty or gone; missingFolder is "ignore": outputs left as they are',
      )
      return { listing: undefined, status: 'no-files', newest, segments }
    }
    if (wm || !folder.exists) throw folderMissing(ctx, wm !== undefined, folder)
    note(
      ctx,
      'empty',
      'warn',
      { path: t.path, landing: ctx.landing.url },
      'no DMS files under the table folder yet (its full load has not arrived; an empty source table has none)',
    )
    return { listing: undefined, status: 'no-files', newest, segments }
  }
  const settled = settle(ctx, wm, disc)
  return { listing: settled, status: settled ? 'files' : 'waiting', newest, segments }
}

/** Logs a lasting condition of the table once (watch mode keeps what it logged last in `notes`). */
function note(ctx: ListContext, what: string, level: 'info' | 'warn', fields: object, msg: string): void {
  const notes = ctx.notes
  if (notes?.get(ctx.label) === what) return
  notes?.set(ctx.label, what)
  ctx.log[level](fields, msg)
}

function folderMissing(
  ctx: ListContext,
  hasWatermark: boolean,
  folder: { exists: boolean; suggestions: string[] },
): CdcError {
  const { t, label } = ctx
  const where = `${JSON.stringify(t.path)} in ${ctx.landing.url}`
  const what = folder.exists ? `table folder ${where} holds no DMS files` : `table folder ${where} does not exist`
  const near =
    folder.suggestions.length > 0
      ? `did you mean ${folder.suggestions.map((x) => JSON.stringify(x)).join(' or ')}? `
      : ''
  const hint = `${near}fix tables[].path (or landing); if the folder is gone on purpose (the source table was dropped), set the table's "missingFolder": "ignore"`
  if (hasWatermark) {
    return new WatermarkError(
      'CDC_TABLE_FOLDER_MISSING',
      `table ${label}: ${what}, but the table has a watermark: its files vanished or the path is wrong; nothing was changed`,
      { table: label, hint },
    )
  }
  // Without a watermark the folder may still appear (DMS creates it when the table's full load starts): `run` exits 2,
  // watch mode retries with backoff instead of stopping the table.
  return new ConfigError(
    'CDC_TABLE_FOLDER_MISSING',
    `table ${label}: ${what}; expected the folder DMS writes the table's files to`,
    { table: label, hint, transient: true },
  )
}

/**
 * A folder landing: objects modified less than settleSeconds ago may still be being written (a copy in progress) and
 * are not read yet, nor anything after them in the table's order, so that they are never called late later. Returns
 * the files to process now, or undefined when the table must wait this cycle (the young object sorts before work
 * already done: a new full-load part or a late file, judged once it is complete).
 */
function settle(ctx: ListContext, wm: Watermark | undefined, disc: Discovery): Discovery | undefined {
  const ms = ctx.config.settleSeconds * 1000
  if (!ctx.landing.settles || ms <= 0) return disc
  const now = Date.now()
  const young = [...disc.load, ...disc.cdc].find((f) => now - f.lastModified.getTime() < ms)
  if (young === undefined) {
    ctx.notes?.delete(ctx.label)
    return disc
  }
  const fields = { object: young.key, settleSeconds: ctx.config.settleSeconds }
  const cut = young.kind === 'cdc' && (wm === undefined || young.stem > wm.lpf)
  const kept = cut ? { ...disc, cdc: disc.cdc.filter((f) => f.orderKey < young.orderKey) } : undefined
  if (kept === undefined || (kept.load.length === 0 && kept.cdc.length === 0)) {
    note(
      ctx,
      `settle:${young.key}`,
      'info',
      fields,
      'waiting for an object to settle (it was modified moments ago: a copy may be in progress)',
    )
    return undefined
  }
  note(
    ctx,
    `settle:${young.key}`,
    'info',
    fields,
    'processing the files before an object that is still settling (it was modified moments ago)',
  )
  return kept
}
