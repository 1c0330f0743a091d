// The pipeline on S3 (a real MinIO server): the same outputs as on folders, pagination, prefetch, objects that
// vanish between list and get, and a server that dies in the middle of a run.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig, type Config } from '../src/config.js'
import { openStores, runCycle, runOnce, type Stores } from '../src/run.js'
import { StateStore } from '../src/state/index.js'
import { S3Store } from '../src/store/s3-store.js'
import type { ObjectStore } from '../src/store/object-store.js'
import { generate, benchConfig, DEFAULT_GEN } from '../scripts/bench/gen.js'
import { readOutputTree, tempDir } from './helpers/outputs.js'
import { MINIO_SKIP_REASON, startMinio, type MinioServer } from './helpers/minio.js'

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true'
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

let minio: MinioServer | undefined
const tmp = tempDir('cdc-s3-pipeline-')
let bucketSeq = 0

before(async () => {
  minio = await startMinio()
})
after(async () => {
  await minio?.stop()
  tmp.remove()
})

/** A fresh bucket holding `landingDir` under `dms/`; returns s3:// URLs for landing, raw and curated. */
async function s3Locations(
  landingDir: string,
): Promise<{ landing: string; raw: string; curated: string; bucket: string }> {
  const bucket = `cdc-pipeline-${++bucketSeq}`
  await minio!.createBucket(bucket)
  await minio!.upload(landingDir, bucket, 'dms')
  return {
    landing: `s3://${bucket}/dms`,
    raw: `s3://${bucket}/lake/raw`,
    curated: `s3://${bucket}/lake/curated`,
    bucket,
  }
}

/** Copies every object under an s3:// location into a local folder, so outputs compare with readOutputTree. */
async function download(url: string, dir: string): Promise<string> {
  const store = new S3Store(url, { s3: minio!.s3Options })
  for await (const o of store.list('')) {
    const path = join(dir, ...o.key.split('/'))
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, await store.get(o.key))
  }
  await store.close()
  return dir
}

function config(json: object, baseDir: string, patch: Partial<Config>): Config {
  return { ...parseConfig(json, baseDir), ...patch }
}

function watermarks(statePath: string): unknown {
  const s = StateStore.open(statePath)
  try {
    return s.status().map((r) => [r.source, r.table, r.fullLoad, r.lpf, r.files, r.rows, r.liveRows])
  } finally {
    s.close()
  }
}

/** Runs a config once on folders and once on MinIO and returns both output trees and watermarks. */
async function both(name: string, json: object, baseDir: string, landingDir: string, outputsOnS3: boolean) {
  const local = join(tmp.path, `${name}-local`)
  const folder = config(json, baseDir, {
    landing: landingDir,
    raw: join(local, 'raw'),
    curated: join(local, 'curated'),
    state: join(local, 'state.sqlite'),
  })
  const r1 = await runOnce(folder)
  assert.deepEqual(
    r1.tables.map((t) => t.error?.message),
    r1.tables.map(() => undefined),
  )
  const loc = await s3Locations(landingDir)
  const remote = join(tmp.path, `${name}-s3`)
  const s3 = config(json, baseDir, {
    landing: loc.landing,
    raw: outputsOnS3 ? loc.raw : join(remote, 'raw'),
    curated: outputsOnS3 ? loc.curated : join(remote, 'curated'),
    state: join(remote, 'state.sqlite'),
    s3: minio!.s3Options,
  })
  const r2 = await runOnce(s3)
  assert.deepEqual(
    r2.tables.map((t) => t.error?.message),
    r2.tables.map(() => undefined),
  )
  const rawDir = outputsOnS3 ? await download(loc.raw, join(remote, 'raw')) : join(remote, 'raw')
  const curDir = outputsOnS3 ? await download(loc.curated, join(remote, 'curated')) : join(remote, 'curated')
  return {
    folder: {
      raw: readOutputTree(join(local, 'raw')),
      curated: readOutputTree(join(local, 'curated')),
      wm: watermarks(join(local, 'state.sqlite')),
    },
    s3: { raw: readOutputTree(rawDir), curated: readOutputTree(curDir), wm: watermarks(join(remote, 'state.sqlite')) },
    s3config: s3,
  }
}

/** Wraps a store to observe or disturb its calls. */
function wrap(
  store: ObjectStore,
  hooks: { beforeGet?: (key: string) => Promise<void> },
  stats = { gets: 0, inFlight: 0, maxInFlight: 0 },
): ObjectStore & { stats: typeof stats } {
  return {
    url: store.url,
    stats,
    list: (p, o) => store.list(p, o),
    async get(key, o) {
      stats.gets++
      stats.inFlight++
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight)
      try {
        await hooks.beforeGet?.(key)
        return await store.get(key, o)
      } finally {
        stats.inFlight--
      }
    },
    put: (k, b, o) => store.put(k, b, o),
    delete: (k, o) => store.delete(k, o),
    close: () => store.close(),
  }
}

