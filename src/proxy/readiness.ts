import type { VectorStore } from '../stores/contract.js'
import type { Upstream, UpstreamHeaders } from './upstream.js'

// /readyz answers whether the index that is primary now (the one taking writes: the source,
// or the target after a cutover, a Pinecone index or a pgvector table) can be reached.
// Probes are made on demand and cached for `ttlMs`, and concurrent checks share one probe,
// so a burst of probes from several kubelets or load balancers costs one request.

export interface ReadinessResult {
  readonly ready: boolean
  readonly detail: string
  readonly checkedAt: number
}

/** What to probe: a Pinecone data plane (with the key to use, if the gateway has one), or
 *  a store the gateway serves through its adapter. */
export type Primary =
  | { readonly kind: 'upstream'; readonly upstream: Upstream; readonly apiKey: string | undefined }
  | { readonly kind: 'store'; readonly store: VectorStore }

export class ReadinessProbe {
  readonly #primary: () => Primary
  readonly #ttlMs: number
  #last: (ReadinessResult & { primary: Primary }) | undefined
  #pending: Promise<ReadinessResult> | undefined

  constructor(primary: () => Primary, ttlMs: number) {
    this.#primary = primary
    this.#ttlMs = ttlMs
  }

  check(): Promise<ReadinessResult> {
    const last = this.#last
    const primary = this.#primary()
    // A cutover changes what is probed: the last answer was about the other side.
    if (last && samePrimary(last.primary, primary) && Date.now() - last.checkedAt < this.#ttlMs)
      return Promise.resolve(last)
    this.#pending ??= this.#probe(primary).finally(() => {
      this.#pending = undefined
    })
    return this.#pending
  }

  async #probe(primary: Primary): Promise<ReadinessResult> {
    const result =
      primary.kind === 'store' ? await probeStore(primary.store) : await probeUpstream(primary.upstream, primary.apiKey)
    this.#last = { ...result, primary }
    return result
  }
}

async function probeUpstream(upstream: Upstream, apiKey: string | undefined): Promise<ReadinessResult> {
  const headers: UpstreamHeaders = { 'content-type': 'application/json' }
  if (apiKey !== undefined) headers['api-key'] = apiKey
  try {
    const res = await upstream.request('POST', '/describe_index_stats', headers, '{}')
    await res.body.dump()
    // An answer about the request proves the index is there and reachable; a 401 is expected
    // in pass-through auth mode, where the gateway holds no key of its own. A 404 means the
    // index is gone (deleted, or a wrong host): nothing can be served from it.
    const ready = res.statusCode < 500 && res.statusCode !== 404
    return { ready, detail: `${upstream.name} answered ${res.statusCode}`, checkedAt: Date.now() }
  } catch (err) {
    return { ready: false, detail: `${upstream.name}: ${(err as Error).message}`, checkedAt: Date.now() }
  }
}

async function probeStore(store: VectorStore): Promise<ReadinessResult> {
  try {
    if (store.ping) await store.ping()
    else await store.describe()
    return { ready: true, detail: `${store.label} answered`, checkedAt: Date.now() }
  } catch (err) {
    return { ready: false, detail: `${store.label}: ${(err as Error).message}`, checkedAt: Date.now() }
  }
}

function samePrimary(a: Primary, b: Primary): boolean {
  return a.kind === 'store'
    ? b.kind === 'store' && a.store === b.store
    : b.kind === 'upstream' && a.upstream === b.upstream
}
