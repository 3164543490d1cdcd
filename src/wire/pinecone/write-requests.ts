import { invalidArgument } from './errors.js'
import { compileFilter } from './filter.js'
import { checkId, checkIdList, checkMetadata, LIMITS, optBool, toDense, toSparse } from './limits.js'
import type { Metadata, Metric, SparseVector, VectorType } from './types.js'

// Pinecone's write requests (upsert, update, delete), parsed and validated once into typed
// values with Pinecone's status and messages for every refusal. The emulator applies what
// these return; the gateway logs it. One parser for both means the gateway refuses exactly
// what Pinecone would refuse, and what it logs is what Pinecone would store (float32).

export interface IndexShape {
  readonly name: string
  /** null for sparse indexes. */
  readonly dimension: number | null
  readonly vectorType: VectorType
  readonly metric: Metric
}

export interface ParsedVector {
  readonly id: string
  readonly values?: Float32Array
  /** L2 norm of `values` (the emulator's cosine needs it; computed in the same pass). */
  readonly norm: number
  readonly sparseValues?: SparseVector
  readonly metadata?: Metadata
}

export interface ParsedUpsert {
  readonly op: 'upsert'
  /** Canonical namespace: "" for the default ("", missing or "__default__"). */
  readonly namespace: string
  readonly vectors: readonly ParsedVector[]
}

export interface ParsedUpdate {
  readonly op: 'update'
  readonly namespace: string
  readonly id?: string
  readonly values?: Float32Array
  readonly norm?: number
  readonly sparseValues?: SparseVector
  readonly setMetadata?: Metadata
  /** Update by filter: the filter as sent (validated), to log or compile. */
  readonly filter?: Record<string, unknown>
  readonly dryRun: boolean
}

export interface ParsedDelete {
  readonly op: 'delete'
  readonly namespace: string
  readonly ids?: readonly string[]
  readonly filter?: Record<string, unknown>
  readonly deleteAll: boolean
  /** DELETE /namespaces/{ns}: every record and the namespace itself (a created namespace
   *  outlives deleteAll; it does not outlive this). */
  readonly deleteNamespace?: boolean
}

/** POST /namespaces (API 2025-10+): `namespace` is the name to create (never ""). */
export interface ParsedCreateNamespace {
  readonly op: 'create_namespace'
  readonly namespace: string
  readonly schema?: Record<string, unknown>
}

export type ParsedWrite = ParsedUpsert | ParsedUpdate | ParsedDelete | ParsedCreateNamespace

type Body = Record<string, unknown>

const present = (v: unknown): boolean => v !== undefined && v !== null

/** A namespace named in a path (describe, delete): any namespace a write can create, which
 *  is any string of up to 512 characters but NUL (a write's namespace is not restricted to
 *  ASCII, so neither is its describe or delete). */
export function checkNamespaceName(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > LIMITS.maxNamespaceLength || raw.includes('\u0000')) {
    throw invalidArgument(`Namespace name must be 1-${LIMITS.maxNamespaceLength} characters (excluding NUL)`)
  }
  return raw
}

/** A namespace to create (POST /namespaces): ASCII only, as the API says. */
function checkNewNamespaceName(raw: unknown): string {
  if (
    typeof raw !== 'string' ||
    raw.length === 0 ||
    raw.length > LIMITS.maxNamespaceLength ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the API admits any ASCII but NUL, control characters too
    !/^[\x01-\x7F]+$/.test(raw)
  ) {
    throw invalidArgument(`Namespace name must be 1-${LIMITS.maxNamespaceLength} ASCII characters (excluding NUL)`)
  }
  return raw
}

export function canonicalNamespace(raw: unknown): string {
  if (raw === undefined || raw === null) return ''
  if (typeof raw !== 'string') throw invalidArgument('Invalid value for namespace: expected a string')
  if (raw.length > LIMITS.maxNamespaceLength) {
    throw invalidArgument(`Namespace name exceeds the maximum length of ${LIMITS.maxNamespaceLength} characters`)
  }
  return raw === '__default__' ? '' : raw
}

export function parseCreateNamespace(raw: unknown): ParsedCreateNamespace {
  const body = asBody(raw)
  const name = checkNewNamespaceName(body.name)
  if (name === '__default__')
    throw invalidArgument('__default__ is reserved: the default namespace always exists and cannot be created')
  const schema = body.schema
  if (schema !== undefined && schema !== null && (typeof schema !== 'object' || Array.isArray(schema))) {
    throw invalidArgument('Invalid value for schema: expected an object')
  }
  return { op: 'create_namespace', namespace: name, ...(schema ? { schema: schema as Record<string, unknown> } : {}) }
}

export function asBody(raw: unknown): Body {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw invalidArgument('Request body must be a JSON object')
  return raw as Body
}

