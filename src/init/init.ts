// `cdc-apply init`: a config for every table folder of a DMS landing, from the files, the source DDL or an
// information_schema export, and the task's table mapping. Returns the config and the per-table findings; the
// command line (src/cli/init.ts) writes and prints them.
import { readFileSync } from 'node:fs'
import pLimit from 'p-limit'
import { ConfigError } from '../errors.js'
import { openStore, type S3Options } from '../store/open-store.js'
import { scanLanding, sampleFiles, readSample } from './landing-scan.js'
import { detectDialect, parseDdl, type Dialect, type SourceTable } from './sql-ddl.js'
import { parseInformationSchema } from './info-schema.js'
import { parseTableMapping, type MappingRules } from './table-mapping.js'
import { inferTable, type Inferred } from './infer-table.js'
import { probeLayoutChanges } from './layouts.js'

export interface InitOptions {
  landing: string
  /** Folder relative paths resolve against (the working directory). */
  baseDir: string
  format?: 'csv' | 'parquet'
  ddl?: string
  columns?: string
  tableMapping?: string
  /** The config's `source` for every table; default: each table's schema folder. */
  source?: string
  timestampName?: string
  /** How the config names the landing (relative to the config file's folder). */
  landingInConfig?: string
  raw?: string
  curated?: string
  state?: string
  s3?: S3Options
  /** `$schema` value written into the config. */
  schemaRef?: string
  signal?: AbortSignal
}

export interface InitResult {
  config: Record<string, unknown>
  tables: Inferred[]
  /** Objects under the landing that are not DMS data files in a <schema>/<table>/ folder. */
  ignored: string[]
  checklist: string[]
}

export async function runInit(opts: InitOptions): Promise<InitResult> {
  let sources: SourceTable[] | undefined
  let dialect: Dialect = 'postgres'
  if (opts.ddl !== undefined) {
    const text = readInput(opts.ddl)
    dialect = detectDialect(text)
    sources = parseDdl(text, opts.ddl)
  }
  if (opts.columns !== undefined)
    sources = [...(sources ?? []), ...parseInformationSchema(readInput(opts.columns), opts.columns)]
  const mapping: MappingRules | undefined =
    opts.tableMapping === undefined ? undefined : parseTableMapping(readInput(opts.tableMapping), opts.tableMapping)
  const store = await openStore(opts.landing, { baseDir: opts.baseDir, ...(opts.s3 ? { s3: opts.s3 } : {}) })
  try {
    const scan = await scanLanding(store, { signal: opts.signal })
    if (scan.tables.length === 0) {
      throw new ConfigError(
        'CDC_INIT_NO_TABLES',
        `no DMS table folders under ${JSON.stringify(opts.landing)}: expected <schema>/<table>/LOAD00000001.csv (or .parquet) and change files below it`,
        {
          hint: "pass the S3 endpoint's bucket and BucketFolder as --landing",
        },
      )
    }
    const limit = pLimit(8)
    const tables = await Promise.all(
      scan.tables.map((t) =>
        limit(async () => {
          const samples = []
          for (const f of sampleFiles(t)) {
            try {
              samples.push({ file: f, bytes: await readSample(store, f, { signal: opts.signal }) })
            } catch (err) {
              return {
                label: `${opts.source ?? t.schema}.${t.table}`,
                entry: undefined,
                problems: [`${f.key} cannot be read: ${(err as Error).message}`],
                observed: undefined,
              } satisfies Inferred
            }
          }
          // header-less CSV whose field count changes: more change files, to find the first of each layout
          try {
            samples.push(
              ...(await probeLayoutChanges(t, samples, (f) => readSample(store, f, { signal: opts.signal }))),
            )
          } catch (err) {
            return {
              label: `${opts.source ?? t.schema}.${t.table}`,
              entry: undefined,
              problems: [`a change file cannot be read: ${(err as Error).message}`],
              observed: undefined,
            } satisfies Inferred
          }
          return inferTable(t, samples, {
            format: opts.format,
            sources,
            dialect,
            mapping,
            timestampName: opts.timestampName ?? 'dms_timestamp',
            source: opts.source,
          })
        }),
      ),
    )
    const config: Record<string, unknown> = {
      ...(opts.schemaRef !== undefined ? { $schema: opts.schemaRef } : {}),
      ...(opts.source !== undefined ? { source: opts.source } : {}),
      landing: opts.landingInConfig ?? opts.landing,
      raw: opts.raw ?? 'out/raw',
      curated: opts.curated ?? 'out/curated',
      state: opts.state ?? 'out/cdc-apply.sqlite',
      ...(opts.s3 && Object.keys(opts.s3).length > 0 ? { s3: opts.s3 } : {}),
      tables: tables.filter((t) => t.entry !== undefined).map((t) => t.entry),
    }
    return { config, tables, ignored: scan.ignored, checklist: checklist(tables, mapping !== undefined, opts) }
  } finally {
    await store.close()
  }
}

