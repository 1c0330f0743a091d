// One ObjectStore contract run against a folder (LocalStore) and against S3 (S3Store on a local MinIO), plus the
// S3-only behaviour: pagination, multipart, error mapping, SSE headers and a server dying mid-run.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3'
import pLimit from 'p-limit'
import { CdcError, type ErrorCode } from '../src/errors.js'
import { LocalStore } from '../src/store/local-store.js'
import { deletePrefix, replacePrefix, type ObjectInfo, type ObjectStore } from '../src/store/object-store.js'
import { openStore, openZone, zoneOptions } from '../src/store/open-store.js'
import { createS3Client, parseS3Url, S3Store, type S3Options } from '../src/store/s3-store.js'
import { MINIO_SKIP_REASON, startMinio } from './helpers/minio.js'

// The SDK warns about Node 20 on stderr at the first client; the tests do not need to see it.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true'

const minio = await startMinio()
const tmpRoot = await mkdtemp(join(tmpdir(), 'cdc-store-test-'))
const BUCKET = 'cdc-store-test'
if (minio !== undefined) await minio.createBucket(BUCKET)
const opened: ObjectStore[] = []

after(async () => {
  await Promise.all(opened.map((s) => s.close()))
  await minio?.stop()
  await rm(tmpRoot, { recursive: true, force: true })
})

async function keys(store: ObjectStore, prefix = '', startAfter?: string): Promise<string[]> {
  return (await all(store, prefix, startAfter)).map((o) => o.key)
}

async function all(store: ObjectStore, prefix = '', startAfter?: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = []
  for await (const o of store.list(prefix, startAfter === undefined ? {} : { startAfter })) out.push(o)
  return out
}

async function putAll(store: ObjectStore, names: string[]): Promise<void> {
  for (const k of names) await store.put(k, Buffer.from(`body of ${k}`))
}

function sameBytes(got: Uint8Array, want: Uint8Array): void {
  assert.equal(got.byteLength, want.byteLength, 'length differs')
  assert.ok(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(want), 'bytes differ')
}

