// What watch mode keeps of a table between polls, so that a poll neither reloads the table nor reads old objects:
// the state at the LPF, the LPF date's files (for incremental listings), and whether the next listing may start
// after the LPF's key.
import type { KeyedState } from './apply.js'
import type { TableSchema } from './batch.js'
import type { Discovery } from './discover.js'
import { lpfDate, partitionDate, type DmsFile } from './dms-names.js'
import type { Watermark } from './state/index.js'
import { byteCompare } from './store/local-store.js'

/** What watch mode keeps of a table between polls. */
export interface TableMemory {
  lpf: string
  schema: TableSchema
  state: KeyedState
  /** The landing key of the LPF file: the next poll lists only keys after it. */
  lpfKey: string | undefined
  /** Full-load files and change files of the LPF's date (an incremental listing completes them with new ones). */
  sameDate: DmsFile[]
  /** At the last full listing, landing keys sorted as the files' times: listing after the LPF's key is safe. */
  keyOrdered: boolean
  fullListedAt: number
}

/**
 * How this run lists the table. Warm: the memory holds the state at the committed LPF. A warm poll lists only keys
 * after the LPF's (when key order follows time order, which DDMMYYYY date folders break) and takes the LPF date's
 * files from memory. Cold runs, and warm polls every fullListingSeconds, list the whole table folder: that is what
 * finds late, rewritten and vanished files.
 */
export function listingMode(
  memory: TableMemory | undefined,
  wm: Watermark | undefined,
  fullListingSeconds: number,
  now: number,
): { warm: boolean; startAfter: string | undefined } {
  const warm = memory !== undefined && wm !== undefined && memory.lpf === wm.lpf
  const incremental =
    warm && memory.keyOrdered && memory.lpfKey !== undefined && now - memory.fullListedAt < fullListingSeconds * 1000
  return { warm, startAfter: incremental ? memory.lpfKey : undefined }
}

/** An incremental listing completed with the LPF date's files kept in memory. */
export function mergeDiscovery(known: DmsFile[], listed: Discovery): Discovery {
  const seen = new Set(known.map((f) => f.stem))
  const load = [...known.filter((f) => f.kind === 'load'), ...listed.load.filter((f) => !seen.has(f.stem))]
  const cdc = [...known.filter((f) => f.kind === 'cdc'), ...listed.cdc.filter((f) => !seen.has(f.stem))]
  const byOrder = (a: DmsFile, b: DmsFile): number => (a.orderKey < b.orderKey ? -1 : a.orderKey > b.orderKey ? 1 : 0)
  return { load: load.sort(byOrder), cdc: cdc.sort(byOrder), skipped: listed.skipped, segments: listed.segments }
}

/** What a run leaves for the next poll: its state at `wm`, and what it read of the table. */
export interface RunLeftovers {
  schema: TableSchema | undefined
  /** The run listed the whole table folder. */
  fullListing: boolean
}

/** Keeps the table's state and the LPF date's files for the next poll (watch mode). */
export function remember(
  memory: Map<string, TableMemory> | undefined,
  label: string,
  wm: Watermark,
  state: KeyedState | undefined,
  listing: Pick<Discovery, 'load' | 'cdc'>,
  run: RunLeftovers,
): void {
  if (!state || !memory || !run.schema) return
  const eff = (date: string): string => partitionDate(date, wm.loadDate)
  const day = lpfDate(wm)
  const sameDate = [
    ...(day === wm.loadDate ? listing.load : []),
    ...listing.cdc.filter((f) => eff(f.date) === day && f.stem <= wm.lpf).map((f) => ({ ...f, date: eff(f.date) })),
  ]
  const lpfKey = listing.cdc.find((f) => f.stem === wm.lpf)?.key
  const prev = memory.get(label)
  const keyOrdered = run.fullListing
    ? listing.cdc.every((f, i) => i === 0 || byteCompare(listing.cdc[i - 1]!.key, f.key) < 0)
    : (prev?.keyOrdered ?? false)
  const fullListedAt = run.fullListing ? Date.now() : (prev?.fullListedAt ?? 0)
  memory.set(label, {
    lpf: wm.lpf,
    schema: run.schema,
    state,
    lpfKey,
    sameDate,
    keyOrdered,
    fullListedAt,
  })
}
