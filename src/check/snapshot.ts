// `cdc-apply snapshot --as-of`: a table as it was after any DMS file or at any commit time, rebuilt from RAW by the
// recompute engine (raw-state.ts), filtered to the changes up to the as-of point.
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { DataError, UsageError } from '../errors.js'
import { resolveLocal, type Config, type TableConfig } from '../config.js'
import { openCuratedIceberg } from '../catalog/iceberg.js'
import { idForJson } from '../iceberg/metadata.js'
import { silentLogger, type Logger } from '../log.js'
import { replacePrefix, type ObjectStore } from '../store/object-store.js'
import { openZone } from '../store/open-store.js'
import { protectedClash, protectedLocations } from '../locations.js'
import { readLedger } from '../state/index.js'
import { findTable } from '../table-glob.js'
import { Duck, quotedIdentifier, quotedString, readParquetSql } from './duck.js'
import { partitionDate } from '../dms-names.js'
import { listPartitions, localPaths } from './partitions.js'
import { FILE_KIND_SQL, FILE_STEM_SQL, KeyedRawState } from './raw-state.js'

export interface SnapshotOptions {
  /** `Source.TableName`. */
  table: string
  /** A DMS file name (`20220927-135523276.csv`, `LOAD00000001.csv`, with or without extension) or a timestamp. */
  asOf: string
  /** A `.parquet` file or a folder (then `part-00000.parquet` in it); local or s3://. */
  out: string
  /** Folder a relative `out` resolves against (default: the current directory). */
  baseDir?: string
  logger?: Logger
  signal?: AbortSignal
}

export interface SnapshotResult {
  source: string
  table: string
  /** `file`: after that DMS file in cdc-apply's order; `time`: every change with a timestamp <= asOf. */
  kind: 'file' | 'time'
  /** The file stem or the timestamp (normalised) the snapshot is as of. */
  asOf: string
  rows: number
  /** Keys whose winning change as of then is a delete. */
  tombstones: number
  /** RAW dates read, in order, and how many RAW rows they held (after the as-of filter). */
  datesRead: string[]
  rawRows: number
  /** The object written: a path or an s3:// url. */
  written: string
  bytes: number
  ms: number
  /**
   * Iceberg tables, as of a DMS file: the newest kept snapshot whose summary `cdc-apply.lpf` is that file (it holds
   * the same rows: time travel to it in an Iceberg reader) and the refs that name it; undefined when none is kept.
   */
  iceberg?: { snapshotId: number | string; refs: string[] }
}

const FILE_RE = /^(LOAD[0-9A-F]{8}|\d{8}-\d{9})(\.(csv|parquet))?(\.gz)?$/

/** Opens the store for an output location, configured like the curated output (S3 settings, encryption). */
export function openOutput(config: Config, location: string, baseDir: string): Promise<ObjectStore> {
  return openZone(config, 'curated', location, baseDir)
}

/** Splits an output file location into its folder and base name (`s3://b/p/x.parquet` → `s3://b/p`, `x.parquet`). */
function splitLocation(location: string): { parent: string; name: string } {
  const trimmed = location.replace(/\/+$/, '')
  const slash = trimmed.lastIndexOf('/')
  if (trimmed.startsWith('s3://')) {
    const rest = trimmed.slice('s3://'.length)
    if (!rest.includes('/'))
      throw new UsageError('CDC_USAGE', `--out ${JSON.stringify(location)} names a bucket, not a file`, {
        hint: 'write --out s3://bucket/prefix/file.parquet or a folder',
      })
  }
  return { parent: slash <= 0 ? '.' : trimmed.slice(0, slash), name: trimmed.slice(slash + 1) }
}

/**
 * Writes a table as it was after the DMS file `asOf` (every file up to and including it in cdc-apply's order:
 * LOAD files by name, then change files by name) or at the commit time `asOf` (every change whose timestamp
 * column is <= it; NULL counts as earlier than any time). Rebuilt from RAW, one date partition at a time.
 */
