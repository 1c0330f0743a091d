// One table folder + its sampled files + what the source DDL and the table mapping say → its config entry, or
// the reasons it cannot be written without guessing.
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import { csvRecords, type CsvRecord } from './csv-records.js'
import { configType } from './source-types.js'
import { columnsAdded, type MappingRules } from './table-mapping.js'
import { earlierLayout } from './layouts.js'
import type { Dialect, SourceTable } from './sql-ddl.js'
import { SAMPLE_BYTES, type LandedFile, type TableFolder } from './landing-scan.js'

export interface InferContext {
  format: 'csv' | 'parquet' | undefined
  sources: SourceTable[] | undefined
  dialect: Dialect
  mapping: MappingRules | undefined
  /** The name the config gives the TimestampColumnName column of header-less CSV (the files do not carry it). */
  timestampName: string
  source: string | undefined
}

/** What a table's files say about the DMS endpoint settings, for the checklist. */
export interface Observed {
  format: 'csv' | 'parquet'
  header: boolean | undefined
  includeOpForFullLoad: boolean | undefined
  timestampColumn: boolean | undefined
  sequenceColumn: string | undefined
  beforeImage: boolean
  gzip: boolean
  datePartitions: boolean
}

export interface Inferred {
  label: string
  entry: Record<string, unknown> | undefined
  problems: string[]
  observed: Observed | undefined
}

const TS_RE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$/
const RESERVED = new Set(['Op', 'cdc_file', 'cdc_row'])

export function findSource(sources: SourceTable[] | undefined, schema: string, table: string): SourceTable | undefined {
  if (!sources) return undefined
  const lc = (s: string | undefined): string => (s ?? '').toLowerCase()
  const exact = sources.filter((s) => lc(s.name) === lc(table) && lc(s.schema) === lc(schema))
  if (exact.length === 1) return exact[0]
  const byName = sources.filter((s) => lc(s.name) === lc(table))
  // mysqldump -d does not qualify names (DMS puts the database name in the schema folder)
  return byName.length === 1 ? byName[0] : undefined
}