/** JSON with two-space indents, but objects and arrays without nested containers on one line (a column per line). */
export function prettyJson(v: unknown, indent = ''): string {
  const flat = JSON.stringify(v)
  if (typeof v !== 'object' || v === null) return flat
  const nested = Array.isArray(v)
    ? v.some((x) => typeof x === 'object' && x !== null)
    : Object.values(v).some((x) => typeof x === 'object' && x !== null)
  if (!nested && flat.length + indent.length <= 120) {
    if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`
    const entries = Object.entries(v).filter(([, x]) => x !== undefined)
    return entries.length === 0
      ? '{}'
      : `{ ${entries.map(([k, x]) => `${JSON.stringify(k)}: ${JSON.stringify(x)}`).join(', ')} }`
  }
  const inner = indent + '  '
  if (Array.isArray(v)) return `[\n${v.map((x) => inner + prettyJson(x, inner)).join(',\n')}\n${indent}]`
  return `{\n${Object.entries(v)
    .filter(([, x]) => x !== undefined)
    .map(([k, x]) => `${inner}${JSON.stringify(k)}: ${prettyJson(x, inner)}`)
    .join(',\n')}\n${indent}}`
}

function readInput(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError('CDC_INIT_INPUT_INVALID', `${file} cannot be read: ${(err as Error).message}`, {
      file,
      cause: err,
      hint: 'check the path given to --ddl, --columns or --table-mapping',
    })
  }
}

/** The DMS S3 endpoint settings the written config assumes, one line each, with how many tables showed what. */
function checklist(tables: Inferred[], hadMapping: boolean, opts: InitOptions): string[] {
  const obs = tables.map((t) => t.observed).filter((o) => o !== undefined)
  const count = <T>(f: (o: (typeof obs)[number]) => T): Map<T, number> => {
    const m = new Map<T, number>()
    for (const o of obs) m.set(f(o), (m.get(f(o)) ?? 0) + 1)
    return m
  }
  const show = <T>(name: string, m: Map<T, number>, render: (v: T) => string, note = ''): string => {
    const parts = [...m]
      .filter(([v]) => v !== undefined)
      .map(([v, n]) => (m.size === 1 ? render(v) : `${render(v)} (${n} table${n === 1 ? '' : 's'})`))
    return `${name}=${parts.length > 0 ? parts.join(', ') : 'unknown (not seen in the sampled files)'}${note}`
  }
  const lines = [
    show(
      'DataFormat',
      count((o) => o.format),
      String,
    ),
    show(
      'AddColumnName',
      count((o) => (o.format === 'csv' ? o.header : undefined)),
      (v) => String(v),
      obs.some((o) => o.format === 'csv') ? '' : ' (CSV only)',
    ),
    show(
      'IncludeOpForFullLoad',
      count((o) => o.includeOpForFullLoad),
      String,
      ' (full-load files with or without the Op column)',
    ),
    show(
      'TimestampColumnName',
      count((o) => o.timestampColumn),
      (v) => (v ? `set (header-less CSV calls it ${JSON.stringify(opts.timestampName ?? 'dms_timestamp')})` : 'empty'),
      '',
    ),
    show(
      'CompressionType',
      count((o) => (o.gzip ? 'GZIP' : 'NONE')),
      String,
    ),
    show(
      'DatePartitionEnabled',
      count((o) => o.datePartitions),
      String,
      ' (date folders below the table folders)',
    ),
    'CsvDelimiter=, CsvRowDelimiter=\\n Rfc4180=true, CsvNullValue not set (NULL is an empty unquoted field)',
    hadMapping
      ? show(
          'change-sequence rule',
          count((o) => o.sequenceColumn ?? ''),
          (v) =>
            v === ''
              ? 'none: changes with equal timestamps are ordered by file and row'
              : `add-column ${v} = $AR_H_CHANGE_SEQ (sequenceColumn)`,
        )
      : 'change-sequence rule: unknown (no --table-mapping): add an add-column rule with $AR_H_CHANGE_SEQ and set sequenceColumn',
    'PreserveTransactions=false, CdcPath not set (per-table change files), UseTaskStartTimeForFullLoadTimestamp as you need (docs/semantics.md)',
  ]
  return lines
}
