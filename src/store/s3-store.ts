// An S3 prefix as an ObjectStore. The only module that imports @aws-sdk/client-s3: open-store.ts loads it lazily,
// so folder-only configs never pay for loading the SDK.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3'
import { ConfigError, SourceError, WriteError, redactUrl, type CdcError } from '../errors.js'
import type { ObjectInfo, ObjectStore, StoreOptions } from './object-store.js'

export interface S3Options {
  region?: string
  /** A custom endpoint (MinIO, other S3-compatible stores), e.g. http://127.0.0.1:9000. */
  endpoint?: string
  /** Defaults to true when `endpoint` is set: most S3-compatible stores only serve path-style URLs. */
  forcePathStyle?: boolean
  /** 'WHEN_REQUIRED' for S3-compatible stores that reject the SDK's default CRC32 checksums (aws-chunked bodies). */
  requestChecksumCalculation?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED'
  /** Attempts per request including the first; the SDK retries transient errors with capped exponential backoff. */
  maxAttempts?: number
}

export interface Encryption {
  mode: 'SSE-S3' | 'SSE-KMS'
  kmsKeyId?: string
}

export interface S3StoreOptions {
  s3?: S3Options
  encryption?: Encryption
}

/** Bodies up to this size go in one PutObject; larger ones use multipart upload. */
export const SINGLE_PUT_MAX = 16 * 1024 * 1024
export const PART_SIZE = 8 * 1024 * 1024
/** DeleteObjects accepts at most 1000 keys per request. */
const DELETE_BATCH = 1000

type Op = 'ListObjectsV2' | 'GetObject' | 'PutObject' | 'multipart upload' | 'DeleteObjects'

const IAM_ACTION: Record<Op, string> = {
  ListObjectsV2: 's3:ListBucket',
  GetObject: 's3:GetObject',
  PutObject: 's3:PutObject',
  'multipart upload': 's3:PutObject',
  DeleteObjects: 's3:DeleteObject',
}

/** Splits `s3://bucket/some/prefix/` into the bucket and the prefix without leading or trailing slashes. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url)
  if (m === null || m[1] === undefined) {
    throw new ConfigError('CDC_CONFIG_INVALID', `${JSON.stringify(url)} is not an S3 url`, {
      hint: 'write it as s3://bucket or s3://bucket/prefix',
    })
  }
  return { bucket: m[1], prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') }
}

// The node HTTP handler falls back to console.warn for its socket warnings; library code never prints.
const silentLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} }

/**
 * The S3 client cdc-apply uses. Credentials come only from the SDK default provider chain (env, profile, SSO,
 * container or instance role): they are never part of the config and never pass through this code.
 */
export function createS3Client(opts: S3Options = {}): S3Client {
  // The SDK prints a 9-line warning (Node < 22 loses support in 2027) through process.emitWarning the first time a
  // client is built, on every run and whatever --log-level says. It is a note for whoever picks the Node version,
  // made once in docs/operations.md, not part of a run's output. Set to "false" to see it.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true'
  return new S3Client({
    region: opts.region ?? process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'] ?? 'us-east-1',
    ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
    forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
    maxAttempts: opts.maxAttempts ?? 5,
    requestChecksumCalculation: opts.requestChecksumCalculation ?? 'WHEN_SUPPORTED',
    // connectionTimeout makes a black-holed endpoint fail (and be retried) instead of hanging; socketTimeout is an
    // idle timeout, so large bodies on slow links are not cut off while data still flows.
    requestHandler: { connectionTimeout: 10_000, socketTimeout: 60_000, logger: silentLogger },
  })
}

export class S3Store implements ObjectStore {
  readonly url: string
  readonly bucket: string
  /** Key prefix inside the bucket, without trailing slash; '' for the bucket root. */
  readonly prefix: string
  private readonly client: S3Client
  private readonly ownsClient: boolean
  private readonly s3: S3Options
  private readonly encryption: Encryption | undefined

  /** `client` is for tests (to add middleware); without it the store creates and owns its own client. */
  constructor(url: string, opts: S3StoreOptions = {}, client?: S3Client) {
    const { bucket, prefix } = parseS3Url(url)
    this.url = url
    this.bucket = bucket
    this.prefix = prefix
    this.s3 = opts.s3 ?? {}
    this.encryption = opts.encryption
    this.client = client ?? createS3Client(this.s3)
    this.ownsClient = client === undefined
  }