/** Asserts that `p` rejects with a CdcError of `code` and returns it for further checks. */
async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<CdcError> {
  try {
    await p
  } catch (err) {
    assert.ok(err instanceof CdcError, `expected a CdcError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    return err
  }
  assert.fail(`expected ${code}, but it succeeded`)
}

async function deadPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise((r) => s.close(r))
  return port
}

let nextId = 0
const kinds: { name: string; skip: string | false; open: () => Promise<ObjectStore> }[] = [
  {
    name: 'LocalStore',
    skip: false,
    open: async () => new LocalStore(await mkdtemp(join(tmpRoot, 'local-'))),
  },
  {
    name: 'S3Store on MinIO',
    skip: minio === undefined ? MINIO_SKIP_REASON : false,
    // A fresh prefix per test: every test starts from an empty store.
    open: async () => openStore(`s3://${BUCKET}/contract-${nextId++}`, { baseDir: tmpRoot, s3: minio!.s3Options }),
  },
]

for (const kind of kinds) {
  describe(`ObjectStore contract: ${kind.name}`, { skip: kind.skip }, () => {
    const open = async () => {
      const s = await kind.open()
      opened.push(s)
      return s
    }

    it('round-trips binary data byte-exact', async () => {
      const s = await open()
      const body = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(100_000)])
      await s.put('bin/all-bytes.bin', body)
      sameBytes(await s.get('bin/all-bytes.bin'), body)
      await s.put('bin/empty', new Uint8Array(0))
      sameBytes(await s.get('bin/empty'), new Uint8Array(0))
      const [info] = await all(s, 'bin/all')
      assert.equal(info?.size, body.byteLength)
      assert.ok(info?.lastModified instanceof Date && !Number.isNaN(info.lastModified.getTime()))
      assert.ok(info !== undefined && info.etag.length > 0 && !info.etag.includes('"'), `etag ${info?.etag}`)
    })

    it('lists recursively in UTF-8 byte order', async () => {
      const s = await open()
      await putAll(s, ['b', 'a/z', 'a/b/c', 'A', 'é', 'a-1', 'a0', 'ｚ', '😀', 'a/b/d', 'B b'])
      // Byte order, not UTF-16 order ('😀' is a surrogate pair, which JS's default sort puts before 'ｚ' U+FF5A)
      // and not folders first ('a-1' and 'a0' surround 'a/...').
      const want = ['A', 'B b', 'a-1', 'a/b/c', 'a/b/d', 'a/z', 'a0', 'b', 'é', 'ｚ', '😀']
      assert.deepEqual(await keys(s), want)
      assert.deepEqual(await keys(s, 'a/'), ['a/b/c', 'a/b/d', 'a/z'])
    })

    it('lists only keys after startAfter', async () => {
      const s = await open()
      await putAll(s, ['a/b/c', 'a/b/d', 'a/z', 'a0', 'b', 'é'])
      assert.deepEqual(await keys(s, '', 'a/b/d'), ['a/z', 'a0', 'b', 'é'])
      assert.deepEqual(await keys(s, '', 'a/c'), ['a/z', 'a0', 'b', 'é'], 'startAfter need not exist')
      assert.deepEqual(await keys(s, 'a/', 'a/b/c'), ['a/b/d', 'a/z'])
      assert.deepEqual(await keys(s, '', 'é'), [])
      assert.deepEqual(await keys(s, 'a/', ''), ['a/b/c', 'a/b/d', 'a/z'])
    })

    it('treats the list prefix as a string prefix, not a folder', async () => {
      const s = await open()
      await putAll(s, ['data/orders/LOAD1.csv', 'data/orders_archive/x.csv', 'data/order', 'data/other'])
      assert.deepEqual(await keys(s, 'data/order'), [
        'data/order',
        'data/orders/LOAD1.csv',
        'data/orders_archive/x.csv',
      ])
      assert.deepEqual(await keys(s, 'data/orders/'), ['data/orders/LOAD1.csv'])
      assert.deepEqual(await keys(s, 'data/orders/LOAD'), ['data/orders/LOAD1.csv'])
      assert.deepEqual(await keys(s, 'nothing/'), [])
    })

    it('deletes keys and ignores missing ones', async () => {
      const s = await open()
      await putAll(s, ['x/1', 'x/2', 'x/3'])
      await s.delete(['x/1', 'x/missing', 'x/3', 'never/was'])
      assert.deepEqual(await keys(s), ['x/2'])
      await s.delete([])
      await s.delete(['x/1'])
      assert.deepEqual(await keys(s), ['x/2'])
    })

    it('get of a missing key is CDC_SOURCE_NOT_FOUND', async () => {
      const s = await open()
      const err = await rejectsWith(s.get('no/such/key.csv'), 'CDC_SOURCE_NOT_FOUND')
      assert.equal(err.transient, true, 'a listed object that vanished is worth a rerun')
      assert.equal(err.file, 'no/such/key.csv')
    })

    it('put over an existing key replaces it', async () => {
      const s = await open()
      await s.put('k', Buffer.from('one'))
      await s.put('k', Buffer.from('two, longer'))
      sameBytes(await s.get('k'), Buffer.from('two, longer'))
      const list = await all(s)
      assert.deepEqual(
        list.map((o) => [o.key, o.size]),
        [['k', 11]],
      )
    })
  })
}

describe('LocalStore temp files', () => {
  it('writes through a hidden temp name and removes temps left by a dead writer on the next write into that folder', async () => {
    const dir = await mkdtemp(join(tmpRoot, 'temps-'))
    const s = new LocalStore(dir)
    await s.put('t/d/part-00000.parquet', Buffer.from('x'))
    // a writer killed mid-put: its pid no longer exists (a finished child's pid), and one of a live process
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    }).stdout
    await writeFile(join(dir, 't/d/.part-00001.parquet.tmp-' + dead), 'half')
    await writeFile(join(dir, 't/d/.part-00002.parquet.tmp-' + process.ppid), 'in flight')
    assert.deepEqual(await keys(s, 't/'), ['t/d/part-00000.parquet'], 'temps are never listed')
    await s.put('t/d/part-00000.parquet', Buffer.from('y'))
    assert.deepEqual((await readdir(join(dir, 't/d'))).sort(), [
      '.part-00002.parquet.tmp-' + process.ppid,
      'part-00000.parquet',
    ])
  })
})

