import type { VectorStore } from '../../stores/contract.js'
import { differenceBeyondTolerance } from './equality.js'
import type { SampledId } from './sample.js'

// Sampled record equality: the sampled ids fetched from both sides and compared field by
// field as a client would see them (equality.ts). Dense and sparse values agree within a
// float tolerance (a store may round through another representation; pgvector keeps
// float32, Pinecone float32, so a faithful copy is exact and the default tolerance is
// tight); sparse indices and metadata must be equal.

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
    const list = byNamespace.get(s.namespace) ?? []
    byNamespace.set(s.namespace, list)
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
        const why = differenceBeyondTolerance(x, y, tolerance)
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
