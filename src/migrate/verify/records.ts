import type { StoredVector, VectorStore } from '../../stores/contract.js'
import type { SampledId } from './sample.js'

// Sampled record equality: the sampled ids fetched from both sides and compared field by
// field. Dense and sparse values agree within a float tolerance (a store may round through
// another representation; pgvector keeps float32, Pinecone float32, so a faithful copy is
// exact and the default tolerance is tight); sparse indices and metadata must be equal.

export interface RecordDifference {
  readonly namespace: string
  readonly id: string
  /** missing (on the other side), values, sparse, metadata. */
  readonly what: 'missing' | 'values' | 'sparse' | 'metadata'
  readonly detail?: string
}

export interface RecordComparison {
  readonly compared: number
  readonly equal: number
  readonly missing: number
  readonly mismatched: number
  /** The first differences found (at most `keep`). */
  readonly differences: readonly RecordDifference[]
}

const FETCH_BATCH = 100

export async function compareRecords(
  from: VectorStore,
  to: VectorStore,
  ids: readonly SampledId[],
  tolerance: number,
  keep = 50,
  onBatch?: (done: number) => void,
): Promise<RecordComparison> {
  let equal = 0
  let missing = 0
  let mismatched = 0
  const differences: RecordDifference[] = []
  const note = (d: RecordDifference) => {
    if (differences.length < keep) differences.push(d)
  }
  const byNamespace = new Map<string, string[]>()
  for (const s of ids) {
    let list = byNamespace.get(s.namespace)
    if (!list) byNamespace.set(s.namespace, (list = []))
    list.push(s.id)
  }
  let done = 0
  for (const [namespace, all] of byNamespace) {
    for (let i = 0; i < all.length; i += FETCH_BATCH) {
      const batch = all.slice(i, i + FETCH_BATCH)
      const [a, b] = await Promise.all([from.fetch(namespace, batch), to.fetch(namespace, batch)])
      for (const id of batch) {
        const x = a.get(id)
        if (!x) continue // deleted on the source since it was listed: nothing to compare
        const y = b.get(id)
        if (!y) {
          missing++
          note({ namespace, id, what: 'missing' })
          continue
        }
        const why = difference(x, y, tolerance)
        if (why) {
          mismatched++
          note({ namespace, id, ...why })
        } else equal++
      }
      done += batch.length
      onBatch?.(done)
    }
  }
  return { compared: equal + missing + mismatched, equal, missing, mismatched, differences }
}

export function difference(
  x: StoredVector,
  y: StoredVector,
  tolerance: number,
): Pick<RecordDifference, 'what' | 'detail'> | undefined {
  const dense = floatsDiffer(x.values, y.values, tolerance)
  if (dense) return { what: 'values', detail: dense }
  const sx = x.sparseValues
  const sy = y.sparseValues
  if ((sx === undefined) !== (sy === undefined))
    return { what: 'sparse', detail: sx ? 'missing on one side' : 'present on one side only' }
  if (sx && sy) {
    if (sx.indices.length !== sy.indices.length || sx.indices.some((v, i) => v !== sy.indices[i]))
      return { what: 'sparse', detail: 'indices differ' }
    const d = floatsDiffer(sx.values, sy.values, tolerance)
    if (d) return { what: 'sparse', detail: d }
  }
  if (canonical(x.metadata) !== canonical(y.metadata))
    return { what: 'metadata', detail: `${canonical(x.metadata)} != ${canonical(y.metadata)}` }
  return undefined
}

function floatsDiffer(a: Float32Array | undefined, b: Float32Array | undefined, tolerance: number): string | undefined {
  const n = a?.length ?? 0
  if (n !== (b?.length ?? 0)) return `dimension ${n} != ${b?.length ?? 0}`
  for (let i = 0; i < n; i++) {
    const p = (a as Float32Array)[i] as number
    const q = (b as Float32Array)[i] as number
    if (Math.abs(p - q) > tolerance * Math.max(1, Math.abs(p))) return `component ${i}: ${p} != ${q}`
  }
  return undefined
}

function canonical(m: unknown): string {
  if (m === undefined || m === null) return '{}'
  if (Array.isArray(m)) return `[${m.map(canonical).join(',')}]`
  if (typeof m !== 'object') return JSON.stringify(m)
  const entries = Object.entries(m as Record<string, unknown>).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
}
