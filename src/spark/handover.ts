// The Spark job's state in the lake: `<state>/<Source>/<TableName>/watermark.json` (watermark, ledger, and the RAW
// parts committed for the watermark's date) and the `tombstones-<id>/` folder it names (JSON lines: key, ts, seq,
// file, row). assets/spark-job/ reads and writes the same files; `cdc-apply state export|import` moves a table's
// state between them and the SQLite state file.
import { randomBytes } from 'node:crypto'
import { DataError } from '../errors.js'
import { HANDOVER_FORMAT, type HandoverState, type HandoverTombstone } from '../state/index.js'
import { joinKey, type ObjectStore } from '../store/object-store.js'
import { openStore } from '../store/open-store.js'
import type { Config, TableConfig } from '../config.js'
import { lpfDate } from '../dms-names.js'
import { RAW_PARTITION, openRawIceberg } from '../raw-iceberg.js'
import type { ProcessedFile } from '../state/index.js'

interface WatermarkFile {
  format: number
  source: string
  table: string
  fullLoad: boolean
  lpf: string
  loadDate: string
  /** The folder (beside this file) holding the tombstones; null when there are none. */
  tombstones: string | null
  ledger: ProcessedFile[]
  fingerprint?: string | null
  /** The RAW parts of the watermark's date (names under its folder; for a RAW Iceberg table, its partition's files). */
  raw?: { date: string; parts: { name: string; rows: number | null; first: string | null; last: string | null }[] }
  committedAt: string
  writer: string
}

function invalid(where: string, what: string): DataError {
  return new DataError('CDC_HANDOVER_INVALID', `${where}: ${what}`, {
    hint: 'export the table again (cdc-apply state export), or let the Spark job commit once more',
  })
}

/** Writes the tombstones first, then watermark.json (the commit), then removes older tombstone folders. */
export async function writeHandover(store: ObjectStore, h: HandoverState): Promise<string> {
  const dir = joinKey(h.watermark.source, h.watermark.table)
  const name = `tombstones-${randomBytes(8).toString('hex')}`
  const lines = h.tombstones
    .map((t) => JSON.stringify({ key: t.key, ts: t.ts, seq: t.seq, file: t.file, row: t.row }))
    .join('\n')
  await store.put(joinKey(dir, name, 'part-00000.json'), new TextEncoder().encode(lines.length > 0 ? lines + '\n' : ''))
  const file: WatermarkFile = {
    format: HANDOVER_FORMAT,
    source: h.watermark.source,
    table: h.watermark.table,
    fullLoad: h.watermark.fullLoad,
    lpf: h.watermark.lpf,
    loadDate: h.watermark.loadDate,
    tombstones: name,
    ledger: h.ledger,
    fingerprint: h.fingerprint,
    ...(h.raw
      ? {
          raw: {
            date: h.raw.date,
            parts: h.raw.parts.map((p) => ({
              name: p.name,
              rows: p.rows ?? null,
              first: p.first ?? null,
              last: p.last ?? null,
            })),
          },
        }
      : {}),
    committedAt: new Date().toISOString(),
    writer: 'cdc-apply',
  }
  await store.put(joinKey(dir, 'watermark.json'), new TextEncoder().encode(JSON.stringify(file, null, 1) + '\n'))
  const stale: string[] = []
  for await (const o of store.list(`${dir}/`)) {
    const folder = o.key.slice(dir.length + 1).split('/')[0]!
    if (folder.startsWith('tombstones-') && folder !== name) stale.push(o.key)
  }
  if (stale.length > 0) await store.delete(stale)
  return `${store.url}/${dir}/watermark.json`
}

