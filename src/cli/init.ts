// `cdc-apply init`: writes a config for every table folder of a landing and prints what it found.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, isAbsolute, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { DataError, EXIT, UsageError, WriteError } from '../errors.js'
import { parseConfig } from '../config.js'
import { prettyJson, runInit } from '../init/init.js'
import { HELP } from './help.js'
import type { Io } from './main.js'

const OPTIONS = {
  landing: { type: 'string' },
  format: { type: 'string' },
  ddl: { type: 'string' },
  columns: { type: 'string' },
  'table-mapping': { type: 'string' },
  out: { type: 'string', short: 'o' },
  source: { type: 'string' },
  'timestamp-name': { type: 'string' },
  raw: { type: 'string' },
  curated: { type: 'string' },
  state: { type: 'string' },
  's3-endpoint': { type: 'string' },
  's3-region': { type: 'string' },
  force: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

export async function initCommand(args: string[], io: Io): Promise<number> {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({ args, options: OPTIONS, strict: true }).values
  } catch (err) {
    throw new UsageError('CDC_USAGE', (err as Error).message, { hint: "see 'cdc-apply init --help'" })
  }
  if (values.help) {
    io.stdout(HELP.init!)
    return EXIT.ok
  }
  const usage = (msg: string): UsageError => new UsageError('CDC_USAGE', msg, { hint: "see 'cdc-apply init --help'" })
  const landing = values.landing as string | undefined
  if (landing === undefined) throw usage('init needs --landing <folder | s3://bucket/prefix>')
  const format = values.format as string | undefined
  if (format !== undefined && format !== 'csv' && format !== 'parquet')
    throw usage(`--format must be csv or parquet, got ${JSON.stringify(format)}`)
  const out = resolve(String(values.out ?? 'cdc-apply.json'))
  if (existsSync(out) && !values.force)
    throw usage(`${out} exists; pass --force to overwrite it or --out <file> to write another`)
  const outDir = dirname(out)
  // the config resolves its paths against its own folder
  const rel = (p: string): string => (p.startsWith('s3://') ? p : relative(outDir, resolve(p)) || '.')
  const schemaFile = resolve(dirname(new URL(import.meta.url).pathname), '..', '..', 'cdc-apply.schema.json')
  const s3 = {
    ...(values['s3-endpoint'] ? { endpoint: String(values['s3-endpoint']) } : {}),
    ...(values['s3-region'] ? { region: String(values['s3-region']) } : {}),
  }
  const r = await runInit({
    landing,
    baseDir: process.cwd(),
    ...(format ? { format: format as 'csv' | 'parquet' } : {}),
    ...(values.ddl ? { ddl: String(values.ddl) } : {}),
    ...(values.columns ? { columns: String(values.columns) } : {}),
    ...(values['table-mapping'] ? { tableMapping: String(values['table-mapping']) } : {}),
    ...(values.source ? { source: String(values.source) } : {}),
    ...(values['timestamp-name'] ? { timestampName: String(values['timestamp-name']) } : {}),
    landingInConfig: rel(landing),
    raw: values.raw ? rel(String(values.raw)) : 'out/raw',
    curated: values.curated ? rel(String(values.curated)) : 'out/curated',
    state: values.state
      ? isAbsolute(String(values.state))
        ? String(values.state)
        : rel(String(values.state))
      : 'out/cdc-apply.sqlite',
    ...(Object.keys(s3).length > 0 ? { s3 } : {}),
    schemaRef: existsSync(schemaFile) ? rel(schemaFile) : 'cdc-apply.schema.json',
  })
  const good = r.tables.filter((t) => t.entry !== undefined)
  const bad = r.tables.filter((t) => t.entry === undefined)
  if (good.length > 0) {
    parseConfig(r.config, outDir) // what init writes, cdc-apply must accept
    try {
      mkdirSync(outDir, { recursive: true })
      writeFileSync(out, prettyJson(r.config) + '\n')
    } catch (err) {
      throw new WriteError('CDC_WRITE_FAILED', `writing ${JSON.stringify(out)} failed: ${(err as Error).message}`, {
        file: out,
        cause: err,
        hint: 'check the folder of --out and its write permission',
      })
    }
  }
  if (values.json) {
    io.stdout(
      JSON.stringify({
        out: good.length > 0 ? out : undefined,
        tables: r.tables.map((t) => ({
          table: t.label,
          ok: t.entry !== undefined,
          problems: t.problems,
          observed: t.observed,
        })),
        ignored: r.ignored.length,
        checklist: r.checklist,
      }) + '\n',
    )
  } else {
    let s =
      good.length > 0 ? `wrote ${out}: ${good.length} table(s)\n` : `nothing written: no table could be configured\n`
    for (const t of bad) s += `  ${t.label}: left out\n${t.problems.map((p) => `    - ${p}\n`).join('')}`
    if (r.ignored.length > 0)
      s += `  ${r.ignored.length} object(s) that are not DMS data files in <schema>/<table>/ folders were ignored (first: ${r.ignored[0]})\n`
    s += `\nDMS S3 endpoint settings this config assumes (check each):\n${r.checklist.map((c) => `  [ ] ${c}\n`).join('')}`
    io.stdout(s)
  }
  if (bad.length > 0) {
    const e = new DataError(
      'CDC_INIT_TABLE_UNRESOLVED',
      `${bad.length} of ${r.tables.length} table(s) left out of the config: ${bad.map((t) => t.label).join(', ')}`,
      { hint: 'see the reasons above; fix the inputs (--ddl, --columns, --table-mapping) and run init again' },
    )
    io.stderr(`cdc-apply: ${e.code}: ${e.message}\nhint: ${e.hint}\n`)
    return EXIT.data
  }
  return EXIT.ok
}
