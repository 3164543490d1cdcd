import type { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify'
import { E, vxError } from '../errors.js'
import { parseApiVersion, atLeast, type ApiVersion } from '../wire/pinecone/api-version.js'
import { dataError, GrpcCode, invalidArgument, isPineconeError } from '../wire/pinecone/errors.js'
import { formatAsFloat32, formatFloat32Array } from '../wire/pinecone/float32.js'
import { decodeToken, echoNamespace, paginationToken, reportedNamespace } from '../wire/pinecone/read-requests.js'
import { parseFetch, parseList, parseQuery, statsFilter } from '../wire/pinecone/read-requests.js'
import type { SparseVector } from '../wire/pinecone/types.js'
import { asBody, canonicalNamespace, type IndexShape, type ParsedWrite } from '../wire/pinecone/write-requests.js'
import { parseRestWrite } from './capture.js'
import type { CapturedOp } from './routes.js'
import type { QueryMatch, StoredVector, VectorStore } from '../stores/contract.js'
import type { ClientAuth } from './auth.js'
import { readBody } from './body.js'
import { dict } from '../dict.js'

// The Pinecone data plane answered from a store adapter instead of forwarded as bytes: what
// the gateway serves once a pgvector target is primary, so the application keeps speaking
// Pinecone's API (docs/architecture.md: "goes through the adapter only when it must translate").
// Requests are checked by the same code the emulator uses (src/wire/pinecone), so malformed ones
// get Pinecone's 400s in Pinecone's words; answers have Pinecone's shapes (scores in
// Pinecone's convention, which the adapter already converts to, floats in their shortest
// float32 form, the default namespace named as the request's API version names it).
// Calls pgvector has no counterpart for are refused with TARGET_UNSUPPORTED (501).

const EMPTY = new Float32Array(0)
const USAGE = '"usage":{"readUnits":1}'

export class StorePlane {
  /** `shape`: the store's shape; the table may not exist when the gateway starts (the copy
   *  creates it), so it is asked for when the first request needs it. */
  constructor(
    readonly store: VectorStore,
    private readonly shape: () => Promise<IndexShape>,
  ) {}

  /** Resolves once the store's shape is known (the capture path needs it synchronously). */
  async shapeReady(): Promise<void> {
    await this.shape()
  }

  /** The handler of one data-plane read route (by its op name in routes.ts). */
  reader(op: string, auth: ClientAuth): RouteHandlerMethod {
    const plane = this
    return async function read(req: FastifyRequest, reply: FastifyReply) {
      if (!auth.allows(req.headers)) throw vxError(E.UNAUTHORIZED)
      const version = parseApiVersion(req.headers['x-pinecone-api-version'])
      return answer(reply, async () => plane.#read(op, req, version, await plane.shape()))
    }
  }

  /** A query's answer as the target gives it (for shadow reads): status and body. */
  async queryAnswer(req: FastifyRequest, body: Buffer): Promise<{ status: number; body: Buffer }> {
    const version = parseApiVersion(req.headers['x-pinecone-api-version'])
    try {
      let parsed: unknown
      try {
        parsed = JSON.parse(body.toString('utf8'))
      } catch (err) {
        throw invalidArgument(`Invalid JSON in request body: ${(err as Error).message}`)
      }
      return { status: 200, body: Buffer.from(await this.#query(asBody(parsed), version, await this.shape())) }
    } catch (err) {
      if (isPineconeError(err))
        return {
          status: err.status,
          body: Buffer.from(typeof err.body === 'string' ? err.body : JSON.stringify(err.body)),
        }
      throw err
    }
  }

  /** Applies a parsed write; the JSON text of Pinecone's answer. */
  async write(w: ParsedWrite): Promise<string> {
    const ns = w.namespace
    if (w.op === 'upsert') {
      await this.store.upsert(
        ns,
        w.vectors.map(({ norm: _norm, ...v }) => v),
      )
      return `{"upsertedCount":${w.vectors.length}}`
    }
    if (w.op === 'update') {
      if (w.filter !== undefined) {
        if (w.dryRun) throw vxError(E.TARGET_UNSUPPORTED, 'an update by filter with dryRun', this.store.label)
        const { matched } = await this.store.update(ns, { filter: w.filter, setMetadata: w.setMetadata ?? {} })
        return `{"matchedRecords":${matched ?? 0}}`
      }
      await this.store.update(ns, {
        id: w.id as string,
        ...(w.values ? { values: w.values } : {}),
        ...(w.sparseValues ? { sparseValues: w.sparseValues } : {}),
        ...(w.setMetadata ? { setMetadata: w.setMetadata } : {}),
      })
      return '{}'
    }
    if (w.op === 'create_namespace') {
      if (!this.store.createNamespace) throw vxError(E.TARGET_UNSUPPORTED, 'create_namespace', this.store.label)
      await this.store.createNamespace(ns, w.schema)
      return this.#namespace(ns, parseApiVersion(undefined))
    }
    if (w.deleteNamespace && this.store.deleteNamespace) await this.store.deleteNamespace(ns)
    else if (w.deleteAll) await this.store.delete(ns, { deleteAll: true })
    else if (w.ids) await this.store.delete(ns, { ids: w.ids })
    else await this.store.delete(ns, { filter: w.filter as Record<string, unknown> })
    return '{}'
  }

  /** The handler of a write route when nothing captures it. */
  writer(op: CapturedOp, auth: ClientAuth): RouteHandlerMethod {
    const plane = this
    return async function write(req: FastifyRequest, reply: FastifyReply) {
      if (!auth.allows(req.headers)) throw vxError(E.UNAUTHORIZED)
      const raw = await readBody(req.body as Readable | Buffer | undefined)
      return answer(reply, async () => plane.write(parseRestWrite(op, raw, req, await plane.shape())))
    }
  }

  async #read(op: string, req: FastifyRequest, version: ApiVersion, shape: IndexShape): Promise<string> {
    switch (op) {
      case 'query':
        return this.#query(asBody(await bodyJson(req)), version, shape)
      case 'fetch':
        return this.#fetch(req.query as Record<string, unknown>, version)
      case 'list':
        return this.#list(req.query as Record<string, unknown>, version)
      case 'describe_index_stats':
        return this.#stats(req.method === 'GET' ? {} : asBody(await bodyJson(req)), version, shape)
      case 'list_namespaces':
        return this.#namespaces(req.query as Record<string, unknown>, version)
      case 'describe_namespace':
        return this.#namespace(decodeURIComponent((req.params as { namespace: string }).namespace), version)
      default:
        throw vxError(E.TARGET_UNSUPPORTED, op, this.store.label)
    }
  }

  async #query(body: Record<string, unknown>, version: ApiVersion, shape: IndexShape): Promise<string> {
    const q = parseQuery(body, shape)
    const matches = await this.store.query(q.namespace, {
      topK: q.topK,
      includeValues: q.includeValues,
      includeMetadata: q.includeMetadata,
      ...(q.id !== undefined ? { id: q.id } : {}),
      ...(q.vector ? { vector: q.vector } : {}),
      ...(q.sparseVector ? { sparseVector: q.sparseVector } : {}),
      ...(q.filter ? { filter: q.filter } : {}),
    })
    const out = matches.map((m) => matchJson(m, q.includeValues, q.includeMetadata)).join(',')
    return `{"matches":[${out}],"namespace":${JSON.stringify(echoNamespace(body.namespace, version))},${USAGE}}`
  }

  async #fetch(q: Record<string, unknown>, version: ApiVersion): Promise<string> {
    const f = parseFetch(q)
    const found = await this.store.fetch(f.namespace, f.ids)
    const vectors = f.ids
      .filter((id) => found.has(id))
      .map((id) => `${JSON.stringify(id)}:${vectorJson(found.get(id) as StoredVector)}`)
    return `{"vectors":{${vectors.join(',')}},"namespace":${JSON.stringify(echoNamespace(q.namespace, version))},${USAGE}}`
  }

  async #list(q: Record<string, unknown>, version: ApiVersion): Promise<string> {
    const l = parseList(q)
    const page = await this.store.list(l.namespace, {
      prefix: l.prefix,
      limit: l.limit,
      ...(l.paginationToken ? { cursor: l.paginationToken } : {}),
    })
    let out = `{"vectors":[${page.ids.map((id) => `{"id":${JSON.stringify(id)}}`).join(',')}]`
    if (page.next !== undefined) out += `,"pagination":{"next":${JSON.stringify(page.next)}}`
    return `${out},"namespace":${JSON.stringify(echoNamespace(q.namespace, version))},${USAGE}}`
  }

  async #stats(body: Record<string, unknown>, version: ApiVersion, shape: IndexShape): Promise<string> {
    // As a serverless index answers: pgvector counts are per namespace, not per filter.
    if (statsFilter(body) !== undefined)
      throw invalidArgument(
        'Serverless and starter indexes do not support describing index stats with metadata filtering',
      )
    const stats = await this.store.stats()
    const namespaces = dict<{ vectorCount: number }>()
    let total = 0
    for (const s of [...stats].sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0))) {
      namespaces[reportedNamespace(s.namespace, version)] = { vectorCount: s.vectorCount }
      total += s.vectorCount
    }
    const out: Record<string, unknown> = { namespaces }
    if (shape.dimension !== null) out.dimension = shape.dimension
    out.indexFullness = 0
    out.totalVectorCount = total
    out.metric = shape.metric
    out.vectorType = shape.vectorType
    return JSON.stringify(out)
  }

  async #namespaces(q: Record<string, unknown>, version: ApiVersion): Promise<string> {
    const limit =
      typeof q.limit === 'string' && /^\d+$/.test(q.limit) ? Math.min(100, Math.max(1, Number(q.limit))) : 100
    const prefix = typeof q.prefix === 'string' ? q.prefix : ''
    const after = decodeToken(q.paginationToken)
    const all = (await this.store.stats())
      .map((s) => ({ name: reportedNamespace(s.namespace, version), count: s.vectorCount }))
      .filter(({ name }) => name.startsWith(prefix))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    const start = after === null ? 0 : all.findIndex(({ name }) => name > after)
    const page = start < 0 ? [] : all.slice(start, start + limit)
    const out: Record<string, unknown> = { namespaces: page.map((n) => namespaceJson(n.name, n.count, version)) }
    const last = page[page.length - 1]
    if (start >= 0 && start + limit < all.length && last !== undefined)
      out.pagination = { next: paginationToken(last.name) }
    if (atLeast(version, '2025-10')) out.total_count = all.length
    return JSON.stringify(out)
  }

  async #namespace(raw: string, version: ApiVersion): Promise<string> {
    const key = canonicalNamespace(raw)
    const found = (await this.store.stats()).find((s) => s.namespace === key)
    if (!found && key !== '') throw dataError(404, GrpcCode.NOT_FOUND, `Namespace ${raw} not found`)
    return JSON.stringify(namespaceJson(reportedNamespace(key, version), found?.vectorCount ?? 0, version))
  }
}

