import { formatFloat32Array } from '../../wire/pinecone/float32.js'
import type { Metadata, SparseVector } from '../../wire/pinecone/types.js'
import { NumbersText } from '../../wire/pinecone/fast-json.js'
import type { QueryMatch, StoredVector } from '../contract.js'
import { denseText, withDenseText } from '../dense-text.js'
import { E, VecshiftError } from '../../errors.js'
import { wellFormed } from '../../unicode.js'

// Records to and from Pinecone's JSON. Floats go out in their shortest float32 form (what
// Pinecone itself prints), so a copied vector is bit-for-bit the source's, and the bodies are
// as small as they can be; they come back as Float32Array.

/** The default namespace as the official SDK spells it on the wire. */
export function wireNamespace(namespace: string): string {
  return namespace === '' ? '__default__' : namespace
}

/** A namespace as a URL carries it (a query parameter or a path segment), percent-encoded
 *  UTF-8. A namespace with a lone surrogate, which JSON bodies carry and Pinecone accepts,
 *  has no UTF-8 form: URLSearchParams would silently send U+FFFD, the name of another
 *  namespace, and encodeURIComponent throws. Refused instead, saying which call needs it. */
export function urlNamespace(namespace: string, label: string, call: string): string {
  const wire = wireNamespace(namespace)
  if (!wellFormed(wire)) {
    throw new VecshiftError(E.STORE_UNSUPPORTED, [
      label,
      `${call} in namespace ${JSON.stringify(namespace)}: the name holds a lone surrogate, which a URL cannot carry, ` +
        `and Pinecone takes the namespace of ${call} in the URL. ` +
        'Writes, queries and deletes by filter in it still work (they send JSON); ' +
        'to list, fetch or copy its records, rename the namespace on the source',
    ])
  }
  return encodeURIComponent(wire)
}

export function namespaceFromWire(wire: string | undefined): string {
  return wire === undefined || wire === '__default__' ? '' : wire
}

export function sparseJson(s: SparseVector): string {
  return `{"indices":[${Array.from(s.indices).join(',')}],"values":${formatFloat32Array(s.values)}}`
}

/** One vector of an upsert body. */
export function vectorJson(v: StoredVector): string {
  let out = `{"id":${JSON.stringify(v.id)}`
  const text = denseText(v)
  if (text !== undefined) out += `,"values":${text}`
  else if (v.values !== undefined && v.values.length > 0) out += `,"values":${formatFloat32Array(v.values)}`
  if (v.sparseValues !== undefined) out += `,"sparseValues":${sparseJson(v.sparseValues)}`
  if (v.metadata !== undefined && Object.keys(v.metadata).length > 0) out += `,"metadata":${JSON.stringify(v.metadata)}`
  return `${out}}`
}

export function upsertBody(namespace: string, vectorJsons: readonly string[]): string {
  return `{"vectors":[${vectorJsons.join(',')}],"namespace":${JSON.stringify(wireNamespace(namespace))}}`
}

interface WireVector {
  id?: unknown
  values?: unknown
  sparseValues?: { indices?: unknown; values?: unknown }
  metadata?: unknown
  score?: unknown
}

function toFloat32(x: unknown): Float32Array | undefined {
  // parseFetchResponse reads values with whitespace or odd content as Float32Array.
  if (x instanceof Float32Array) return x.length > 0 ? x : undefined
  return Array.isArray(x) && x.length > 0 ? Float32Array.from(x as number[]) : undefined
}

function toSparse(x: WireVector['sparseValues']): SparseVector | undefined {
  if (x === undefined || x === null || !Array.isArray(x.indices) || x.indices.length === 0) return undefined
  return { indices: Uint32Array.from(x.indices as number[]), values: Float32Array.from(x.values as number[]) }
}

export function fromWire(id: string, w: WireVector): StoredVector {
  const sparseValues = toSparse(w.sparseValues)
  const metadata =
    w.metadata !== undefined && w.metadata !== null && Object.keys(w.metadata).length > 0
      ? (w.metadata as Metadata)
      : undefined
  const rest = { id, ...(sparseValues ? { sparseValues } : {}), ...(metadata ? { metadata } : {}) }
  // A fetch response's values, kept as text until read (dense-text.ts).
  if (w.values instanceof NumbersText) return withDenseText(rest, w.values.text)
  const values = toFloat32(w.values)
  return values ? { ...rest, values } : rest
}

export function matchFromWire(w: WireVector): QueryMatch {
  const v = fromWire(String(w.id), w)
  return { ...v, score: Number(w.score) }
}
