import { setTimeout as sleep } from 'node:timers/promises'
import { Pool, type Dispatcher } from 'undici'
import { E, VecshiftError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { backoffMs, type RetryPolicy } from '../../retry.js'
import type { StoreCounters } from '../contract.js'

// HTTP to one Pinecone origin (an index's data plane, or the control plane) with the retry
// rules a bulk tool needs: 429 and 5xx, and connections that drop or time out, are tried
// again with capped, jittered exponential backoff (waiting at least what Retry-After asks),
// until the policy's deadline; every other answer comes back at once. Pinecone's 4xx bodies
// are kept, so a refusal reaches the operator in Pinecone's own words.

/** The API version sent with every call: 2025-10, the oldest that has every write the
 *  replayer applies (an update by metadata filter, creating a namespace), and whose
 *  control-plane IndexModel still names dimension, metric and spec (2026-07's does not). */
export const API_VERSION = '2025-10'

export interface PineconeHttpOptions {
  /** For messages: "source index products". */
  readonly label: string
  readonly url: string
  readonly apiKey: string
  readonly retry: RetryPolicy
  readonly connections?: number
  readonly requestTimeoutMs?: number
  readonly tlsVerify?: boolean
  readonly counters: StoreCounters
  readonly logger?: Logger
}

export interface PineconeResponse {
  readonly status: number
  readonly body: unknown
  readonly text: string
}

/** An answer that is not worth retrying (4xx other than 429), kept whole for the caller. */
export class PineconeRefusal extends Error {
  override readonly name = 'PineconeRefusal'
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly path: string,
  ) {
    super(`${status}: ${detail}`)
  }
}

export class PineconeHttp {
  readonly #options: PineconeHttpOptions
  readonly #pool: Pool
  readonly #basePath: string

  constructor(options: PineconeHttpOptions) {
    this.#options = options
    const url = new URL(options.url)
    this.#basePath = url.pathname.replace(/\/+$/, '')
    this.#pool = new Pool(url.origin, {
      connections: options.connections ?? 16,
      headersTimeout: options.requestTimeoutMs ?? 60_000,
      bodyTimeout: options.requestTimeoutMs ?? 60_000,
      connect: { rejectUnauthorized: options.tlsVerify ?? true },
    })
  }

  /** Sends a request, retrying as described above. Resolves with any 2xx; a 4xx (not 429)
   *  rejects with PineconeRefusal; running out of retries rejects with STORE_UNAVAILABLE. */
  async request(
    method: Dispatcher.HttpMethod,
    path: string,
    body?: string,
    parse?: (buf: Buffer) => unknown,
    signal?: AbortSignal,
  ): Promise<PineconeResponse> {
    const { retry, counters, label } = this.#options
    const started = Date.now()
    for (let attempt = 0; ; attempt++) {
      // An aborted caller starts nothing new; a request already sent is left to finish
      // (CallOptions in ../contract.ts says why).
      signal?.throwIfAborted()
      counters.requests++
      let failure: string
      let retryAfterMs = 0
      try {
        const res = await this.#pool.request({
          method,
          path: this.#basePath + path,
          headers: {
            'api-key': this.#options.apiKey,
            'x-pinecone-api-version': API_VERSION,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body }),
        })
        if (res.statusCode < 300 && parse !== undefined) {
          // The caller's parser reads the bytes (no string of the whole body is made).
          return { status: res.statusCode, text: '', body: parse(Buffer.from(await res.body.arrayBuffer())) }
        }
        const text = await res.body.text()
        if (res.statusCode < 300) return { status: res.statusCode, text, body: parseJson(text) }
        const detail = errorDetail(text)
        if (res.statusCode !== 429 && res.statusCode < 500) throw new PineconeRefusal(res.statusCode, detail, path)
        failure = `${res.statusCode} ${detail}`
        retryAfterMs = retryAfterToMs(res.headers['retry-after'])
      } catch (err) {
        if (err instanceof PineconeRefusal) throw err
        failure = (err as { code?: string }).code ?? (err as Error).message
      }
      const delay = Math.max(backoffMs(attempt, retry), retryAfterMs)
      if (Date.now() - started + delay >= retry.deadlineMs) {
        throw new VecshiftError(E.STORE_UNAVAILABLE, [
          label,
          failure,
          attempt + 1,
          Math.round((Date.now() - started) / 1000),
        ])
      }
      counters.retries++
      this.#options.logger?.warn(
        { store: label, method, path, failure, attempt: attempt + 1, delayMs: delay },
        'store request failed; retrying',
      )
      await sleep(delay, undefined, signal ? { signal } : {}).catch(() => signal?.throwIfAborted())
    }
  }

  close(): Promise<void> {
    return this.#pool.close()
  }
}

function parseJson(text: string): unknown {
  if (text === '') return {}
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

/** The message of a Pinecone error body, in either of its shapes, or the raw text. */
function errorDetail(text: string): string {
  const body = parseJson(text) as { message?: unknown; error?: { message?: unknown } } | string
  if (typeof body === 'object' && body !== null) {
    if (typeof body.error?.message === 'string') return body.error.message
    if (typeof body.message === 'string') return body.message
  }
  return text.slice(0, 500) || '(empty body)'
}

function retryAfterToMs(header: string | string[] | undefined): number {
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined) return 0
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Math.min(Math.max(0, seconds) * 1000, 60_000)
  const date = Date.parse(value)
  return Number.isFinite(date) ? Math.min(Math.max(0, date - Date.now()), 60_000) : 0
}
