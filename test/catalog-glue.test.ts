// Glue registration against moto's server mode (a local AWS API emulator on 127.0.0.1): the tables, columns,
// parameters and partition projection read back with GetTable; schema drift updates the columns; an unreachable
// catalog and a denied one (moto's IAM enforcement) give their coded errors while ingestion goes on, and the next
// run registers. Skipped with a reason without moto (bash scripts/setup-moto.sh); required when CI=true.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GetTableCommand, GlueClient, type Table } from '@aws-sdk/client-glue'
import { runOnce } from '../src/run.js'
import { StateStore } from '../src/state/index.js'
import { main } from '../src/cli/main.js'
import { caseLake } from './helpers/case-lake.js'
import { freePort, startMoto, type MotoServer } from './helpers/moto.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

function glue(moto: MotoServer): GlueClient {
  return new GlueClient({
    region: moto.region,
    endpoint: moto.endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  })
}

async function getTable(moto: MotoServer, database: string, name: string): Promise<Table> {
  const client = glue(moto)
  try {
    return (await client.send(new GetTableCommand({ DatabaseName: database, Name: name }))).Table!
  } finally {
    client.destroy()
  }
}

function useTestKeys(id = 'testing', secret = 'testing'): void {
  process.env['AWS_ACCESS_KEY_ID'] = id
  process.env['AWS_SECRET_ACCESS_KEY'] = secret
  delete process.env['AWS_SESSION_TOKEN']
  delete process.env['AWS_PROFILE']
}

/** The Glue statement (Sid GlueCatalog) of the delimited IAM policy block in docs/config.md. */
export function docsGlueStatement(): { Action: string[]; Resource: string[] } {
  const md = readFileSync(join(ROOT, 'docs', 'config.md'), 'utf8')
  const m = /<!-- iam-policy:begin -->\s*```json\n([\s\S]*?)```\s*<!-- iam-policy:end -->/.exec(md)
  assert.ok(m, 'docs/config.md has no <!-- iam-policy:begin --> ```json … ``` <!-- iam-policy:end --> block')
  const policy = JSON.parse(m[1]!) as { Statement: { Sid: string; Action: string[]; Resource: string[] }[] }
  const s = policy.Statement.find((x) => x.Sid === 'GlueCatalog')
  assert.ok(s, 'the IAM policy in docs/config.md has no statement with Sid GlueCatalog')
  return s
}