describe('replacePrefix and deletePrefix', () => {
  it('put the new parts first, then delete the rest of the prefix only (with only: just what it accepts)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cdc-prefix-'))
    const store = new LocalStore(dir, dir)
    try {
      const body = (s: string): Uint8Array => Buffer.from(s)
      for (const k of ['p/part-00000.parquet', 'p/part-00001.parquet', 'p/notes.txt', 'pp/part-00000.parquet', 'q/x'])
        await store.put(k, body('old'))
      await replacePrefix(store, 'p', [{ key: 'p/part-00000.parquet', body: body('new') }], {
        only: (k) => k.endsWith('.parquet'),
      })
      const keys = async (): Promise<string[]> => {
        const out: string[] = []
        for await (const o of store.list('')) out.push(o.key)
        return out
      }
      assert.deepEqual(
        await keys(),
        ['p/notes.txt', 'p/part-00000.parquet', 'pp/part-00000.parquet', 'q/x'],
        'p/ only, and only the parts',
      )
      assert.equal(Buffer.from(await store.get('p/part-00000.parquet')).toString(), 'new')
      await replacePrefix(store, 'p', [])
      assert.deepEqual(
        await keys(),
        ['pp/part-00000.parquet', 'q/x'],
        'no parts: the prefix is emptied, its sibling pp/ kept',
      )
      assert.equal(await deletePrefix(store, ''), 2)
      assert.deepEqual(await keys(), [])
    } finally {
      await store.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('openZone', () => {
  it("gives a zone the config's S3 settings and its own encryption; the landing and other inputs none", async () => {
    const config = {
      baseDir: '/base',
      landing: 'l',
      raw: 'r',
      curated: 'c',
      s3: { region: 'eu-west-1' },
      encryption: { raw: { mode: 'SSE-S3' as const }, curated: { mode: 'SSE-KMS' as const, kmsKeyId: 'k' } },
    }
    assert.deepEqual(zoneOptions(config, 'raw'), {
      baseDir: '/base',
      s3: { region: 'eu-west-1' },
      encryption: { mode: 'SSE-S3' },
    })
    assert.deepEqual(zoneOptions(config, 'curated', '/other'), {
      baseDir: '/other',
      s3: { region: 'eu-west-1' },
      encryption: { mode: 'SSE-KMS', kmsKeyId: 'k' },
    })
    assert.deepEqual(zoneOptions(config, 'landing'), { baseDir: '/base', s3: { region: 'eu-west-1' } })
    assert.deepEqual(zoneOptions({ ...config, s3: undefined, encryption: {} }, undefined), { baseDir: '/base' })
    const store = await openZone({ ...config, raw: tmpdir() }, 'raw')
    assert.equal(store.url, tmpdir())
    await store.close()
  })
})

describe('openStore', () => {
  it('loads the AWS SDK only for s3:// locations', () => {
    // The SDK is CommonJS, so once imported it shows up in require.cache; run in a fresh process to see it.
    const openStoreJs = fileURLToPath(new URL('../src/store/open-store.js', import.meta.url))
    const script = `
      import { createRequire } from 'node:module'
      const { openStore } = await import(${JSON.stringify(openStoreJs)})
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('@aws-sdk'))
      const local = await openStore('landing', { baseDir: '/tmp' })
      const before = loaded()
      const s3 = await openStore('s3://some-bucket/landing', { baseDir: '/tmp', s3: { region: 'eu-west-1' } })
      console.log(JSON.stringify({ before, after: loaded(), localRoot: local.root, s3Url: s3.url, prefix: s3.prefix }))
      await s3.close()
    `
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    })
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), {
      before: false,
      after: true,
      localRoot: '/tmp/landing',
      s3Url: 's3://some-bucket/landing',
      prefix: 'landing',
    })
  })

  it('parses s3:// urls', () => {
    assert.deepEqual(parseS3Url('s3://b'), { bucket: 'b', prefix: '' })
    assert.deepEqual(parseS3Url('s3://b/'), { bucket: 'b', prefix: '' })
    assert.deepEqual(parseS3Url('s3://b/dms/landing/'), { bucket: 'b', prefix: 'dms/landing' })
    assert.deepEqual(parseS3Url('s3://b//x'), { bucket: 'b', prefix: 'x' })
    for (const bad of ['s3://', 's3:///x', 'https://b/x'])
      assert.throws(() => parseS3Url(bad), { code: 'CDC_CONFIG_INVALID' })
  })
})