export async function snapshotAsOf(config: Config, opts: SnapshotOptions): Promise<SnapshotResult> {
  const started = Date.now()
  if (opts.table === '')
    throw new UsageError('CDC_USAGE', '--table is required: the table as Source.TableName', {
      hint: "see 'cdc-apply snapshot --help'",
    })
  const t = findTable(config, opts.table)
  const label = opts.table
  const log = (opts.logger ?? silentLogger).child({ table: label })
  const baseDir = opts.baseDir ?? process.cwd()
  if (opts.asOf.trim() === '')
    throw new UsageError('CDC_USAGE', '--as-of is required: a DMS file name (20220927-135523276.csv) or a timestamp', {
      hint: "see 'cdc-apply snapshot --help'",
    })
  if (opts.out === '')
    throw new UsageError('CDC_USAGE', '--out is required: a .parquet file or a folder, local or s3://', {
      hint: "see 'cdc-apply snapshot --help'",
    })
  // The pipeline writes' rule: never into (or over a folder holding) the landing, RAW, curated, state or cache.
  const outLocation = opts.out.startsWith('s3://') ? opts.out : resolve(baseDir, opts.out)
  const zones = protectedLocations(config)
  const clash = protectedClash(
    outLocation,
    zones.map((z) => z.location),
  )
  if (clash !== undefined) {
    const zone = zones.find((z) => z.location === clash.location)!
    throw new UsageError(
      'CDC_USAGE',
      `--out ${JSON.stringify(opts.out)} is invalid: expected a location outside the ${zone.path} location ${JSON.stringify(zone.location)} and not holding it, got ${JSON.stringify(clash.real)} (symlinks resolved)`,
      {
        hint: 'write the snapshot elsewhere: it must not replace a curated partition, RAW history, DMS files or the state',
      },
    )
  }
  const fileMatch = FILE_RE.exec(opts.asOf.trim())
  const rawStore = await openZone(config, 'raw')
  const duck = await Duck.open({ storage: 'file', prefix: 'cdc-apply-snapshot-' })
  try {
    const dates = await listPartitions(rawStore, t, opts.signal)
    const first = dates.keys().next().value as string | undefined
    if (first === undefined) {
      throw new DataError('CDC_SNAPSHOT_MISSING', `table ${label} has no RAW partitions in ${rawStore.url}`, {
        table: label,
        hint: 'run cdc-apply first; snapshot --as-of rebuilds the table from RAW',
      })
    }
    const state = new KeyedRawState(duck, t, label)
    const datesRead: string[] = []
    let kind: 'file' | 'time'
    let asOf = opts.asOf
    if (fileMatch) {
      kind = 'file'
      const stem = fileMatch[1]!
      asOf = stem
      const isLoad = stem.startsWith('LOAD')
      const lastDate = isLoad ? first : partitionDate(stem.slice(0, 8), first)
      const where = isLoad
        ? `(${FILE_KIND_SQL} = 0 AND ${FILE_STEM_SQL} <= ${quotedString(stem)})`
        : `(${FILE_KIND_SQL} = 0 OR ${FILE_STEM_SQL} <= ${quotedString(stem)})`
      let found = 0
      for (const [date, keys] of dates) {
        if (date > lastDate) break
        opts.signal?.throwIfAborted()
        const files = await localPaths(rawStore, keys, join(duck.tmp, 'raw', date), opts.signal)
        const r = await state.merge(files.paths, { where, probe: `${FILE_STEM_SQL} = ${quotedString(stem)}` })
        await files.cleanup()
        found += r.probed
        datesRead.push(date)
        log.debug({ date, rows: r.rows }, 'raw date merged')
      }
      const ledger = readLedger(resolveLocal(config, config.state), t)
      if (found === 0 && ledger?.superseded.has(stem)) {
        throw new UsageError(
          'CDC_USAGE',
          `table ${label}: the DMS file ${stem} was superseded by a table reload: RAW no longer holds it`,
          {
            table: label,
            hint: 'name a file applied after the reload, or give a timestamp',
          },
        )
      }
      if (found === 0 && !ledger?.files.has(stem)) {
        throw new UsageError(
          'CDC_USAGE',
          `table ${label}: the DMS file ${stem} is not in RAW (${rawStore.url}): it is not a file of this table or it was not processed yet`,
          {
            table: label,
            hint: 'name a file cdc-apply has processed (the LPF in cdc-apply status is the newest), or give a timestamp',
          },
        )
      }
    } else {
      kind = 'time'
      if (t.timestampColumn === undefined) {
        throw new UsageError(
          'CDC_USAGE',
          `table ${label}: --as-of ${JSON.stringify(opts.asOf)} is not a DMS file name, and a timestamp needs the table's timestampColumn, which is not configured`,
          {
            table: label,
            hint: 'give a DMS file name (LOAD00000001.csv or 20220927-135523276.csv), or configure timestampColumn',
          },
        )
      }
      const ts = quotedIdentifier(t.timestampColumn)
      let where: string | undefined
      for (const [date, keys] of dates) {
        opts.signal?.throwIfAborted()
        const files = await localPaths(rawStore, keys, join(duck.tmp, 'raw', date), opts.signal)
        if (where === undefined) {
          const type = (await duck.describe(`SELECT ${ts} FROM ${readParquetSql(files.paths)}`))[0]!.type
          const f = await timeFilter(duck, ts, type, opts.asOf, label)
          where = f.where
          asOf = f.asOf
        }
        const r = await state.merge(files.paths, { where })
        await files.cleanup()
        // A reload that had not started by then: the table as of then is the history before it.
        if (r.notYet) break
        datesRead.push(date)
        log.debug({ date, rows: r.rows }, 'raw date merged')
      }
    }
    const counts = await state.counts()
    const out = opts.out.startsWith('s3://') ? opts.out : resolve(baseDir, opts.out)
    const single = /\.parquet$/i.test(out)
    const { parent, name } = single ? splitLocation(out) : { parent: out, name: 'part-00000.parquet' }
    const tmpFile = join(duck.tmp, 'snapshot.parquet')
    const codec = config.parquet.compression === 'none' ? 'uncompressed' : config.parquet.compression
    const pk = t.primaryKey.map(quotedIdentifier).join(', ')
    await duck.run(
      `COPY (SELECT * FROM ${state.liveSql()} ORDER BY ${pk}) TO ${quotedString(tmpFile)} (FORMAT parquet, COMPRESSION ${codec}, ROW_GROUP_SIZE ${config.parquet.rowGroupSize})`,
    )
    const body = await readFile(tmpFile)
    const store = await openOutput(config, parent, baseDir)
    try {
      const signal = opts.signal ? { signal: opts.signal } : {}
      // A folder holds one snapshot: part files of an earlier snapshot written there are removed.
      if (single) await store.put(name, body, signal)
      else
        await replacePrefix(store, '', [{ key: name, body }], {
          ...signal,
          only: (key) => /^part-\d{5}\.parquet$/.test(key),
        })
    } finally {
      await store.close()
    }
    const written = parent.startsWith('s3://') ? `${parent.replace(/\/+$/, '')}/${name}` : join(parent, name)
    const result: SnapshotResult = {
      source: t.source,
      table: t.name,
      kind,
      asOf,
      rows: counts.live,
      tombstones: counts.tombstones,
      datesRead,
      rawRows: state.rowsRead,
      written,
      bytes: body.length,
      ms: Date.now() - started,
    }
    if (t.tableFormat === 'iceberg' && kind === 'file') {
      const found = await icebergSnapshotOf(config, t, asOf, opts.signal)
      if (found) result.iceberg = found
    }
    log.info(
      { kind, asOf: result.asOf, rows: result.rows, dates: datesRead.length, rawRows: result.rawRows, out: written },
      'snapshot written',
    )
    return result
  } finally {
    await duck.close()
    await rawStore.close()
  }
}

