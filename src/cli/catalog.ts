// `cdc-apply catalog --emit athena|spark|glue-json [--table S.T]`: prints the catalog DDL of every table (or one)
// from its outputs: the columns from the curated partition of its LPF date, the load date from the watermark. An
// Iceberg table (tableFormat "iceberg") gives its curated table's registration from its newest metadata file and
// its RAW table from RAW's partition of that date, or, when RAW is an Iceberg table too (iceberg.raw), the RAW
// table's registration from its own newest metadata file.
import { existsSync } from 'node:fs'
import { EXIT, UsageError } from '../errors.js'
import { tableLabel, resolveLocal, type CatalogConfig, type Config } from '../config.js'
import type { Logger } from '../log.js'
import { StateStore } from '../state/index.js'
import { openStores } from '../run.js'
import { joinKey } from '../store/object-store.js'
import { listDates, readSchemaFields } from '../catalog/output-schema.js'
import { lpfDate } from '../dms-names.js'
import { parquetTableDefs } from '../catalog/table-def.js'
import { athenaDdl, glueJson, icebergAthenaDdl, icebergGlueInput, icebergSparkDdl, sparkDdl } from '../catalog/ddl.js'
import { icebergTableDef, openCuratedIceberg } from '../catalog/iceberg.js'
import { openRawIceberg } from '../raw-iceberg.js'
import { failure, type CommandIo } from './verify.js'

export type EmitFormat = 'athena' | 'spark' | 'glue-json'
export const EMIT_FORMATS: readonly EmitFormat[] = ['athena', 'spark', 'glue-json']

export interface CatalogArgs {
  emit: EmitFormat
  table: string | undefined
  /** Overrides catalog.database (or stands in for a missing catalog block). */
  database: string | undefined
  tablePrefix: string | undefined
}

export async function catalogCommand(config: Config, args: CatalogArgs, io: CommandIo, log: Logger): Promise<number> {
  try {
    const database = args.database ?? config.catalog?.database
    if (database === undefined)
      throw new UsageError(
        'CDC_USAGE',
        'catalog --emit needs a database: a "catalog" block in the config or --database <name>',
        { hint: "see 'cdc-apply catalog --help'" },
      )
    if (!/^[a-z0-9_]+$/.test(database))
      throw new UsageError(
        'CDC_USAGE',
        `--database must be lower case letters, digits and _, got ${JSON.stringify(database)}`,
        { hint: "see 'cdc-apply catalog --help'" },
      )
    const prefix = args.tablePrefix ?? config.catalog?.tablePrefix ?? ''
    if (prefix !== '' && !/^[a-z0-9_]+$/.test(prefix))
      throw new UsageError(
        'CDC_USAGE',
        `--table-prefix must be lower case letters, digits and _, got ${JSON.stringify(prefix)}`,
        { hint: "see 'cdc-apply catalog --help'" },
      )
    const catalog: CatalogConfig = {
      type: 'glue',
      region: undefined,
      endpoint: undefined,
      maxAttempts: 1,
      ...config.catalog,
      database,
      tablePrefix: prefix,
    }
    const tables = config.tables.filter((t) => args.table === undefined || tableLabel(t) === args.table)
    if (tables.length === 0)
      throw new UsageError(
        'CDC_USAGE',
        `--table ${JSON.stringify(args.table)} is not a configured table; expected one of ${config.tables.map(tableLabel).join(', ')}`,
        { hint: "see 'cdc-apply status'" },
      )
    const statePath = resolveLocal(config, config.state)
    if (!existsSync(statePath))
      throw new UsageError(
        'CDC_USAGE',
        `no state file at ${statePath}: run cdc-apply first, the DDL is built from the outputs`,
        { hint: "see 'cdc-apply run --help'" },
      )
    const state = StateStore.open(statePath)
    const stores = await openStores(config)
    const out: string[] = []
    const glue: unknown[] = []
    try {
      for (const t of tables) {
        const label = tableLabel(t)
        const wm = state.get(t.source, t.name)
        const iceberg = t.tableFormat === 'iceberg'
        const rawIceberg = iceberg && config.iceberg.raw
        // Iceberg tables: curated from the newest metadata file, RAW (plain Parquet) from its partition of the LPF
        // date, or a RAW Iceberg table from its own newest metadata file.
        const ice = wm && iceberg ? await openCuratedIceberg(stores.curated, t) : undefined
        const iceDef = ice && icebergTableDef(catalog, t, ice)
        const rawIce =
          wm && rawIceberg ? await openRawIceberg(stores.raw, t.source, t.name, config, undefined) : undefined
        const rawDef = rawIce && icebergTableDef(catalog, t, rawIce, 'raw')
        const fields =
          wm &&
          (rawIceberg
            ? []
            : await readSchemaFields(
                iceberg ? stores.raw : stores.curated,
                joinKey(t.source, t.name),
                wm,
                iceberg ? 'raw' : 'curated',
              ))
        if (!wm || !fields || (iceberg && !iceDef)) {
          if (args.table !== undefined)
            throw new UsageError('CDC_USAGE', `table ${label} has no curated output yet: run cdc-apply first`, {
              hint: "see 'cdc-apply status'",
            })
          log.warn({ table: label }, 'no curated output yet: left out of the DDL')
          if (args.emit !== 'glue-json') out.push(`-- ${label}: no curated output yet`)
          continue
        }
        if (ice && iceDef) {
          const snapshotId = ice.meta?.refs[`d${lpfDate(wm)}`]?.['snapshot-id']
          if (args.emit === 'athena')
            out.push(icebergAthenaDdl(iceDef, snapshotId !== undefined ? { date: lpfDate(wm), snapshotId } : undefined))
          else if (args.emit === 'glue-json') glue.push(icebergGlueInput(iceDef))
          else out.push(icebergSparkDdl(iceDef))
        }
        if (rawIceberg) {
          if (!rawDef) {
            if (args.emit !== 'glue-json') out.push(`-- ${label} (RAW): no RAW Iceberg snapshot yet`)
          } else if (args.emit === 'athena') out.push(icebergAthenaDdl(rawDef, 'raw'))
          else if (args.emit === 'glue-json') glue.push(icebergGlueInput(rawDef))
          else out.push(icebergSparkDdl(rawDef))
          continue
        }
        for (const def of parquetTableDefs(config, catalog, t, fields, wm.loadDate)) {
          if (iceberg && def.kind === 'curated') continue
          if (args.emit === 'athena') out.push(athenaDdl(def))
          else if (args.emit === 'glue-json') glue.push(JSON.parse(glueJson(def)))
          else
            out.push(
              sparkDdl(
                def,
                await listDates(def.kind === 'raw' ? stores.raw : stores.curated, joinKey(t.source, t.name)),
              ),
            )
        }
      }
    } finally {
      state.close()
      await Promise.all([stores.landing.close(), stores.raw.close(), stores.curated.close()])
    }
    io.stdout(args.emit === 'glue-json' ? JSON.stringify(glue, null, 2) + '\n' : out.join('\n\n') + '\n')
    return EXIT.ok
  } catch (err) {
    return failure(err, io, log, new AbortController().signal)
  }
}
