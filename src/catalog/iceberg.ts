// Catalog registration of tableFormat "iceberg" tables: curated is one Iceberg table, registered in Glue as
// table_type=ICEBERG pointing at its newest vN.metadata.json (what Athena and Iceberg's GlueCatalog read); RAW, when
// plain Parquet date folders, as the external table with partition projection, and when an Iceberg table too
// (iceberg.raw), as a Glue Iceberg table at its own newest metadata file. Also the definitions that
// `cdc-apply catalog --emit` prints for such tables.
import type * as A from 'apache-arrow'
import { tableLabel, type CatalogConfig, type TableConfig } from '../config.js'
import type { Logger } from '../log.js'
import { errFields } from '../log.js'
import type { Watermark } from '../state/index.js'
import { joinKey, type ObjectStore } from '../store/object-store.js'
import { IcebergTable, type OpenOptions } from '../iceberg/table.js'
import type { IcebergSchema } from '../iceberg/schema.js'
import { storeUri } from '../iceberg-sink.js'
import { openRawIceberg } from '../raw-iceberg.js'
import { readSchemaFields } from './output-schema.js'
import { glueTableName, type CatalogColumn, type IcebergTableDef } from './table-def.js'
import type { CatalogOutcome, IcebergMoves, Registrar } from './register.js'

/** The curated Iceberg table of `t` at its newest metadata version, opened as the curated sink opens it. */
export function openCuratedIceberg(
  curated: ObjectStore,
  t: TableConfig,
  opts: OpenOptions = {},
): Promise<IcebergTable> {
  const prefix = joinKey(t.source, t.name)
  return IcebergTable.open(curated, prefix, `${storeUri(curated)}/${prefix}`, tableLabel(t), opts)
}

/** The Hive/Glue type of an Iceberg primitive type (the types src/iceberg/schema.ts writes). */
export function icebergColumnType(type: string): string {
  const decimal = /^decimal\((\d+),\s*(\d+)\)$/.exec(type)
  if (decimal) return `decimal(${decimal[1]},${decimal[2]})`
  const map: Record<string, string> = {
    long: 'bigint',
    int: 'int',
    float: 'float',
    double: 'double',
    boolean: 'boolean',
    string: 'string',
    binary: 'binary',
    date: 'date',
    timestamp: 'timestamp',
    timestamptz: 'timestamp',
  }
  return map[type] ?? 'string'
}

/** The URI of a table version's metadata file, as the table's metadata-log records it. */
export function metadataUri(table: IcebergTable, version = table.version): string {
  return `${table.location}/metadata/v${version}.metadata.json`
}

/**
 * The Glue definition of the curated Iceberg table at its newest version (undefined before the first commit):
 * `metadataLocation` is the newest metadata file, `previousMetadataLocation` the version before it (registration
 * replaces it by the pointer Glue had). The columns are those of the current schema (informational: engines read
 * the schema from the metadata file).
 */
export function icebergTableDef(
  catalog: Pick<CatalogConfig, 'database' | 'tablePrefix'>,
  t: TableConfig,
  table: IcebergTable,
  kind: 'curated' | 'raw' = 'curated',
): IcebergTableDef | undefined {
  const meta = table.meta
  if (meta === undefined) return undefined
  const schema: IcebergSchema | undefined = meta.schemas.find((s) => s['schema-id'] === meta['current-schema-id'])
  const columns: CatalogColumn[] = (schema?.fields ?? []).map((f) => ({
    name: f.name,
    type: icebergColumnType(f.type),
  }))
  return {
    label: kind === 'raw' ? `${tableLabel(t)} (RAW)` : tableLabel(t),
    database: catalog.database,
    name: glueTableName(catalog, t, kind),
    location: table.location,
    columns,
    metadataLocation: metadataUri(table),
    previousMetadataLocation: meta['metadata-log'].at(-1)?.['metadata-file'],
  }
}

/** What the Glue pointer may move from: the newest metadata's history, or a vanished file of the table. */
export function icebergMoves(table: IcebergTable, signal?: AbortSignal): IcebergMoves {
  return {
    history: (table.meta?.['metadata-log'] ?? []).map((m) => m['metadata-file']),
    async gone(uri) {
      if (!uri.startsWith(`${table.location}/metadata/`)) return false
      const key = table.keyOf(uri)
      for await (const o of table.store.list(key, { signal })) if (o.key === key) return false
      return true
    },
  }
}

/**
 * After a commit of a tableFormat "iceberg" table (or when its registration is pending): registers curated as the
 * Glue Iceberg table and RAW as the external Parquet table (RAW's columns come from this run's schema, else from
 * RAW's partition of the watermark's date), or, for a RAW Iceberg table (iceberg.raw), as a Glue Iceberg table at
 * its newest metadata file. Never throws; undefined when there is nothing to register yet.
 */
export async function registerIcebergTable(
  catalog: Registrar,
  stores: { raw: ObjectStore; curated: ObjectStore },
  t: TableConfig,
  fields: A.Field[] | undefined,
  wm: Watermark,
  log: Logger,
): Promise<CatalogOutcome | undefined> {
  let table: IcebergTable
  let rawTable: IcebergTable | undefined
  let rawFields = fields
  try {
    table = await openCuratedIceberg(stores.curated, t)
    if (t.tableFormat === 'iceberg' && catalog.config.iceberg.raw)
      rawTable = await openRawIceberg(stores.raw, t.source, t.name, catalog.config, undefined)
    else rawFields ??= await readSchemaFields(stores.raw, joinKey(t.source, t.name), wm, 'raw')
  } catch (err) {
    log.warn(
      { ...errFields(err) },
      "catalog: the table's metadata or columns could not be read back; registration waits for the next run",
    )
    return undefined
  }
  const def = icebergTableDef(catalog.catalog, t, table)
  if (def === undefined) return undefined
  const rawDef = rawTable && icebergTableDef(catalog.catalog, t, rawTable, 'raw')
  const raw = rawTable && rawDef ? { iceberg: rawDef, moves: icebergMoves(rawTable) } : rawTable ? undefined : rawFields
  const outcome = await catalog.registerIcebergOutputs(t, def, icebergMoves(table), raw, wm.loadDate)
  if (outcome.error)
    log.warn(
      { tables: outcome.tables, ...errFields(outcome.error) },
      'catalog registration failed; retried at the next commit or poll',
    )
  else if (outcome.status === 'registered')
    log.info({ tables: outcome.tables, metadataLocation: def.metadataLocation }, 'catalog tables registered')
  return outcome
}