describe('Glue registration (moto)', () => {
  let moto: MotoServer | undefined
  before(async () => {
    moto = await startMoto(undefined)
    if (moto)
      moto.python(
        `boto3.client('glue', endpoint_url=ENDPOINT, aws_access_key_id='testing', aws_secret_access_key='testing').create_database(DatabaseInput={'Name': 'lake'})`,
      )
  })
  after(async () => moto?.stop())

  it('run registers RAW and curated: columns, partition key, SerDe, location and projection read back with GetTable', async (t) => {
    if (!moto) return t.skip((await import('./helpers/moto.js')).MOTO_SKIP_REASON)
    useTestKeys()
    const lake = caseLake('realistic-csv', {
      catalog: { type: 'glue', database: 'lake', region: 'us-east-1', tablePrefix: 'dms_', endpoint: moto.endpoint },
    })
    t.after(lake.remove)
    const r = await runOnce(lake.config)
    assert.equal(r.tables[0]!.status, 'ok')
    assert.equal(r.tables[0]!.catalog?.status, 'registered')
    const curated = await getTable(moto, 'lake', 'dms_crm_customers')
    const raw = await getTable(moto, 'lake', 'dms_crm_customers_raw')
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
    const cols = (x: Table) => x.StorageDescriptor!.Columns!.map((c) => [c.Name, c.Type])
    assert.deepEqual(cols(curated), [...data, ['cdc_file', 'string'], ['cdc_row', 'bigint']])
    assert.deepEqual(cols(raw), [['Op', 'string'], ...data, ['cdc_file', 'string'], ['cdc_row', 'bigint']])
    const curatedLocation = `file://${lake.dir}/out/curated/CRM/customers/`
    for (const [x, location, kind] of [
      [curated, curatedLocation, 'curated'],
      [raw, `file://${lake.dir}/out/raw/CRM/customers/`, 'raw'],
    ] as const) {
      assert.equal(x.TableType, 'EXTERNAL_TABLE')
      assert.deepEqual(
        x.PartitionKeys?.map((c) => [c.Name, c.Type]),
        [['partition_0', 'string']],
      )
      assert.equal(x.StorageDescriptor!.Location, location)
      assert.equal(x.StorageDescriptor!.InputFormat, 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat')
      assert.equal(x.StorageDescriptor!.OutputFormat, 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat')
      assert.equal(
        x.StorageDescriptor!.SerdeInfo?.SerializationLibrary,
        'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
      )
      assert.deepEqual(x.Parameters, {
        EXTERNAL: 'TRUE',
        classification: 'parquet',
        'projection.enabled': 'true',
        'projection.partition_0.type': 'date',
        'projection.partition_0.format': 'yyyyMMdd',
        'projection.partition_0.range': '20240612,NOW',
        'projection.partition_0.interval': '1',
        'projection.partition_0.interval.unit': 'DAYS',
        'storage.location.template': `${location}\${partition_0}/`,
        'cdc_apply.table': 'CRM.customers',
        'cdc_apply.kind': kind,
        'cdc_apply.primary_key': 'id',
      })
    }
    // A second run with nothing new changes nothing in Glue (no new table version).
    const version = curated.VersionId
    const r2 = await runOnce(lake.config)
    assert.equal(r2.tables[0]!.status, 'unchanged')
    assert.equal((await getTable(moto, 'lake', 'dms_crm_customers')).VersionId, version)
  })

  it("schema drift: a new column in a header CSV updates both tables' columns, keeping parameters others added", async (t) => {
    if (!moto) return t.skip((await import('./helpers/moto.js')).MOTO_SKIP_REASON)
    useTestKeys()
    const lake = caseLake('header-csv', {
      catalog: { type: 'glue', database: 'lake', region: 'us-east-1', tablePrefix: 'drift_', endpoint: moto.endpoint },
    })
    t.after(lake.remove)
    const folder = join(lake.dir, 'bucket', 'dms', 'hr', 'staff')
    rmSync(join(folder, '20240521-093000500.csv'))
    assert.equal((await runOnce(lake.config)).tables[0]!.catalog?.status, 'registered')
    const before = await getTable(moto, 'lake', 'drift_hr_staff')
    assert.deepEqual(
      before.StorageDescriptor!.Columns!.map((c) => c.Name),
      ['dms_commit_ts', 'id', 'name', 'dept', 'cdc_file', 'cdc_row'],
    )
    // someone (a user, Lake Formation) adds a parameter of their own: it must survive the update
    moto.python(`g = boto3.client('glue', endpoint_url=ENDPOINT, aws_access_key_id='testing', aws_secret_access_key='testing')
t = g.get_table(DatabaseName='lake', Name='drift_hr_staff')['Table']
ti = {k: t[k] for k in ['Name', 'Description', 'TableType', 'Parameters', 'PartitionKeys', 'StorageDescriptor']}
ti['Parameters']['owner_team'] = 'data-platform'
g.update_table(DatabaseName='lake', TableInput=ti)`)
    writeFileSync(
      join(folder, '20240521-093000500.csv'),
      'Op,dms_commit_ts,id,name,dept,email\nU,2024-05-21 09:29:10.000000,3,Cid,Ops,cid@example.com\n',
    )
    const r = await runOnce(lake.config)
    assert.equal(r.tables[0]!.error, undefined)
    assert.equal(r.tables[0]!.catalog?.status, 'registered')
    const curated = await getTable(moto, 'lake', 'drift_hr_staff')
    const raw = await getTable(moto, 'lake', 'drift_hr_staff_raw')
    assert.deepEqual(
      curated.StorageDescriptor!.Columns!.map((c) => [c.Name, c.Type]),
      [
        ['dms_commit_ts', 'timestamp'],
        ['id', 'bigint'],
        ['name', 'string'],
        ['dept', 'string'],
        ['email', 'string'],
        ['cdc_file', 'string'],
        ['cdc_row', 'bigint'],
      ],
    )
    assert.deepEqual(
      raw.StorageDescriptor!.Columns!.map((c) => c.Name),
      ['Op', 'dms_commit_ts', 'id', 'name', 'dept', 'email', 'cdc_file', 'cdc_row'],
    )
    assert.equal(curated.Parameters!['owner_team'], 'data-platform')
    assert.equal(curated.Parameters!['projection.partition_0.range'], '20240520,NOW')
  })

  it('a missing Glue database is CDC_CATALOG_FAILED with the hint to create it; the table is ingested', async (t) => {
    if (!moto) return t.skip((await import('./helpers/moto.js')).MOTO_SKIP_REASON)
    useTestKeys()
    const lake = caseLake('design-example', {
      catalog: { type: 'glue', database: 'nodb', region: 'us-east-1', endpoint: moto.endpoint },
    })
    t.after(lake.remove)
    const r = (await runOnce(lake.config)).tables[0]!
    assert.equal(r.status, 'ok')
    assert.equal(r.catalog?.error?.code, 'CDC_CATALOG_FAILED')
    assert.match(
      r.catalog!.error!.message,
      /^glue GetTable of nodb\.op_restaurants failed: EntityNotFoundException: Database nodb not found/,
    )
    assert.equal(r.catalog!.error!.hint, 'create the Glue database nodb (cdc-apply registers tables, not databases)')
  })

  it('an unreachable catalog: run exits 0 with the watermark moved, CDC_CATALOG_FAILED in its output and status; the next run registers', async (t) => {
    if (!moto) return t.skip((await import('./helpers/moto.js')).MOTO_SKIP_REASON)
    useTestKeys()
    const dead = `http://127.0.0.1:${await freePort()}`
    const lake = caseLake('design-example', {
      catalog: {
        type: 'glue',
        database: 'lake',
        region: 'us-east-1',
        tablePrefix: 'down_',
        endpoint: dead,
        maxAttempts: 2,
      },
    })
    t.after(lake.remove)
    const cfg = join(lake.dir, 'cdc-apply.json')
    writeFileSync(cfg, JSON.stringify(lake.json))
    let out = ''
    let err = ''
    const io = { stdout: (s: string) => void (out += s), stderr: (s: string) => void (err += s) }
    assert.equal(await main(['run', '-c', cfg, '--log-level', 'warn'], io), 0)
    assert.match(
      out,
      /catalog OP\.restaurants: CDC_CATALOG_FAILED: glue GetTable of lake\.down_op_restaurants failed: .*ECONNREFUSED.*\(ingestion went on; retried at the next run\)/,
    )
    assert.match(err, /"msg":"catalog registration failed; retried at the next commit or poll"/)
    assert.match(err, /nothing answered at http:\/\/127\.0\.0\.1:\d+: check catalog\.endpoint and catalog\.region/)
    const state = StateStore.open(join(lake.dir, 'out', 'cdc-apply.sqlite'))
    try {
      const s = state.status().find((x) => x.table === 'restaurants')!
      const expected = JSON.parse(
        readFileSync(join(ROOT, 'fixtures', 'cases', 'design-example', 'expected', 'watermark.json'), 'utf8'),
      ) as { TableName: string; LPF: string }[]
      assert.equal(s.lpf, expected.find((x) => x.TableName === 'restaurants')!.LPF)
      assert.equal(s.lastErrorCode, null)
      assert.equal(s.catalogErrorCode, 'CDC_CATALOG_FAILED')
    } finally {
      state.close()
    }
    let status = ''
    assert.equal(await main(['status', '-c', cfg], { stdout: (s) => void (status += s), stderr: () => {} }), 0)
    assert.match(
      status,
      /\ncatalog\nSource +TableName +GLUE TABLES +REGISTERED AT +LAST ERROR\nOP +restaurants +down_op_restaurants,down_op_restaurants_raw +CDC_CATALOG_FAILED: glue GetTable/,
    )

    // the catalog answers again: the next run (no new files) registers
    writeFileSync(
      cfg,
      JSON.stringify({
        ...lake.json,
        catalog: { type: 'glue', database: 'lake', region: 'us-east-1', tablePrefix: 'down_', endpoint: moto.endpoint },
      }),
    )
    out = ''
    assert.equal(await main(['run', '-c', cfg, '--log-level', 'silent', '--json'], io), 0)
    const summary = JSON.parse(out) as { tables: { table: string; status: string; catalog: { status: string } }[] }
    assert.deepEqual(
      summary.tables.map((x) => [x.table, x.status, x.catalog.status]),
      [['restaurants', 'unchanged', 'registered']],
    )
    const firstDate = readdirSync(
      join(ROOT, 'fixtures', 'cases', 'design-example', 'expected', 'curated', 'OP', 'restaurants'),
    )
      .sort()[0]!
      .slice(0, 8)
    assert.equal(
      (await getTable(moto, 'lake', 'down_op_restaurants')).Parameters!['projection.partition_0.range'],
      `${firstDate},NOW`,
    )
    let status2 = ''
    assert.equal(
      await main(['status', '--json', '-c', cfg], { stdout: (s) => void (status2 += s), stderr: () => {} }),
      0,
    )
    const row = (
      JSON.parse(status2) as { tables: { catalogErrorCode: string | null; catalogRegisteredAt: string | null }[] }
    ).tables[0]!
    assert.equal(row.catalogErrorCode, null)
    assert.notEqual(row.catalogRegisteredAt, null)
  })
})

describe('Glue registration with IAM enforced (moto)', () => {
  let moto: MotoServer | undefined
  const keys: Record<string, { AccessKeyId: string; SecretAccessKey: string }> = {}
  before(async () => {
    // moto answers the first 6 requests unauthenticated (the setup below), then checks every request's signature
    // against its IAM users and their policies. moto evaluates Glue requests against the resource "*", so the
    // policy's actions are the docs' and its resource is "*" (the docs scope them to the database; moto cannot).
    moto = await startMoto(undefined, { iamAfter: 6 })
    if (!moto) return
    const actions = docsGlueStatement().Action
    const out = moto.python(`kw = dict(endpoint_url=ENDPOINT, aws_access_key_id='setup', aws_secret_access_key='setup')
boto3.client('glue', **kw).create_database(DatabaseInput={'Name': 'lake'})
iam = boto3.client('iam', **kw)
iam.create_user(UserName='cdc-apply')
iam.put_user_policy(UserName='cdc-apply', PolicyName='glue', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': ${JSON.stringify(actions)}, 'Resource': '*'}]}))
allowed = iam.create_access_key(UserName='cdc-apply')['AccessKey']
iam.create_user(UserName='nobody')
denied = iam.create_access_key(UserName='nobody')['AccessKey']
print(json.dumps({'allowed': {k: allowed[k] for k in ['AccessKeyId', 'SecretAccessKey']}, 'denied': {k: denied[k] for k in ['AccessKeyId', 'SecretAccessKey']}}))`)
    Object.assign(keys, JSON.parse(out))
  })
  after(async () => moto?.stop())

  it("a denied identity gets CDC_CATALOG_DENIED and the table is ingested; with the docs' Glue actions the next runs create and update", async (t) => {
    if (!moto) return t.skip((await import('./helpers/moto.js')).MOTO_SKIP_REASON)
    const lake = caseLake('header-csv', {
      catalog: { type: 'glue', database: 'lake', region: 'us-east-1', tablePrefix: 'iam_', endpoint: moto.endpoint },
    })
    t.after(lake.remove)
    t.after(() => useTestKeys())
    const folder = join(lake.dir, 'bucket', 'dms', 'hr', 'staff')
    rmSync(join(folder, '20240521-093000500.csv'))
    useTestKeys(keys['denied']!.AccessKeyId, keys['denied']!.SecretAccessKey)
    const r1 = await runOnce(lake.config)
    assert.equal(r1.tables[0]!.status, 'ok')
    assert.equal(r1.tables[0]!.error, undefined)
    assert.equal(r1.tables[0]!.catalog?.error?.code, 'CDC_CATALOG_DENIED')
    assert.match(r1.tables[0]!.catalog!.error!.hint!, /grant glue:GetTable, glue:CreateTable and glue:UpdateTable/)
    const state = StateStore.open(join(lake.dir, 'out', 'cdc-apply.sqlite'))
    try {
      assert.equal(state.get('HR', 'staff')?.lpf, '20240520-071502000')
      assert.equal(state.status()[0]!.catalogErrorCode, 'CDC_CATALOG_DENIED')
    } finally {
      state.close()
    }
    useTestKeys(keys['allowed']!.AccessKeyId, keys['allowed']!.SecretAccessKey)
    const r2 = await runOnce(lake.config)
    assert.equal(r2.tables[0]!.status, 'unchanged')
    assert.equal(r2.tables[0]!.catalog?.status, 'registered')
    // drift: UpdateTable under the same policy
    writeFileSync(
      join(folder, '20240521-093000500.csv'),
      'Op,dms_commit_ts,id,name,dept,email\nU,2024-05-21 09:29:10.000000,3,Cid,Ops,cid@example.com\n',
    )
    const r3 = await runOnce(lake.config)
    assert.equal(r3.tables[0]!.status, 'ok')
    assert.equal(r3.tables[0]!.catalog?.status, 'registered', JSON.stringify(r3.tables[0]!.catalog?.error?.message))
    useTestKeys()
    assert.ok(
      (await getTable(moto, 'lake', 'iam_hr_staff').catch(() => undefined)) === undefined,
      'moto enforces IAM: unknown keys cannot read the table',
    )
  })
})
