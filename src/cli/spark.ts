// `cdc-apply spark` (emit the PySpark job) and `cdc-apply state export|import` (hand a table's state over between
// the SQLite state file and the job's state location). See docs/scale-out.md.
import { writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { UsageError, DataError } from '../errors.js'
import { resolveLocal, type Config, type TableConfig } from '../config.js'
import { emitSparkJob, defaultStateLocation } from '../spark/emit-job.js'
import { checkRawHandover, readHandover, writeHandover } from '../spark/handover.js'
import { StateStore, exportTable, importTable, type HandoverState } from '../state/index.js'
import type { OrderValue } from '../batch.js'
import { openStore } from '../store/open-store.js'
import { findTable } from '../table-glob.js'
import type { Logger } from '../log.js'

type Values = Record<string, string | boolean | string[] | undefined>
interface Io {
  stdout: (s: string) => void
}

export async function sparkCommand(config: Config, values: Values, io: Io, log: Logger): Promise<number> {
  const out = values.out
  if (typeof out !== 'string' || out === '')
    throw new UsageError('CDC_USAGE', 'spark needs --out <job.py>', { hint: "see 'cdc-apply spark --help'" })
  const tables = (values.table as string[] | undefined) ?? []
  const opts = {
    tables,
    ...(typeof values.state === 'string' ? { state: values.state } : {}),
    ...(typeof values['s3-scheme'] === 'string' ? { s3Scheme: values['s3-scheme'] } : {}),
  }
  if (opts.s3Scheme !== undefined && !['', 's3', 's3a', 's3n'].includes(opts.s3Scheme))
    throw new UsageError('CDC_USAGE', `--s3-scheme must be s3, s3a or s3n, got ${JSON.stringify(opts.s3Scheme)}`, {
      hint: "see 'cdc-apply spark --help'",
    })
  const script = emitSparkJob(config, opts)
  writeFileSync(resolve(out), script)
  log.info({ out: resolve(out), tables: tables.length === 0 ? 'all' : tables.join(',') }, 'spark job written')
  if (values.json)
    io.stdout(JSON.stringify({ out: resolve(out), state: opts.state ?? defaultStateLocation(config) }) + '\n')
  return 0
}

/**
 * The state file keeps tombstone ordering values in columns of NUMERIC affinity, so a digits-only text value (a
 * DMS change sequence kept as string) comes back as a float. The job compares string ordering columns as text:
 * such a value is handed over as the float's digits, which sort as the float did (DMS sequences have one width).
 */
function textOrdering(h: HandoverState, t: TableConfig): void {
  const isText = (name: string | undefined): boolean => {
    if (name === undefined || t.format !== 'csv') return false
    const c = [...t.columns, ...t.columnsFrom.flatMap((v) => v.columns)].find((x) => x.name === name)
    return c === undefined || c.type.kind === 'string' || c.type.kind === 'decimal'
  }
  const fix = (v: OrderValue): OrderValue =>
    typeof v === 'number' && Number.isFinite(v) ? (Number.isInteger(v) ? BigInt(v).toString() : String(v)) : v
  const ts = isText(t.timestampColumn)
  const seq = isText(t.sequenceColumn)
  if (!ts && !seq) return
  for (const x of h.tombstones) {
    if (ts) x.ts = fix(x.ts)
    if (seq) x.seq = fix(x.seq)
  }
}

export async function stateCommand(config: Config, values: Values, io: Io, log: Logger): Promise<number> {
  const [verb, location] = (values._ as string[] | undefined) ?? []
  if (verb !== 'export' && verb !== 'import')
    throw new UsageError('CDC_USAGE', `state needs export or import, got ${JSON.stringify(verb ?? '')}`, {
      hint: "see 'cdc-apply state --help'",
    })
  if (typeof values.table !== 'string')
    throw new UsageError('CDC_USAGE', `state ${verb} needs --table Source.TableName`, {
      hint: "see 'cdc-apply state --help'",
    })
  const t = findTable(config, values.table)
  const where = location ?? defaultStateLocation(config)
  const store = await openStore(where.startsWith('s3://') ? where : resolve(config.baseDir, where), {
    baseDir: config.baseDir,
    ...(config.s3 ? { s3: config.s3 } : {}),
  })
  const state = StateStore.open(resolveLocal(config, config.state))
  try {
    state.lock()
    if (verb === 'export') {
      const h = exportTable(state, t.source, t.name, t.primaryKey.length > 1)
      if (h === undefined)
        throw new DataError(
          'CDC_HANDOVER_INVALID',
          `table ${values.table} has no watermark in ${JSON.stringify(state.path)}: nothing to export`,
          { table: values.table, hint: 'run the table once first, or start it on Spark from scratch' },
        )
      textOrdering(h, t)
      const file = await writeHandover(store, h)
      log.info(
        {
          table: values.table,
          lpf: h.watermark.lpf,
          fullLoad: h.watermark.fullLoad,
          tombstones: h.tombstones.length,
          files: h.ledger.length,
          to: file,
        },
        'state exported',
      )
      if (values.json)
        io.stdout(
          JSON.stringify({
            table: values.table,
            to: file,
            lpf: h.watermark.lpf,
            fullLoad: h.watermark.fullLoad,
            tombstones: h.tombstones.length,
            files: h.ledger.length,
          }) + '\n',
        )
      else
        io.stdout(
          `${values.table}: exported ${h.watermark.fullLoad ? 'True' : 'False'}, ${h.watermark.lpf} (${h.ledger.length} files, ${h.tombstones.length} tombstones) to ${file}\n`,
        )
    } else {
      const h = await readHandover(store, t.source, t.name)
      if (h === undefined)
        throw new DataError(
          'CDC_HANDOVER_INVALID',
          `table ${values.table}: no watermark.json under ${store.url}/${t.source}/${t.name}/`,
          { table: values.table, hint: 'give the --state location the Spark job ran with' },
        )
      await checkRawHandover(config, t, h)
      importTable(state, h, 0)
      log.info(
        {
          table: values.table,
          lpf: h.watermark.lpf,
          fullLoad: h.watermark.fullLoad,
          tombstones: h.tombstones.length,
          files: h.ledger.length,
        },
        'state imported',
      )
      if (values.json)
        io.stdout(
          JSON.stringify({
            table: values.table,
            lpf: h.watermark.lpf,
            fullLoad: h.watermark.fullLoad,
            tombstones: h.tombstones.length,
            files: h.ledger.length,
          }) + '\n',
        )
      else
        io.stdout(
          `${values.table}: imported ${h.watermark.fullLoad ? 'True' : 'False'}, ${h.watermark.lpf} (${h.ledger.length} files, ${h.tombstones.length} tombstones)\n`,
        )
    }
    return 0
  } finally {
    state.close()
    await store.close()
  }
}
