// Finds the table folders of a DMS landing (`<landing>/<schema>/<table>/…`, date folders allowed below the table)
// in one listing, and reads a sample of each table's files.
import { gunzipSync } from 'node:zlib'
import type { ObjectInfo, ObjectStore } from '../store/object-store.js'

export interface LandedFile {
  key: string
  name: string
  kind: 'load' | 'cdc'
  format: 'csv' | 'parquet'
  gzip: boolean
  /** The folders between the table folder and the file (date partitions), '' at the table root. */
  subfolder: string
}

export interface TableFolder {
  schema: string
  table: string
  /** `<schema>/<table>`, relative to the landing. */
  path: string
  load: LandedFile[]
  cdc: LandedFile[]
}

const LOAD_RE = /^LOAD[0-9A-F]{8}\.(csv|parquet)(\.gz)?$/
const CDC_RE = /^\d{8}-\d{9}\.(csv|parquet)(\.gz)?$/

/** Every table folder that holds at least one DMS data file, in key order. Other objects are counted, not read. */
export async function scanLanding(
  store: ObjectStore,
  opts: { signal?: AbortSignal } = {},
): Promise<{ tables: TableFolder[]; ignored: string[] }> {
  const tables = new Map<string, TableFolder>()
  const ignored: string[] = []
  for await (const o of store.list('', opts)) classify(o, tables, ignored)
  return { tables: [...tables.values()], ignored }
}

function classify(o: ObjectInfo, tables: Map<string, TableFolder>, ignored: string[]): void {
  const parts = o.key.split('/')
  const name = parts.at(-1)!
  const load = LOAD_RE.exec(name)
  const cdc = load ? null : CDC_RE.exec(name)
  if ((!load && !cdc) || parts.length < 3) {
    ignored.push(o.key)
    return
  }
  const [schema, table] = parts as [string, string]
  const path = `${schema}/${table}`
  let t = tables.get(path)
  if (!t) {
    t = { schema, table, path, load: [], cdc: [] }
    tables.set(path, t)
  }
  const m = (load ?? cdc)!
  const f: LandedFile = {
    key: o.key,
    name,
    kind: load ? 'load' : 'cdc',
    format: m[1] as 'csv' | 'parquet',
    gzip: m[2] !== undefined,
    subfolder: parts.slice(2, -1).join('/'),
  }
  ;(load ? t.load : t.cdc).push(f)
}

/** At most this many bytes of a CSV file are parsed for its sample. */
export const SAMPLE_BYTES = 256 * 1024

/** The files init samples: the first full-load file and the first and the newest change file. */
export function sampleFiles(t: TableFolder): LandedFile[] {
  const byName = (a: LandedFile, b: LandedFile): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  const load = [...t.load].sort(byName)
  const cdc = [...t.cdc].sort(byName)
  const out = [load[0], cdc[0], cdc.length > 1 ? cdc.at(-1) : undefined].filter((f): f is LandedFile => f !== undefined)
  return out
}

/** The object's bytes, gunzipped. */
export async function readSample(
  store: ObjectStore,
  f: LandedFile,
  opts: { signal?: AbortSignal } = {},
): Promise<Uint8Array> {
  const body = await store.get(f.key, opts)
  return f.gzip ? gunzipSync(body) : body
}
