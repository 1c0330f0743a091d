// A RAW Iceberg table (iceberg.raw) on S3 (a real MinIO server with a KMS key) with encryption.raw SSE-KMS: three
// runs (appends, a compaction of a closed date, snapshot expiry with keepSnapshots 2, orphan removal after the
// compaction). The table reads back per date as the same input's RAW Iceberg table in a folder; every object of it
// (data files, manifests, manifest lists, metadata files, the hint) is SSE-KMS with the key; nothing is stored but
// what its kept snapshots reference; verify is equal.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { copyFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { parseConfig, type Config } from '../src/config.js'
import { runOnce } from '../src/run.js'
import { verify } from '../src/check/verify.js'
import { S3Store } from '../src/store/s3-store.js'
import { StateStore } from '../src/state/index.js'
import { LocalStore } from '../src/store/local-store.js'
import type { ObjectStore } from '../src/store/object-store.js'
import { IcebergTable } from '../src/iceberg/table.js'
import { decodeManifest, decodeManifestList } from '../src/iceberg/avro.js'
import { storeUri } from '../src/iceberg-sink.js'
import { RAW_PARTITION } from '../src/raw-iceberg.js'
import { generate, benchConfig, DEFAULT_GEN } from '../scripts/bench/gen.js'
import { parquetRows, sortRows, tempDir, type Row } from './helpers/outputs.js'
import { MINIO_SKIP_REASON, startMinio, type MinioServer } from './helpers/minio.js'

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true'

let minio: MinioServer | undefined
const tmp = tempDir('cdc-raw-iceberg-s3-')
before(async () => {
  minio = await startMinio()
})
after(async () => {
  await minio?.stop()
  tmp.remove()
})

const src = join(tmp.path, 'src')
const gen = generate({ ...DEFAULT_GEN, dir: src, changes: 900, keys: 150, rowsPerFile: 100, dates: 3 })
const keys = gen.files.map((f) => f.key)
const dates = [...new Set(gen.files.map((f) => f.date))].sort()
// three arrivals, the first two cut inside a date: those dates get two writes each and are compacted once closed
const cutIn = (d: string): number => {
  const of = gen.files.filter((f) => f.date === d)
  return gen.files.indexOf(of[Math.floor(of.length / 2)]!)
}
const cuts = [cutIn(dates[0]!), cutIn(dates[1]!)]
const arrivals = [keys.slice(0, cuts[0]), keys.slice(cuts[0], cuts[1]), keys.slice(cuts[1])]

function deliver(landing: string, files: string[]): void {
  for (const k of files) {
    mkdirSync(dirname(join(landing, k)), { recursive: true })
    copyFileSync(join(src, k), join(landing, k))
  }
}

function open(store: ObjectStore): Promise<IcebergTable> {
  return IcebergTable.open(store, 'BENCH/orders', `${storeUri(store)}/BENCH/orders`, 'BENCH.orders (RAW)')
}

/** The current snapshot's RAW rows by date, each data file read from the store. */
async function rawByDate(store: ObjectStore): Promise<Record<string, Row[]>> {
  const ice = await open(store)
  const out: Record<string, Row[]> = {}
  for (const e of (await ice.files(ice.current()!)).data)
    (out[e.data_file.partition[RAW_PARTITION]!] ??= []).push(
      ...parquetRows(await store.get(ice.keyOf(e.data_file.file_path))),
    )
  for (const k of Object.keys(out)) out[k] = sortRows(out[k]!)
  return out
}

test('a RAW Iceberg table on MinIO with SSE-KMS: runs, a compaction and expiry on S3; every object SSE-KMS; reads as the folder table; verify is equal', async (t) => {
  if (!minio) return t.skip(MINIO_SKIP_REASON)
  const bucket = 'cdc-raw-iceberg-kms'
  await minio.createBucket(bucket)
  const iceberg = { raw: true, keepSnapshots: 2, orphanMinAgeSeconds: 0 }
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
            encryption: { raw: { mode: 'SSE-KMS', kmsKeyId: minio.kmsKeyId } },
          },
      dir,
    )
    const config = where === 'folder' ? c : { ...c, s3: minio.s3Options }
    for (const files of arrivals) {
      deliver(landing, files)
      const s = await runOnce(config)
      assert.equal(s.tables[0]!.status, 'ok', String(s.tables[0]!.error))
    }
    configs.push(config)
  }
  const [folder, s3] = configs as [Config, Config]
  const store = new S3Store(s3.raw, { s3: minio.s3Options })
  try {
    const ice = await open(store)
    assert.ok(ice.meta!.snapshots.length <= 2, `${ice.meta!.snapshots.length} snapshots kept`)
    const want = await rawByDate(new LocalStore(folder.raw))
    assert.deepEqual(Object.keys(want).sort(), dates, 'every date in the folder table')
    assert.deepEqual(await rawByDate(store), want, 'every date as in the folder table')
    // the closed dates were compacted on S3: one write's parts each (their replace snapshots may have expired since)
    const state = StateStore.open(s3.state)
    try {
      for (const d of dates.slice(0, 2))
        assert.equal(new Set(state.rawParts('BENCH', 'orders', d).map((p) => p.step)).size, 1, `${d} compacted`)
    } finally {
      state.close()
    }
    // nothing stored but what the kept snapshots reference (the compactions' inputs and old snapshots' files went)
    const referenced = new Set<string>()
    for (const s of ice.meta!.snapshots) {
      referenced.add(ice.keyOf(s['manifest-list']))
      for (const m of await decodeManifestList(await store.get(ice.keyOf(s['manifest-list'])))) {
        referenced.add(ice.keyOf(m.manifest_path))
        for (const e of (await decodeManifest(await store.get(ice.keyOf(m.manifest_path)))).entries)
          if (e.status !== 2) referenced.add(ice.keyOf(e.data_file.file_path))
      }
    }
    const client = new S3Client({
      ...minio.s3Options,
      credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey },
    })
    const kinds = new Set<string>()
    try {
      for await (const o of store.list('BENCH/orders/')) {
        const name = o.key.slice(o.key.lastIndexOf('/') + 1)
        const kind = name.endsWith('.parquet')
          ? 'data file'
          : name.startsWith('snap-')
            ? 'manifest list'
            : name.endsWith('.avro')
              ? 'manifest'
              : name.endsWith('.metadata.json')
                ? 'metadata'
                : name
        kinds.add(kind)
        if (kind !== 'metadata' && kind !== 'version-hint.text')
          assert.ok(referenced.has(o.key), `${o.key} is referenced`)
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `lake/raw/${o.key}` }))
        assert.equal(head.ServerSideEncryption, 'aws:kms', o.key)
        assert.ok(head.SSEKMSKeyId?.includes(minio.kmsKeyId), `${o.key}: ${head.SSEKMSKeyId}`)
      }
    } finally {
      client.destroy()
    }
    assert.deepEqual([...kinds].sort(), ['data file', 'manifest', 'manifest list', 'metadata', 'version-hint.text'])
  } finally {
    await store.close()
  }
  const v = await verify(s3, { record: false })
  assert.equal(v.verdict, 'equal', JSON.stringify(v.tables[0]!.error))
  assert.ok(v.tables[0]!.rawRows > 0, 'verify read RAW from the S3 Iceberg table')
})
