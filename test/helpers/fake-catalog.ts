// A catalog in memory for tests (no Glue server): its calls are recorded and can be made to fail.
import type { CatalogError } from '../../src/errors.js'
import type { CatalogClient } from '../../src/catalog/glue.js'
import type { GlueTableInput } from '../../src/catalog/table-def.js'

/** A catalog in memory whose calls can be made to fail, like Glue behind a broken network or a missing grant. */
export class FakeCatalog implements CatalogClient {
  tables = new Map<string, GlueTableInput>()
  calls: string[] = []
  failWith: CatalogError | undefined
  async getTable(_db: string, name: string): Promise<GlueTableInput | undefined> {
    this.calls.push(`get ${name}`)
    if (this.failWith) throw this.failWith
    const t = this.tables.get(name)
    return t && structuredClone(t)
  }
  async createTable(_db: string, input: GlueTableInput): Promise<void> {
    this.calls.push(`create ${input.Name}`)
    if (this.failWith) throw this.failWith
    this.tables.set(input.Name, structuredClone(input))
  }
  async updateTable(_db: string, input: GlueTableInput): Promise<void> {
    this.calls.push(`update ${input.Name}`)
    if (this.failWith) throw this.failWith
    this.tables.set(input.Name, structuredClone(input))
  }
  close(): void {}
}
