// Catalog registration of tableFormat "iceberg" tables. Against moto's server mode: curated is a Glue table with
// table_type=ICEBERG whose metadata_location is the newest vN.metadata.json on disk (and previous_metadata_location
// the pointer it replaced), RAW the external Parquet table with partition projection; pyiceberg reads the registered
// metadata file; an unreachable catalog and a pointer moved by another writer give their coded errors while the
// watermark advances. Without Glue (a scripted catalog): a denied catalog in watch mode, the pointer's history rules,
// and `cdc-apply catalog --emit` for Iceberg tables. moto: bash scripts/setup-moto.sh (skipped with the reason
// without it; required when CI=true); pyiceberg: CDC_APPLY_PYICEBERG_PYTHON (scripts/setup-pyiceberg.sh).
import { after, before, describe, it, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GetTableCommand, GlueClient, type Table } from '@aws-sdk/client-glue'
import { runOnce } from '../src/run.js'
import { resetTable } from '../src/reset.js'
import { runWatch } from '../src/watch.js'
import { Metrics } from '../src/metrics.js'
import { StateStore } from '../src/state/index.js'
import { CatalogError } from '../src/errors.js'
import { main } from '../src/cli/main.js'
import { Registrar } from '../src/catalog/register.js'
import { openCuratedIceberg } from '../src/catalog/iceberg.js'
import { LocalStore } from '../src/store/local-store.js'
import type { GlueTableInput } from '../src/catalog/table-def.js'
import { caseLake, type CaseLake } from './helpers/case-lake.js'
import { FakeCatalog } from './helpers/fake-catalog.js'
import { freePort, startMoto, type MotoServer } from './helpers/moto.js'

const CI = process.env['CI'] === 'true'
const STAFF = ['out', 'curated', 'HR', 'staff']
const LATE = '20240521-093000500.csv'

/** header-csv as an Iceberg table, without its last change file (written back by `deliverLate`). */
function icebergLake(catalog: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}): CaseLake {
  const lake = caseLake('header-csv', { tableFormat: 'iceberg', ...(catalog ? { catalog } : {}), ...extra })
  rmSync(join(lake.dir, 'bucket', 'dms', 'hr', 'staff', LATE))
  return lake
}

/** RAW date folders (iceberg.raw false): the tests of RAW's projection registration and DDL. */
const FOLDERS = { iceberg: { raw: false } }

/** The late change file, with a new column (schema drift). */
function deliverLate(lake: CaseLake): void {
  writeFileSync(
    join(lake.dir, 'bucket', 'dms', 'hr', 'staff', LATE),
    'Op,dms_commit_ts,id,name,dept,email\nU,2024-05-21 09:29:10.000000,3,Cid,Ops,cid@example.com\n',
  )
}

/** The URI of the highest vN.metadata.json in the table's metadata folder (as the metadata files name each other). */
function newestMetadata(lake: CaseLake, table: readonly string[] = STAFF): string {
  const dir = join(lake.dir, ...table, 'metadata')
  const n = Math.max(
    ...readdirSync(dir)
      .map((f) => /^v(\d+)\.metadata\.json$/.exec(f)?.[1])
      .filter((x) => x !== undefined)
      .map(Number),
  )
  return `file://${dir}/v${n}.metadata.json`
}

async function getTable(moto: MotoServer, database: string, name: string): Promise<Table> {
  const client = new GlueClient({
    region: moto.region,
    endpoint: moto.endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  })
  try {
    return (await client.send(new GetTableCommand({ DatabaseName: database, Name: name }))).Table!
  } finally {
    client.destroy()
  }
}

function useTestKeys(): void {
  process.env['AWS_ACCESS_KEY_ID'] = 'testing'
  process.env['AWS_SECRET_ACCESS_KEY'] = 'testing'
  delete process.env['AWS_SESSION_TOKEN']
  delete process.env['AWS_PROFILE']
}