describe('pipeline on MinIO', () => {
  it('the demo fixture gives the same RAW, curated and watermark on MinIO as on folders', async (t) => {
    if (!minio) return t.skip(MINIO_SKIP_REASON)
    const dir = join(root, 'fixtures', 'demo')
    const json = JSON.parse(readFileSync(join(dir, 'cdc-apply.json'), 'utf8'))
    const r = await both('demo', json, dir, join(dir, 'bucket', 'dms'), true)
    assert.ok(Object.keys(r.folder.curated).length >= 2)
    assert.deepEqual(r.s3.raw, r.folder.raw)
    assert.deepEqual(r.s3.curated, r.folder.curated)
    assert.deepEqual(r.s3.wm, r.folder.wm)
  })

  it('the _cdc_apply.json marker is written beside the date prefixes on S3 after the commit, with the curated encryption, as on folders', async (t) => {
    if (!minio) return t.skip(MINIO_SKIP_REASON)
    const dir = join(root, 'fixtures', 'demo')
    const json = {
      ...JSON.parse(readFileSync(join(dir, 'cdc-apply.json'), 'utf8')),
      encryption: { curated: { mode: 'SSE-S3' } },
    }
    const r = await both('marker', json, dir, join(dir, 'bucket', 'dms'), true)
    assert.deepEqual(r.s3.curated, r.folder.curated)
    const { S3Client, HeadObjectCommand, GetObjectCommand } = await import('@aws-sdk/client-s3')
    const client = new S3Client({
      ...minio.s3Options,
      credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey },
    })
    try {
      const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(r.s3config.curated)!
      const key = `${m[2]}/OP/restaurants/_cdc_apply.json`
      const head = await client.send(new HeadObjectCommand({ Bucket: m[1], Key: key }))
      assert.equal(head.ServerSideEncryption, 'AES256')
      const onS3 = JSON.parse(
        await (await client.send(new GetObjectCommand({ Bucket: m[1], Key: key }))).Body!.transformToString(),
      ) as Record<string, unknown>
      const local = JSON.parse(
        readFileSync(join(tmp.path, 'marker-local', 'curated', 'OP', 'restaurants', '_cdc_apply.json'), 'utf8'),
      ) as Record<string, unknown>
      const [, , fullLoad, lpf] = (r.s3.wm as unknown[][])[0]!
      assert.deepEqual([onS3.fullLoad, onS3.lpf], [fullLoad, lpf])
      assert.deepEqual({ ...onS3, committedAt: '' }, { ...local, committedAt: '' })
    } finally {
      client.destroy()
    }
  })

  it('a generated multi-date stream gives identical outputs with landing on S3 and outputs on a laptop folder', async (t) => {
    if (!minio) return t.skip(MINIO_SKIP_REASON)
    const dir = join(tmp.path, 'gen')
    generate({ ...DEFAULT_GEN, dir: join(dir, 'landing'), changes: 6000, keys: 800, rowsPerFile: 500, dates: 3 })
    const r = await both(
      'gen',
      benchConfig(join(dir, 'landing'), join(dir, 'out'), 'csv'),
      dir,
      join(dir, 'landing'),
      false,
    )
    assert.equal(Object.keys(r.folder.raw).length, 3)
    assert.deepEqual(r.s3.raw, r.folder.raw)
    assert.deepEqual(r.s3.curated, r.folder.curated)
    assert.deepEqual(r.s3.wm, r.folder.wm)
  })

  it('lists more than one ListObjectsV2 page (1,050 change files) and applies them all, prefetching with bounded concurrency', async (t) => {
    if (!minio) return t.skip(MINIO_SKIP_REASON)
    const dir = join(tmp.path, 'many')
    const g = generate({
      ...DEFAULT_GEN,
      dir: join(dir, 'landing'),
      changes: 1150,
      keys: 100,
      rowsPerFile: 1,
      dates: 1,
    })
    assert.ok(g.files.length > 1000)
    const loc = await s3Locations(join(dir, 'landing'))
    const cfg = config(benchConfig(loc.landing, join(dir, 'out'), 'csv'), dir, {
      raw: join(dir, 'out', 'raw'),
      curated: join(dir, 'out', 'curated'),
      state: join(dir, 'out', 'state.sqlite'),
      s3: minio!.s3Options,
    })
    const stores = await openStores(cfg)
    const landing = wrap(stores.landing, { beforeGet: () => new Promise((r) => setTimeout(r, 1)) })
    const state = StateStore.open(cfg.state)
    try {
      const res = await runCycle(cfg, { ...stores, landing }, state)
      assert.equal(res.tables[0]!.error, undefined)
      assert.equal(res.tables[0]!.files, g.files.length)
      assert.equal(res.tables[0]!.rows, 1150)
      assert.ok(landing.stats.maxInFlight > 1, `prefetch ran ${landing.stats.maxInFlight} gets at once`)
      assert.ok(landing.stats.maxInFlight <= cfg.concurrency.prefetch)
    } finally {
      state.close()
      await closeAll(stores)
    }
  })

  it('an object deleted between list and get fails the table with CDC_SOURCE_NOT_FOUND, leaves the watermark unset, and the rerun completes', async (t) => {
    if (!minio) return t.skip(MINIO_SKIP_REASON)
    const dir = join(tmp.path, 'vanish')
    generate({ ...DEFAULT_GEN, dir: join(dir, 'landing'), changes: 600, keys: 100, rowsPerFile: 100, dates: 2 })
    const loc = await s3Locations(join(dir, 'landing'))
    const cfg = config(benchConfig(loc.landing, join(dir, 'out'), 'csv'), dir, {
      raw: loc.raw,
      curated: loc.curated,
      state: join(dir, 'out', 'state.sqlite'),
      s3: minio!.s3Options,
    })
    const stores = await openStores(cfg)
    const direct = new S3Store(loc.landing, { s3: minio!.s3Options })
    let deleted: string | undefined
    let saved: Uint8Array | undefined
    const landing = wrap(stores.landing, {
      beforeGet: async (key) => {
        if (deleted === undefined && /\d{8}-\d{9}\.csv$/.test(key)) {
          deleted = key
          saved = await direct.get(key)
          await direct.delete([key])
        }
      },
    })
    const state = StateStore.open(cfg.state)
    try {
      const res = await runCycle(cfg, { ...stores, landing }, state)
      assert.equal((res.tables[0]!.error as { code?: string }).code, 'CDC_SOURCE_NOT_FOUND')
      assert.match(res.tables[0]!.error!.message, new RegExp(deleted!.replaceAll('.', '\\.')))
      assert.equal(state.get('BENCH', 'orders'), undefined)
      await direct.put(deleted!, saved!)
      const again = await runCycle(cfg, stores, state)
      assert.equal(again.tables[0]!.error, undefined)
      assert.equal(again.tables[0]!.rows, 600)
    } finally {
      state.close()
      await direct.close()
      await closeAll(stores)
    }
  })

  it('MinIO dying in the middle of a run is a clean transient error (CDC_SOURCE_UNAVAILABLE or CDC_WRITE_FAILED), the watermark does not pass unwritten data, and the rerun after a restart completes', async (t) => {
    if (!minio) return t.skip(MINIO_SKIP_REASON)
    const dir = join(tmp.path, 'die')
    generate({ ...DEFAULT_GEN, dir: join(dir, 'landing'), changes: 3000, keys: 300, rowsPerFile: 250, dates: 3 })
    const loc = await s3Locations(join(dir, 'landing'))
    const cfg = config(benchConfig(loc.landing, join(dir, 'out'), 'csv'), dir, {
      raw: loc.raw,
      curated: loc.curated,
      state: join(dir, 'out', 'state.sqlite'),
      s3: { ...minio!.s3Options, maxAttempts: 2 },
    })
    // the reference: the same files on folders
    const ref = config(benchConfig(join(dir, 'landing'), join(dir, 'ref'), 'csv'), dir, {})
    await runOnce(ref)
    const stores = await openStores(cfg)
    let gets = 0
    const landing = wrap(stores.landing, {
      beforeGet: async () => {
        if (++gets === 6) await minio!.kill()
      },
    })
    const state = StateStore.open(cfg.state)
    try {
      const res = await runCycle(cfg, { ...stores, landing }, state)
      const err = res.tables[0]!.error as { code?: string; transient?: boolean }
      // the GET that found MinIO gone, or the put of the previous date that was in flight at that moment (dates are
      // pipelined: the earlier date's failure is the one reported)
      assert.ok(err.code === 'CDC_SOURCE_UNAVAILABLE' || err.code === 'CDC_WRITE_FAILED', String(err.code))
      assert.equal(err.transient, true)
      const wm = state.get('BENCH', 'orders')
      await minio!.restart()
      // whatever was committed before the failure must be backed by outputs: the rerun from there equals the reference
      const again = await runCycle(cfg, stores, state)
      assert.equal(again.tables[0]!.error, undefined, again.tables[0]!.error?.message)
      assert.ok(wm === undefined || wm.lpf <= state.get('BENCH', 'orders')!.lpf)
      const out = join(dir, 'downloaded')
      assert.deepEqual(
        readOutputTree(await download(loc.curated, join(out, 'curated'))),
        readOutputTree(join(dir, 'ref', 'curated')),
      )
      assert.deepEqual(
        readOutputTree(await download(loc.raw, join(out, 'raw'))),
        readOutputTree(join(dir, 'ref', 'raw')),
      )
    } finally {
      state.close()
      await closeAll(stores)
    }
  })
})

async function closeAll(s: Stores): Promise<void> {
  await Promise.all([s.landing.close(), s.raw.close(), s.curated.close()])
}
