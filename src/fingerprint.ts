// What the saved state of a table depends on: its primary key, ordering columns and column types. The curated
// snapshot a run restores from, and the tombstones, were written under them; a config that changes them would make
// the next run misread that state (a decimal read as a double, keys that no longer match), so it is refused.
import { ConfigError } from './errors.js'
import { typeName, type TableConfig } from './config.js'
import type { TableSchema } from './batch.js'

export interface Fingerprint {
  version: 1
  primaryKey: string[]
  timestampColumn: string | null
  sequenceColumn: string | null
  /** Every column of the table's schema: name, Arrow type, configured type (null when it came from a file). */
  columns: [string, string, string | null][]
}

export function fingerprintOf(t: TableConfig, schema: TableSchema): string {
  const f: Fingerprint = {
    version: 1,
    primaryKey: t.primaryKey,
    timestampColumn: t.timestampColumn ?? null,
    sequenceColumn: t.sequenceColumn ?? null,
    columns: schema.fields.map((x, i) => [x.name, String(x.type), schema.types[i] ? typeName(schema.types[i]!) : null]),
  }
  return JSON.stringify(f)
}

/**
 * Throws CDC_TABLE_CHANGED when the config of a table with a watermark changed a key the saved state was written
 * under: primaryKey, timestampColumn, sequenceColumn, or the type of a column the state has. New columns are fine
 * (schema drift); so is a column the config no longer lists (the snapshot keeps it).
 */
export function checkFingerprint(
  label: string,
  saved: string,
  t: TableConfig,
  configured: TableSchema | undefined,
): void {
  // `configured` is configuredSchema(t): the same table entry checked against the same saved text passes again
  // (watch mode checks every table at every poll; a config reload makes new entries)
  if (passed.get(t) === saved) return
  compare(label, saved, t, configured)
  passed.set(t, saved)
}

/** The saved fingerprint each table entry last passed against. */
const passed = new WeakMap<TableConfig, string>()

function compare(label: string, saved: string, t: TableConfig, configured: TableSchema | undefined): void {
  let f: Fingerprint
  try {
    f = JSON.parse(saved) as Fingerprint
  } catch {
    return // not written by this version: nothing to compare
  }
  if (f.version !== 1) return
  const show = (v: unknown): string => JSON.stringify(v)
  const changes: string[] = []
  if (show(f.primaryKey) !== show(t.primaryKey))
    changes.push(`primaryKey changed from ${show(f.primaryKey)} to ${show(t.primaryKey)}`)
  for (const [key, before, now] of [
    ['timestampColumn', f.timestampColumn, t.timestampColumn ?? null],
    ['sequenceColumn', f.sequenceColumn, t.sequenceColumn ?? null],
  ] as const) {
    if (before !== now)
      changes.push(
        now === null
          ? `${key} ${show(before)} was removed`
          : before === null
            ? `${key} ${show(now)} was added`
            : `${key} changed from ${show(before)} to ${show(now)}`,
      )
  }
  if (configured) {
    configured.fields.forEach((field, i) => {
      const old = f.columns.find((c) => c[0] === field.name)
      if (old === undefined || old[1] === String(field.type)) return
      const type = configured.types[i] ? typeName(configured.types[i]!) : String(field.type)
      changes.push(`column ${show(field.name)} changed type from ${old[2] ?? old[1]} to ${type}`)
    })
  }
  if (changes.length === 0) return
  throw new ConfigError(
    'CDC_TABLE_CHANGED',
    `table ${label}: the config changed what its saved state was written under: ${changes.join('; ')}; expected the settings of the last run`,
    {
      table: label,
      hint: `the curated snapshots, tombstones and watermark of ${label} cannot be read under the new settings: put them back, or reprocess the table with cdc-apply reset --table ${label} --yes, then run (docs/operations.md)`,
    },
  )
}
