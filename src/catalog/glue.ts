// The AWS Glue Data Catalog behind the small CatalogClient interface. The only importer of @aws-sdk/client-glue;
// register.ts loads it lazily, so configs without a catalog never load the SDK.
import { CreateTableCommand, GetTableCommand, GlueClient, UpdateTableCommand, type Table } from '@aws-sdk/client-glue'
import { CatalogError } from '../errors.js'
import type { CatalogConfig } from '../config.js'
import type { GlueTableInput } from './table-def.js'

/** What registration needs of a catalog; tests and other catalogs implement it too. */
export interface CatalogClient {
  /** The table's current input, or undefined when it does not exist. */
  getTable(database: string, name: string): Promise<GlueTableInput | undefined>
  createTable(database: string, input: GlueTableInput): Promise<void>
  updateTable(database: string, input: GlueTableInput): Promise<void>
  close(): void
}

const silentLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

export class GlueCatalog implements CatalogClient {
  private readonly client: GlueClient
  constructor(
    private readonly config: CatalogConfig,
    s3Region: string | undefined,
  ) {
    this.client = new GlueClient({
      region:
        config.region ?? s3Region ?? process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'] ?? 'us-east-1',
      ...(config.endpoint !== undefined ? { endpoint: config.endpoint } : {}),
      maxAttempts: config.maxAttempts,
      // A black-holed endpoint fails (and is retried) instead of hanging the commit path.
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000, logger: silentLogger },
    })
  }

  async getTable(database: string, name: string): Promise<GlueTableInput | undefined> {
    try {
      const r = await this.client.send(new GetTableCommand({ DatabaseName: database, Name: name }))
      return r.Table ? inputOf(r.Table) : undefined
    } catch (err) {
      // Glue answers EntityNotFoundException for a missing table and for a missing database ("Database … not found").
      if ((err as { name?: string }).name === 'EntityNotFoundException' && !/^database\b/i.test((err as Error).message))
        return undefined
      throw this.wrap('GetTable', database, name, err)
    }
  }

  async createTable(database: string, input: GlueTableInput): Promise<void> {
    try {
      await this.client.send(new CreateTableCommand({ DatabaseName: database, TableInput: input }))
    } catch (err) {
      throw this.wrap('CreateTable', database, input.Name, err)
    }
  }

  async updateTable(database: string, input: GlueTableInput): Promise<void> {
    try {
      await this.client.send(new UpdateTableCommand({ DatabaseName: database, TableInput: input }))
    } catch (err) {
      throw this.wrap('UpdateTable', database, input.Name, err)
    }
  }

  close(): void {
    this.client.destroy()
  }

  /** Glue errors as CDC_CATALOG_DENIED (credentials, permissions) or CDC_CATALOG_FAILED (everything else). */
  private wrap(op: string, database: string, table: string, err: unknown): CatalogError {
    const e = err as {
      name?: string
      code?: string
      message?: string
      $metadata?: { httpStatusCode?: number; attempts?: number }
    }
    const name = e.name ?? 'Error'
    const status = e.$metadata?.httpStatusCode
    const attempts = e.$metadata?.attempts
    const detail = `${name}: ${e.message ?? String(err)}${attempts !== undefined && attempts > 1 ? ` (after ${attempts} attempts)` : ''}`
    const where = `glue ${op} of ${database}.${table}`
    const denied =
      [
        'AccessDeniedException',
        'AccessDenied',
        'UnrecognizedClientException',
        'InvalidClientTokenId',
        'InvalidSignatureException',
        'ExpiredTokenException',
        'ExpiredToken',
        'CredentialsProviderError',
      ].includes(name) || status === 403
    if (denied) {
      return new CatalogError('CDC_CATALOG_DENIED', `${where} failed: ${detail}`, {
        cause: err,
        transient: true,
        hint: `grant glue:GetTable, glue:CreateTable and glue:UpdateTable on the catalog, database ${database} and its tables (docs/catalog.md) to the identity found by the AWS default provider chain`,
      })
    }
    const code = e.code ?? ''
    const connect = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)
    const noDatabase = name === 'EntityNotFoundException'
    const hint = connect
      ? `nothing answered at ${this.config.endpoint ?? 'the Glue endpoint of the region'}: check catalog.endpoint and catalog.region`
      : noDatabase
        ? `create the Glue database ${database} (cdc-apply registers tables, not databases)`
        : 'the next commit or poll retries the registration; ingestion goes on meanwhile'
    return new CatalogError('CDC_CATALOG_FAILED', `${where} failed: ${detail}`, { cause: err, transient: true, hint })
  }
}

/** The part of a Glue Table that cdc-apply writes, in the TableInput shape (to compare with what it would write). */
function inputOf(t: Table): GlueTableInput {
  const sd = t.StorageDescriptor ?? {}
  return {
    Name: t.Name ?? '',
    Description: t.Description ?? '',
    TableType: (t.TableType ?? 'EXTERNAL_TABLE') as 'EXTERNAL_TABLE',
    Parameters: { ...(t.Parameters ?? {}) },
    PartitionKeys: (t.PartitionKeys ?? []).map((c) => ({ Name: c.Name ?? '', Type: c.Type ?? '' })),
    StorageDescriptor: {
      Columns: (sd.Columns ?? []).map((c) => ({ Name: c.Name ?? '', Type: c.Type ?? '' })),
      Location: sd.Location ?? '',
      ...(sd.InputFormat !== undefined ? { InputFormat: sd.InputFormat } : {}),
      ...(sd.OutputFormat !== undefined ? { OutputFormat: sd.OutputFormat } : {}),
      ...(sd.SerdeInfo !== undefined
        ? {
            SerdeInfo: {
              SerializationLibrary: sd.SerdeInfo.SerializationLibrary ?? '',
              Parameters: { ...(sd.SerdeInfo.Parameters ?? {}) },
            },
          }
        : {}),
      ...(sd.Compressed !== undefined ? { Compressed: sd.Compressed } : {}),
      ...(sd.StoredAsSubDirectories !== undefined ? { StoredAsSubDirectories: sd.StoredAsSubDirectories } : {}),
    },
  }
}