/** The newest kept snapshot of the table whose commit ended with DMS file `stem`, and the refs naming it. */
async function icebergSnapshotOf(
  config: Config,
  t: TableConfig,
  stem: string,
  signal?: AbortSignal,
): Promise<{ snapshotId: number | string; refs: string[] } | undefined> {
  const store = await openZone(config, 'curated')
  try {
    const ice = await openCuratedIceberg(store, t, signal ? { signal } : {})
    const snap = (ice.meta?.snapshots ?? [])
      .filter((s) => s.summary['cdc-apply.lpf']?.replace(/\.[^-]*$/, '') === stem)
      .sort((a, b) => b['sequence-number'] - a['sequence-number'])[0]
    if (!snap) return undefined
    const refs = Object.entries(ice.meta!.refs)
      .filter(([, r]) => r['snapshot-id'] === snap['snapshot-id'])
      .map(([name]) => name)
      .sort()
    return { snapshotId: idForJson(snap['snapshot-id']), refs }
  } finally {
    await store.close()
  }
}

/**
 * The RAW filter of a time snapshot: changes whose timestamp column is <= the given time, or NULL (NULL is the
 * lowest value in the ordering chain). Timestamps (and dates, and text columns holding timestamps) compare as
 * UTC timestamps to the microsecond; numeric columns compare as numbers.
 */
async function timeFilter(
  duck: Duck,
  ts: string,
  type: string,
  input: string,
  label: string,
): Promise<{ where: string; asOf: string }> {
  const t = type.toUpperCase()
  const bad = (expected: string): UsageError =>
    new UsageError(
      'CDC_USAGE',
      `table ${label}: --as-of ${JSON.stringify(input)} is neither a DMS file name nor ${expected}`,
      {
        table: label,
        hint: 'give a DMS file name (LOAD00000001.csv, 20220927-135523276.csv) or a time such as 2024-06-12T10:30:25.104667Z (no zone = UTC)',
      },
    )
  if (
    /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL)/.test(
      t,
    )
  ) {
    if (!/^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(input.trim())) throw bad(`a number (the timestamp column is ${type})`)
    return { where: `(${ts} IS NULL OR ${ts} <= ${input.trim()})`, asOf: input.trim() }
  }
  const parsed = await duck.value(
    `SELECT CAST(TRY_CAST(TRY_CAST(${quotedString(input.trim())} AS TIMESTAMPTZ) AS TIMESTAMP) AS VARCHAR)`,
  )
  if (parsed === null) throw bad('a timestamp')
  const limit = `TIMESTAMP ${quotedString(String(parsed))}`
  const value = t === 'VARCHAR' ? `TRY_CAST(TRY_CAST(${ts} AS TIMESTAMPTZ) AS TIMESTAMP)` : `CAST(${ts} AS TIMESTAMP)`
  return { where: `(${value} IS NULL OR ${value} <= ${limit})`, asOf: String(parsed) }
}
