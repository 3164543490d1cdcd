// The data-plane operations of one index: request validation with Pinecone's limits and
// messages, the change or read, and the JSON text of the answer. HTTP wiring is in
// data-routes.ts.
import { atLeast, type ApiVersion } from '../wire/pinecone/api-version.js'
import { dataError, GrpcCode, invalidArgument } from '../wire/pinecone/errors.js'
import { compileFilter, type Predicate } from '../wire/pinecone/filter.js'
import type { VectorIndex } from './index-store.js'
import { checkMetadata, LIMITS, optInt } from '../wire/pinecone/limits.js'
import {
  lowerBound,
  upperBound,
  type Metadata,
  type Namespace,
  type SparseVector,
  type StoredRecord,
} from './records.js'
import { matchJson, vectorMapJson } from './responses.js'
import { search } from './search.js'
import { parseDelete, parseUpdate, parseUpsert, canonicalNamespace } from '../wire/pinecone/write-requests.js'
import {
  decodeToken,
  echoNamespace,
  paginationToken,
  parseFetch,
  parseList,
  parseQuery,
  reportedNamespace,
  statsFilter,
} from '../wire/pinecone/read-requests.js'
import { dict } from '../dict.js'

export interface DataContext {
  readonly index: VectorIndex
  readonly version: ApiVersion
}

export type Body = Record<string, unknown>

// ---------------------------------------------------------------------------------------------
// helpers

function readUnitsForScan(ns: Namespace | undefined, dimension: number | null): number {
  // Serverless bills a query by the size of the namespace it scans (1 RU per GB, rounded up).
  const bytes = (ns?.size ?? 0) * ((dimension ?? 0) * 4 + 256)
  return Math.max(1, Math.ceil(bytes / 1e9))
}

function usageJson(readUnits: number): string {
  return `{"readUnits":${readUnits}}`
}

/** Serverless-only calls on a pod-based index: Pinecone's pod hosts have no such route. */
export function podUnsupported(op: string): Error {
  return dataError(404, GrpcCode.NOT_FOUND, `Not Found: ${op} is supported only for serverless indexes`)
}

// ---------------------------------------------------------------------------------------------
// upsert

export function upsert(ctx: DataContext, body: Body): string {
  const parsed = parseUpsert(body, ctx.index.config)
  const records: StoredRecord[] = parsed.vectors.map((v) => ({
    id: v.id,
    values: v.values ?? null,
    norm: v.norm,
    sparse: v.sparseValues ?? null,
    metadata: v.metadata ?? null,
  }))
  ctx.index.put(parsed.namespace, records)
  return `{"upsertedCount":${records.length}}`
}

// ---------------------------------------------------------------------------------------------
// query

export function query(ctx: DataContext, body: Body): string {
  const { config } = ctx.index
  const q = parseQuery(body, config)
  const ns = ctx.index.namespace(q.namespace)
  const predicate = q.filter === undefined ? null : compileFilter(q.filter)
  let dense: Float32Array | null = q.vector ?? null
  let sparse: SparseVector | null = q.sparseVector ?? null
  let found = true
  if (q.id !== undefined) {
    const r = ns?.get(q.id)
    if (r === undefined) found = false
    else if (config.vectorType === 'sparse') sparse = r.sparse
    else dense = r.values
  }
  const matches =
    !found || ns === undefined ? [] : search(ns, { metric: config.metric, dense, sparse, topK: q.topK, predicate })
  let out = '{"matches":['
  for (let i = 0; i < matches.length; i++) {
    if (i > 0) out += ','
    out += matchJson(matches[i]!, q.includeValues, q.includeMetadata)
  }
  out += `],"namespace":${JSON.stringify(echoNamespace(body.namespace, ctx.version))}`
  return `${out},"usage":${usageJson(readUnitsForScan(ns, config.dimension))}}`
}

// ---------------------------------------------------------------------------------------------
// fetch, fetch_by_metadata, list

export function fetch(ctx: DataContext, q: { ids?: unknown; namespace?: unknown }): string {
  const f = parseFetch(q)
  const ns = ctx.index.namespace(f.namespace)
  const found: StoredRecord[] = []
  for (const id of f.ids) {
    const r = ns?.get(id)
    if (r !== undefined) found.push(r)
  }
  const nsName = JSON.stringify(echoNamespace(q.namespace, ctx.version))
  return `{"vectors":${vectorMapJson(found)},"namespace":${nsName},"usage":${usageJson(Math.max(1, Math.ceil(found.length / 10)))}}`
}

export function fetchByMetadata(ctx: DataContext, body: Body): string {
  if (body.filter === undefined || body.filter === null) throw invalidArgument('filter is required')
  const predicate = compileFilter(body.filter)
  const limit = optInt(body.limit, 'limit', 1, LIMITS.maxFetchByMetadataLimit, 100)
  const after = decodeToken(body.paginationToken)
  const ns = ctx.index.namespace(canonicalNamespace(body.namespace))
  const page: StoredRecord[] = []
  let more = false
  if (ns !== undefined) {
    const ids = ns.sortedIds()
    for (let i = after === null ? 0 : upperBound(ids, after); i < ids.length; i++) {
      const r = ns.get(ids[i]!)!
      if (!predicate(r.metadata)) continue
      if (page.length === limit) {
        more = true
        break
      }
      page.push(r)
    }
  }
  let out = `{"vectors":${vectorMapJson(page)},"namespace":${JSON.stringify(echoNamespace(body.namespace, ctx.version))}`
  if (more) out += `,"pagination":{"next":${JSON.stringify(paginationToken(page[page.length - 1]!.id))}}`
  return `${out},"usage":${usageJson(Math.max(1, Math.ceil(page.length / 10)))}}`
}