describe('S3Store on MinIO', { skip: minio === undefined ? MINIO_SKIP_REASON : false }, () => {
  const opts = (): S3Options => minio!.s3Options

  /** A client shaped like production's, recording command name, request headers and response headers of each call. */
  function recordingClient(s3: S3Options = opts()) {
    const client = createS3Client(s3)
    const requests: { command: string; headers: Record<string, string>; response: Record<string, string> }[] = []
    const lower = (h: Record<string, string> | undefined) =>
      Object.fromEntries(Object.entries(h ?? {}).map(([k, v]) => [k.toLowerCase(), v]))
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const r = {
          command: String(context.commandName),
          headers: lower((args.request as { headers?: Record<string, string> }).headers),
          response: {},
        }
        requests.push(r)
        const out = await next(args)
        r.response = lower((out.response as { headers?: Record<string, string> }).headers)
        return out
      },
      { step: 'finalizeRequest', name: 'cdcTestRecorder' },
    )
    after(() => client.destroy())
    return { client, requests }
  }

  it('lists more than one ListObjectsV2 page completely, in order, with startAfter', async () => {
    const { client, requests } = recordingClient()
    const s = new S3Store(`s3://${BUCKET}/pages`, { s3: opts() }, client)
    const names = Array.from({ length: 1105 }, (_, i) => `p/k${String(i).padStart(5, '0')}`)
    const limit = pLimit(16)
    await Promise.all(names.map((k) => limit(() => s.put(k, Buffer.from(k)))))

    requests.length = 0
    assert.deepEqual(await keys(s, 'p/'), names)
    assert.ok(requests.filter((r) => r.command === 'ListObjectsV2Command').length >= 2, 'expected more than one page')
    // startAfter early in page 1: the answer still spans two pages.
    assert.deepEqual(await keys(s, 'p/', names[50]), names.slice(51))
    // startAfter in the middle of what is page 2 of the full listing.
    assert.deepEqual(await keys(s, 'p/', names[1050]), names.slice(1051))
  })

  it('uploads a 20 MiB body with multipart and reads it back byte-exact', async () => {
    // Both checksum modes: CRC32 on every part (the default) and none (for stores that reject the SDK's checksums).
    for (const requestChecksumCalculation of ['WHEN_SUPPORTED', 'WHEN_REQUIRED'] as const) {
      const s3 = { ...opts(), requestChecksumCalculation }
      const { client, requests } = recordingClient(s3)
      const s = new S3Store(`s3://${BUCKET}/multipart-${requestChecksumCalculation}`, { s3 }, client)
      const body = randomBytes(20 * 1024 * 1024)
      await s.put('big.bin', body)
      assert.deepEqual(
        requests.map((r) => r.command),
        [
          'CreateMultipartUploadCommand',
          'UploadPartCommand',
          'UploadPartCommand',
          'UploadPartCommand',
          'CompleteMultipartUploadCommand',
        ],
      )
      const crc = requests
        .filter((r) => r.command === 'UploadPartCommand')
        .map((r) => r.headers['x-amz-checksum-crc32'] !== undefined)
      assert.deepEqual(crc, Array(3).fill(requestChecksumCalculation === 'WHEN_SUPPORTED'))
      sameBytes(await s.get('big.bin'), body)
      const [info] = await all(s, 'big.bin')
      assert.equal(info?.size, body.byteLength)
      assert.match(info?.etag ?? '', /^[0-9a-f]+-3$/, 'a multipart ETag names its part count')
    }
  })

  it('a missing bucket is CDC_SOURCE_NOT_FOUND naming the bucket', async () => {
    const s = new S3Store('s3://cdc-no-such-bucket-41/landing', { s3: opts() })
    opened.push(s)
    for (const op of [
      () => keys(s),
      () => s.get('a.csv'),
      () => s.put('a.csv', Buffer.from('x')),
      () => s.delete(['a.csv']),
    ]) {
      const err = await rejectsWith(op(), 'CDC_SOURCE_NOT_FOUND')
      assert.match(err.message, /cdc-no-such-bucket-41/)
      assert.equal(err.transient, false)
      assert.equal(err.hint, 'create the bucket or fix the s3:// url')
      assert.ok(err.cause instanceof Error)
    }
  })

  it('wrong credentials are CDC_SOURCE_ACCESS_DENIED', async () => {
    const m = minio!
    // Only here do credentials appear in a client config: the test needs ones the default chain would not find.
    for (const credentials of [
      { accessKeyId: 'cdcnosuchuser', secretAccessKey: 'wrong-secret-123' },
      { accessKeyId: m.accessKey, secretAccessKey: 'wrong-secret-123' },
    ]) {
      const client = new S3Client({
        region: m.region,
        endpoint: m.endpoint,
        forcePathStyle: true,
        credentials,
        maxAttempts: 1,
      })
      const s = new S3Store(`s3://${BUCKET}/denied`, { s3: opts() }, client)
      try {
        const err = await rejectsWith(keys(s), 'CDC_SOURCE_ACCESS_DENIED')
        assert.match(err.hint ?? '', /s3:ListBucket/)
        assert.ok(!err.message.includes('wrong-secret') && !(err.hint ?? '').includes('wrong-secret'))
        assert.match(
          (await rejectsWith(s.put('x', Buffer.from('x')), 'CDC_SOURCE_ACCESS_DENIED')).hint ?? '',
          /s3:PutObject/,
        )
      } finally {
        client.destroy()
      }
    }
  })

  it('an endpoint where nothing listens is CDC_SOURCE_UNAVAILABLE, quickly', async () => {
    const endpoint = `http://127.0.0.1:${await deadPort()}`
    const s = new S3Store(`s3://${BUCKET}/x`, { s3: { ...opts(), endpoint, maxAttempts: 2 } })
    opened.push(s)
    const t0 = Date.now()
    const err = await rejectsWith(s.get('some/key.csv'), 'CDC_SOURCE_UNAVAILABLE')
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`)
    assert.equal(err.transient, true)
    assert.match(err.hint ?? '', /check s3\.endpoint/)
    assert.match(err.message, /GetObject/)
    assert.match(err.message, new RegExp(`s3://${BUCKET}/x/some/key\\.csv`))
    assert.equal(err.file, 'some/key.csv')
    const w = await rejectsWith(s.put('out.parquet', Buffer.from('x')), 'CDC_WRITE_FAILED')
    assert.equal(w.transient, true)
  })

  it('writes with SSE-S3 and SSE-KMS on every put, single and multipart', async () => {
    const kmsKeyId = minio!.kmsKeyId
    const cases = [
      { encryption: { mode: 'SSE-S3' as const }, want: { 'x-amz-server-side-encryption': 'AES256' } },
      {
        encryption: { mode: 'SSE-KMS' as const, kmsKeyId },
        want: { 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': kmsKeyId },
      },
    ]
    for (const { encryption, want } of cases) {
      const { client, requests } = recordingClient()
      const s = new S3Store(`s3://${BUCKET}/sse-${encryption.mode}`, { s3: opts(), encryption }, client)
      const small = randomBytes(1000)
      const big = randomBytes(17 * 1024 * 1024)
      await s.put('small', small)
      await s.put('big', big)
      const writes = requests.filter(
        (r) => r.command === 'PutObjectCommand' || r.command === 'CreateMultipartUploadCommand',
      )
      assert.deepEqual(
        writes.map((r) => r.command),
        ['PutObjectCommand', 'CreateMultipartUploadCommand'],
      )
      for (const r of writes) {
        for (const [h, v] of Object.entries(want)) assert.equal(r.headers[h], v, `${r.command} ${h}`)
      }
      // The server says the stored objects are encrypted that way, and they read back.
      requests.length = 0
      sameBytes(await s.get('small'), small)
      sameBytes(await s.get('big'), big)
      for (const r of requests)
        assert.equal(r.response['x-amz-server-side-encryption'], want['x-amz-server-side-encryption'])
    }
  })

  it('a refused SSE-KMS key is a coded write error with a hint', async () => {
    const { client, requests } = recordingClient()
    const s = new S3Store(
      `s3://${BUCKET}/sse-bad`,
      { s3: opts(), encryption: { mode: 'SSE-KMS', kmsKeyId: 'cdc-no-such-key' } },
      client,
    )
    for (const body of [Buffer.from('small'), Buffer.alloc(17 * 1024 * 1024)]) {
      const err = await rejectsWith(s.put('object', body), 'CDC_WRITE_FAILED')
      assert.equal(err.transient, false)
      assert.match(err.hint ?? '', /kmsKeyId/)
    }
    const writes = requests.filter(
      (r) => r.command === 'PutObjectCommand' || r.command === 'CreateMultipartUploadCommand',
    )
    assert.equal(writes.length, 2)
    for (const r of writes) assert.equal(r.headers['x-amz-server-side-encryption-aws-kms-key-id'], 'cdc-no-such-key')
  })

  it('aborts a failed multipart upload and leaves no object behind', async () => {
    const { client, requests } = recordingClient()
    let parts = 0
    // Fails the second part before the retry middleware sees it, as a non-retryable error would.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UploadPartCommand' && ++parts === 2)
          throw Object.assign(new Error('injected'), { name: 'InjectedFailure' })
        return next(args)
      },
      { step: 'initialize', name: 'cdcTestFailPart' },
    )
    const s = new S3Store(`s3://${BUCKET}/mpu-fail`, { s3: opts() }, client)
    const err = await rejectsWith(s.put('big.bin', Buffer.alloc(20 * 1024 * 1024)), 'CDC_WRITE_FAILED')
    assert.match(err.message, /multipart upload of s3:\/\/cdc-store-test\/mpu-fail\/big\.bin/)
    assert.ok(requests.some((r) => r.command === 'AbortMultipartUploadCommand'))
    // MinIO only lists pending uploads when the prefix is the whole object key ('mpu-fail/' would always be empty).
    const pending = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'mpu-fail/big.bin' }))
    assert.deepEqual(pending.Uploads ?? [], [])
    await rejectsWith(s.get('big.bin'), 'CDC_SOURCE_NOT_FOUND')
  })

  it('an aborted signal rejects with the abort reason, not a store error', async () => {
    const s = new S3Store(`s3://${BUCKET}/abort`, { s3: opts() })
    opened.push(s)
    const ac = new AbortController()
    ac.abort()
    const signal = ac.signal
    await assert.rejects(s.get('k', { signal }), { name: 'AbortError' })
    await assert.rejects(s.put('k', Buffer.from('x'), { signal }), { name: 'AbortError' })
    await assert.rejects(
      async () => {
        for await (const _ of s.list('', { signal })) continue
      },
      { name: 'AbortError' },
    )
  })

  it('the helper uploads a local folder tree', async () => {
    const dir = await mkdtemp(join(tmpRoot, 'upload-'))
    await mkdir(join(dir, 'dbo', 'orders'), { recursive: true })
    await writeFile(join(dir, 'dbo', 'orders', 'LOAD00000001.csv'), 'I,1\n')
    await writeFile(join(dir, 'dbo', 'orders', '20260101-000000000.csv'), 'U,1\n')
    await writeFile(join(dir, 'top.txt'), 'x')
    assert.equal(await minio!.upload(dir, BUCKET, 'uploaded/landing'), 3)
    const s = await openStore(`s3://${BUCKET}/uploaded/landing/`, { baseDir: tmpRoot, s3: opts() })
    opened.push(s)
    assert.deepEqual(await keys(s), ['dbo/orders/20260101-000000000.csv', 'dbo/orders/LOAD00000001.csv', 'top.txt'])
    sameBytes(await s.get('dbo/orders/LOAD00000001.csv'), Buffer.from('I,1\n'))
  })

  // Last: it kills and restarts the shared server.
  it('a stopped server is CDC_SOURCE_UNAVAILABLE (transient) and works again after restart', async () => {
    const m = minio!
    const s = new S3Store(`s3://${BUCKET}/restart`, { s3: opts() })
    opened.push(s)
    await s.put('k.csv', Buffer.from('still here'))
    await m.kill()
    const t0 = Date.now()
    const g = await rejectsWith(s.get('k.csv'), 'CDC_SOURCE_UNAVAILABLE')
    assert.equal(g.transient, true)
    const l = await rejectsWith(keys(s), 'CDC_SOURCE_UNAVAILABLE')
    assert.equal(l.transient, true)
    assert.ok(Date.now() - t0 < 20_000, `failing took ${Date.now() - t0} ms`)
    await m.restart()
    sameBytes(await s.get('k.csv'), Buffer.from('still here'))
    assert.deepEqual(await keys(s), ['k.csv'])
  })
})
