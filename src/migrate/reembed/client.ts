import { request, type Dispatcher } from 'undici'
import { E, VecshiftError } from '../../errors.js'
import { withRetries, type RetryPolicy } from '../../retry.js'
import { TokenBucket } from '../copy/rate.js'

// An OpenAI-compatible embeddings endpoint (POST {url}/embeddings {"model", "input": [...]}
// answering {"data": [{"index", "embedding": [...]}]}), as OpenAI, Azure OpenAI, vLLM, TEI
// and most hosted models serve it. Requests are batched (batchSize texts), at most
// `concurrency` at once and `maxRequestsPerSec`; 429 and 5xx and dropped connections are
// retried with backoff (after the Retry-After the endpoint asks for), within a deadline; anything else fails with
// the endpoint's words. The key, when there is one, comes from the environment only.

export interface EmbeddingsOptions {
  readonly url: string
  readonly model: string
  readonly apiKey?: string
  readonly batchSize: number
  readonly concurrency: number
  readonly maxRequestsPerSec: number
  /** Requested output size, for models that take one (OpenAI's text-embedding-3-*). */
  readonly dimensions?: number
  readonly retry?: RetryPolicy
}

class Retriable extends Error {}

export class EmbeddingsClient {
  readonly #o: EmbeddingsOptions
  readonly #bucket: TokenBucket
  #inFlight = 0
  readonly #waiting: Array<() => void> = []
  /** Texts embedded and requests made, for summaries. */
  readonly counters = { texts: 0, requests: 0, retries: 0 }

  constructor(options: EmbeddingsOptions) {
    this.#o = options
    this.#bucket = new TokenBucket(options.maxRequestsPerSec)
  }

  /** One embedding per text, in order. */
  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const batches: Array<Promise<Float32Array[]>> = []
    for (let i = 0; i < texts.length; i += this.#o.batchSize)
      batches.push(this.#slot(() => this.#call(texts.slice(i, i + this.#o.batchSize))))
    return (await Promise.all(batches)).flat()
  }

  async #slot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#inFlight >= this.#o.concurrency) await new Promise<void>((resolve) => this.#waiting.push(resolve))
    this.#inFlight++
    try {
      return await fn()
    } finally {
      this.#inFlight--
      this.#waiting.shift()?.()
    }
  }

  async #call(input: string[]): Promise<Float32Array[]> {
    const url = `${this.#o.url.replace(/\/+$/, '')}/embeddings`
    const started = Date.now()
    let attempts = 0
    return withRetries(
      async (attempt) => {
        attempts = attempt + 1
        if (attempt > 0) this.counters.retries++
        await this.#bucket.take(1)
        this.counters.requests++
        let res: Dispatcher.ResponseData
        try {
          res = await request(url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              ...(this.#o.apiKey ? { authorization: `Bearer ${this.#o.apiKey}` } : {}),
            },
            body: JSON.stringify({
              model: this.#o.model,
              input,
              ...(this.#o.dimensions ? { dimensions: this.#o.dimensions } : {}),
            }),
            headersTimeout: 60_000,
            bodyTimeout: 60_000,
          })
        } catch (err) {
          throw new Retriable(`cannot reach ${url}: ${(err as Error).message}`)
        }
        const text = await res.body.text()
        if (res.statusCode === 429 || res.statusCode >= 500) {
          // Retry-After is waited for (up to 10 s) before the backoff's own delay.
          const after = Number(res.headers['retry-after'])
          if (Number.isFinite(after) && after > 0)
            await new Promise((resolve) => setTimeout(resolve, Math.min(after, 10) * 1000))
          throw new Retriable(`${url} answered ${res.statusCode}: ${text.slice(0, 200)}`)
        }
        if (res.statusCode !== 200) {
          throw new VecshiftError(E.STORE_REFUSED, [
            `embeddings endpoint ${url}`,
            'embed',
            res.statusCode,
            `${text.slice(0, 300)} (check reembed.model, reembed.url and VECSHIFT_EMBEDDINGS_API_KEY)`,
          ])
        }
        const body = JSON.parse(text) as { data?: Array<{ index?: number; embedding?: number[] }> }
        const data = [...(body.data ?? [])].sort((a, b) => (a.index ?? 0) - (b.index ?? 0))
        if (data.length !== input.length || data.some((d) => !Array.isArray(d.embedding))) {
          throw new VecshiftError(E.STORE_REFUSED, [
            `embeddings endpoint ${url}`,
            'embed',
            200,
            `answered ${data.length} embeddings for ${input.length} texts`,
          ])
        }
        this.counters.texts += input.length
        return data.map((d) => Float32Array.from(d.embedding as number[]))
      },
      {
        policy: this.#o.retry ?? { baseMs: 200, maxMs: 5_000, deadlineMs: 120_000 },
        isRetriable: (err) => err instanceof Retriable,
      },
    ).catch((err: unknown) => {
      if (err instanceof Retriable)
        throw new VecshiftError(
          E.STORE_UNAVAILABLE,
          [`embeddings endpoint ${url}`, err.message, attempts, Math.round((Date.now() - started) / 1000)],
          { cause: err },
        )
      throw err
    })
  }
}