export function inferTable(
  t: TableFolder,
  samples: { file: LandedFile; bytes: Uint8Array }[],
  ctx: InferContext,
): Inferred {
  const source = ctx.source ?? t.schema
  const label = `${source}.${t.table}`
  const problems: string[] = []
  const formats = new Set([...t.load, ...t.cdc].map((f) => f.format))
  if (formats.size > 1)
    return {
      label,
      entry: undefined,
      problems: ['both .csv and .parquet files in the folder: expected one DataFormat'],
      observed: undefined,
    }
  const format = [...formats][0]!
  if (ctx.format !== undefined && format !== ctx.format)
    return {
      label,
      entry: undefined,
      problems: [`--format ${ctx.format} but the files are .${format}`],
      observed: undefined,
    }
  const src = findSource(ctx.sources, t.schema, t.table)
  const { kept, added } = columnsAdded(ctx.mapping, t.schema, t.table, src)
  const observed: Observed = {
    format,
    header: undefined,
    includeOpForFullLoad: undefined,
    timestampColumn: undefined,
    sequenceColumn: undefined,
    beforeImage: false,
    gzip: [...t.load, ...t.cdc].some((f) => f.gzip),
    datePartitions: t.cdc.some((f) => f.subfolder !== ''),
  }
  const entry: Record<string, unknown> = {
    ...(ctx.source === undefined ? { source } : {}),
    name: t.table,
    path: t.path,
    format,
  }
  const srcType = (name: string): string | undefined => {
    const c = kept?.find((x) => x.name.toLowerCase() === name.toLowerCase())
    return c ? configType(c, ctx.dialect) : undefined
  }
  const addedType = (name: string): string | undefined => {
    const a = added.find((x) => x.name.toLowerCase() === name.toLowerCase())
    if (!a) return undefined
    return a.of !== undefined ? (srcType(a.of) ?? 'string') : a.type
  }
  let names: string[] // data columns in file order, without Op (header-less CSV: of the newest layout)
  // header-less CSV whose layout changed: the first layout's columns, and the later layouts (columnsFrom)
  let layoutNames: string[] | undefined
  let layoutsFrom: { file: string; columns: string[] }[] = []
  if (format === 'parquet') {
    const schemas: { file: LandedFile; names: string[]; tsLike: boolean[] }[] = []
    for (const s of samples) {
      try {
        const table = A.tableFromIPC(pw.readParquet(s.bytes, { batchSize: 1024 }).intoIPCStream())
        const fieldNames = table.schema.fields.map((f) => f.name)
        const tsLike = table.schema.fields.map((f, i) => {
          if (!A.DataType.isUtf8(f.type) && !A.DataType.isLargeUtf8(f.type)) return false
          const col = table.getChildAt(i)!
          const n = Math.min(col.length, 100)
          for (let r = 0; r < n; r++) if (!TS_RE.test(String(col.get(r)))) return false
          return n > 0
        })
        schemas.push({ file: s.file, names: fieldNames, tsLike })
      } catch (err) {
        problems.push(`${s.file.key} is not a readable Parquet file: ${(err as Error).message.slice(0, 120)}`)
      }
    }
    if (schemas.length === 0) return { label, entry: undefined, problems, observed }
    const load = schemas.find((s) => s.file.kind === 'load')
    const cdc = schemas.find((s) => s.file.kind === 'cdc')
    for (const c of schemas.filter((s) => s.file.kind === 'cdc'))
      if (c.names[0] !== 'Op')
        problems.push(`change file ${c.file.key} has no Op column first: expected DMS change files`)
    observed.includeOpForFullLoad = load ? load.names.includes('Op') : undefined
    const first = cdc ?? load!
    names = first.names.filter((n) => n !== 'Op')
    const tsIdx = first.names[0] === 'Op' ? 1 : 0
    const tsName = first.names[tsIdx]
    observed.timestampColumn =
      tsName !== undefined && first.tsLike[tsIdx] && (kept === undefined || srcType(tsName) === undefined)
    if (observed.timestampColumn) entry.timestampColumn = tsName
  } else {
    const recs = samples.map((s) => ({
      file: s.file,
      recs: csvRecords(
        Buffer.from(s.bytes.buffer, s.bytes.byteOffset, Math.min(s.bytes.byteLength, SAMPLE_BYTES)).toString('utf8'),
        200,
        s.bytes.byteLength <= SAMPLE_BYTES,
      ),
    }))
    const nonEmpty = recs.filter((r) => r.recs.length > 0)
    if (nonEmpty.length === 0) return { label, entry: undefined, problems: ['every sampled file is empty'], observed }
    const firstText = (r: CsvRecord): string => r.fields.map((f) => f.text).join(',')
    const cdcHeader = nonEmpty.some(
      (r) => r.file.kind === 'cdc' && r.recs[0]!.fields[0]!.text === 'Op' && !r.recs[0]!.fields[0]!.quoted,
    )
    const loadHeaderOp = nonEmpty.some((r) => r.file.kind === 'load' && r.recs[0]!.fields[0]!.text === 'Op')
    const sameFirst =
      nonEmpty.length > 1 &&
      nonEmpty.every(
        (r) => firstText(r.recs[0]!).replace(/^Op,/, '') === firstText(nonEmpty[0]!.recs[0]!).replace(/^Op,/, ''),
      )
    const header = cdcHeader || loadHeaderOp || (kept === undefined && sameFirst)
    observed.header = header
    if (header) {
      entry.header = true
      const cdc = nonEmpty.find((r) => r.file.kind === 'cdc')
      const load = nonEmpty.find((r) => r.file.kind === 'load')
      observed.includeOpForFullLoad = load ? load.recs[0]!.fields[0]!.text === 'Op' : undefined
      const h = (cdc ?? load)!.recs[0]!.fields.map((f) => f.text)
      names = h[0] === 'Op' ? h.slice(1) : h
      const tsName = names[0]
      const body = (cdc ?? load)!.recs.slice(1)
      const off = h[0] === 'Op' ? 1 : 0
      observed.timestampColumn =
        tsName !== undefined &&
        body.length > 0 &&
        body.every((r) => TS_RE.test(r.fields[off]?.text ?? '')) &&
        (kept === undefined || srcType(tsName) === undefined)
      if (observed.timestampColumn) entry.timestampColumn = tsName
    } else {
      if (kept === undefined)
        return {
          label,
          entry: undefined,
          problems: [
            src === undefined && ctx.sources
              ? `no CREATE TABLE or information_schema rows for ${t.schema}.${t.table}: header-less CSV needs the source's columns in order`
              : 'header-less CSV (AddColumnName=false): pass --ddl schema.sql or --columns columns.csv for its columns in order',
          ],
          observed,
        }
      const base = kept.map((c) => c.name).concat(added.map((a) => a.name))
      const counts = nonEmpty.map((r) => ({
        file: r.file,
        counts: new Set(r.recs.map((x) => x.fields.length)),
        recs: r.recs,
      }))
      for (const c of counts)
        if (c.counts.size > 1)
          problems.push(`${c.file.key}: records with ${[...c.counts].join(' and ')} fields in one file`)
      const byName = (a: { file: LandedFile }, b: { file: LandedFile }): number =>
        a.file.name < b.file.name ? -1 : a.file.name > b.file.name ? 1 : 0
      const cdcs = counts.filter((c) => c.file.kind === 'cdc').sort(byName)
      const load = counts.find((c) => c.file.kind === 'load')
      const one = (c: { counts: Set<number> }): number => [...c.counts][0]!
      let ts: boolean | undefined
      // the newest change file has the layout the DDL and mapping describe; earlier ones may have fewer columns
      const cdc = cdcs.at(-1)
      for (const c of cdcs)
        for (const r of c.recs)
          if (!/^[IUD]$/.test(r.fields[0]!.text))
            problems.push(
              `${c.file.key}:${r.line}: first field ${JSON.stringify(r.fields[0]!.text.slice(0, 20))} is not an Op (I, U or D)`,
            )
      if (cdc) {
        const extra = one(cdc) - 1 - base.length
        if (extra === 1 && cdc.recs.every((r) => TS_RE.test(r.fields[1]!.text))) ts = true
        else if (extra === 0) ts = false
        else
          problems.push(
            `${cdc.file.key} has ${one(cdc)} fields per record; the DDL and mapping give ${base.length} columns, so expected ${base.length + 1} (Op + columns) or ${base.length + 2} (Op + TimestampColumnName + columns)${one(cdc) - 1 > base.length + 1 ? '; more fields than the DDL explains: pass --table-mapping when the task adds columns' : ''}`,
          )
      }
      /** Per sample: how many of the newest layout's columns it lacks, and where its data fields start. */
      const layouts: { c: (typeof counts)[number]; deficit: number; offset: number }[] = []
      if (cdc && ts !== undefined)
        for (const c of cdcs)
          layouts.push({ c, deficit: base.length + 1 + (ts ? 1 : 0) - one(c), offset: 1 + (ts ? 1 : 0) })
      if (load) {
        const opOk = load.recs.every((r) => r.fields[0]!.text === 'I')
        const tsAt = (i: number): boolean => load.recs.every((r) => TS_RE.test(r.fields[i]?.text ?? ''))
        if (ts === undefined) {
          // no change file: tell Op and the timestamp apart by their values
          const op = opOk && one(load) - base.length >= 1
          const rest = one(load) - base.length - (op ? 1 : 0)
          if (rest === 1 && tsAt(op ? 1 : 0)) ts = true
          else if (rest === 0) ts = false
          else
            problems.push(
              `${load.file.key} has ${one(load)} fields per record; the DDL and mapping give ${base.length} columns (expected that many, plus Op and TimestampColumnName when present)`,
            )
          if (ts !== undefined) observed.includeOpForFullLoad = op
        } else {
          // the full load has the first change file's layout or an earlier one, with or without Op
          const first = layouts[0]?.deficit ?? 0
          const deficitIf = (op: boolean): number => base.length + (ts ? 1 : 0) + (op ? 1 : 0) - one(load)
          const options = (ts ? [opOk && tsAt(1)] : opOk ? [true, false] : [false]).filter(
            (op) => deficitIf(op) >= first && deficitIf(op) < base.length,
          )
          const op = options.find((o) => deficitIf(o) === first) ?? (options.length === 1 ? options[0] : undefined)
          if (op === undefined)
            problems.push(
              `${load.file.key} has ${one(load)} fields per record; expected ${base.length - first + (ts ? 1 : 0)} (without Op) or ${base.length - first + (ts ? 2 : 1)} (IncludeOpForFullLoad=true)${first > 0 ? ', as the first change file has ' + (base.length - first) + ' columns' : ''}`,
            )
          else {
            observed.includeOpForFullLoad = op
            layouts.unshift({ c: load, deficit: deficitIf(op), offset: (op ? 1 : 0) + (ts ? 1 : 0) })
          }
        }
      }
      if (layouts.some((l, i) => i > 0 && l.deficit > layouts[i - 1]!.deficit))
        problems.push(
          `the files' field counts go down and up again (${layouts.map((l) => `${l.c.file.name}: ${one(l.c)}`).join(', ')}): expected columns only added over time`,
        )
      else if (layouts.length > 0 && layouts[0]!.deficit > 0) {
        // columnsFrom: the first layout in columns, then one entry from the first change file of each later layout
        const ev = {
          kept: kept.map((c) => c.name),
          added: added.map((a) => a.name),
          addedLater: src?.addedLater,
          dialect: ctx.dialect,
          typeOf: (n: string) => srcType(n) ?? addedType(n) ?? 'string',
        }
        const prefix = (cols: string[]): string[] => (ts ? [ctx.timestampName, ...cols] : cols)
        const columnsOf = new Map<number, string[] | undefined>()
        for (const d of new Set(layouts.map((l) => l.deficit))) {
          if (d === 0) {
            columnsOf.set(0, base)
            continue
          }
          const r = earlierLayout(
            ev,
            d,
            layouts.filter((l) => l.deficit === d).map((l) => ({ records: l.c.recs, offset: l.offset })),
          )
          if ('problem' in r) problems.push(`${layouts.find((l) => l.deficit === d)!.c.file.key}: ${r.problem}`)
          columnsOf.set(d, 'columns' in r ? r.columns : undefined)
        }
        const sorted = [...t.cdc].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        const from: { file: string; columns: string[] }[] = []
        layouts.forEach((l, i) => {
          if (i === 0 || l.deficit === layouts[i - 1]!.deficit) return
          const prev = layouts[i - 1]!.c.file
          if (prev.kind === 'cdc' && sorted[sorted.findIndex((f) => f.key === l.c.file.key) - 1]?.key !== prev.key) {
            problems.push(
              `the layout of ${one(l.c)} fields starts after ${prev.key} and by ${l.c.file.key}; the first file of it was not found: configure columnsFrom by hand`,
            )
          }
          const cols = columnsOf.get(l.deficit)
          if (cols) from.push({ file: l.c.file.name.replace(/\..*$/, ''), columns: prefix(cols) })
        })
        layoutNames = columnsOf.get(layouts[0]!.deficit) && prefix(columnsOf.get(layouts[0]!.deficit)!)
        layoutsFrom = from
      }
      observed.timestampColumn = ts
      if (ts && base.includes(ctx.timestampName))
        problems.push(
          `the timestamp column name ${JSON.stringify(ctx.timestampName)} is also a source column: choose another with --timestamp-name`,
        )
      names = ts ? [ctx.timestampName, ...base] : base
      if (ts) entry.timestampColumn = ctx.timestampName
    }
    entry.includeOpForFullLoad = observed.includeOpForFullLoad ?? true
    const typed = (n: string): { name: string; type?: string } => {
      const type = n === entry.timestampColumn ? 'timestamp' : (srcType(n) ?? addedType(n) ?? 'string')
      return type === 'string' ? { name: n } : { name: n, type }
    }
    entry.columns = (layoutNames ?? names).map(typed)
    if (layoutsFrom.length > 0)
      entry.columnsFrom = layoutsFrom.map((l) => ({ file: l.file, columns: l.columns.map(typed) }))
  }
  if (format === 'parquet' && observed.includeOpForFullLoad !== undefined)
    entry.includeOpForFullLoad = observed.includeOpForFullLoad
  for (const n of names)
    if (RESERVED.has(n)) problems.push(`column ${JSON.stringify(n)} collides with a name cdc-apply adds to its outputs`)
  // primary key: only from the source's DDL or information_schema export, matched to the files' spelling
  const fileName = (n: string): string | undefined => names.find((x) => x.toLowerCase() === n.toLowerCase())
  if (src === undefined || src.primaryKey.length === 0)
    problems.push(
      src === undefined
        ? 'primary key unknown: pass --ddl or --columns with this table'
        : `primary key unknown: ${src.where} defines no PRIMARY KEY for ${src.name}`,
    )
  else {
    const pk = src.primaryKey.map((k) => fileName(k))
    if (pk.some((k) => k === undefined))
      problems.push(
        `primary key ${src.primaryKey.join(', ')} (${src.where}) is not among the files' columns ${names.join(', ')}`,
      )
    else entry.primaryKey = pk
  }
  const seq = added.find((a) => a.role === 'sequence' && fileName(a.name) !== undefined)
  if (seq) {
    entry.sequenceColumn = fileName(seq.name)
    observed.sequenceColumn = seq.name
  }
  const bi = added.filter((a) => a.role === 'before-image')
  if (bi.length > 0 && Array.isArray(entry.primaryKey)) {
    const map: Record<string, string> = {}
    for (const k of entry.primaryKey as string[]) {
      const b = bi.find((x) => x.of?.toLowerCase() === k.toLowerCase())
      const col = b ? fileName(b.name) : undefined
      if (col !== undefined) map[k] = col
    }
    if (Object.keys(map).length === (entry.primaryKey as string[]).length) {
      entry.beforeImageColumns = map
      observed.beforeImage = true
    } else
      problems.push(
        `add-before-image-columns rule matches the table but the files lack a before-image column for every key column (${(entry.primaryKey as string[]).join(', ')})`,
      )
  }
  return { label, entry: problems.length === 0 ? entry : undefined, problems, observed }
}