/** The table's state as the Spark job (or an export) left it; undefined when there is no watermark.json. */
export async function readHandover(
  store: ObjectStore,
  source: string,
  table: string,
): Promise<HandoverState | undefined> {
  const dir = joinKey(source, table)
  const where = `${store.url}/${dir}/watermark.json`
  let text: string
  try {
    text = new TextDecoder().decode(await store.get(joinKey(dir, 'watermark.json')))
  } catch (err) {
    if ((err as { code?: string }).code === 'CDC_SOURCE_NOT_FOUND' || (err as NodeJS.ErrnoException).code === 'ENOENT')
      return undefined
    throw err
  }
  let w: WatermarkFile
  try {
    w = JSON.parse(text) as WatermarkFile
  } catch (err) {
    throw invalid(where, `not JSON: ${(err as Error).message}`)
  }
  if (w.format !== HANDOVER_FORMAT) throw invalid(where, `format ${String(w.format)}; expected ${HANDOVER_FORMAT}`)
  if (w.source !== source || w.table !== table)
    throw invalid(where, `holds ${w.source}.${w.table}, not ${source}.${table}`)
  if (
    typeof w.lpf !== 'string' ||
    !/^\d{8}-\d{9}$/.test(w.lpf) ||
    !/^\d{8}$/.test(w.loadDate) ||
    !Array.isArray(w.ledger)
  )
    throw invalid(where, 'lpf, loadDate or ledger is malformed')
  const tombstones: HandoverTombstone[] = []
  if (w.tombstones) {
    let parts = 0
    for await (const o of store.list(`${dir}/${w.tombstones}/`)) {
      if (!o.key.endsWith('.json')) continue
      parts++
      const body = new TextDecoder().decode(await store.get(o.key))
      for (const line of body.split('\n')) {
        if (line.trim() === '') continue
        const t = JSON.parse(line) as Partial<HandoverTombstone>
        if (typeof t.key !== 'string' || typeof t.file !== 'string' || typeof t.row !== 'number')
          throw invalid(`${store.url}/${o.key}`, `a tombstone lacks its key, file or row: ${line.slice(0, 200)}`)
        tombstones.push({ key: t.key, ts: t.ts ?? null, seq: t.seq ?? null, file: t.file, row: t.row })
      }
    }
    if (parts === 0) throw invalid(where, `its tombstones folder ${w.tombstones} is missing`)
  }
  const ledger = w.ledger.map((f) => ({ ...f, superseded: f.superseded === true }))
  return {
    watermark: { source, table, fullLoad: w.fullLoad, lpf: w.lpf, loadDate: w.loadDate },
    ledger,
    tombstones,
    fingerprint: w.fingerprint ?? null,
    ...(w.raw === undefined || w.raw === null ? {} : { raw: rawParts(where, w.raw) }),
  }
}

/** The RAW parts watermark.json names: a date and part names (one object of the date's folder each). */
function rawParts(where: string, raw: NonNullable<WatermarkFile['raw']>): NonNullable<HandoverState['raw']> {
  const part = /^[^/\\]+\.parquet$/
  const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
  if (typeof raw !== 'object' || typeof raw.date !== 'string' || !/^\d{8}$/.test(raw.date) || !Array.isArray(raw.parts))
    throw invalid(where, 'raw is malformed: expected {"date": "YYYYMMDD", "parts": [...]}')
  return {
    date: raw.date,
    parts: raw.parts.map((p) => {
      if (typeof p !== 'object' || typeof p.name !== 'string' || !part.test(p.name))
        throw invalid(where, `raw names a part that is not a Parquet object of the date's folder: ${JSON.stringify(p)}`)
      const rows = typeof p.rows === 'number' && Number.isInteger(p.rows) && p.rows >= 0 ? p.rows : undefined
      return { name: p.name, rows, first: text(p.first), last: text(p.last) }
    }),
  }
}

/**
 * Before an import: the RAW Iceberg table's partition of the watermark's date must hold exactly the parts the
 * hand-over names, since cdc-apply's next commit of the date keeps those and removes the partition's others. It
 * differs when a job run stopped between its RAW snapshot and its watermark.json (the snapshot replaced the date's
 * parts), or when the hand-over names none (written by an older version): importing would lose RAW rows.
 */
export async function checkRawHandover(config: Config, t: TableConfig, h: HandoverState): Promise<void> {
  if (t.tableFormat !== 'iceberg' || !config.iceberg.raw) return
  const label = `${t.source}.${t.name}`
  const date = lpfDate(h.watermark)
  const store = await openStore(config.raw, { baseDir: config.baseDir, ...(config.s3 ? { s3: config.s3 } : {}) })
  try {
    const ice = await openRawIceberg(store, t.source, t.name, config, undefined)
    const snap = ice.current()
    const live = snap ? (await ice.files(snap)).data.filter((e) => e.data_file.partition[RAW_PARTITION] === date) : []
    const have = live.map((e) => e.data_file.file_path.slice(e.data_file.file_path.lastIndexOf('/') + 1)).sort()
    const named = (h.raw?.date === date ? h.raw.parts.map((p) => p.name) : []).sort()
    if (have.join('\n') === named.join('\n')) return
    throw new DataError(
      'CDC_HANDOVER_INVALID',
      `table ${label}: the RAW Iceberg table's partition ${RAW_PARTITION}=${date} holds ${have.length} file(s) (${have.slice(0, 3).join(', ')}${have.length > 3 ? ', …' : ''}) but the hand-over names ${named.length === 0 ? 'none' : named.join(', ')}: cdc-apply would drop RAW rows of the watermark's date`,
      {
        table: label,
        hint: 'a Spark job run stopped between its RAW commit and watermark.json: run the job again until it commits, then import (or export again with this version of cdc-apply)',
      },
    )
  } finally {
    await store.close()
  }
}
