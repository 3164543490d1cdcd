// Pinecone's read requests (query, fetch, list), validated with Pinecone's limits and
// messages, as one parsed form. The emulator answers them from its own records and the
// gateway, when a pgvector target is primary, answers them through the store adapter: both
// refuse the same requests with the same words.
import { atLeast, type ApiVersion } from './api-version.js'
import { invalidArgument } from './errors.js'
import { compileFilter } from './filter.js'
import { checkId, checkIdList, LIMITS, optBool, optInt, toDense, toSparse } from './limits.js'
import type { SparseVector } from './types.js'
import { canonicalNamespace, type IndexShape } from './write-requests.js'

type Body = Record<string, unknown>

/** The namespace as sent, or the default's name in this API version when none was sent. */
export function echoNamespace(raw: unknown, version: ApiVersion): string {
  if (typeof raw === 'string') return raw
  return atLeast(version, '2025-10') ? '__default__' : ''
}

/** How a canonical namespace ('' for the default) is reported in stats and listings. */
export function reportedNamespace(key: string, version: ApiVersion): string {
  return key === '' && atLeast(version, '2025-10') ? '__default__' : key
}

/** Sparse values beside dense ones: Pinecone takes them on dotproduct indexes only. */
export function checkSparseAllowed(shape: IndexShape): void {
  if (shape.vectorType === 'dense' && shape.metric !== 'dotproduct') {
    throw invalidArgument(
      `Sparse values are supported only for indexes with the dotproduct metric; index ${shape.name} uses ${shape.metric}`,
    )
  }
}

export interface ParsedQuery {
  readonly namespace: string
  readonly topK: number
  readonly includeValues: boolean
  readonly includeMetadata: boolean
  /** Exactly one of id, or vector and/or sparseVector. */
  readonly id?: string
  readonly vector?: Float32Array
  readonly sparseVector?: SparseVector
  /** Checked (compiles); the caller compiles or translates it again. */
  readonly filter?: Record<string, unknown>
}

/** A query body, checked against the index's shape. */
export function parseQuery(body: Body, shape: IndexShape): ParsedQuery {
  const topK = body.topK
  if (topK === undefined || topK === null) throw invalidArgument('topK is required')
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1 || topK > LIMITS.maxTopK) {
    throw invalidArgument(`topK must be an integer between 1 and ${LIMITS.maxTopK}, got ${JSON.stringify(topK)}`)
  }
  const includeValues = optBool(body, 'includeValues')
  const includeMetadata = optBool(body, 'includeMetadata')
  if (topK > LIMITS.maxTopKWithData && (includeValues || includeMetadata)) {
    throw invalidArgument(
      `topK must be at most ${LIMITS.maxTopKWithData} when includeValues or includeMetadata is true`,
    )
  }
  const namespace = canonicalNamespace(body.namespace)
  const hasVector = body.vector !== undefined && body.vector !== null
  const hasSparse = body.sparseVector !== undefined && body.sparseVector !== null
  const hasId = body.id !== undefined && body.id !== null
  if (hasId && (hasVector || hasSparse))
    throw invalidArgument('Cannot provide both id and a query vector (vector or sparseVector); provide exactly one')
  if (!hasId && !hasVector && !hasSparse)
    throw invalidArgument('No query provided: provide one of vector, sparseVector or id')
  let filter: Record<string, unknown> | undefined
  if (body.filter !== undefined && body.filter !== null) {
    compileFilter(body.filter)
    filter = body.filter as Record<string, unknown>
  }
  const base = { namespace, topK, includeValues, includeMetadata, ...(filter ? { filter } : {}) }
  if (hasId) return { ...base, id: checkId(body.id, 'Query ID') }
  if (shape.vectorType === 'sparse') {
    if (hasVector) throw invalidArgument(`Index ${shape.name} is a sparse index: query with sparseVector, not vector`)
    return { ...base, sparseVector: toSparse(body.sparseVector) }
  }
  if (!hasVector)
    throw invalidArgument(
      `Index ${shape.name} is a dense index: a query needs a dense vector (sparseVector may be added on dotproduct indexes)`,
    )
  const vector = toDense(body.vector, shape.dimension as number, undefined).values
  if (!hasSparse) return { ...base, vector }
  checkSparseAllowed(shape)
  return { ...base, vector, sparseVector: toSparse(body.sparseVector) }
}

export interface ParsedFetch {
  readonly namespace: string
  /** Without repeats, in the order asked. */
  readonly ids: readonly string[]
}

export function parseFetch(q: { ids?: unknown; namespace?: unknown }): ParsedFetch {
  if (q.ids === undefined) throw invalidArgument('ids is required: pass at least one ?ids=<id>')
  const ids = checkIdList(typeof q.ids === 'string' ? [q.ids] : q.ids, LIMITS.maxFetchIds, 'ids')
  return { namespace: canonicalNamespace(q.namespace), ids: [...new Set(ids)] }
}

export interface ParsedList {
  readonly namespace: string
  readonly prefix: string
  readonly limit: number
  /** As sent; what it means is the answering store's business. */
  readonly paginationToken?: string
}

export function parseList(q: {
  prefix?: unknown
  limit?: unknown
  paginationToken?: unknown
  namespace?: unknown
}): ParsedList {
  if (q.prefix !== undefined && typeof q.prefix !== 'string')
    throw invalidArgument('Invalid value for prefix: expected a string')
  if (q.paginationToken !== undefined && q.paginationToken !== null && typeof q.paginationToken !== 'string')
    throw invalidArgument('Invalid pagination token')
  const limit = optInt(q.limit, 'limit', 1, LIMITS.maxListLimit, LIMITS.maxListLimit)
  const token = typeof q.paginationToken === 'string' && q.paginationToken !== '' ? q.paginationToken : undefined
  return {
    namespace: canonicalNamespace(q.namespace),
    prefix: (q.prefix as string | undefined) ?? '',
    limit,
    ...(token ? { paginationToken: token } : {}),
  }
}

/** An opaque token naming the last id (or name) of a page. */
export function paginationToken(lastId: string): string {
  return Buffer.from(JSON.stringify({ after: lastId })).toString('base64')
}

/** The id (or name) a pagination token names; null when there is none; 400 when malformed. */
export function decodeToken(token: unknown): string | null {
  if (token === undefined || token === null || token === '') return null
  if (typeof token !== 'string') throw invalidArgument('Invalid pagination token')
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64').toString('utf8'))
    if (parsed !== null && typeof parsed === 'object' && typeof (parsed as { after?: unknown }).after === 'string') {
      return (parsed as { after: string }).after
    }
  } catch {
    // fall through
  }
  throw invalidArgument('Invalid pagination token')
}

/** Whether a describe_index_stats body carries a filter (an empty object is none). */
export function statsFilter(body: Body): unknown {
  const raw = body.filter
  const given =
    raw !== undefined &&
    raw !== null &&
    !(typeof raw === 'object' && !Array.isArray(raw) && Object.keys(raw).length === 0)
  return given ? raw : undefined
}
