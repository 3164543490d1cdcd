import { E, VecshiftError } from '../../errors.js'
import { formatFloat32, formatFloat32Array } from '../../wire/pinecone/float32.js'
import type { SparseVector } from '../../wire/pinecone/types.js'

// pgvector's text forms. Floats are written in their shortest float32 form and pgvector
// parses them as float4, so a stored value is bit-for-bit the one sent; pgvector prints the
// shortest float4 form back, which JSON.parse reads exactly.

/** pgvector's limit on a sparsevec's dimensions; Pinecone's sparse indices go up to 2^32 - 1. */
export const SPARSEVEC_MAX_DIM = 1_000_000_000

export function vectorText(values: Float32Array): string {
  return formatFloat32Array(values)
}

/** `{i:v,...}/dim`, 1-based and ascending as pgvector wants; Pinecone's indices are 0-based
 *  and in any order (they come back ascending). */
export function sparseText(s: SparseVector, id: string): string {
  const order = Array.from(s.indices.keys()).sort((a, b) => (s.indices[a] as number) - (s.indices[b] as number))
  const parts = new Array<string>(order.length)
  for (let k = 0; k < order.length; k++) {
    const i = order[k] as number
    const index = s.indices[i] as number
    if (index >= SPARSEVEC_MAX_DIM) {
      throw new VecshiftError(E.STORE_UNSUPPORTED, [
        'pgvector store',
        `sparse index ${index} of record ${id}: ` +
          `pgvector's sparsevec holds indices below ${SPARSEVEC_MAX_DIM} (Pinecone's go up to 4294967295)`,
      ])
    }
    parts[k] = `${index + 1}:${formatFloat32(s.values[i] as number)}`
  }
  return `{${parts.join(',')}}/${SPARSEVEC_MAX_DIM}`
}

export function parseSparse(text: string): SparseVector {
  const body = text.slice(text.indexOf('{') + 1, text.indexOf('}'))
  if (body === '') return { indices: new Uint32Array(0), values: new Float32Array(0) }
  const pairs = body.split(',')
  const indices = new Uint32Array(pairs.length)
  const values = new Float32Array(pairs.length)
  pairs.forEach((pair, i) => {
    const colon = pair.indexOf(':')
    indices[i] = Number(pair.slice(0, colon)) - 1
    values[i] = Number(pair.slice(colon + 1))
  })
  return { indices, values }
}