function sparseAllowed(index: IndexShape): void {
  if (index.vectorType === 'dense' && index.metric !== 'dotproduct') {
    throw invalidArgument(
      `Sparse values are supported only for indexes with the dotproduct metric; index ${index.name} uses ${index.metric}`,
    )
  }
}

function validFilter(raw: unknown): Record<string, unknown> {
  // Compiling is the validation: it throws Pinecone's 400 for anything malformed.
  compileFilter(raw)
  return raw as Record<string, unknown>
}

export function parseUpsert(raw: unknown, index: IndexShape): ParsedUpsert {
  const body = asBody(raw)
  const vectors = body.vectors
  if (!Array.isArray(vectors)) throw invalidArgument('Upsert request must contain a `vectors` array')
  if (vectors.length === 0) throw invalidArgument('Upsert request must contain at least one vector')
  if (vectors.length > LIMITS.maxUpsertVectors) {
    throw invalidArgument(
      `Upsert request contains ${vectors.length} vectors, which exceeds the limit of ${LIMITS.maxUpsertVectors} vectors per request`,
    )
  }
  const namespace = canonicalNamespace(body.namespace)
  return { op: 'upsert', namespace, vectors: vectors.map((v) => parseVector(v, index)) }
}

function parseVector(raw: unknown, index: IndexShape): ParsedVector {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw invalidArgument('Each vector must be a JSON object')
  const v = raw as Body
  const id = checkId(v.id)
  const hasValues = Array.isArray(v.values) ? v.values.length > 0 : present(v.values)
  const hasSparse = present(v.sparseValues)
  const out: { -readonly [K in keyof ParsedVector]: ParsedVector[K] } = { id, norm: 0 }
  if (index.vectorType === 'sparse') {
    if (hasValues) throw invalidArgument(`Vector ID ${id}: sparse indexes accept only sparseValues, not dense values`)
    if (!hasSparse) throw invalidArgument(`Vector ID ${id}: sparseValues are required for a sparse index`)
  } else {
    if (!hasValues) throw invalidArgument(`Vector ID ${id}: values are required for a dense index`)
    const dense = toDense(v.values, index.dimension as number, id)
    out.values = dense.values
    out.norm = dense.norm
  }
  if (hasSparse) {
    sparseAllowed(index)
    out.sparseValues = toSparse(v.sparseValues)
  }
  if (present(v.metadata)) out.metadata = checkMetadata(v.metadata)
  return out
}

export function parseUpdate(raw: unknown, index: IndexShape): ParsedUpdate {
  const body = asBody(raw)
  const hasId = present(body.id)
  const hasFilter = present(body.filter)
  const hasValues = present(body.values)
  const hasSparse = present(body.sparseValues)
  if (!hasId && !hasFilter) throw invalidArgument('Update request must specify either id or filter')
  if (hasId && hasFilter) throw invalidArgument('Update request must specify either id or filter, not both')
  const namespace = canonicalNamespace(body.namespace)
  const out: { -readonly [K in keyof ParsedUpdate]: ParsedUpdate[K] } = { op: 'update', namespace, dryRun: false }
  if (present(body.setMetadata)) out.setMetadata = checkMetadata(body.setMetadata, 'setMetadata')

  if (hasFilter) {
    if (hasValues || hasSparse)
      throw invalidArgument('Updating by filter can only set metadata; values and sparseValues need an id')
    out.filter = validFilter(body.filter)
    out.dryRun = optBool(body, 'dryRun')
    if (!out.dryRun && out.setMetadata === undefined)
      throw invalidArgument('setMetadata is required when updating by filter')
    return out
  }

  out.id = checkId(body.id)
  if (hasValues) {
    if (index.vectorType === 'sparse')
      throw invalidArgument(`Vector ID ${out.id}: sparse indexes accept only sparseValues, not dense values`)
    const dense = toDense(body.values, index.dimension as number, out.id)
    out.values = dense.values
    out.norm = dense.norm
  }
  if (hasSparse) {
    sparseAllowed(index)
    out.sparseValues = toSparse(body.sparseValues)
  }
  return out
}

export function parseDelete(raw: unknown): ParsedDelete {
  const body = asBody(raw)
  const hasIds = present(body.ids)
  const hasFilter = present(body.filter)
  const deleteAll = optBool(body, 'deleteAll')
  const namespace = canonicalNamespace(body.namespace)
  if (deleteAll && (hasIds || hasFilter)) throw invalidArgument('deleteAll cannot be combined with ids or filter')
  if (hasIds && hasFilter) throw invalidArgument('Delete request must specify either ids or filter, not both')
  if (deleteAll) return { op: 'delete', namespace, deleteAll }
  if (hasIds) return { op: 'delete', namespace, ids: checkIdList(body.ids, LIMITS.maxDeleteIds, 'ids'), deleteAll }
  if (hasFilter) return { op: 'delete', namespace, filter: validFilter(body.filter), deleteAll }
  throw invalidArgument('Delete request must specify ids, filter or deleteAll')
}
