// `cdc-apply spark`: one self-contained PySpark 3.5 script that applies the chosen tables as `cdc-apply run` does.
// The apply itself is assets/spark-job/*.py (shipped in the package, joined in order); this file puts the tables and the default
// locations of the config in front of it. No credentials are ever written: the job uses Spark's own.
import { readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { UsageError } from '../errors.js'
import { resolveLocal, typeName, type Config, type ColumnConfig, type TableConfig } from '../config.js'
import { checkTables } from '../table-glob.js'
import { versions } from '../cli/version.js'
import { configuredSchema } from '../read.js'
import { fingerprintOf } from '../fingerprint.js'

export interface SparkJobOptions {
  /** `Source.TableName` of the tables in the job; all configured tables when empty. */
  tables?: string[]
  /** Default of --state: where the job keeps each table's watermark, ledger and tombstones. */
  state?: string
  /** Default of --s3-scheme: `s3a` for plain Spark, `s3` on EMR and Glue; empty keeps the locations as written. */
  s3Scheme?: string
}

/** The parts of the job's body, in order (assets/spark-job/, shipped in the package). */
export const JOB_PARTS = ['1-read.py', '2-frames.py', '3-table.py', '4-run.py']

let template: string | undefined
/** The job's body: the parts of assets/spark-job/ joined, found from dist/ (package) or dist-test/src/ (tests). */
export function jobTemplate(): string {
  if (template !== undefined) return template
  for (const rel of ['../../assets/spark-job/', '../../../assets/spark-job/']) {
    try {
      return (template = JOB_PARTS.map((p) => readFileSync(new URL(rel + p, import.meta.url), 'utf8')).join('\n'))
    } catch {
      /* try the next */
    }
  }
  throw new Error('assets/spark-job/ is missing from this installation of cdc-apply')
}

/** What the Spark job does not do yet: refused when the job is emitted, not when it runs. */
function unsupported(t: TableConfig): string | undefined {
  if (t.onBadRow === 'quarantine')
    return '"onBadRow": "quarantine" (its readers fail a file on a bad row; they do not set rows aside in <raw>/_quarantine/)'
  if (t.tableFormat === 'iceberg')
    return '"tableFormat": "iceberg" (it writes curated snapshots as Parquet date folders; it has no Iceberg catalog session, no iceberg-spark-runtime jar, and no commit of a date as an Iceberg snapshot tagged with the watermark)'
  return undefined
}

/** The default state location of the job: `cdc-apply-state` beside the curated root. */
export function defaultStateLocation(config: Config): string {
  const curated = resolveLocal(config, config.curated).replace(/\/+$/, '')
  if (curated.startsWith('s3://')) {
    const rest = curated.slice('s3://'.length)
    const cut = rest.lastIndexOf('/')
    return cut < 0 ? `s3://${rest}/cdc-apply-state` : `s3://${rest.slice(0, cut)}/cdc-apply-state`
  }
  return `${dirname(curated)}/cdc-apply-state`
}

function columns(list: ColumnConfig[]): { name: string; type: string }[] {
  return list.map((c) => ({ name: c.name, type: typeName(c.type) }))
}

export function emitSparkJob(config: Config, opts: SparkJobOptions = {}): string {
  const wanted = opts.tables ?? []
  checkTables(config, wanted)
  const tables = config.tables.filter((t) => wanted.length === 0 || wanted.includes(`${t.source}.${t.name}`))
  for (const t of tables) {
    const why = unsupported(t)
    if (why !== undefined) {
      throw new UsageError(
        'CDC_SPARK_UNSUPPORTED',
        `table ${t.source}.${t.name}: the Spark job does not support ${why} yet`,
        {
          table: `${t.source}.${t.name}`,
          hint: 'leave the table out with --table, or keep running it with cdc-apply',
        },
      )
    }
  }
  const version = versions().cdcApply
  const job = {
    version,
    maxFutureSeconds: config.maxFutureSeconds,
    defaults: {
      landing: resolveLocal(config, config.landing),
      raw: resolveLocal(config, config.raw),
      curated: resolveLocal(config, config.curated),
      state: opts.state ?? defaultStateLocation(config),
      s3Scheme: opts.s3Scheme ?? '',
      rowsPerFile: config.parquet.rowsPerFile,
      compression: config.parquet.compression === 'none' ? 'none' : config.parquet.compression,
      settleSeconds: config.settleSeconds,
    },
    tables: tables.map((t) => ({
      label: `${t.source}.${t.name}`,
      source: t.source,
      name: t.name,
      path: t.path,
      format: t.format,
      header: t.format === 'csv' && t.header,
      includeOpForFullLoad: t.includeOpForFullLoad,
      opColumn: t.opColumn,
      columns: columns(t.columns),
      columnsFrom: t.columnsFrom.map((v) => ({ file: v.file, columns: columns(v.columns) })),
      primaryKey: t.primaryKey,
      timestampColumn: t.timestampColumn ?? null,
      sequenceColumn: t.sequenceColumn ?? null,
      beforeImageColumns: t.beforeImageColumns ?? null,
      lateFiles: t.lateFiles,
      onReload: t.onReload,
      missingFolder: t.missingFolder,
      // what the saved state is written under (src/fingerprint.ts): the job checks a saved one against it, and
      // commits it (with the saved columns the config does not list)
      fingerprint: fingerprintOf(t, configuredSchema(t) ?? { fields: [], types: [] }),
    })),
  }
  const header = [
    '#!/usr/bin/env python3',
    `# Generated by cdc-apply ${version} (cdc-apply spark): the apply of ${tables.length} table(s) as a PySpark 3.5 job`,
    `# (Glue 5, EMR 7, or spark-submit). Tables: ${tables.map((t) => `${t.source}.${t.name}`).join(', ') || '(none)'}.`,
    '#',
    '# Arguments (defaults from the config the job was emitted from): --landing --raw --curated --state --table',
    "# --s3-scheme --rows-per-file --compression --master. No credentials are in this script: Spark's own are used.",
    '# Outputs: the layout of cdc-apply run (plain Parquet date partitions; Iceberg is not done by the job).',
    '# The state (watermark, ledger, tombstones) lives under --state; cdc-apply state export|import moves a table',
    '# between the SQLite state file and that location (docs/scale-out.md).',
    '# Not done by the job: onBadRow "quarantine", Iceberg curated tables (refused when it is emitted).',
    '# Done as cdc-apply does: ledger counts of applied changes, settleSeconds (folder landings), the fingerprint check',
    '# (CDC_TABLE_CHANGED), a table reload under onReload "reset" (superseded change files in the ledger).',
    '',
    `CONFIG = __import__('json').loads(${JSON.stringify(JSON.stringify(job))})`,
    '',
  ].join('\n')
  return header + jobTemplate()
}
