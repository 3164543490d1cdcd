import type { Upstream, UpstreamHeaders } from './upstream.js'

// /readyz answers whether the source index is reachable. Probes are made on demand and
// cached for `ttlMs`, and concurrent checks share one probe, so a burst of probes from
// several kubelets or load balancers costs the upstream one request.

export interface ReadinessResult {
  readonly ready: boolean
  readonly detail: string
  readonly checkedAt: number
}

export class ReadinessProbe {
  readonly #upstream: Upstream
  readonly #headers: UpstreamHeaders
  readonly #ttlMs: number
  #last: ReadinessResult | undefined
  #pending: Promise<ReadinessResult> | undefined

  constructor(upstream: Upstream, apiKey: string | undefined, ttlMs: number) {
    this.#upstream = upstream
    this.#ttlMs = ttlMs
    this.#headers = { 'content-type': 'application/json' }
    if (apiKey !== undefined) this.#headers['api-key'] = apiKey
  }

  check(): Promise<ReadinessResult> {
    const last = this.#last
    if (last && Date.now() - last.checkedAt < this.#ttlMs) return Promise.resolve(last)
    this.#pending ??= this.#probe().finally(() => { this.#pending = undefined })
    return this.#pending
  }

  async #probe(): Promise<ReadinessResult> {
    let result: ReadinessResult
    try {
      const res = await this.#upstream.request('POST', '/describe_index_stats', this.#headers, '{}')
      await res.body.dump()
      // Any HTTP answer below 500 proves the index is reachable; a 401 is expected in
      // pass-through auth mode, where the gateway holds no key of its own.
      result = res.statusCode < 500
        ? { ready: true, detail: `${this.#upstream.name} answered ${res.statusCode}`, checkedAt: Date.now() }
        : { ready: false, detail: `${this.#upstream.name} answered ${res.statusCode}`, checkedAt: Date.now() }
    } catch (err) {
      result = { ready: false, detail: (err as Error).message, checkedAt: Date.now() }
    }
    this.#last = result
    return result
  }
}
