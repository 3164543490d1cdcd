import { E, VecshiftError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { formatFloat32Array } from '../../wire/pinecone/float32.js'
import type { Metric, VectorType } from '../../wire/pinecone/types.js'
import type { RetryPolicy } from '../../retry.js'
import type {
  CallOptions,
  CollectionControl,
  DeleteRequest,
  ListOptions,
  ListPage,
  NamespaceStats,
  QueryMatch,
  QueryRequest,
  StoreCounters,
  StoreDescription,
  StoredVector,
  UpdateRequest,
  VectorStore,
} from '../contract.js'
import { PineconeHttp, PineconeRefusal, type PineconeHttpOptions, type PineconeResponse } from './http.js'
import { NOT_HANDLED, parseFetchResponse } from '../../wire/pinecone/fast-json.js'
import { PineconeCollections } from './collections.js'
import {
  namespaceFromWire,
  urlNamespace,
  fromWire,
  matchFromWire,
  sparseJson,
  upsertBody,
  vectorJson,
  wireNamespace,
} from './record-json.js'

// The Pinecone adapter: REST over undici, for serverless and pod-based indexes.
//
// REST rather than the official SDK, by measurement and by need: moving records source ->
// target through this adapter runs at 1.61x the SDK's rate with a third of its client CPU
// (`npm run bench:copy`, "clients"), mostly because fetched values stay text (dense-text.ts)
// where the SDK turns every float into a JS number and back; the SDK also retries only 5xx
// (a copy must ride out 429 with Retry-After) and cannot say how many requests were retried.
// Requests stay within Pinecone's limits (WIRE-NOTES.md): 1000 vectors and 2 MB per upsert,
// 1000 ids per fetch or delete, 100 ids per list page.

export const REQUEST_LIMITS = Object.freeze({
  upsertVectors: 1000,
  /** Pinecone refuses requests over 2 MB; stay a little under. */
  upsertBytes: 2_000_000,
  fetchIds: 1000,
  /** Ids travel in the fetch URL; long ids would make 1000 of them too long a URL. */
  fetchUrlBytes: 8_000,
  deleteIds: 1000,
  listPage: 100,
  /** fetch_by_metadata answers with whole records (up to 10,000 a page). */
  matchPage: 200,
})

export const DEFAULT_STORE_RETRY: RetryPolicy = Object.freeze({ baseMs: 100, maxMs: 5_000, deadlineMs: 120_000 })

export interface PineconeStoreOptions {
  /** For messages: "source", "target". */
  readonly role: string
  readonly index: string
  /** Data-plane URL of the index; when absent it is learned from describe_index (Pinecone
   *  assigns it when the index is created, so a target made by the copy has none yet). */
  readonly host?: string
  readonly controllerHost: string
  readonly apiKey: string
  /** Name of the environment variable the key came from, for error messages. */
  readonly apiKeyEnv?: string
  readonly tlsVerify?: boolean
  readonly retry?: RetryPolicy
  readonly connections?: number
  readonly logger?: Logger
}

interface IndexModel {
  name?: string
  dimension?: number | null
  metric?: string
  vector_type?: string
  spec?: { pod?: unknown; serverless?: unknown }
  status?: { ready?: boolean; state?: string }
  host?: string
}

export class PineconeStore implements VectorStore {
  readonly label: string
  readonly counters: StoreCounters = { requests: 0, retries: 0 }
  readonly collections: CollectionControl
  readonly #options: PineconeStoreOptions
  readonly #common: Omit<PineconeHttpOptions, 'label' | 'url'>
  #data: Promise<PineconeHttp> | undefined
  readonly #control: PineconeHttp
  #description: StoreDescription | undefined

  constructor(options: PineconeStoreOptions) {
    this.#options = options
    this.label = `${options.role} Pinecone index ${options.index}`
    const common = {
      apiKey: options.apiKey,
      retry: options.retry ?? DEFAULT_STORE_RETRY,
      counters: this.counters,
      ...(options.tlsVerify === undefined ? {} : { tlsVerify: options.tlsVerify }),
      ...(options.logger ? { logger: options.logger } : {}),
    }
    this.#common = common
    if (options.host !== undefined) this.#data = Promise.resolve(this.#dataPlaneAt(options.host))
    this.#control = new PineconeHttp({
      ...common,
      label: `${this.label} (control plane)`,
      url: options.controllerHost,
      connections: 2,
    })
    this.collections = new PineconeCollections(this, options.index)
  }

  #dataPlaneAt(host: string): PineconeHttp {
    // describe_index answers a bare host name on Pinecone, a URL on the emulator.
    const url = /^https?:\/\//.test(host) ? host : `https://${host}`
    return new PineconeHttp({ ...this.#common, label: this.label, url, connections: this.#options.connections ?? 16 })
  }

  /** The data plane, found through describe_index when the config gave no host. */
  #dataPlane(): Promise<PineconeHttp> {
    this.#data ??= this.#model().then((model) => {
      if (typeof model.host !== 'string' || model.host === '') {
        throw new VecshiftError(E.STORE_UNAVAILABLE, [
          this.label,
          'describe_index answered no host yet (the index is still being created)',
          1,
          0,
        ])
      }
      return this.#dataPlaneAt(model.host)
    })
    this.#data.catch(() => {
      this.#data = undefined
    })
    return this.#data
  }

  /** describe_index as Pinecone answers it (not cached: readiness changes). */
  async #model(): Promise<IndexModel> {
    return (
      await this.#call('describe', () =>
        this.#control.request('GET', `/indexes/${encodeURIComponent(this.#options.index)}`),
      )
    ).body as IndexModel
  }

  async describe(): Promise<StoreDescription> {
    if (this.#description) return this.#description
    const model = await this.#model()
    const pod = model.spec?.pod !== undefined && model.spec?.pod !== null
    const rawIndexed = (model.spec?.pod as { metadata_config?: { indexed?: unknown } } | undefined)?.metadata_config
      ?.indexed
    const indexed = Array.isArray(rawIndexed) ? rawIndexed.filter((f): f is string => typeof f === 'string') : undefined
    const vectorType: VectorType = model.vector_type === 'sparse' ? 'sparse' : 'dense'
    const metric = (model.metric ?? 'cosine') as Metric
    this.#description = {
      name: this.#options.index,
      dimension: vectorType === 'sparse' ? null : (model.dimension ?? null),
      metric,
      vectorType,
      kind: pod ? 'pinecone-pod' : 'pinecone-serverless',
      canList: !pod,
      supportsSparse: vectorType === 'sparse' || metric === 'dotproduct',
      ...(indexed ? { metadataIndexed: indexed } : {}),
    }
    return this.#description
  }

  async stats(call: CallOptions = {}): Promise<NamespaceStats[]> {
    const body = (
      await this.#call('describe_index_stats', async () =>
        (await this.#dataPlane()).request('POST', '/describe_index_stats', '{}', undefined, call.signal),
      )
    ).body as {
      namespaces?: Record<string, { vectorCount?: number }>
    }
    return Object.entries(body.namespaces ?? {})
      .map(([ns, s]) => ({ namespace: namespaceFromWire(ns), vectorCount: s.vectorCount ?? 0 }))
      .sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0))
  }

  async list(namespace: string, options: ListOptions = {}): Promise<ListPage> {
    const d = await this.describe()
    if (!d.canList)
      throw new VecshiftError(E.STORE_UNSUPPORTED, [
        this.label,
        'listing ids (pod-based indexes cannot list; use the collection or ids-file copy strategy)',
      ])
    const q = new URLSearchParams({
      limit: String(Math.min(options.limit ?? REQUEST_LIMITS.listPage, REQUEST_LIMITS.listPage)),
    })
    if (options.prefix) q.set('prefix', options.prefix)
    if (options.cursor) q.set('paginationToken', options.cursor)
    const path = `/vectors/list?namespace=${urlNamespace(namespace, this.label, 'list')}&${q.toString()}`
    const body = (
      await this.#call('list', async () =>
        (await this.#dataPlane()).request('GET', path, undefined, undefined, options.signal),
      )
    ).body as {
      vectors?: Array<{ id: string }>
      pagination?: { next?: string }
    }
    const ids = (body.vectors ?? []).map((v) => v.id)
    const next = body.pagination?.next
    return { ids, ...(next ? { next } : {}) }
  }

  async matching(
    namespace: string,
    filter: Record<string, unknown>,
    options: Omit<ListOptions, 'prefix'> = {},
  ): Promise<ListPage> {
    const d = await this.describe()
    // fetch_by_metadata (API 2025-10) is a serverless operation, like list.
    if (!d.canList)
      throw new VecshiftError(E.STORE_UNSUPPORTED, [
        this.label,
        'selecting records by metadata without a vector (pod-based indexes cannot)',
      ])
    // The answer carries whole records: a modest page keeps each response small.
    const limit = Math.max(1, Math.min(options.limit ?? REQUEST_LIMITS.matchPage, REQUEST_LIMITS.matchPage))
    const json = JSON.stringify({
      namespace: wireNamespace(namespace),
      filter,
      limit,
      ...(options.cursor ? { paginationToken: options.cursor } : {}),
    })
    const body = (
      await this.#call('fetch_by_metadata', async () =>
        (await this.#dataPlane()).request('POST', '/vectors/fetch_by_metadata', json, undefined, options.signal),
      )
    ).body as {
      vectors?: Record<string, unknown>
      pagination?: { next?: string }
    }
    const ids = Object.keys(body.vectors ?? {})
    const next = body.pagination?.next
    return { ids, ...(next ? { next } : {}) }
  }

  async fetch(namespace: string, ids: readonly string[], call: CallOptions = {}): Promise<Map<string, StoredVector>> {
    const out = new Map<string, StoredVector>()
    const ns = `namespace=${urlNamespace(namespace, this.label, 'fetch')}`
    let batch: string[] = []
    let urlBytes = 0
    const flush = async () => {
      if (batch.length === 0) return
      const path = `/vectors/fetch?${batch.join('&')}&${ns}`
      batch = []
      urlBytes = 0
      const body = (
        await this.#call('fetch', async () =>
          (await this.#dataPlane()).request('GET', path, undefined, parseFetchBody, call.signal),
        )
      ).body as { vectors?: Record<string, object> }
      for (const [id, v] of Object.entries(body.vectors ?? {})) out.set(id, fromWire(id, v))
    }
    for (const id of ids) {
      const part = `ids=${encodeURIComponent(id)}`
      if (
        batch.length >= REQUEST_LIMITS.fetchIds ||
        (batch.length > 0 && urlBytes + part.length + 1 > REQUEST_LIMITS.fetchUrlBytes)
      )
        await flush()
      batch.push(part)
      urlBytes += part.length + 1
    }
    await flush()
    return out
  }

  async query(namespace: string, request: QueryRequest): Promise<QueryMatch[]> {
    const parts = [`"topK":${request.topK}`, `"namespace":${JSON.stringify(wireNamespace(namespace))}`]
    if (request.vector) parts.push(`"vector":${formatFloat32Array(request.vector)}`)
    if (request.id !== undefined) parts.push(`"id":${JSON.stringify(request.id)}`)
    if (request.sparseVector) parts.push(`"sparseVector":${sparseJson(request.sparseVector)}`)
    if (request.filter) parts.push(`"filter":${JSON.stringify(request.filter)}`)
    parts.push(
      `"includeValues":${request.includeValues === true}`,
      `"includeMetadata":${request.includeMetadata === true}`,
    )
    const body = (
      await this.#call('query', async () => (await this.#dataPlane()).request('POST', '/query', `{${parts.join(',')}}`))
    ).body as { matches?: object[] }
    return (body.matches ?? []).map((m) => matchFromWire(m))
  }

  async upsert(namespace: string, vectors: readonly StoredVector[], call: CallOptions = {}): Promise<void> {
    let batch: string[] = []
    let bytes = 0
    const overhead = 64 + namespace.length * 6
    const send = async () => {
      if (batch.length === 0) return
      const body = upsertBody(namespace, batch)
      batch = []
      bytes = 0
      await this.#call('upsert', async () =>
        (await this.#dataPlane()).request('POST', '/vectors/upsert', body, undefined, call.signal),
      )
    }
    for (const v of vectors) {
      const json = vectorJson(v)
      const size = Buffer.byteLength(json) + 1
      if (
        batch.length >= REQUEST_LIMITS.upsertVectors ||
        (batch.length > 0 && bytes + size + overhead > REQUEST_LIMITS.upsertBytes)
      )
        await send()
      batch.push(json)
      bytes += size
    }
    await send()
  }

  async update(namespace: string, request: UpdateRequest, call: CallOptions = {}): Promise<{ matched?: number }> {
    const parts = [`"namespace":${JSON.stringify(wireNamespace(namespace))}`]
    if ('id' in request) {
      parts.push(`"id":${JSON.stringify(request.id)}`)
      if (request.values) parts.push(`"values":${formatFloat32Array(request.values)}`)
      if (request.sparseValues) parts.push(`"sparseValues":${sparseJson(request.sparseValues)}`)
      if (request.setMetadata) parts.push(`"setMetadata":${JSON.stringify(request.setMetadata)}`)
    } else {
      parts.push(`"filter":${JSON.stringify(request.filter)}`, `"setMetadata":${JSON.stringify(request.setMetadata)}`)
    }
    const body = (
      await this.#call('update', async () =>
        (await this.#dataPlane()).request('POST', '/vectors/update', `{${parts.join(',')}}`, undefined, call.signal),
      )
    ).body as { matchedRecords?: number }
    return typeof body.matchedRecords === 'number' ? { matched: body.matchedRecords } : {}
  }

  async delete(namespace: string, request: DeleteRequest, call: CallOptions = {}): Promise<void> {
    const ns = `"namespace":${JSON.stringify(wireNamespace(namespace))}`
    const send = (json: string) =>
      this.#call(
        'delete',
        async () => (await this.#dataPlane()).request('POST', '/vectors/delete', json, undefined, call.signal),
        {
          notFoundIsDone: true,
        },
      )
    if ('ids' in request) {
      for (let i = 0; i < request.ids.length; i += REQUEST_LIMITS.deleteIds) {
        await send(`{"ids":${JSON.stringify(request.ids.slice(i, i + REQUEST_LIMITS.deleteIds))},${ns}}`)
      }
    } else if ('filter' in request) {
      await send(`{"filter":${JSON.stringify(request.filter)},${ns}}`)
    } else {
      await send(`{"deleteAll":true,${ns}}`)
    }
  }

  async deleteNamespace(namespace: string): Promise<void> {
    // A namespace that is not there (never created, or deleted already) is what was asked for.
    await this.#call(
      'deleteNamespace',
      async () =>
        (await this.#dataPlane()).request(
          'DELETE',
          `/namespaces/${urlNamespace(namespace, this.label, 'delete_namespace')}`,
        ),
      { notFoundIsDone: true },
    )
  }

  async createNamespace(namespace: string, schema?: Record<string, unknown>): Promise<void> {
    const body = JSON.stringify({ name: namespace, ...(schema ? { schema } : {}) })
    try {
      await this.#call('createNamespace', async () => (await this.#dataPlane()).request('POST', '/namespaces', body))
    } catch (err) {
      // Already there (a replay after a crash applies it again): what was asked for holds.
      if (err instanceof VecshiftError && (err.cause as { status?: number } | undefined)?.status === 409) return
      throw err
    }
  }

  async close(): Promise<void> {
    const data = this.#data?.catch(() => undefined)
    await Promise.allSettled([data?.then((d) => d?.close()), this.#control.close()])
  }

  /** Forgets what describe() learned (the index was created or replaced). */
  forgetDescription(): void {
    this.#description = undefined
  }

  /** For PineconeCollections: a control-plane call with this store's error mapping. */
  controlCall(op: string, method: 'GET' | 'POST', path: string, body?: string): Promise<PineconeResponse> {
    return this.#call(op, () => this.#control.request(method, path, body))
  }

  /** Runs one request, turning Pinecone's refusals into catalogue errors that say what to do. */
  async #call<T>(op: string, fn: () => Promise<T>, options: { notFoundIsDone?: boolean } = {}): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (!(err instanceof PineconeRefusal)) throw err
      if (err.status === 404 && options.notFoundIsDone) return { status: 404, body: {}, text: '' } as T
      if (err.status === 401 || err.status === 403) {
        throw new VecshiftError(E.STORE_AUTH, [this.label, err.status, this.#options.apiKeyEnv ?? 'the API key'], {
          cause: err,
        })
      }
      if (err.status === 404 && op === 'describe') {
        throw new VecshiftError(E.STORE_NOT_FOUND, [this.label, this.#options.controllerHost], { cause: err })
      }
      throw new VecshiftError(E.STORE_REFUSED, [this.label, op, err.status, err.detail], { cause: err })
    }
  }
}

/** A fetch response, its dense values read straight into Float32Arrays that keep their text
 *  (a copy forwards it rather than formatting every float again). */
function parseFetchBody(buf: Buffer): unknown {
  const fast = parseFetchResponse(buf)
  if (fast !== NOT_HANDLED) return fast
  const text = buf.toString('utf8')
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}
