// Pinecone's per-request and per-record limits, and the checks that enforce them with
// Pinecone's status and message (see WIRE-NOTES.md and the db_data specs). Each check throws a
// data-plane 400; callers compose them per operation.
import { invalidArgument } from './errors.js'
import type { Metadata, SparseVector } from './types.js'

export const LIMITS = Object.freeze({
  maxIdLength: 512,
  maxDimension: 20_000,
  maxUpsertVectors: 1000,
  maxFetchIds: 1000,
  maxDeleteIds: 1000,
  /** Request bodies above this are refused with 400 (not 413), as Pinecone does. */
  maxRequestBytes: 2 * 1024 * 1024,
  maxMetadataBytes: 40_960,
  maxTopK: 10_000,
  /** topK above this may not ask for values or metadata. */
  maxTopKWithData: 1000,
  /** Non-zero entries of one sparse vector (Pinecone's documented limit). */
  maxSparseValues: 1000,
  maxListLimit: 100,
  maxFetchByMetadataLimit: 10_000,
  maxNamespaceLength: 512,
  /** A dense vector whose values are all smaller than this is "only zeros". */
  minNonZeroMagnitude: 1e-8,
})

/** Pinecone's message for a body over 2 MB ("Request size 3MB exceeds ..."). */
export function requestTooLarge(bytes: number): Error {
  const mb = Math.ceil(bytes / (1024 * 1024))
  return invalidArgument(`Request size ${mb}MB exceeds the maximum supported size of 2MB`)
}

// Printable and control ASCII except NUL, as the specs' id pattern ^[\x01-\x7F]+$.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the API's id pattern admits control characters, all but NUL
const ASCII_NO_NUL = /^[\x01-\x7F]+$/

export function checkId(id: unknown, what = 'Vector ID'): string {
  if (typeof id !== 'string' || id.length === 0) throw invalidArgument(`${what} must be a non-empty string`)
  if (id.length > LIMITS.maxIdLength) {
    throw invalidArgument(
      `${what} exceeds the maximum length of ${LIMITS.maxIdLength} characters: ${id.slice(0, 32)}...`,
    )
  }
  if (!ASCII_NO_NUL.test(id)) throw invalidArgument(`${what} must contain only ASCII characters (excluding NUL): ${id}`)
  return id
}

export function checkIdList(ids: unknown, max: number, what: string): string[] {
  if (!Array.isArray(ids)) throw invalidArgument(`${what} must be an array of strings`)
  if (ids.length === 0) throw invalidArgument(`${what} must contain at least one ID`)
  if (ids.length > max) throw invalidArgument(`${what} contains ${ids.length} IDs, which exceeds the limit of ${max}`)
  for (const id of ids) checkId(id)
  return ids as string[]
}

export function dimensionMismatch(got: number, dim: number): Error {
  return invalidArgument(`Vector dimension ${got} does not match the dimension of the index ${dim}`)
}

/**
 * Dense values as float32 with their L2 norm, checked in one pass: length equals the index
 * dimension, every element a number, at least one of magnitude >= 1e-8.
 */
/** Dense values as float32. `values` is what JSON.parse made, or the Float32Array that
 *  fast-json.ts makes of the same numbers (already float32 and finite: used as it is). */
export function toDense(
  values: unknown,
  dimension: number,
  id: string | undefined,
): { values: Float32Array; norm: number } {
  const parsed = values instanceof Float32Array
  if (!parsed && !Array.isArray(values)) throw invalidArgument('Vector values must be an array of numbers')
  const n = (values as ArrayLike<unknown>).length
  if (n !== dimension) throw dimensionMismatch(n, dimension)
  const out = parsed ? values : new Float32Array(n)
  const bad = parsed ? firstNonFinite(out) : copyJson(values as unknown[], out)
  if (bad >= 0) {
    const v = (values as ArrayLike<unknown>)[bad]
    if (typeof v !== 'number')
      throw invalidArgument(`Vector values must be numbers, got ${JSON.stringify(v)} at position ${bad}`)
    // JSON cannot spell NaN, but 1e999 parses as Infinity and 1e39 overflows float32.
    throw invalidArgument(`Vector values must be finite float32 numbers, got ${v} at position ${bad}`)
  }
  let sum = 0
  let nonZero = false
  const min = LIMITS.minNonZeroMagnitude
  for (let i = 0; i < n; i++) {
    const f = out[i] as number
    if (f >= min || f <= -min) nonZero = true
    sum += f * f
  }
  if (!nonZero) {
    throw invalidArgument(
      id === undefined
        ? 'Dense vectors must contain at least one non-zero value.'
        : `Dense vectors must contain at least one non-zero value. Vector ID ${id} contains only zeros.`,
    )
  }
  return { values: out, norm: Math.sqrt(sum) }
}