  /** The full S3 key. Plain concatenation, not joinKey: S3 keys may legitimately contain '//'. */
  private fullKey(key: string): string {
    return this.prefix === '' ? key : `${this.prefix}/${key}`
  }

  async *list(prefix: string, opts: StoreOptions & { startAfter?: string } = {}): AsyncIterable<ObjectInfo> {
    // With a root prefix, always list under `root/` so that s3://b/data does not also see data2/...
    const rootLen = this.prefix === '' ? 0 : this.prefix.length + 1
    let token: string | undefined
    do {
      opts.signal?.throwIfAborted()
      const page = await this.call('ListObjectsV2', prefix, opts.signal, (abortSignal) =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.fullKey(prefix),
            ...(token !== undefined ? { ContinuationToken: token } : {}),
            ...(token === undefined && opts.startAfter !== undefined
              ? { StartAfter: this.fullKey(opts.startAfter) }
              : {}),
          }),
          { abortSignal },
        ),
      )
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue
        const key = o.Key.slice(rootLen)
        // Zero-byte "folder" markers (created by the S3 console) are not objects a folder store would list.
        if (key === '' || (key.endsWith('/') && (o.Size ?? 0) === 0)) continue
        yield {
          key,
          size: o.Size ?? 0,
          lastModified: o.LastModified ?? new Date(0),
          etag: (o.ETag ?? '').replaceAll('"', ''),
        }
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined
    } while (token !== undefined)
  }

  async get(key: string, opts: StoreOptions = {}): Promise<Uint8Array> {
    const out = await this.call('GetObject', key, opts.signal, (abortSignal) =>
      this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }), { abortSignal }),
    )
    // The body is streamed after the SDK's retries are over: a reset here is mapped like any other transient error.
    const chunks: Uint8Array[] = []
    let total = 0
    try {
      for await (const chunk of out.Body as AsyncIterable<Uint8Array>) {
        opts.signal?.throwIfAborted()
        chunks.push(chunk)
        total += chunk.byteLength
      }
    } catch (err) {
      ;(out.Body as { destroy?: () => void } | undefined)?.destroy?.()
      throw this.mapError(err, 'GetObject', key, opts.signal)
    }
    if (out.ContentLength !== undefined && out.ContentLength !== total) {
      throw this.mapError(
        Object.assign(new Error(`body ended after ${total} of ${out.ContentLength} bytes`), { code: 'ECONNRESET' }),
        'GetObject',
        key,
        opts.signal,
      )
    }
    return Buffer.concat(chunks, total)
  }

  /** The object as the SDK streams it, never gathered into one Buffer. */
  async *getStream(key: string, opts: StoreOptions = {}): AsyncIterable<Uint8Array> {
    const out = await this.call('GetObject', key, opts.signal, (abortSignal) =>
      this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }), { abortSignal }),
    )
    let total = 0
    try {
      for await (const chunk of out.Body as AsyncIterable<Uint8Array>) {
        opts.signal?.throwIfAborted()
        total += chunk.byteLength
        yield chunk
      }
    } catch (err) {
      throw this.mapError(err, 'GetObject', key, opts.signal)
    } finally {
      ;(out.Body as { destroy?: () => void } | undefined)?.destroy?.()
    }
    if (out.ContentLength !== undefined && out.ContentLength !== total) {
      throw this.mapError(
        Object.assign(new Error(`body ended after ${total} of ${out.ContentLength} bytes`), { code: 'ECONNRESET' }),
        'GetObject',
        key,
        opts.signal,
      )
    }
  }

  async folders(prefix: string, opts: StoreOptions = {}): Promise<string[]> {
    const p = prefix === '' ? (this.prefix === '' ? '' : `${this.prefix}/`) : `${this.fullKey(prefix)}/`
    const page = await this.call('ListObjectsV2', prefix, opts.signal, (abortSignal) =>
      this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: p, Delimiter: '/' }), { abortSignal }),
    )
    return (page.CommonPrefixes ?? [])
      .map((c) => (c.Prefix ?? '').slice(p.length).replace(/\/$/, ''))
      .filter((n) => n !== '')
      .sort()
  }

  async put(key: string, body: Uint8Array, opts: StoreOptions = {}): Promise<void> {
    if (body.byteLength > SINGLE_PUT_MAX) return this.putMultipart(key, body, opts.signal)
    await this.call('PutObject', key, opts.signal, (abortSignal) =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.fullKey(key),
          Body: body,
          ContentLength: body.byteLength,
          ...this.sse(),
        }),
        { abortSignal },
      ),
    )
  }

  private async putMultipart(key: string, body: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const Key = this.fullKey(key)
    // With default checksums, name CRC32 explicitly on create and on every part, and hand each part's checksum to
    // Complete: AWS rejects a Complete that lacks part checksums for an upload created with an algorithm.
    const crc = (this.s3.requestChecksumCalculation ?? 'WHEN_SUPPORTED') === 'WHEN_SUPPORTED'
    const created = await this.call('multipart upload', key, signal, (abortSignal) =>
      this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key,
          ...(crc ? { ChecksumAlgorithm: 'CRC32' } : {}),
          ...this.sse(),
        }),
        { abortSignal },
      ),
    )
    const UploadId = created.UploadId
    if (UploadId === undefined) {
      throw this.mapError(new Error('CreateMultipartUpload returned no UploadId'), 'multipart upload', key, signal)
    }
    try {
      // Parts go one at a time: each is 8 MiB in memory already, and the run writes several outputs in parallel.
      const parts: CompletedPart[] = []
      for (let offset = 0, n = 1; offset < body.byteLength; offset += PART_SIZE, n++) {
        const chunk = body.subarray(offset, Math.min(offset + PART_SIZE, body.byteLength))
        const res = await this.call('multipart upload', key, signal, (abortSignal) =>
          this.client.send(
            new UploadPartCommand({
              Bucket: this.bucket,
              Key,
              UploadId,
              PartNumber: n,
              Body: chunk,
              ContentLength: chunk.byteLength,
              ...(crc ? { ChecksumAlgorithm: 'CRC32' } : {}),
            }),
            { abortSignal },
          ),
        )
        parts.push({
          PartNumber: n,
          ETag: res.ETag,
          ...(res.ChecksumCRC32 !== undefined ? { ChecksumCRC32: res.ChecksumCRC32 } : {}),
        })
      }
      await this.call('multipart upload', key, signal, (abortSignal) =>
        this.client.send(
          new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId, MultipartUpload: { Parts: parts } }),
          { abortSignal },
        ),
      )
    } catch (err) {
      // Best effort: an upload left behind only costs storage until a lifecycle rule removes it, and the original
      // error is what the user needs to see.
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }))
        .catch(() => undefined)
      throw err
    }
  }

  async delete(keys: readonly string[], opts: StoreOptions = {}): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH)
      const first = batch[0] ?? ''
      const res = await this.call('DeleteObjects', first, opts.signal, (abortSignal) =>
        this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((k) => ({ Key: this.fullKey(k) })), Quiet: true },
          }),
          { abortSignal },
        ),
      )
      // DeleteObjects answers 200 even when single keys fail: the failures are only in the body.
      const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey')
      const e = failed[0]
      if (e !== undefined) {
        const key =
          e.Key !== undefined && e.Key.startsWith(this.fullKey(''))
            ? e.Key.slice(this.fullKey('').length)
            : (e.Key ?? first)
        const err = Object.assign(new Error(e.Message ?? e.Code ?? 'delete failed'), { name: e.Code ?? 'Error' })
        const mapped = this.mapError(err, 'DeleteObjects', key, opts.signal)
        if (failed.length > 1) mapped.message += ` (and ${failed.length - 1} more keys failed)`
        throw mapped
      }
    }
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy()
  }

  private sse(): { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string } {
    if (this.encryption === undefined) return {}
    if (this.encryption.mode === 'SSE-S3') return { ServerSideEncryption: 'AES256' }
    return {
      ServerSideEncryption: 'aws:kms',
      ...(this.encryption.kmsKeyId !== undefined ? { SSEKMSKeyId: this.encryption.kmsKeyId } : {}),
    }
  }

  /** Runs one SDK call (which does its own retries) and maps its final error. */
  private async call<T>(
    op: Op,
    key: string,
    signal: AbortSignal | undefined,
    fn: (abortSignal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T> {
    try {
      return await fn(signal)
    } catch (err) {
      throw this.mapError(err, op, key, signal)
    }
  }

  /** Turns an SDK or socket error into a coded CdcError; `cause` keeps the original. Aborts pass through as aborts. */
  private mapError(err: unknown, op: Op, key: string, signal: AbortSignal | undefined): Error {
    if (signal?.aborted) return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason))
    const e = (err ?? {}) as {
      name?: string
      code?: string
      message?: string
      $metadata?: { httpStatusCode?: number; attempts?: number }
      $retryable?: unknown
    }
    const name = e.name ?? 'Error'
    const status = e.$metadata?.httpStatusCode
    const attempts = e.$metadata?.attempts
    const where = `${op} of s3://${this.bucket}/${this.fullKey(key)}`
    const detail = redactUrl(
      `${name === 'Error' ? '' : `${name}: `}${e.message ?? String(err)}${attempts !== undefined && attempts > 1 ? ` (after ${attempts} attempts)` : ''}`,
    )
    const base = { file: key, cause: err }
    const write = op === 'PutObject' || op === 'multipart upload' || op === 'DeleteObjects'

    if (name === 'NoSuchBucket' || name === 'InvalidBucketName') {
      return new SourceError(
        'CDC_SOURCE_NOT_FOUND',
        `${where} failed: bucket ${JSON.stringify(this.bucket)} does not exist`,
        {
          ...base,
          hint: 'create the bucket or fix the s3:// url',
        },
      )
    }
    if (op === 'GetObject' && (name === 'NoSuchKey' || name === 'NotFound' || status === 404)) {
      return new SourceError(
        'CDC_SOURCE_NOT_FOUND',
        `${where} failed: object ${JSON.stringify(key)} not found in ${this.url}`,
        {
          ...base,
          transient: true,
          hint: 'the object was listed but is gone: it was deleted or renamed while cdc-apply ran; rerun',
        },
      )
    }
    if (
      [
        'InvalidAccessKeyId',
        'SignatureDoesNotMatch',
        'ExpiredToken',
        'InvalidToken',
        'CredentialsProviderError',
      ].includes(name)
    ) {
      return new SourceError('CDC_SOURCE_ACCESS_DENIED', `${where} failed: ${detail}`, {
        ...base,
        hint:
          'the credentials found by the AWS default provider chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ' +
          `SSO, container or instance role) are missing, wrong or expired; valid ones need ${IAM_ACTION[op]} on the bucket`,
      })
    }
    if (name === 'AccessDenied' || name === 'Forbidden' || status === 403) {
      const res =
        op === 'ListObjectsV2' ? `arn:aws:s3:::${this.bucket}` : `arn:aws:s3:::${this.bucket}/${this.fullKey('*')}`
      return new SourceError('CDC_SOURCE_ACCESS_DENIED', `${where} failed: ${detail}`, {
        ...base,
        hint:
          `grant ${IAM_ACTION[op]} on ${res} to the identity found by the AWS default provider chain` +
          (this.encryption?.mode === 'SSE-KMS' && write ? ', and kms:GenerateDataKey on the KMS key' : ''),
      })
    }

    if (write && this.encryption !== undefined && (name === 'NotImplemented' || /^kms[.:]/i.test(name))) {
      return new WriteError('CDC_WRITE_FAILED', `${where} failed: ${detail}`, {
        ...base,
        hint:
          this.encryption.mode === 'SSE-KMS'
            ? 'the store refused SSE-KMS: check encryption.kmsKeyId and that the key exists and is enabled in the region'
            : 'the store refused SSE-S3: it has no server-side encryption configured (MinIO needs a KMS); fix the store or drop encryption',
      })
    }

    const code = e.code ?? ''
    const connect = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)
    const transient =
      connect ||
      ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE'].includes(code) ||
      [
        'TimeoutError',
        'RequestTimeout',
        'SlowDown',
        'Throttling',
        'ThrottlingException',
        'ServiceUnavailable',
        'InternalError',
      ].includes(name) ||
      e.$retryable !== undefined ||
      // 501 NotImplemented (e.g. SSE on a store without KMS) will not get better by retrying.
      [429, 500, 502, 503, 504].includes(status ?? 0)
    const hint =
      connect && this.s3.endpoint !== undefined
        ? `nothing answered at ${redactUrl(this.s3.endpoint)}: check s3.endpoint`
        : transient
          ? 'S3 was unreachable or overloaded through every retry; rerun when it answers again'
          : undefined
    const opts = { ...base, transient, ...(hint !== undefined ? { hint } : {}) }
    const message = `${where} failed: ${detail}`
    const mapped: CdcError = write
      ? new WriteError('CDC_WRITE_FAILED', message, opts)
      : new SourceError('CDC_SOURCE_UNAVAILABLE', message, opts)
    return mapped
  }
}
