// Reads cdc-apply outputs back for comparison by content: Parquet rows as canonical JSON-able values.
import { readdirSync, readFileSync, statSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'
import { tmpdir } from 'node:os'
import * as A from 'apache-arrow'
import * as pw from 'parquet-wasm'
import { columnValues } from '../../src/arrow/values.js'

export type Row = Record<string, string | number | boolean | null>

/** bigint → decimal string, numbers stay, booleans stay, null stays: values compare with deepEqual. */
function canon(v: unknown): string | number | boolean | null {
  if (v === null || v === undefined) return null
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v
  return String(v)
}

export function parquetRows(bytes: Uint8Array): Row[] {
  const t = A.tableFromIPC(pw.readParquet(bytes, { batchSize: 65536 }).intoIPCStream())
  const rows: Row[] = []
  for (const b of t.batches) {
    const cols = t.schema.fields.map((f, i) => [f.name, columnValues(b.data.children[i]!)] as const)
    for (let r = 0; r < b.numRows; r++) {
      const row: Row = {}
      for (const [name, vals] of cols) row[name] = canon(vals[r])
      rows.push(row)
    }
  }
  return rows
}

export function parquetSchema(bytes: Uint8Array): string[] {
  const t = A.tableFromIPC(pw.readParquet(bytes, { batchSize: 1 }).intoIPCStream())
  return t.schema.fields.map((f) => `${f.name}:${String(f.type)}`)
}

/** Sorts rows by their JSON text so that order does not matter in comparisons. */
export function sortRows(rows: Row[]): Row[] {
  return rows
    .map(
      (r) => [JSON.stringify(Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)))), r] as const,
    )
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, r]) => r)
}

function files(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? files(p) : [p]
  })
}

/**
 * Every partition under an output root (`<root>/<source>/<table>/<date>/part-*.parquet`) as
 * `{ "<source>/<table>/<date>": sortedRows }`. Partition folders holding anything but part files fail the read.
 */
export function readOutputTree(root: string): Record<string, Row[]> {
  const out: Record<string, Row[]> = {}
  for (const f of files(root).sort()) {
    const rel = relative(root, f).split(/[\\/]/)
    const part = rel.slice(0, -1).join('/')
    // the watermark marker beside a table's date folders (src/marker.ts) is checked by its own tests
    if (rel.at(-1) === '_cdc_apply.json' && rel.length === 3) continue
    if (!/^part-(?:.+-c?)?\d{5}\.parquet$/.test(rel.at(-1)!))
      throw new Error(`unexpected object in output: ${relative(root, f)}`)
    ;(out[part] ??= []).push(...parquetRows(readFileSync(f)))
  }
  for (const k of Object.keys(out)) out[k] = sortRows(out[k]!)
  return out
}

export function tempDir(prefix = 'cdc-apply-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}