describe('Glue registration of Iceberg tables (moto)', () => {
  let moto: MotoServer | undefined
  before(async () => {
    moto = await startMoto(undefined)
    if (moto)
      moto.python(
        `boto3.client('glue', endpoint_url=ENDPOINT, aws_access_key_id='testing', aws_secret_access_key='testing').create_database(DatabaseInput={'Name': 'lake'})`,
      )
  })
  after(async () => moto?.stop())
  const glueCatalog = (prefix: string, endpoint = moto!.endpoint) => ({
    type: 'glue',
    database: 'lake',
    region: 'us-east-1',
    tablePrefix: prefix,
    endpoint,
  })

  it('run registers curated as table_type ICEBERG at the newest metadata file, RAW with projection; the next commit moves the pointer and keeps the previous one', async (t) => {
    if (!moto) return t.skip((await import('./helpers/moto.js')).MOTO_SKIP_REASON)
    useTestKeys()
    const lake = icebergLake(glueCatalog('ice_'), FOLDERS)
    t.after(lake.remove)
    const r1 = (await runOnce(lake.config)).tables[0]!
    assert.equal(r1.status, 'ok')
    assert.equal(r1.catalog?.status, 'registered', r1.catalog?.error?.message)
    assert.deepEqual(r1.catalog?.tables, ['ice_hr_staff', 'ice_hr_staff_raw'])
    const first = await getTable(moto, 'lake', 'ice_hr_staff')
    const v1 = newestMetadata(lake)
    assert.equal(first.TableType, 'EXTERNAL_TABLE')
    assert.deepEqual(first.Parameters, {
      EXTERNAL: 'TRUE',
      table_type: 'ICEBERG',
      metadata_location: v1,
      'cdc_apply.table': 'HR.staff',
      'cdc_apply.kind': 'iceberg',
    })
    assert.equal(first.StorageDescriptor!.Location, `file://${join(lake.dir, ...STAFF)}`)
    assert.deepEqual(first.PartitionKeys ?? [], [])
    assert.deepEqual(
      first.StorageDescriptor!.Columns!.map((c) => [c.Name, c.Type]),
      [
        ['dms_commit_ts', 'timestamp'],
        ['id', 'bigint'],
        ['name', 'string'],
        ['dept', 'string'],
        ['cdc_file', 'string'],
        ['cdc_row', 'bigint'],
      ],
    )
    const raw = await getTable(moto, 'lake', 'ice_hr_staff_raw')
    const rawLocation = `file://${lake.dir}/out/raw/HR/staff/`
    assert.equal(raw.StorageDescriptor!.Location, rawLocation)
    assert.deepEqual(
      raw.PartitionKeys?.map((c) => [c.Name, c.Type]),
      [['partition_0', 'string']],
    )
    assert.deepEqual(
      raw.StorageDescriptor!.Columns!.map((c) => c.Name),
      ['Op', 'dms_commit_ts', 'id', 'name', 'dept', 'cdc_file', 'cdc_row'],
    )
    assert.equal(raw.Parameters!['projection.partition_0.range'], '20240520,NOW')
    assert.equal(raw.Parameters!['storage.location.template'], `${rawLocation}\${partition_0}/`)
    assert.equal(raw.Parameters!['cdc_apply.kind'], 'raw')

    // nothing new: no commit, no Glue call that changes the table
    const r2 = (await runOnce(lake.config)).tables[0]!
    assert.equal(r2.status, 'unchanged')
    assert.equal(r2.catalog, undefined)
    assert.equal((await getTable(moto, 'lake', 'ice_hr_staff')).VersionId, first.VersionId)

    // a new change file with a new column: a new metadata file; Glue follows it and remembers the one it replaced
    deliverLate(lake)
    const r3 = (await runOnce(lake.config)).tables[0]!
    assert.equal(r3.status, 'ok')
    assert.equal(r3.catalog?.status, 'registered', r3.catalog?.error?.message)
    const second = await getTable(moto, 'lake', 'ice_hr_staff')
    const v2 = newestMetadata(lake)
    assert.notEqual(v2, v1)
    assert.equal(second.Parameters!['metadata_location'], v2)
    assert.equal(second.Parameters!['previous_metadata_location'], v1)
    assert.equal(second.Parameters!['table_type'], 'ICEBERG')
    assert.deepEqual(
      second.StorageDescriptor!.Columns!.map((c) => c.Name),
      ['dms_commit_ts', 'id', 'name', 'dept', 'email', 'cdc_file', 'cdc_row'],
    )
    assert.deepEqual(
      (await getTable(moto, 'lake', 'ice_hr_staff_raw')).StorageDescriptor!.Columns!.map((c) => c.Name),
      ['Op', 'dms_commit_ts', 'id', 'name', 'dept', 'email', 'cdc_file', 'cdc_row'],
    )
    // the registered metadata file is the table's commit: its metadata-log names the previous pointer
    const meta = JSON.parse(readFileSync(fileURLToPath(v2), 'utf8')) as {
      'metadata-log': { 'metadata-file': string }[]
    }
    assert.ok(meta['metadata-log'].some((m) => m['metadata-file'] === v1))

    // an independent reader opens the table from the registered pointer: pyiceberg reads the live rows
    const python = process.env['CDC_APPLY_PYICEBERG_PYTHON']
    if (!python) {
      if (CI) assert.fail('required in CI: CDC_APPLY_PYICEBERG_PYTHON (bash scripts/setup-pyiceberg.sh)')
      t.diagnostic('pyiceberg read skipped: CDC_APPLY_PYICEBERG_PYTHON is not set (bash scripts/setup-pyiceberg.sh)')
      return
    }
    const py = spawnSync(
      python,
      [
        '-c',
        'import sys, json\nfrom pyiceberg.table import StaticTable\nt = StaticTable.from_metadata(sys.argv[1]).scan().to_arrow()\nprint(json.dumps(sorted([[r["id"], r["name"], r["dept"], r["email"]] for r in t.to_pylist()])))',
        second.Parameters!['metadata_location']!,
      ],
      { encoding: 'utf8' },
    )
    assert.equal(py.status, 0, py.stderr)
    // the same rows as cdc-apply's own reader finds in the live table (the late file updated id 3)
    const live = (
      await openCuratedIceberg(new LocalStore(join(lake.dir, 'out', 'curated')), lake.config.tables[0]!)
    ).read('main')
    const want = (await live)!
      .toArray()
      .map((r) => [Number(r['id']), r['name'], r['dept'], r['email']])
      .sort((a, b) => (a[0] as number) - (b[0] as number))
    assert.ok(want.length > 0)
    assert.deepEqual(JSON.parse(py.stdout.trim()), want)
    assert.ok(want.some((r) => r[3] === 'cid@example.com'))
  })

  it('a RAW Iceberg table (iceberg.raw) is registered as table_type ICEBERG at its own newest metadata file; the next commit moves it', async (t) => {
    if (!moto) return t.skip((await import('./helpers/moto.js')).MOTO_SKIP_REASON)
    useTestKeys()
    const lake = icebergLake(glueCatalog('rawice_'), { iceberg: { raw: true } })
    t.after(lake.remove)
    const RAW = ['out', 'raw', 'HR', 'staff']
    const r1 = (await runOnce(lake.config)).tables[0]!
    assert.equal(r1.status, 'ok')
    assert.equal(r1.catalog?.status, 'registered', r1.catalog?.error?.message)
    assert.deepEqual(r1.catalog?.tables, ['rawice_hr_staff', 'rawice_hr_staff_raw'])
    const raw1 = await getTable(moto, 'lake', 'rawice_hr_staff_raw')
    const v1 = newestMetadata(lake, RAW)
    assert.deepEqual(raw1.Parameters, {
      EXTERNAL: 'TRUE',
      table_type: 'ICEBERG',
      metadata_location: v1,
      'cdc_apply.table': 'HR.staff (RAW)',
      'cdc_apply.kind': 'iceberg',
    })
    assert.equal(raw1.StorageDescriptor!.Location, `file://${join(lake.dir, ...RAW)}`)
    assert.deepEqual(raw1.PartitionKeys ?? [], [], 'no projection: the partitions are in the metadata')
    assert.deepEqual(
      raw1.StorageDescriptor!.Columns!.map((c) => c.Name),
      ['Op', 'dms_commit_ts', 'id', 'name', 'dept', 'cdc_file', 'cdc_row', 'partition_0'],
    )
    // curated is registered as before, at its own metadata file
    assert.equal(
      (await getTable(moto, 'lake', 'rawice_hr_staff')).Parameters!['metadata_location'],
      newestMetadata(lake),
    )

    deliverLate(lake)
    const r2 = (await runOnce(lake.config)).tables[0]!
    assert.equal(r2.catalog?.status, 'registered', r2.catalog?.error?.message)
    const raw2 = await getTable(moto, 'lake', 'rawice_hr_staff_raw')
    const v2 = newestMetadata(lake, RAW)
    assert.notEqual(v2, v1)
    assert.equal(raw2.Parameters!['metadata_location'], v2)
    assert.equal(raw2.Parameters!['previous_metadata_location'], v1)
    assert.ok(
      raw2.StorageDescriptor!.Columns!.some((c) => c.Name === 'email'),
      'the new column',
    )
  })

  it('an unreachable catalog: the watermark advances, CDC_CATALOG_FAILED in the result and status; the next run creates the Iceberg table at the newest metadata', async (t) => {
    if (!moto) return t.skip((await import('./helpers/moto.js')).MOTO_SKIP_REASON)
    useTestKeys()
    const dead = `http://127.0.0.1:${await freePort()}`
    const lake = icebergLake({ ...glueCatalog('down_', dead), maxAttempts: 2 })
    t.after(lake.remove)
    const r1 = (await runOnce(lake.config)).tables[0]!
    assert.equal(r1.status, 'ok')
    assert.equal(r1.error, undefined)
    assert.equal(r1.catalog?.error?.code, 'CDC_CATALOG_FAILED')
    assert.match(r1.catalog!.error!.message, /^glue GetTable of lake\.down_hr_staff(_raw)? failed: .*ECONNREFUSED/)
    const statePath = join(lake.dir, 'out', 'cdc-apply.sqlite')
    const state = StateStore.open(statePath)
    try {
      assert.equal(state.get('HR', 'staff')?.lpf, '20240520-071502000')
      assert.equal(state.status()[0]!.catalogErrorCode, 'CDC_CATALOG_FAILED')
    } finally {
      state.close()
    }
    // more changes arrive while the catalog is still down: the watermark goes on
    deliverLate(lake)
    const r2 = (await runOnce(lake.config)).tables[0]!
    assert.equal(r2.status, 'ok')
    assert.equal(r2.catalog?.error?.code, 'CDC_CATALOG_FAILED')
    // the catalog answers again: the next run (no new files) registers the newest metadata file
    const r3 = (await runOnce({ ...lake.config, catalog: { ...lake.config.catalog!, endpoint: moto.endpoint } }))
      .tables[0]!
    assert.equal(r3.status, 'unchanged')
    assert.equal(r3.catalog?.status, 'registered', r3.catalog?.error?.message)
    const table = await getTable(moto, 'lake', 'down_hr_staff')
    assert.equal(table.Parameters!['metadata_location'], newestMetadata(lake))
    assert.equal(table.Parameters!['previous_metadata_location'], undefined)
    const s = StateStore.open(statePath)
    try {
      assert.equal(s.get('HR', 'staff')?.lpf, '20240521-093000500')
      assert.equal(s.status()[0]!.catalogErrorCode, null)
    } finally {
      s.close()
    }
  })

  it('a pointer that another writer moved is refused with CDC_CATALOG_FAILED (not transient) and left alone; ingestion goes on', async (t) => {
    if (!moto) return t.skip((await import('./helpers/moto.js')).MOTO_SKIP_REASON)
    useTestKeys()
    const lake = icebergLake(glueCatalog('stale_'))
    t.after(lake.remove)
    assert.equal((await runOnce(lake.config)).tables[0]!.catalog?.status, 'registered')
    const foreign = 's3://elsewhere/warehouse/hr/staff/metadata/00007-abc.metadata.json'
    moto.python(`g = boto3.client('glue', endpoint_url=ENDPOINT, aws_access_key_id='testing', aws_secret_access_key='testing')
t = g.get_table(DatabaseName='lake', Name='stale_hr_staff')['Table']
ti = {k: t[k] for k in ['Name', 'Description', 'TableType', 'Parameters', 'PartitionKeys', 'StorageDescriptor']}
ti['Parameters']['metadata_location'] = ${JSON.stringify(foreign)}
g.update_table(DatabaseName='lake', TableInput=ti)`)
    deliverLate(lake)
    const r = (await runOnce(lake.config)).tables[0]!
    assert.equal(r.status, 'ok')
    assert.equal(r.error, undefined)
    assert.equal(r.catalog?.error?.code, 'CDC_CATALOG_FAILED')
    assert.equal(r.catalog?.error?.transient, false)
    assert.match(
      r.catalog!.error!.message,
      new RegExp(
        `^glue table lake\\.stale_hr_staff points at "${foreign.replaceAll('.', '\\.')}", expected one of the \\d+ metadata files that .* descends from`,
      ),
    )
    assert.equal((await getTable(moto, 'lake', 'stale_hr_staff')).Parameters!['metadata_location'], foreign)
    const state = StateStore.open(join(lake.dir, 'out', 'cdc-apply.sqlite'))
    try {
      assert.equal(state.get('HR', 'staff')?.lpf, '20240521-093000500')
    } finally {
      state.close()
    }
  })
})