export function list(
  ctx: DataContext,
  q: { prefix?: unknown; limit?: unknown; paginationToken?: unknown; namespace?: unknown },
): string {
  if (ctx.index.isPod) throw podUnsupported('list')
  const { prefix, limit, namespace, paginationToken: token } = parseList(q)
  const after = decodeToken(token)
  const ns = ctx.index.namespace(namespace)
  const page: string[] = []
  let more = false
  if (ns !== undefined) {
    const ids = ns.sortedIds()
    // Ids sharing a prefix are contiguous in sorted order: start at the later of the prefix
    // and the token, stop at the first id without the prefix.
    let i = lowerBound(ids, prefix)
    if (after !== null) i = Math.max(i, upperBound(ids, after))
    for (; i < ids.length; i++) {
      const id = ids[i]!
      if (!id.startsWith(prefix)) break
      if (page.length === limit) {
        more = true
        break
      }
      page.push(id)
    }
  }
  let out = `{"vectors":[${page.map((id) => `{"id":${JSON.stringify(id)}}`).join(',')}]`
  if (more) out += `,"pagination":{"next":${JSON.stringify(paginationToken(page[page.length - 1]!))}}`
  return `${out},"namespace":${JSON.stringify(echoNamespace(q.namespace, ctx.version))},"usage":${usageJson(1)}}`
}

// ---------------------------------------------------------------------------------------------
// update, delete

export function update(ctx: DataContext, body: Body): string {
  const u = parseUpdate(body, ctx.index.config)
  const key = u.namespace
  if (u.filter !== undefined) {
    const predicate = compileFilter(u.filter)
    const ns = ctx.index.namespace(key)
    const matched = ns === undefined ? [] : [...ns.records.values()].filter((r) => predicate(r.metadata))
    if (!u.dryRun && matched.length > 0) {
      // Check every merged result before changing anything: the update is all or nothing.
      const next = matched.map((r) => ({ ...r, metadata: mergeMetadata(r.metadata, u.setMetadata as Metadata) }))
      ctx.index.put(key, next)
    }
    return `{"matchedRecords":${matched.length}}`
  }
  const id = u.id as string
  const current = ctx.index.namespace(key)?.get(id)
  // Updating an id that does not exist changes nothing and is not an error.
  if (current === undefined) return '{}'
  ctx.index.put(key, [
    {
      id,
      values: u.values ?? current.values,
      norm: u.values ? (u.norm as number) : current.norm,
      sparse: u.sparseValues ?? current.sparse,
      metadata: u.setMetadata === undefined ? current.metadata : mergeMetadata(current.metadata, u.setMetadata),
    },
  ])
  return '{}'
}

function mergeMetadata(current: Metadata | null, set: Metadata): Metadata {
  return checkMetadata({ ...(current ?? {}), ...set })
}

export function deleteVectors(ctx: DataContext, body: Body): string {
  const d = parseDelete(body)
  if (d.deleteAll) ctx.index.clearNamespace(d.namespace)
  else if (d.ids) ctx.index.remove(d.namespace, d.ids as string[])
  else ctx.index.removeMatching(d.namespace, compileFilter(d.filter))
  return '{}'
}

// ---------------------------------------------------------------------------------------------
// describe_index_stats

export function describeIndexStats(ctx: DataContext, body: Body): string {
  const { index, version } = ctx
  const { config } = index
  const rawFilter = statsFilter(body)
  let predicate: Predicate | null = null
  if (rawFilter !== undefined) {
    if (!index.isPod)
      throw invalidArgument(
        'Serverless and starter indexes do not support describing index stats with metadata filtering',
      )
    predicate = compileFilter(rawFilter)
  }
  const namespaces = dict<{ vectorCount: number }>()
  for (const [key, ns] of [...index.namespaces].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    let count = ns.size
    if (predicate !== null) {
      count = 0
      for (const r of ns.records.values()) if (predicate(r.metadata)) count++
    }
    namespaces[reportedNamespace(key, version)] = { vectorCount: count }
  }
  const total = index.totalCount()
  const out: Record<string, unknown> = { namespaces }
  if (config.dimension !== null) out.dimension = config.dimension
  out.indexFullness = index.isPod ? podFullness(total, config.dimension) : 0
  out.totalVectorCount = total
  out.metric = config.metric
  out.vectorType = config.vectorType
  // 2025-10 added how full a dedicated (pod) index's memory and storage are, spelled in
  // snake case until 2026-04 and in camel case from 2026-07; on-demand indexes report 0.
  if (atLeast(version, '2025-10')) {
    const fullness = index.isPod ? podFullness(total, config.dimension) : 0
    if (version === '2026-07') Object.assign(out, { memoryFullness: fullness, storageFullness: fullness })
    else Object.assign(out, { memory_fullness: fullness, storage_fullness: fullness })
  }
  return JSON.stringify(out)
}

// A p1.x1 pod holds about a million 768-dimension vectors; report fullness to 1%, capped at 1.
function podFullness(count: number, dimension: number | null): number {
  const perPod = (1_000_000 * 768) / Math.max(1, dimension ?? 768)
  return Math.min(1, Math.round((count / perPod) * 100) / 100)
}
