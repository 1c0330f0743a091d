// Catalog registration without a Glue server: type mapping, the Glue inputs (Parquet with partition projection,
// Iceberg), the Athena DDL checked against Athena's documented grammar and property names, the config block, the
// CLI, and registration failures that never block ingestion (a scripted CatalogClient). Glue itself: catalog-glue.test.ts.
import { describe, it, test } from 'node:test'
import assert from 'node:assert/strict'
import * as A from 'apache-arrow'
import { parseConfig, type Config } from '../src/config.js'
import { CatalogError, CdcError } from '../src/errors.js'
import { runOnce } from '../src/run.js'
import { runWatch } from '../src/watch.js'
import { Metrics } from '../src/metrics.js'
import { StateStore } from '../src/state/index.js'
import { main } from '../src/cli/main.js'
import {
  hiveType,
  icebergTableInput,
  parquetTableDefs,
  parquetTableInput,
  type GlueTableInput,
} from '../src/catalog/table-def.js'
import { athenaDdl, sparkDdl } from '../src/catalog/ddl.js'
import { Registrar } from '../src/catalog/register.js'
import { FakeCatalog } from './helpers/fake-catalog.js'
import { caseLake } from './helpers/case-lake.js'

const CATALOG = { type: 'glue', database: 'lake', region: 'eu-west-1', tablePrefix: 'dms_' }

function capture(): {
  io: { stdout: (s: string) => void; stderr: (s: string) => void }
  out: () => string
  err: () => string
} {
  let out = ''
  let err = ''
  return { io: { stdout: (s) => void (out += s), stderr: (s) => void (err += s) }, out: () => out, err: () => err }
}

describe('column types', () => {
  it("map exactly from the outputs' Arrow types to Hive/Glue types", () => {
    const cases: [A.DataType, string][] = [
      [new A.Int64(), 'bigint'],
      [new A.Int32(), 'int'],
      [new A.Int16(), 'smallint'],
      [new A.Int8(), 'tinyint'],
      [new A.Uint32(), 'bigint'],
      [new A.Float64(), 'double'],
      [new A.Float32(), 'float'],
      [new A.Bool(), 'boolean'],
      [new A.Utf8(), 'string'],
      [new A.Binary(), 'binary'],
      [new A.Decimal(2, 10, 128), 'decimal(10,2)'],
      [new A.Decimal(0, 38, 128), 'decimal(38,0)'],
      [new A.DateDay(), 'date'],
      [new A.TimestampMicrosecond(), 'timestamp'],
      [new A.TimestampMillisecond('UTC'), 'timestamp'],
    ]
    for (const [type, hive] of cases) assert.equal(hiveType(type, 'c', 'S.T'), hive, String(type))
  })

  it('a type with no catalog equivalent is CDC_CATALOG_FAILED naming the column', () => {
    assert.throws(
      () => hiveType(new A.List(new A.Field('x', new A.Int32())), 'tags', 'OP.t'),
      (e: unknown) =>
        e instanceof CatalogError &&
        e.code === 'CDC_CATALOG_FAILED' &&
        e.message === 'table OP.t: column "tags" has the type List<Int32>, which has no catalog type',
    )
  })
})

