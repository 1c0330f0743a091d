// Registers tables in the catalog after their watermark commits. A failure is a CatalogError recorded in the state
// file (status), counted in the metrics, and retried at the next commit or poll: it never fails the table's run.
import type * as A from 'apache-arrow'
import { CatalogError } from '../errors.js'
import { tableLabel, type CatalogConfig, type Config, type TableConfig } from '../config.js'
import type { StateStore } from '../state/index.js'
import {
  icebergTableInput,
  parquetTableDefs,
  parquetTableInput,
  tableLocation,
  glueTableName,
  type GlueTableInput,
  type IcebergTableDef,
} from './table-def.js'
import type { CatalogClient } from './glue.js'

/** Which metadata files Glue may point at when an Iceberg table's registration moves it (registerIceberg). */
export interface IcebergMoves {
  /** The metadata files the new one descends from (its metadata-log). */
  history: readonly string[]
  /** True when a metadata file of the table's location no longer exists. */
  gone(uri: string): Promise<boolean>
}

/** What registration did for a table in one run. */
export interface CatalogOutcome {
  /** registered: created or updated; unchanged: the catalog already had it; error: see `error`. */
  status: 'registered' | 'unchanged' | 'error'
  /** Glue table names. */
  tables: string[]
  error: CatalogError | undefined
}

export interface RegistrarOptions {
  /** After a failure, the table's registration waits this long before the next try (watch mode polls often). */
  retryAfterMs?: number
}

/** Opens the configured catalog (loading the Glue SDK only then); undefined without a `catalog` block. */
export async function openRegistrar(
  config: Config,
  state: StateStore,
  opts: RegistrarOptions = {},
): Promise<Registrar | undefined> {
  if (config.catalog === undefined) return undefined
  const { GlueCatalog } = await import('./glue.js')
  return new Registrar(config, config.catalog, new GlueCatalog(config.catalog, config.s3?.region), state, opts)
}

export class Registrar {
  /** Glue table → the input this process last wrote or found there: an identical input needs no Glue call. */
  private readonly known = new Map<string, string>()
  /** Table label → earliest time of the next try after a failure. */
  private readonly retryAt = new Map<string, number>()

  constructor(
    readonly config: Config,
    readonly catalog: CatalogConfig,
    readonly client: CatalogClient,
    private readonly state: StateStore,
    private readonly opts: RegistrarOptions = {},
  ) {}

  /** What the registration depends on besides the columns: a change re-registers an unchanged table. */
  fingerprint(t: TableConfig): string {
    const c = this.catalog
    return JSON.stringify([
      c.database,
      glueTableName(c, t, 'curated'),
      tableLocation(this.config, this.config.curated, t),
      tableLocation(this.config, this.config.raw, t),
    ])
  }

  /** True when the table's last registration failed, never happened, or was made for other names or locations. */
  pending(t: TableConfig): boolean {
    const r = this.state.catalogRecord(t.source, t.name)
    if (r === undefined || r.errorCode !== null || r.fingerprint !== this.fingerprint(t))
      return (this.retryAt.get(tableLabel(t)) ?? 0) <= Date.now()
    return false
  }

  /**
   * Creates or updates the RAW and curated tables of `t` from the data columns of its outputs; never throws. The
   * outcome is recorded in the state file.
   */
  registerParquet(t: TableConfig, fields: A.Field[], loadDate: string): Promise<CatalogOutcome> {
    return this.attempt(t, async (names) => {
      const defs = parquetTableDefs(this.config, this.catalog, t, fields, loadDate)
      names.push(...defs.map((d) => d.name))
      let changed = false
      for (const d of defs) changed = (await this.upsert(parquetTableInput(d))) || changed
      return changed
    })
  }

  /**
   * A tableFormat "iceberg" table: RAW (plain Parquet, when its columns are known) as the external table with
   * partition projection, or a RAW Iceberg table (iceberg.raw) as a Glue Iceberg table at its newest metadata file;
   * curated as the Glue Iceberg table pointing at its newest metadata file; never throws. The outcome is recorded in
   * the state file.
   */
  registerIcebergOutputs(
    t: TableConfig,
    curated: IcebergTableDef,
    moves: IcebergMoves,
    rawFields: A.Field[] | { iceberg: IcebergTableDef; moves: IcebergMoves } | undefined,
    loadDate: string,
  ): Promise<CatalogOutcome> {
    return this.attempt(t, async (names) => {
      let changed = false
      if (rawFields !== undefined && !Array.isArray(rawFields)) {
        names.push(rawFields.iceberg.name)
        changed = (await this.registerIceberg(rawFields.iceberg, rawFields.moves)) !== 'unchanged'
      } else if (rawFields !== undefined) {
        const raw = parquetTableDefs(this.config, this.catalog, t, rawFields, loadDate).find((d) => d.kind === 'raw')!
        names.push(raw.name)
        changed = await this.upsert(parquetTableInput(raw))
      }
      names.unshift(curated.name)
      return (await this.registerIceberg(curated, moves)) !== 'unchanged' || changed
    })
  }

