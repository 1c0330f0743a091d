// A curated Iceberg table on S3 (a real MinIO server with a KMS key) with encryption.curated SSE-KMS: two runs
// with merge-on-read commits, then `compact` (compaction, expiry and orphan removal on S3).
// Every object of the table (data and position-delete files, manifests, manifest lists, metadata files, the hint,
// the watermark marker)
// is stored SSE-KMS with the configured key; every ref reads as the same table on folders; verify is equal.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { copyFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { verify } from '../src/check/verify.js'
import { compactTables } from '../src/compact.js'
import { S3Store } from '../src/store/s3-store.js'
import { LocalStore } from '../src/store/local-store.js'
import type { ObjectStore } from '../src/store/object-store.js'
import { IcebergTable } from '../src/iceberg/table.js'
import { storeUri } from '../src/iceberg-sink.js'
import { generate, benchConfig, DEFAULT_GEN } from '../scripts/bench/gen.js'
import { tempDir } from './helpers/outputs.js'
import { tableRows } from './helpers/iceberg-cases.js'
import { MINIO_SKIP_REASON, startMinio, type MinioServer } from './helpers/minio.js'

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true'

let minio: MinioServer | undefined
const tmp = tempDir('cdc-iceberg-s3-')
before(async () => {
  minio = await startMinio()
})
after(async () => {
  await minio?.stop()
  tmp.remove()
})

const src = join(tmp.path, 'src')
const gen = generate({ ...DEFAULT_GEN, dir: src, changes: 1200, keys: 200, rowsPerFile: 200, dates: 3 })
const keys = gen.files.map((f) => f.key)
const half = Math.ceil(keys.length / 2)

function deliver(landing: string, files: string[]): void {
  for (const k of files) {
    mkdirSync(dirname(join(landing, k)), { recursive: true })
    copyFileSync(join(src, k), join(landing, k))
  }
}

async function refs(store: ObjectStore): Promise<Record<string, unknown>> {
  const ice = await IcebergTable.open(store, 'BENCH/orders', `${storeUri(store)}/BENCH/orders`, 'BENCH.orders')
  const out: Record<string, unknown> = {}
  for (const r of Object.keys(ice.meta!.refs).sort()) out[r] = tableRows((await ice.read(r))!)
  return out
}

test('an Iceberg table on MinIO with SSE-KMS: every data, delete, manifest and metadata object is SSE-KMS with the key; refs read as on folders; compact and verify work on S3', async (t) => {
  if (!minio) return t.skip(MINIO_SKIP_REASON)
  const bucket = 'cdc-iceberg-kms'
  await minio.createBucket(bucket)
  // the runs leave delete files (no threshold compaction); compact then compacts and removes orphans on S3
  const iceberg = { compactDeleteShare: 1, keepSnapshots: 1, orphanMinAgeSeconds: 0 }
  const configs: Config[] = []
  for (const where of ['folder', 's3']) {
    const dir = join(tmp.path, where)
    const landing = join(dir, 'landing')
    const json = { ...benchConfig(landing, join(dir, 'out'), 'csv'), tableFormat: 'iceberg', iceberg }
    const c = parseConfig(
      where === 'folder'
        ? json
        : {
            ...json,
            raw: `s3://${bucket}/lake/raw`,
            curated: `s3://${bucket}/lake/curated`,
            encryption: { curated: { mode: 'SSE-KMS', kmsKeyId: minio.kmsKeyId } },
          },
      dir,
    )
    const config = where === 'folder' ? c : { ...c, s3: minio.s3Options }
    for (const files of [keys.slice(0, half), keys.slice(half)]) {
      deliver(landing, files)
      const s = await runOnce(config)
      assert.equal(s.tables[0]!.status, 'ok', String(s.tables[0]!.error))
    }
    configs.push(config)
  }
  const [folder, s3] = configs as [Config, Config]
  const done = await compactTables(s3, ['BENCH.orders'])
  assert.equal(done[0]!.status, 'compacted', JSON.stringify(done))

  const store = new S3Store(s3.curated, { s3: minio.s3Options })
  try {
    const ice = await IcebergTable.open(store, 'BENCH/orders', `${storeUri(store)}/BENCH/orders`, 'BENCH.orders')
    assert.ok(
      ice.meta!.snapshots.some((s) => s.summary.operation === 'replace'),
      'compact wrote a replace snapshot',
    )
    assert.deepEqual(await refs(store), await refs(new LocalStore(folder.curated)), 'every ref as on folders')
    const client = new S3Client({
      ...minio.s3Options,
      credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey },
    })
    const kinds = new Set<string>()
    try {
      for await (const o of store.list('BENCH/orders/')) {
        const name = o.key.slice(o.key.lastIndexOf('/') + 1)
        kinds.add(
          /-deletes(-\d+)?\.parquet$/.test(name)
            ? 'delete file'
            : name.endsWith('.parquet')
              ? 'data file'
              : name.startsWith('snap-')
                ? 'manifest list'
                : name.endsWith('.avro')
                  ? 'manifest'
                  : name.endsWith('.metadata.json')
                    ? 'metadata'
                    : name,
        )
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `lake/curated/${o.key}` }))
        assert.equal(head.ServerSideEncryption, 'aws:kms', o.key)
        assert.ok(head.SSEKMSKeyId?.includes(minio.kmsKeyId), `${o.key}: ${head.SSEKMSKeyId}`)
      }
    } finally {
      client.destroy()
    }
    assert.deepEqual([...kinds].sort(), [
      '_cdc_apply.json',
      'data file',
      'delete file',
      'manifest',
      'manifest list',
      'metadata',
      'version-hint.text',
    ])
  } finally {
    await store.close()
  }
  const v = await verify(s3, { record: false })
  assert.equal(v.verdict, 'equal', JSON.stringify(v.tables[0]!.error))
})
