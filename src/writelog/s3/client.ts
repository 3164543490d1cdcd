import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3'
import { E, VecshiftError } from '../../errors.js'
import { withRetries, type RetryPolicy } from '../../retry.js'

// The S3 calls the write log makes, each with bounded retries on errors worth retrying.
// Credentials come from the AWS SDK's default chain (environment, profile, instance role);
// nothing in vecshift's config can carry them.

export interface S3Settings {
  readonly bucket: string
  readonly region: string
  readonly endpoint?: string | undefined
  readonly forcePathStyle?: boolean | undefined
  readonly sse?: S3Encryption | undefined
  /** One attempt's time limit. */
  readonly requestTimeoutMs: number
  /** Keys per ListObjectsV2 page (S3's default, 1000, when unset). */
  readonly listPageSize?: number | undefined
}

export type S3Encryption =
  | { readonly type: 'AES256' }
  | { readonly type: 'aws:kms'; readonly kmsKeyId?: string | undefined }

export interface ListedObject {
  readonly key: string
  readonly size: number
}

const RETRIABLE_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'AbortError',
  'RequestAbortedError',
  'NetworkingError',
])
const RETRIABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ECONNABORTED',
])

/** Connection failures, timeouts, throttling and 5xx: the peer may answer next time.
 *  Access denied, missing bucket, bad request: it will not. */
export function isRetriableS3Error(err: unknown): boolean {
  const e = err as {
    name?: string
    code?: string
    $retryable?: unknown
    $metadata?: { httpStatusCode?: number }
    cause?: unknown
  }
  if (!e || typeof e !== 'object') return false
  if (e.$retryable) return true
  const status = e.$metadata?.httpStatusCode
  if (status !== undefined && (status >= 500 || status === 429)) return true
  if (e.name && RETRIABLE_NAMES.has(e.name)) return true
  if (e.code && RETRIABLE_CODES.has(e.code)) return true
  return e.cause !== undefined && e.cause !== err && isRetriableS3Error(e.cause)
}

export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } }
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404
}

export class S3Store {
  readonly client: S3Client
  readonly bucket: string
  readonly #settings: S3Settings
  readonly #retry: RetryPolicy

  constructor(settings: S3Settings, retry: RetryPolicy) {
    this.#settings = settings
    this.#retry = retry
    this.bucket = settings.bucket
    this.client = new S3Client({
      region: settings.region,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      forcePathStyle: settings.forcePathStyle ?? false,
      // One attempt per send: retries are ours (retry.ts), bounded by the append deadline.
      maxAttempts: 1,
    })
  }

  /** One PutObject attempt, no retry: the writer decides about retries (writer.ts). */
  async putOnce(key: string, body: Buffer, contentType = 'application/octet-stream'): Promise<void> {
    const input: PutObjectCommandInput = {
      Bucket: this.bucket,
      Key: key,
      Body: body,
      ContentType: contentType,
      ...this.#encryption(),
    }
    await this.client.send(new PutObjectCommand(input), {
      abortSignal: AbortSignal.timeout(this.#settings.requestTimeoutMs),
    })
  }

  async put(key: string, body: Buffer, contentType?: string): Promise<void> {
    await this.#retrying(`writing ${key}`, () => this.putOnce(key, body, contentType))
  }

  /** The object's bytes, or undefined when there is no such object. */
  async get(key: string): Promise<Buffer | undefined> {
    return this.#retrying(`reading ${key}`, async () => {
      try {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
          abortSignal: AbortSignal.timeout(this.#settings.requestTimeoutMs),
        })
        return Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray())
      } catch (err) {
        if (isNotFound(err)) return undefined
        throw err
      }
    })
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const body = await this.get(key)
    if (!body) return undefined
    try {
      return JSON.parse(body.toString('utf8')) as T
    } catch (err) {
      throw new VecshiftError(E.LOG_CORRUPT, [`s3://${this.bucket}/${key}`, `not JSON: ${(err as Error).message}`])
    }
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.put(key, Buffer.from(JSON.stringify(value)), 'application/json')
  }

  /** Objects under `prefix` in key order, after `startAfter`, one page at a time. */
  async *list(prefix: string, startAfter?: string): AsyncGenerator<ListedObject> {
    let token: string | undefined
    do {
      const page = await this.#retrying(`listing ${prefix}`, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ContinuationToken: token,
            ...(startAfter && !token ? { StartAfter: startAfter } : {}),
            ...(this.#settings.listPageSize ? { MaxKeys: this.#settings.listPageSize } : {}),
          }),
          { abortSignal: AbortSignal.timeout(this.#settings.requestTimeoutMs) },
        ),
      )
      for (const o of page.Contents ?? []) if (o.Key) yield { key: o.Key, size: o.Size ?? 0 }
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000)
      const out = await this.#retrying('deleting log objects', () =>
        this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true },
          }),
          { abortSignal: AbortSignal.timeout(this.#settings.requestTimeoutMs) },
        ),
      )
      const failed = out.Errors ?? []
      if (failed.length > 0)
        throw new VecshiftError(E.LOG_UNAVAILABLE, [
          's3',
          `deleting ${failed.length} objects: ${failed[0]?.Code} ${failed[0]?.Message}`,
        ])
    }
  }

  destroy(): void {
    this.client.destroy()
  }

  #encryption(): Pick<PutObjectCommandInput, 'ServerSideEncryption' | 'SSEKMSKeyId'> {
    const sse = this.#settings.sse
    if (!sse) return {}
    if (sse.type === 'AES256') return { ServerSideEncryption: 'AES256' }
    return { ServerSideEncryption: 'aws:kms', ...(sse.kmsKeyId ? { SSEKMSKeyId: sse.kmsKeyId } : {}) }
  }

  #retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetries(fn, { policy: this.#retry, isRetriable: isRetriableS3Error }).catch((err: unknown) => {
      if (err instanceof VecshiftError) throw err
      throw new VecshiftError(E.LOG_UNAVAILABLE, ['s3', `${what} in bucket ${this.bucket}: ${describe(err)}`], {
        cause: err,
        retryAfter: 1,
      })
    })
  }
}

export function describe(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string }
  return [e?.name, e?.code, e?.message].filter(Boolean).join(': ') || String(err)
}