  /** Runs a registration, records its outcome (names: the Glue tables it is about) and turns failures into outcomes. */
  private async attempt(t: TableConfig, register: (names: string[]) => Promise<boolean>): Promise<CatalogOutcome> {
    const label = tableLabel(t)
    const names: string[] = []
    try {
      const changed = await register(names)
      this.state.recordCatalog(t.source, t.name, names, this.fingerprint(t), undefined)
      this.retryAt.delete(label)
      return { status: changed ? 'registered' : 'unchanged', tables: names, error: undefined }
    } catch (err) {
      const e =
        err instanceof CatalogError
          ? err
          : new CatalogError(
              'CDC_CATALOG_FAILED',
              `table ${label}: catalog registration failed: ${(err as Error)?.message ?? String(err)}`,
              { cause: err, transient: true, table: label },
            )
      this.state.recordCatalog(t.source, t.name, names, this.fingerprint(t), { code: e.code, message: e.message })
      this.retryAt.set(label, Date.now() + (this.opts.retryAfterMs ?? 30_000))
      return { status: 'error', tables: names, error: e }
    }
  }

  /**
   * Iceberg: points the Glue table at a new metadata file. Glue's table keeps `metadata_location` and
   * `previous_metadata_location` (the pointer this update replaces). The update is refused (CDC_CATALOG_FAILED) when
   * the catalog's current metadata is not one this commit may replace: by default the one `def` names as previous;
   * with `moves`, any metadata file the new one descends from, or a file of the table's location that no longer
   * exists (the table was reprocessed after cdc-apply reset). Anything else means another writer or another table.
   * Throws CatalogError.
   */
  async registerIceberg(def: IcebergTableDef, moves?: IcebergMoves): Promise<'created' | 'updated' | 'unchanged'> {
    const existing = await this.client.getTable(def.database, def.name)
    if (existing === undefined) {
      await this.client.createTable(def.database, icebergTableInput({ ...def, previousMetadataLocation: undefined }))
      return 'created'
    }
    const current = existing.Parameters['metadata_location']
    if (current === def.metadataLocation && existing.Parameters['table_type'] === 'ICEBERG') return 'unchanged'
    const replaceable =
      current !== undefined &&
      (moves
        ? moves.history.includes(current) || (await moves.gone(current))
        : current === def.previousMetadataLocation)
    if (existing.Parameters['table_type'] !== 'ICEBERG' || !replaceable) {
      const expected = moves
        ? `one of the ${moves.history.length} metadata files that ${def.metadataLocation} descends from`
        : JSON.stringify(def.previousMetadataLocation ?? null)
      throw new CatalogError(
        'CDC_CATALOG_FAILED',
        `glue table ${def.database}.${def.name} ${existing.Parameters['table_type'] !== 'ICEBERG' ? `is not an Iceberg table (table_type ${JSON.stringify(existing.Parameters['table_type'] ?? null)})` : `points at ${JSON.stringify(current ?? null)}, expected ${expected} (the metadata this commit replaced)`}`,
        {
          table: def.label,
          transient: false,
          hint: 'another writer changed the table, or it is not this Iceberg table; check its table_type and metadata_location in Glue (drop the Glue table to let cdc-apply create it again)',
        },
      )
    }
    // Keep parameters others added (Glue, Lake Formation, users); ours win.
    const input = icebergTableInput({ ...def, previousMetadataLocation: current })
    await this.client.updateTable(def.database, {
      ...input,
      Parameters: { ...existing.Parameters, ...input.Parameters },
    })
    return 'updated'
  }

  close(): void {
    this.client.close()
  }

  /** Creates the table, or updates it when it differs from `input`; returns true when it wrote. */
  private async upsert(input: GlueTableInput): Promise<boolean> {
    const key = `${this.catalog.database}.${input.Name}`
    const text = stable(input)
    if (this.known.get(key) === text) return false
    const existing = await this.client.getTable(this.catalog.database, input.Name)
    if (existing === undefined) {
      await this.client.createTable(this.catalog.database, input)
      this.known.set(key, text)
      return true
    }
    // Keep parameters others added (Glue, Lake Formation, users); ours win.
    const merged: GlueTableInput = { ...input, Parameters: { ...existing.Parameters, ...input.Parameters } }
    if (sameTable(existing, merged)) {
      this.known.set(key, text)
      return false
    }
    await this.client.updateTable(this.catalog.database, merged)
    this.known.set(key, text)
    return true
  }
}

function sameTable(a: GlueTableInput, b: GlueTableInput): boolean {
  return stable(a) === stable(b)
}

/** JSON with sorted object keys, so that inputs compare by content. */
function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0)))
      : x,
  )
}