function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i] as number)) return i
  return -1
}

/** Copies into float32; the index of the first value that is not a finite float32, or -1. */
function copyJson(from: unknown[], to: Float32Array): number {
  for (let i = 0; i < from.length; i++) {
    const v = from[i]
    if (typeof v !== 'number') return i
    to[i] = v
    if (!Number.isFinite(to[i] as number)) return i
  }
  return -1
}

export function toSparse(raw: unknown): SparseVector {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalidArgument('Sparse values must be an object with `indices` and `values`')
  }
  const { indices, values } = raw as { indices?: unknown; values?: unknown }
  if (!Array.isArray(indices) || !Array.isArray(values)) {
    throw invalidArgument('Sparse values must have `indices` and `values` arrays')
  }
  if (indices.length !== values.length) {
    throw invalidArgument(
      `Sparse vector size mismatch: indices has ${indices.length} elements and values has ${values.length}`,
    )
  }
  if (indices.length === 0) throw invalidArgument('Sparse vector must contain at least one non-zero value')
  if (indices.length > LIMITS.maxSparseValues) {
    throw invalidArgument(
      `Sparse vector has ${indices.length} non-zero values, which exceeds the limit of ${LIMITS.maxSparseValues}`,
    )
  }
  const idx = new Uint32Array(indices.length)
  const val = new Float32Array(values.length)
  const seen = new Set<number>()
  for (let i = 0; i < indices.length; i++) {
    const x = indices[i]
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 0xffff_ffff) {
      throw invalidArgument(`Sparse vector indices must be integers in [0, 4294967295], got ${JSON.stringify(x)}`)
    }
    if (seen.has(x)) throw invalidArgument(`Sparse vector contains duplicate index ${x}`)
    seen.add(x)
    const v = values[i]
    if (typeof v !== 'number') throw invalidArgument(`Sparse vector values must be numbers, got ${JSON.stringify(v)}`)
    idx[i] = x
    val[i] = v
    if (!Number.isFinite(val[i] as number))
      throw invalidArgument(`Sparse vector values must be finite float32 numbers, got ${v}`)
  }
  return { indices: idx, values: val }
}

const METADATA_TYPE_MESSAGE = 'Metadata value must be a string, number, boolean or list of strings'

/**
 * Metadata as Pinecone accepts it: a flat object whose values are strings, numbers, booleans
 * or lists of strings; no null, no nested objects, no key starting with `$`; at most 40 KB.
 */
export function checkMetadata(raw: unknown, what = 'metadata'): Metadata {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalidArgument(`Invalid ${what}: must be a JSON object`)
  }
  for (const [key, value] of Object.entries(raw)) {
    if (key.startsWith('$')) throw invalidArgument(`Invalid ${what}: field name "${key}" must not start with '$'`)
    if (typeof value === 'string' || typeof value === 'boolean') continue
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw invalidArgument(`${METADATA_TYPE_MESSAGE} (field "${key}")`)
      continue
    }
    if (Array.isArray(value) && value.every((x) => typeof x === 'string')) continue
    throw invalidArgument(`${METADATA_TYPE_MESSAGE} (field "${key}")`)
  }
  const bytes = Buffer.byteLength(JSON.stringify(raw))
  if (bytes > LIMITS.maxMetadataBytes) {
    throw invalidArgument(
      `metadata size is ${bytes} bytes, which exceeds the limit of ${LIMITS.maxMetadataBytes} bytes per vector`,
    )
  }
  return raw as Metadata
}

/** An optional boolean field (absent = default). */
export function optBool(body: Record<string, unknown>, key: string, dflt = false): boolean {
  const v = body[key]
  if (v === undefined || v === null) return dflt
  if (typeof v !== 'boolean') throw invalidArgument(`Invalid value for ${key}: expected a boolean`)
  return v
}

/** An optional integer field within [min, max]. */
export function optInt(raw: unknown, key: string, min: number, max: number, dflt: number): number {
  if (raw === undefined || raw === null || raw === '') return dflt
  const n = typeof raw === 'string' ? Number(raw) : raw
  if (typeof n !== 'number' || !Number.isInteger(n))
    throw invalidArgument(`Invalid value for ${key}: expected an integer`)
  if (n < min || n > max) throw invalidArgument(`Invalid value for ${key}: ${n} must be between ${min} and ${max}`)
  return n
}
