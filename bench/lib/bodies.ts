// The request bodies of the benchmark, built once from a fixed seed so every target and every
// round sends the same bytes, and the load generator spends no CPU serialising JSON while it
// measures.
import { mulberry32 } from '../../src/prng.js'

export const DIMENSION = 1536
export const UPSERT_BATCH = 100
/** Namespace the seed data and the queries use. */
export const QUERY_NAMESPACE = '__default__'
/** Upserts go to their own namespace so they never change the cost of a query. */
export const UPSERT_NAMESPACE = 'bench-upsert'
/** Upsert ids cycle over this many ids, so the index stays the same size however long it runs. */
export const UPSERT_ID_SPACE = 1000
/** Pinecone's (and the emulator's) request-size limit. */
export const MAX_REQUEST_BYTES = 2 * 1024 * 1024

/** Vectors that are not all alike, the same in every run. */
const prng = mulberry32

/**
 * A vector as JSON text: values in [-1, 1) with six decimals. Real embeddings printed with
 * full float precision are ~20 characters a value, which puts 100 x 1536 over Pinecone's
 * 2 MB limit; six decimals is about float32's precision and keeps a batch near 1.5 MB.
 */
function vectorJson(next: () => number): string {
  const parts = new Array<string>(DIMENSION)
  for (let i = 0; i < DIMENSION; i++) parts[i] = (next() * 2 - 1).toFixed(6)
  return `[${parts.join(',')}]`
}

function upsertJson(next: () => number, ids: readonly string[], namespace: string): string {
  const vectors = ids.map((id) => `{"id":${JSON.stringify(id)},"values":${vectorJson(next)}}`)
  return `{"vectors":[${vectors.join(',')}],"namespace":${JSON.stringify(namespace)}}`
}

/** `count` query bodies: `{"vector":[...],"topK":10,"namespace":"__default__"}`. */
export function queryBodies(count: number, seed = 1): Buffer[] {
  const next = prng(seed)
  const out: Buffer[] = []
  for (let i = 0; i < count; i++) {
    out.push(Buffer.from(`{"vector":${vectorJson(next)},"topK":10,"namespace":${JSON.stringify(QUERY_NAMESPACE)}}`))
  }
  return out
}

/** The upsert workload's bodies: UPSERT_ID_SPACE / UPSERT_BATCH batches of 100 vectors. */
export function upsertBodies(seed = 2): Buffer[] {
  const next = prng(seed)
  const out: Buffer[] = []
  for (let start = 0; start < UPSERT_ID_SPACE; start += UPSERT_BATCH) {
    const ids = Array.from({ length: UPSERT_BATCH }, (_, i) => `u-${start + i}`)
    out.push(checkSize(Buffer.from(upsertJson(next, ids, UPSERT_NAMESPACE))))
  }
  return out
}

/** The data the queries search: `count` vectors in the query namespace, in batches of 100. */
export function seedBodies(count: number, seed = 3): Buffer[] {
  const next = prng(seed)
  const out: Buffer[] = []
  for (let start = 0; start < count; start += UPSERT_BATCH) {
    const n = Math.min(UPSERT_BATCH, count - start)
    const ids = Array.from({ length: n }, (_, i) => `seed-${start + i}`)
    out.push(checkSize(Buffer.from(upsertJson(next, ids, QUERY_NAMESPACE))))
  }
  return out
}

function checkSize(body: Buffer): Buffer {
  if (body.length > MAX_REQUEST_BYTES) {
    throw new Error(`an upsert body is ${body.length} bytes, over the ${MAX_REQUEST_BYTES}-byte request limit`)
  }
  return body
}
