import type { Readable } from 'node:stream'
import { Pool, type Dispatcher } from 'undici'
import { mapUpstreamError } from './upstream-errors.js'

// One upstream HTTP origin (an index's data plane, or a control plane) behind a keep-alive
// pool. A URL path, such as the emulator's /data/<index>, becomes a prefix of every request.

export interface UpstreamOptions {
  /** Label for logs, metrics and error messages: "source", "source-control". */
  readonly name: string
  readonly url: string
  readonly connections: number
  readonly pipelining: number
  readonly connectTimeoutMs: number
  readonly requestTimeoutMs: number
  readonly keepAliveTimeoutMs: number
  readonly tlsVerify: boolean
}

export type UpstreamHeaders = Record<string, string | string[]>
export type UpstreamResponse = Dispatcher.ResponseData

export class Upstream {
  readonly name: string
  readonly origin: string
  readonly basePath: string
  readonly timeoutMs: number
  readonly #pool: Pool

  constructor(options: UpstreamOptions) {
    const url = new URL(options.url)
    this.name = options.name
    this.origin = url.origin
    this.basePath = url.pathname.replace(/\/+$/, '')
    this.timeoutMs = options.requestTimeoutMs
    this.#pool = new Pool(this.origin, {
      connections: options.connections,
      pipelining: options.pipelining,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      headersTimeout: options.requestTimeoutMs,
      bodyTimeout: options.requestTimeoutMs,
      connect: { timeout: options.connectTimeoutMs, rejectUnauthorized: options.tlsVerify },
    })
  }

  /** Sends one request; network failures come back as catalogue errors (503/504/502). */
  async request(
    method: Dispatcher.HttpMethod,
    path: string,
    headers: UpstreamHeaders,
    body: Readable | Buffer | string | null,
  ): Promise<UpstreamResponse> {
    try {
      return await this.#pool.request({ method, path: this.basePath + path, headers, body })
    } catch (err) {
      throw mapUpstreamError(err, this.name, this.timeoutMs)
    }
  }

  close(): Promise<void> {
    return this.#pool.close()
  }

  destroy(): Promise<void> {
    return this.#pool.destroy()
  }
}