describe('Iceberg registration without Glue (a scripted catalog)', () => {
  it('watch mode: a denied catalog is counted in the metrics, the watermark advances, and a later poll registers', async (t) => {
    const lake = icebergLake({ type: 'glue', database: 'lake', tablePrefix: 'w_' }, FOLDERS)
    t.after(lake.remove)
    const fake = new FakeCatalog()
    fake.failWith = new CatalogError(
      'CDC_CATALOG_DENIED',
      'glue GetTable of lake.w_hr_staff failed: AccessDeniedException: no',
      { transient: true },
    )
    const metrics = new Metrics(60_000)
    const controller = new AbortController()
    const seen: string[] = []
    let rendered = ''
    let lpf: string | undefined
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
          lpf = r.lpf
          fake.failWith = undefined
        }
        if (r.catalog?.status === 'registered' || seen.length >= 5) controller.abort()
      },
    })
    assert.equal(seen[0], 'error')
    assert.equal(lpf, '20240520-071502000')
    assert.equal(seen.at(-1), 'registered')
    assert.match(rendered, /cdc_apply_catalog_errors_total\{table="HR.staff",code="CDC_CATALOG_DENIED"\} 1/)
    assert.match(rendered, /cdc_apply_catalog_registered\{table="HR.staff"\} 0/)
    assert.match(metrics.render(), /cdc_apply_catalog_registered\{table="HR.staff"\} 1/)
    assert.equal(fake.tables.get('w_hr_staff')?.Parameters['table_type'], 'ICEBERG')
    assert.equal(fake.tables.get('w_hr_staff')?.Parameters['metadata_location'], newestMetadata(lake))
    assert.equal(fake.tables.get('w_hr_staff_raw')?.Parameters['projection.enabled'], 'true')
  })

  it('the pointer moves from the metadata file the commit replaced, and from a file that reset removed; a Parquet table of that name is refused', async (t) => {
    const lake = icebergLake({ type: 'glue', database: 'lake', tablePrefix: '' })
    t.after(lake.remove)
    const fake = new FakeCatalog()
    const state = StateStore.open(join(lake.dir, 'out', 'cdc-apply.sqlite'))
    const registrar = new Registrar(lake.config, lake.config.catalog!, fake, state, { retryAfterMs: 0 })
    try {
      assert.equal((await runOnce(lake.config, { catalog: registrar })).tables[0]!.catalog?.status, 'registered')
      const v1 = newestMetadata(lake)
      // the next commit moves the pointer from the first metadata file
      deliverLate(lake)
      assert.equal((await runOnce(lake.config, { catalog: registrar })).tables[0]!.catalog?.status, 'registered')
      assert.equal(fake.tables.get('hr_staff')!.Parameters['previous_metadata_location'], v1)

      // reset removes the table's files; the reprocessed table starts at v1 again while Glue points at a removed file
      const before = fake.tables.get('hr_staff')!.Parameters['metadata_location']!
      state.close()
      await resetTable(lake.config, 'HR.staff')
      const reopened = StateStore.open(join(lake.dir, 'out', 'cdc-apply.sqlite'))
      const again = new Registrar(lake.config, lake.config.catalog!, fake, reopened, { retryAfterMs: 0 })
      try {
        rmSync(join(lake.dir, 'bucket', 'dms', 'hr', 'staff', LATE))
        const r = (await runOnce(lake.config, { catalog: again })).tables[0]!
        assert.equal(r.catalog?.status, 'registered', r.catalog?.error?.message)
        assert.equal(fake.tables.get('hr_staff')!.Parameters['metadata_location'], newestMetadata(lake))
        assert.equal(fake.tables.get('hr_staff')!.Parameters['previous_metadata_location'], before)

        // a plain Parquet table already holds the name: refused, not overwritten
        const parquet: GlueTableInput = {
          ...fake.tables.get('hr_staff')!,
          Parameters: { EXTERNAL: 'TRUE', classification: 'parquet' },
        }
        fake.tables.set('hr_staff', parquet)
        deliverLate(lake)
        const r2 = (await runOnce(lake.config, { catalog: again })).tables[0]!
        assert.equal(r2.status, 'ok')
        assert.equal(r2.catalog?.error?.code, 'CDC_CATALOG_FAILED')
        assert.match(
          r2.catalog!.error!.message,
          /^glue table lake\.hr_staff is not an Iceberg table \(table_type null\)/,
        )
        assert.deepEqual(fake.tables.get('hr_staff')!.Parameters, parquet.Parameters)
      } finally {
        reopened.close()
      }
    } finally {
      try {
        state.close()
      } catch {
        // closed before the reset
      }
    }
  })
})