describe('table definitions from a run', () => {
  it('curated and RAW tables of realistic-csv: columns in output order, RAW with Op first and the provenance last, projection from the load date', async (t) => {
    const lake = caseLake('realistic-csv', { catalog: CATALOG })
    t.after(lake.remove)
    const r = await runOnce({ ...lake.config, catalog: undefined })
    assert.equal(r.tables[0]!.error, undefined)
    const fields = (await import('../src/read.js')).configuredSchema(lake.config.tables[0]!)!.fields
    const [curated, raw] = parquetTableDefs(
      lake.config,
      lake.config.catalog!,
      lake.config.tables[0]!,
      fields,
      '20240612',
    )
    const data = [
      ['dms_commit_ts', 'timestamp'],
      ['id', 'bigint'],
      ['name', 'string'],
      ['city', 'string'],
      ['note', 'string'],
      ['signup_date', 'date'],
      ['balance', 'decimal(10,2)'],
      ['active', 'boolean'],
      ['last_login', 'timestamp'],
      ['dms_change_seq', 'string'],
    ]
    const cols = (d: typeof curated) => d!.columns.map((c) => [c.name, c.type])
    assert.deepEqual(cols(curated), [...data, ['cdc_file', 'string'], ['cdc_row', 'bigint']])
    assert.deepEqual(cols(raw), [['Op', 'string'], ...data, ['cdc_file', 'string'], ['cdc_row', 'bigint']])
    assert.equal(curated!.name, 'dms_crm_customers')
    assert.equal(raw!.name, 'dms_crm_customers_raw')
    assert.match(curated!.location, /^file:\/\/.*\/out\/curated\/CRM\/customers\/$/)
    const input = parquetTableInput(curated!)
    assert.deepEqual(input.PartitionKeys, [{ Name: 'partition_0', Type: 'string' }])
    assert.equal(input.TableType, 'EXTERNAL_TABLE')
    assert.deepEqual(input.StorageDescriptor.SerdeInfo, {
      SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
      Parameters: { 'serialization.format': '1' },
    })
    assert.equal(input.StorageDescriptor.InputFormat, 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat')
    assert.equal(input.StorageDescriptor.OutputFormat, 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat')
    assert.deepEqual(input.Parameters, {
      EXTERNAL: 'TRUE',
      classification: 'parquet',
      'projection.enabled': 'true',
      'projection.partition_0.type': 'date',
      'projection.partition_0.format': 'yyyyMMdd',
      'projection.partition_0.range': '20240612,NOW',
      'projection.partition_0.interval': '1',
      'projection.partition_0.interval.unit': 'DAYS',
      'storage.location.template': `${curated!.location}\${partition_0}/`,
      'cdc_apply.table': 'CRM.customers',
      'cdc_apply.kind': 'curated',
      'cdc_apply.primary_key': 'id',
    })
  })

  it('S3 locations are the table folders under raw and curated', () => {
    const config = parseConfig(
      {
        source: 'OP',
        landing: 's3://dms-landing/dms',
        raw: 's3://acme-lake/raw/',
        curated: 's3://acme-lake/curated',
        state: 'state.sqlite',
        catalog: CATALOG,
        tables: [
          {
            name: 'restaurants',
            path: 'op/restaurants',
            columns: [{ name: 'id', type: 'integer' }],
            primaryKey: ['id'],
          },
        ],
      },
      '/tmp',
    )
    const [curated, raw] = parquetTableDefs(
      config,
      config.catalog!,
      config.tables[0]!,
      [new A.Field('id', new A.Int64())],
      '20220927',
    )
    assert.equal(curated!.location, 's3://acme-lake/curated/OP/restaurants/')
    assert.equal(raw!.location, 's3://acme-lake/raw/OP/restaurants/')
    assert.equal(
      parquetTableInput(raw!).Parameters['storage.location.template'],
      's3://acme-lake/raw/OP/restaurants/${partition_0}/',
    )
  })
})

describe('Iceberg tables', () => {
  it('icebergTableInput: table_type ICEBERG, metadata_location and previous_metadata_location, no partition keys or SerDe', () => {
    const input = icebergTableInput({
      label: 'OP.restaurants',
      database: 'lake',
      name: 'dms_op_restaurants',
      location: 's3://acme-lake/iceberg/OP/restaurants/',
      columns: [
        { name: 'id', type: 'bigint' },
        { name: 'name', type: 'string' },
      ],
      metadataLocation: 's3://acme-lake/iceberg/OP/restaurants/metadata/00002-b.metadata.json',
      previousMetadataLocation: 's3://acme-lake/iceberg/OP/restaurants/metadata/00001-a.metadata.json',
    })
    assert.deepEqual(input, {
      Name: 'dms_op_restaurants',
      Description: 'cdc-apply Iceberg OP.restaurants',
      TableType: 'EXTERNAL_TABLE',
      Parameters: {
        EXTERNAL: 'TRUE',
        table_type: 'ICEBERG',
        metadata_location: 's3://acme-lake/iceberg/OP/restaurants/metadata/00002-b.metadata.json',
        previous_metadata_location: 's3://acme-lake/iceberg/OP/restaurants/metadata/00001-a.metadata.json',
        'cdc_apply.table': 'OP.restaurants',
        'cdc_apply.kind': 'iceberg',
      },
      PartitionKeys: [],
      StorageDescriptor: {
        Columns: [
          { Name: 'id', Type: 'bigint' },
          { Name: 'name', Type: 'string' },
        ],
        Location: 's3://acme-lake/iceberg/OP/restaurants/',
      },
    })
    const first = icebergTableInput({
      label: 'OP.t',
      database: 'lake',
      name: 't',
      location: 's3://b/t/',
      columns: [],
      metadataLocation: 's3://b/t/metadata/00000-x.metadata.json',
      previousMetadataLocation: undefined,
    })
    assert.equal('previous_metadata_location' in first.Parameters, false)
  })

  it('registerIceberg creates, then moves metadata_location only from the metadata it replaced', async () => {
    const fake = new FakeCatalog()
    const registrar = new Registrar(lakeConfig(), lakeConfig().catalog!, fake, undefined as unknown as StateStore)
    const def = {
      label: 'OP.t',
      database: 'lake',
      name: 'dms_op_t',
      location: 's3://b/t/',
      columns: [{ name: 'id', type: 'bigint' }],
      metadataLocation: 's3://b/t/metadata/1.json',
      previousMetadataLocation: undefined,
    }
    assert.equal(await registrar.registerIceberg(def), 'created')
    assert.equal(await registrar.registerIceberg(def), 'unchanged')
    assert.equal(
      await registrar.registerIceberg({
        ...def,
        metadataLocation: 's3://b/t/metadata/2.json',
        previousMetadataLocation: 's3://b/t/metadata/1.json',
      }),
      'updated',
    )
    assert.equal(fake.tables.get('dms_op_t')!.Parameters['metadata_location'], 's3://b/t/metadata/2.json')
    assert.equal(fake.tables.get('dms_op_t')!.Parameters['previous_metadata_location'], 's3://b/t/metadata/1.json')
    await assert.rejects(
      registrar.registerIceberg({
        ...def,
        metadataLocation: 's3://b/t/metadata/3.json',
        previousMetadataLocation: 's3://b/t/metadata/1.json',
      }),
      (e: unknown) =>
        e instanceof CatalogError &&
        e.code === 'CDC_CATALOG_FAILED' &&
        /points at "s3:\/\/b\/t\/metadata\/2.json", expected "s3:\/\/b\/t\/metadata\/1.json"/.test(e.message),
    )
  })
})

function lakeConfig(): Config {
  return parseConfig(
    {
      source: 'OP',
      landing: 'l',
      raw: 'r',
      curated: 'c',
      state: 's.sqlite',
      catalog: CATALOG,
      tables: [{ name: 't', path: 'op/t', columns: [{ name: 'id', type: 'integer' }], primaryKey: ['id'] }],
    },
    '/tmp',
  )
}

describe('registration never blocks ingestion', () => {
  it('a failing catalog: the watermark commits, the error is in the result, status and state; the next run registers with no new files', async (t) => {
    const lake = caseLake('realistic-csv', { catalog: CATALOG })
    t.after(lake.remove)
    const fake = new FakeCatalog()
    fake.failWith = new CatalogError(
      'CDC_CATALOG_DENIED',
      'glue GetTable of lake.dms_crm_customers failed: AccessDeniedException: no',
      { transient: true },
    )
    const state = StateStore.open(`${lake.dir}/out/cdc-apply.sqlite`)
    const registrar = new Registrar(lake.config, lake.config.catalog!, fake, state, { retryAfterMs: 0 })
    try {
      const r1 = await runOnce(lake.config, { catalog: registrar })
      const t1 = r1.tables[0]!
      assert.equal(t1.status, 'ok')
      assert.equal(t1.error, undefined)
      assert.equal(t1.catalog?.status, 'error')
      assert.equal(t1.catalog?.error?.code, 'CDC_CATALOG_DENIED')
      assert.equal(state.get('CRM', 'customers')?.lpf, '20240615-171944090')
      const s1 = state.status()[0]!
      assert.equal(s1.catalogErrorCode, 'CDC_CATALOG_DENIED')
      assert.equal(s1.catalogRegisteredAt, null)
      assert.equal(fake.tables.size, 0)

      fake.failWith = undefined
      const r2 = await runOnce(lake.config, { catalog: registrar })
      assert.equal(r2.tables[0]!.status, 'unchanged')
      assert.equal(r2.tables[0]!.catalog?.status, 'registered')
      assert.deepEqual([...fake.tables.keys()].sort(), ['dms_crm_customers', 'dms_crm_customers_raw'])
      const s2 = state.status()[0]!
      assert.equal(s2.catalogErrorCode, null)
      assert.equal(s2.catalogTables, 'dms_crm_customers,dms_crm_customers_raw')
      assert.notEqual(s2.catalogRegisteredAt, null)

      // registered and nothing new: the next run makes no catalog call at all
      fake.calls = []
      const r3 = await runOnce(lake.config, { catalog: registrar })
      assert.equal(r3.tables[0]!.catalog, undefined)
      assert.deepEqual(fake.calls, [])
    } finally {
      state.close()
    }
  })

  it('an unexpected exception from the catalog client becomes CDC_CATALOG_FAILED, not a failed table', async (t) => {
    const lake = caseLake('design-example', { catalog: CATALOG })
    t.after(lake.remove)
    const fake = new FakeCatalog()
    fake.getTable = async () => {
      throw new TypeError('boom')
    }
    const state = StateStore.open(`${lake.dir}/out/cdc-apply.sqlite`)
    try {
      const r = await runOnce(lake.config, { catalog: new Registrar(lake.config, lake.config.catalog!, fake, state) })
      assert.ok(r.tables.every((x) => x.error === undefined && x.status === 'ok'))
      for (const x of r.tables) {
        assert.equal(x.catalog?.error?.code, 'CDC_CATALOG_FAILED')
        assert.match(x.catalog!.error!.message, /catalog registration failed: boom$/)
      }
    } finally {
      state.close()
    }
  })

  it('watch mode: the metrics count a failed registration and show the table registered once a later poll succeeds', async (t) => {
    const lake = caseLake('realistic-csv', { catalog: CATALOG })
    t.after(lake.remove)
    const fake = new FakeCatalog()
    fake.failWith = new CatalogError(
      'CDC_CATALOG_FAILED',
      'glue GetTable of lake.dms_crm_customers failed: ECONNREFUSED',
      { transient: true },
    )
    const metrics = new Metrics(60_000)
    const controller = new AbortController()
    const seen: string[] = []
    let rendered = ''
    await runWatch(lake.config, {
      signal: controller.signal,
      intervalSeconds: 0.01,
      metrics,
      catalogRetryMs: 0,
      catalogClient: fake,
      onPoll: (r) => {
        seen.push(r.catalog?.status ?? '-')
        if (seen.length === 1) {
          rendered = metrics.render()
          fake.failWith = undefined
        }
        if (r.catalog?.status === 'registered' || seen.length >= 5) controller.abort()
      },
    })
    assert.equal(seen[0], 'error')
    assert.equal(seen.at(-1), 'registered')
    assert.match(rendered, /cdc_apply_catalog_errors_total\{table="CRM.customers",code="CDC_CATALOG_FAILED"\} 1/)
    assert.match(rendered, /cdc_apply_catalog_registered\{table="CRM.customers"\} 0/)
    assert.match(metrics.render(), /cdc_apply_catalog_registered\{table="CRM.customers"\} 1/)
    assert.deepEqual([...fake.tables.keys()].sort(), ['dms_crm_customers', 'dms_crm_customers_raw'])
  })
})

describe('config', () => {
  const base = {
    source: 'OP',
    landing: 'l',
    raw: 'r',
    curated: 'c',
    state: 's.sqlite',
    tables: [{ name: 't', path: 'op/t', columns: [{ name: 'id' }], primaryKey: ['id'] }],
  }
  it('parses the catalog block with its defaults', () => {
    const c = parseConfig({ ...base, catalog: { type: 'glue', database: 'lake' } }, '/tmp').catalog
    assert.deepEqual(c, {
      type: 'glue',
      database: 'lake',
      region: undefined,
      tablePrefix: '',
      endpoint: undefined,
      maxAttempts: 3,
    })
    assert.equal(parseConfig(base, '/tmp').catalog, undefined)
  })
  for (const [catalog, message] of [
    [{ type: 'hive', database: 'lake' }, 'config $.catalog.type is invalid: expected one of "glue", got string "hive"'],
    [{ type: 'glue' }, 'config $.catalog.database is invalid: expected a value (the key is required), got nothing'],
    [
      { type: 'glue', database: 'My-Lake' },
      'config $.catalog.database is invalid: expected a Glue database name of lower case letters, digits and _, got "My-Lake"',
    ],
    [
      { type: 'glue', database: 'lake', tablePrefix: 'Dms-' },
      'config $.catalog.tablePrefix is invalid: expected lower case letters, digits and _ (or ""), got string "Dms-"',
    ],
    [
      { type: 'glue', database: 'lake', endpoint: 'localhost:4566' },
      'config $.catalog.endpoint is invalid: expected an http:// or https:// URL, got "localhost:4566"',
    ],
    [
      { type: 'glue', database: 'lake', crawler: true },
      'config $.catalog.crawler is invalid: expected one of the keys type, database, region, tablePrefix, endpoint, maxAttempts, got unknown key "crawler"',
    ],
  ] as const) {
    it(`refuses ${JSON.stringify(catalog)}`, () => {
      assert.throws(
        () => parseConfig({ ...base, catalog }, '/tmp'),
        (e: unknown) => e instanceof CdcError && e.code === 'CDC_CONFIG_INVALID' && e.message === message,
      )
    })
  }
})

// ---------------------------------------------------------------- Athena DDL against Athena's documentation

/**
 * Table property names Athena documents, by the page that documents them:
 * - ALTER TABLE SET TBLPROPERTIES, "predefined table properties"
 *   (https://docs.aws.amazon.com/athena/latest/ug/alter-table-set-tblproperties.html): classification,
 *   has_encrypted_data, orc.compress, parquet.compression, write.compression, compression_level, projection.*,
 *   skip.header.line.count, storage.location.template.
 * - Set up partition projection (https://docs.aws.amazon.com/athena/latest/ug/partition-projection-setting-up.html):
 *   projection.enabled.
 * - Supported types for partition projection
 *   (https://docs.aws.amazon.com/athena/latest/ug/partition-projection-supported-types.html): per column,
 *   projection.<col>.type (enum, integer, date, injected); enum: .values; integer: .range, .interval, .digits;
 *   date: .range, .format, .interval, .interval.unit.
 */
const ATHENA_TABLE_PROPERTIES = [
  'classification',
  'has_encrypted_data',
  'orc.compress',
  'parquet.compression',
  'write.compression',
  'compression_level',
  'skip.header.line.count',
  'storage.location.template',
  'projection.enabled',
]
const PROJECTION_COLUMN_PROPERTIES: Record<string, string[]> = {
  enum: ['type', 'values'],
  integer: ['type', 'range', 'interval', 'digits'],
  date: ['type', 'range', 'format', 'interval', 'interval.unit'],
  injected: ['type'],
}
/** Athena DDL column types (https://docs.aws.amazon.com/athena/latest/ug/data-types.html), the scalar ones. */
const ATHENA_DDL_TYPE =
  /^(boolean|tinyint|smallint|int|integer|bigint|float|double|string|binary|date|timestamp|decimal\(\d{1,2},\s*\d{1,2}\)|char\(\d+\)|varchar\(\d+\))$/
const INTERVAL_UNITS = ['YEARS', 'MONTHS', 'WEEKS', 'DAYS', 'HOURS', 'MINUTES', 'SECONDS', 'MILLISECONDS']

/**
 * Checks a CREATE EXTERNAL TABLE statement against the synopsis of Athena's CREATE TABLE (column list, COMMENT,
 * PARTITIONED BY, STORED AS, LOCATION, TBLPROPERTIES) and every property against the lists above. Returns problems.
 */
function checkAthenaDdl(ddl: string): string[] {
  const problems: string[] = []
  const m =
    /^CREATE EXTERNAL TABLE (?:IF NOT EXISTS )?`([a-z0-9_]+)`\.`([a-z0-9_]+)` \(\n([\s\S]*?)\n\)\n(?:COMMENT '((?:[^'\\]|\\.)*)'\n)?PARTITIONED BY \(([^)]*)\)\nSTORED AS PARQUET\nLOCATION '(s3|file):\/\/([^']*)\/'\nTBLPROPERTIES \(\n([\s\S]*)\n\);$/.exec(
      ddl,
    )
  if (!m)
    return [
      'the statement does not follow CREATE EXTERNAL TABLE [IF NOT EXISTS] db.t (cols) [COMMENT] PARTITIONED BY (...) STORED AS PARQUET LOCATION ... TBLPROPERTIES (...)',
    ]
  const columns = m[3]!.split(',\n').map((l) => /^ {2}`([^`]+)` (.+)$/.exec(l))
  columns.forEach((c, i) => {
    if (!c) problems.push(`column ${i + 1} is not "\`name\` type"`)
    else if (!ATHENA_DDL_TYPE.test(c[2]!)) problems.push(`column ${c[1]}: ${c[2]} is not an Athena DDL type`)
  })
  const partitions = m[5]!.split(',').map((p) => /^\s*`([^`]+)` (.+?)\s*$/.exec(p))
  const partitionNames = new Set<string>()
  for (const p of partitions) {
    if (!p || !ATHENA_DDL_TYPE.test(p[2]!))
      problems.push(`partition column ${JSON.stringify(p?.[0])} is not "\`name\` type"`)
    else partitionNames.add(p[1]!)
  }
  const props = new Map<string, string>()
  for (const line of m[8]!.split(',\n')) {
    const p = /^ {2}'([^'\\]+)'='((?:[^'\\]|\\.)*)'$/.exec(line)
    if (!p) problems.push(`property line ${JSON.stringify(line)} is not 'name'='value'`)
    else props.set(p[1]!, p[2]!)
  }
  for (const [k, v] of props) {
    const col = /^projection\.(.+)\.(type|values|range|interval|digits|format|interval\.unit)$/.exec(k)
    if (ATHENA_TABLE_PROPERTIES.includes(k)) continue
    if (col && partitionNames.has(col[1]!.replace(/\.interval$/, ''))) {
      const name = col[1]!.endsWith('.interval') && col[2] === 'unit' ? col[1]!.slice(0, -'.interval'.length) : col[1]!
      const prop = k.slice(`projection.${name}.`.length)
      const type = props.get(`projection.${name}.type`) ?? ''
      if (!(PROJECTION_COLUMN_PROPERTIES[type] ?? []).includes(prop))
        problems.push(`${k}: not a documented property of the ${JSON.stringify(type)} projection type`)
      continue
    }
    problems.push(`${k}=${v}: not a documented Athena table property`)
  }
  for (const name of partitionNames) {
    const type = props.get(`projection.${name}.type`)
    if (props.get('projection.enabled') === 'true' && type === undefined)
      problems.push(`partition column ${name} has no projection.${name}.type`)
    if (type === 'date') {
      const range = props.get(`projection.${name}.range`) ?? ''
      if (!/^(\d{8}|NOW),\s*NOW$|^\d{8},\s*\d{8}$/.test(range))
        problems.push(`projection.${name}.range ${JSON.stringify(range)} is not two yyyyMMdd dates or NOW`)
      const unit = props.get(`projection.${name}.interval.unit`)
      if (unit !== undefined && !INTERVAL_UNITS.includes(unit))
        problems.push(`projection.${name}.interval.unit ${unit} is not one of ${INTERVAL_UNITS.join(', ')}`)
    }
    if (!(props.get('storage.location.template') ?? '').includes(`\${${name}}`))
      problems.push(`storage.location.template has no \${${name}}`)
  }
  return problems
}

describe('Athena DDL', () => {
  const config = parseConfig(
    {
      source: 'OP',
      landing: 's3://dms-landing/dms',
      raw: 's3://acme-lake/raw',
      curated: 's3://acme-lake/curated',
      state: 's.sqlite',
      catalog: CATALOG,
      tables: [
        { name: 'restaurants', path: 'op/restaurants', columns: [{ name: 'id', type: 'integer' }], primaryKey: ['id'] },
      ],
    },
    '/tmp',
  )
  const fields = [
    new A.Field('id', new A.Int64()),
    new A.Field('name', new A.Utf8()),
    new A.Field('price', new A.Decimal(2, 10, 128)),
    new A.Field('opened', new A.DateDay()),
    new A.Field('updated_at', new A.TimestampMicrosecond()),
    new A.Field('open', new A.Bool()),
    new A.Field('rating', new A.Float64()),
    new A.Field("it's", new A.Int32()),
  ]
  const defs = parquetTableDefs(config, config.catalog!, config.tables[0]!, fields, '20220927')

  it('follows the documented CREATE TABLE synopsis and uses only documented property names', () => {
    for (const d of defs) assert.deepEqual(checkAthenaDdl(athenaDdl(d)), [], athenaDdl(d))
  })

  it('is exactly this text for the curated table', () => {
    assert.equal(
      athenaDdl(defs[0]!),
      [
        'CREATE EXTERNAL TABLE IF NOT EXISTS `lake`.`dms_op_restaurants` (',
        '  `id` bigint,',
        '  `name` string,',
        '  `price` decimal(10,2),',
        '  `opened` date,',
        '  `updated_at` timestamp,',
        '  `open` boolean,',
        '  `rating` double,',
        "  `it's` int,",
        '  `cdc_file` string,',
        '  `cdc_row` bigint',
        ')',
        "COMMENT 'cdc-apply curated OP.restaurants: the table as of the end of each date (partition_0 = YYYYMMDD)'",
        'PARTITIONED BY (`partition_0` string)',
        'STORED AS PARQUET',
        "LOCATION 's3://acme-lake/curated/OP/restaurants/'",
        'TBLPROPERTIES (',
        "  'classification'='parquet',",
        "  'projection.enabled'='true',",
        "  'projection.partition_0.type'='date',",
        "  'projection.partition_0.format'='yyyyMMdd',",
        "  'projection.partition_0.range'='20220927,NOW',",
        "  'projection.partition_0.interval'='1',",
        "  'projection.partition_0.interval.unit'='DAYS',",
        "  'storage.location.template'='s3://acme-lake/curated/OP/restaurants/${partition_0}/'",
        ');',
      ].join('\n'),
    )
  })

  it('the checker fails on an unknown or misspelt property, a wrong projection property and an unknown type', () => {
    const ddl = athenaDdl(defs[0]!)
    const misspelt = ddl.replace("'projection.partition_0.format'", "'projection.partition_0.formatt'")
    assert.deepEqual(checkAthenaDdl(misspelt), [
      'projection.partition_0.formatt=yyyyMMdd: not a documented Athena table property',
    ])
    assert.deepEqual(checkAthenaDdl(ddl.replace("'classification'='parquet'", "'classificaton'='parquet'")), [
      'classificaton=parquet: not a documented Athena table property',
    ])
    assert.deepEqual(
      checkAthenaDdl(ddl.replace("'projection.partition_0.interval'='1'", "'projection.partition_0.digits'='1'")),
      ['projection.partition_0.digits: not a documented property of the "date" projection type'],
    )
    assert.deepEqual(checkAthenaDdl(ddl.replace('`rating` double', '`rating` number')), [
      'column rating: number is not an Athena DDL type',
    ])
    assert.deepEqual(
      checkAthenaDdl(
        ddl.replace("'projection.partition_0.interval.unit'='DAYS'", "'projection.partition_0.interval.unit'='DAY'"),
      ),
      [
        'projection.partition_0.interval.unit DAY is not one of YEARS, MONTHS, WEEKS, DAYS, HOURS, MINUTES, SECONDS, MILLISECONDS',
      ],
    )
  })

  it('the Spark DDL creates the database and table and adds one partition per date, at its date folder', () => {
    const spark = sparkDdl(defs[1]!, ['20220927', '20220928'])
    assert.equal(
      spark,
      [
        'CREATE DATABASE IF NOT EXISTS `lake`;',
        'CREATE TABLE IF NOT EXISTS `lake`.`dms_op_restaurants_raw` (',
        '  `Op` STRING,',
        '  `id` BIGINT,',
        '  `name` STRING,',
        '  `price` DECIMAL(10,2),',
        '  `opened` DATE,',
        '  `updated_at` TIMESTAMP,',
        '  `open` BOOLEAN,',
        '  `rating` DOUBLE,',
        "  `it's` INT,",
        '  `cdc_file` STRING,',
        '  `cdc_row` BIGINT,',
        '  `partition_0` STRING',
        ')',
        'USING parquet',
        'PARTITIONED BY (`partition_0`)',
        "LOCATION 's3://acme-lake/raw/OP/restaurants/';",
        "ALTER TABLE `lake`.`dms_op_restaurants_raw` ADD IF NOT EXISTS PARTITION (`partition_0`='20220927') LOCATION 's3://acme-lake/raw/OP/restaurants/20220927/';",
        "ALTER TABLE `lake`.`dms_op_restaurants_raw` ADD IF NOT EXISTS PARTITION (`partition_0`='20220928') LOCATION 's3://acme-lake/raw/OP/restaurants/20220928/';",
      ].join('\n'),
    )
  })
})

// ---------------------------------------------------------------- the CLI

test("cdc-apply catalog --emit athena|glue-json|spark prints the DDL of the run's tables; a bad --emit is exit 2", async (t) => {
  // No catalog block: run must not call Glue here; --database and --table-prefix stand in for it.
  const lake = caseLake('realistic-csv')
  t.after(lake.remove)
  const cfg = `${lake.dir}/cdc-apply.json`
  ;(await import('node:fs')).writeFileSync(cfg, JSON.stringify(lake.json))
  const before = capture()
  assert.equal(await main(['catalog', '--emit', 'athena', '-c', cfg, '--log-level', 'silent'], before.io), 2)
  assert.match(before.err(), /catalog --emit needs a database: a "catalog" block in the config or --database <name>/)
  const P = ['--database', 'lake', '--table-prefix', 'dms_']
  assert.equal(await main(['catalog', '--emit', 'athena', ...P, '-c', cfg, '--log-level', 'silent'], before.io), 2)
  assert.match(before.err(), /no state file at .*: run cdc-apply first/)
  assert.equal(await main(['run', '-c', cfg, '--log-level', 'silent', '--json'], capture().io), 0)

  const athena = capture()
  assert.equal(await main(['catalog', '--emit', 'athena', ...P, '-c', cfg, '--log-level', 'silent'], athena.io), 0)
  const statements = athena.out().trim().split('\n\n')
  assert.equal(statements.length, 2)
  assert.match(statements[0]!, /^CREATE EXTERNAL TABLE IF NOT EXISTS `lake`\.`dms_crm_customers` \(/)
  assert.match(
    statements[1]!,
    /^CREATE EXTERNAL TABLE IF NOT EXISTS `lake`\.`dms_crm_customers_raw` \(\n {2}`Op` string,/,
  )
  for (const s of statements) assert.deepEqual(checkAthenaDdl(s), [])
  assert.match(statements[0]!, /'projection\.partition_0\.range'='20240612,NOW'/)

  const glue = capture()
  assert.equal(
    await main(
      [
        'catalog',
        '--emit',
        'glue-json',
        '--table',
        'CRM.customers',
        '--database',
        'other',
        '--table-prefix',
        'dms_',
        '-c',
        cfg,
        '--log-level',
        'silent',
      ],
      glue.io,
    ),
    0,
  )
  const inputs = JSON.parse(glue.out()) as { DatabaseName: string; TableInput: GlueTableInput }[]
  assert.deepEqual(
    inputs.map((i) => [i.DatabaseName, i.TableInput.Name]),
    [
      ['other', 'dms_crm_customers'],
      ['other', 'dms_crm_customers_raw'],
    ],
  )
  assert.equal(inputs[0]!.TableInput.StorageDescriptor.Columns.find((c) => c.Name === 'balance')?.Type, 'decimal(10,2)')

  const spark = capture()
  assert.equal(await main(['catalog', '--emit', 'spark', ...P, '-c', cfg, '--log-level', 'silent'], spark.io), 0)
  const adds = (name: string) =>
    [
      ...spark
        .out()
        .matchAll(
          new RegExp(
            `ALTER TABLE \`lake\`\\.\`${name}\` ADD IF NOT EXISTS PARTITION \\(\`partition_0\`='(\\d{8})'\\)`,
            'g',
          ),
        ),
    ].map((x) => x[1])
  assert.deepEqual(adds('dms_crm_customers'), ['20240612', '20240613', '20240614', '20240615'])
  assert.deepEqual(adds('dms_crm_customers_raw'), ['20240612', '20240613', '20240615']) // no change files on 0614: no RAW partition

  const bad = capture()
  assert.equal(await main(['catalog', '--emit', 'hive', ...P, '-c', cfg], bad.io), 2)
  assert.match(bad.err(), /CDC_USAGE: catalog needs --emit athena\|spark\|glue-json, got "hive"/)
})

// ---------------------------------------------------------------- the Glue SDK loads only with a catalog

test('@aws-sdk/client-glue is loaded only when a catalog is configured', async (t) => {
  const { spawnSync } = await import('node:child_process')
  const { writeFileSync } = await import('node:fs')
  const { freePort } = await import('./helpers/moto.js')
  const dist = new URL('../src/', import.meta.url).href // dist-test/src: the compiled sources
  const loads = async (catalog: object | undefined): Promise<boolean> => {
    const lake = caseLake('design-example', catalog ? { catalog } : {})
    t.after(lake.remove)
    const script = `${lake.dir}/probe.mjs`
    // A resolve hook reports every module URL to the main thread; the probe prints whether the Glue SDK was among them.
    writeFileSync(
      script,
      `import { register } from 'node:module'
const { port1, port2 } = new MessageChannel()
const seen = []
port1.on('message', (m) => seen.push(m))
port1.unref()
register('data:text/javascript,' + encodeURIComponent('let port; export function initialize(d) { port = d.port } export async function resolve(s, c, n) { const r = await n(s, c); port.postMessage(r.url); return r }'), { data: { port: port2 }, transferList: [port2] })
const { parseConfig } = await import(${JSON.stringify(dist + 'config.js')})
const { runOnce } = await import(${JSON.stringify(dist + 'run.js')})
const r = await runOnce(parseConfig(${JSON.stringify(lake.json)}, ${JSON.stringify(lake.dir)}))
await new Promise((resolve) => setTimeout(resolve, 100))
console.log(JSON.stringify({ ok: r.tables.every((x) => x.status === 'ok'), glue: seen.some((u) => u.includes('@aws-sdk/client-glue')) }))
`,
    )
    const r = spawnSync(process.execPath, [script], {
      encoding: 'utf8',
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'y',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    })
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ok: boolean; glue: boolean }
    assert.equal(out.ok, true)
    return out.glue
  }
  assert.equal(await loads(undefined), false)
  // the control: with a catalog (an endpoint on a free local port, so nothing answers) the SDK is loaded
  assert.equal(
    await loads({
      type: 'glue',
      database: 'lake',
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${await freePort()}`,
      maxAttempts: 1,
    }),
    true,
  )
})