/** Sends `work`'s JSON text, or Pinecone's error when the request itself was at fault;
 *  vecshift's own errors (the store unavailable, refused, ...) go to the error handler. */
async function answer(reply: FastifyReply, work: () => Promise<string>): Promise<FastifyReply> {
  try {
    const json = await work()
    return reply.code(200).type('application/json').send(json)
  } catch (err) {
    if (isPineconeError(err)) return reply.code(err.status).type('application/json').send(err.body)
    throw err
  }
}

function namespaceJson(name: string, count: number, version: ApiVersion): Record<string, unknown> {
  return { name, record_count: version === '2026-07' ? String(count) : count }
}

function sparseJson(s: SparseVector): string {
  return `{"indices":[${Array.from(s.indices).join(',')}],"values":${formatFloat32Array(s.values)}}`
}

function vectorJson(v: StoredVector): string {
  let out = `{"id":${JSON.stringify(v.id)},"values":${formatFloat32Array(v.values ?? EMPTY)}`
  if (v.sparseValues) out += `,"sparseValues":${sparseJson(v.sparseValues)}`
  if (v.metadata) out += `,"metadata":${JSON.stringify(v.metadata)}`
  return `${out}}`
}

function matchJson(m: QueryMatch, includeValues: boolean, includeMetadata: boolean): string {
  let out = `{"id":${JSON.stringify(m.id)},"score":${formatAsFloat32(m.score)},"values":`
  out += includeValues && m.values ? formatFloat32Array(m.values) : '[]'
  if (includeValues && m.sparseValues) out += `,"sparseValues":${sparseJson(m.sparseValues)}`
  if (includeMetadata && m.metadata) out += `,"metadata":${JSON.stringify(m.metadata)}`
  return `${out}}`
}

async function bodyJson(req: FastifyRequest): Promise<unknown> {
  const raw = await readBody(req.body as Readable | Buffer | undefined)
  if (raw.length === 0) return {}
  try {
    return JSON.parse(raw.toString('utf8'))
  } catch (err) {
    throw invalidArgument(`Invalid JSON in request body: ${(err as Error).message}`)
  }
}