test('cdc-apply catalog --emit for an Iceberg table: Glue input with table_type ICEBERG, Spark register_table, Athena explains and gives the Glue call; RAW as for Parquet', async (t) => {
  const lake = icebergLake(undefined, FOLDERS)
  t.after(lake.remove)
  deliverLate(lake)
  const cfg = join(lake.dir, 'cdc-apply.json')
  writeFileSync(cfg, JSON.stringify(lake.json))
  const io = () => {
    let out = ''
    return { io: { stdout: (s: string) => void (out += s), stderr: () => {} }, out: () => out }
  }
  assert.equal(await main(['run', '-c', cfg, '--log-level', 'silent'], io().io), 0)
  const P = ['--database', 'lake', '--table-prefix', 'dms_', '-c', cfg, '--log-level', 'silent']
  const newest = newestMetadata(lake)

  const glue = io()
  assert.equal(await main(['catalog', '--emit', 'glue-json', ...P], glue.io), 0)
  const inputs = JSON.parse(glue.out()) as { DatabaseName: string; TableInput: GlueTableInput }[]
  assert.deepEqual(
    inputs.map((i) => [i.DatabaseName, i.TableInput.Name]),
    [
      ['lake', 'dms_hr_staff'],
      ['lake', 'dms_hr_staff_raw'],
    ],
  )
  const ice = inputs[0]!.TableInput
  assert.deepEqual(ice.Parameters, {
    EXTERNAL: 'TRUE',
    table_type: 'ICEBERG',
    metadata_location: newest,
    'cdc_apply.table': 'HR.staff',
    'cdc_apply.kind': 'iceberg',
  })
  assert.equal(ice.StorageDescriptor.Location, `file://${join(lake.dir, ...STAFF)}`)
  assert.deepEqual(
    ice.StorageDescriptor.Columns.map((c) => c.Name),
    ['dms_commit_ts', 'id', 'name', 'dept', 'email', 'cdc_file', 'cdc_row'],
  )
  assert.equal(
    inputs[1]!.TableInput.Parameters['storage.location.template'],
    `file://${lake.dir}/out/raw/HR/staff/\${partition_0}/`,
  )
  assert.deepEqual(
    inputs[1]!.TableInput.StorageDescriptor.Columns.map((c) => c.Name),
    ['Op', 'dms_commit_ts', 'id', 'name', 'dept', 'email', 'cdc_file', 'cdc_row'],
  )

  const athena = io()
  assert.equal(await main(['catalog', '--emit', 'athena', ...P], athena.io), 0)
  const [comment, rawDdl] = athena.out().trim().split('\n\n')
  assert.ok(
    comment!.split('\n').every((l) => l.startsWith('--')),
    'the Iceberg part is SQL comments only',
  )
  assert.match(
    comment!,
    /CREATE TABLE \.\.\. TBLPROPERTIES \('table_type'='ICEBERG'\) creates a new, empty Iceberg table/,
  )
  const call = /^-- {3}aws glue create-table --database-name 'lake' --table-input '(.*)'$/m.exec(comment!)
  assert.ok(call, comment)
  assert.deepEqual(JSON.parse(call[1]!), ice, 'the AWS CLI call registers the same input as glue-json')
  const meta = JSON.parse(readFileSync(fileURLToPath(newest), 'utf8')) as {
    refs: Record<string, { 'snapshot-id': number }>
  }
  assert.match(
    comment!,
    new RegExp(`FOR VERSION AS OF ${meta.refs['d20240521']!['snapshot-id']}; -- tag d20240521$`, 'm'),
  )
  assert.match(rawDdl!, /^CREATE EXTERNAL TABLE IF NOT EXISTS `lake`\.`dms_hr_staff_raw` \(\n {2}`Op` string,/)
  assert.equal(athena.out().includes('`dms_hr_staff` ('), false, 'no Hive DDL for the Iceberg table')

  const spark = io()
  assert.equal(await main(['catalog', '--emit', 'spark', ...P], spark.io), 0)
  assert.match(
    spark.out(),
    new RegExp(
      `^CALL \`spark_catalog\`\\.system\\.register_table\\(table => 'lake\\.dms_hr_staff', metadata_file => '${newest.replaceAll('.', '\\.')}'\\);$`,
      'm',
    ),
  )
  assert.match(
    spark.out(),
    /^ALTER TABLE `lake`\.`dms_hr_staff_raw` ADD IF NOT EXISTS PARTITION \(`partition_0`='20240521'\)/m,
  )
  assert.equal(
    /USING parquet[\s\S]*`dms_hr_staff` \(/.test(spark.out()) ||
      /CREATE TABLE IF NOT EXISTS `lake`\.`dms_hr_staff` /.test(spark.out()),
    false,
    'no Parquet table over the Iceberg folder',
  )
})
