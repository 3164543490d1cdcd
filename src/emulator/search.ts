// Exact k-nearest-neighbour search over one namespace, scored as Pinecone scores:
//   cosine      dot(q, r) / (|q| |r|)          higher is more similar
//   dotproduct  dot(q, r) (+ sparse dot)       higher is more similar (hybrid = dense + sparse)
//   euclidean   squared L2 distance            lower is more similar, so sorted ascending
// Sums run in float64 over the stored float32 values; the score is sent back as a float32.
// Ties are broken by id (bytewise) so results are deterministic.
import type { Predicate } from '../wire/pinecone/filter.js'
import type { Metric, Namespace, SparseVector, StoredRecord } from './records.js'

export interface SearchQuery {
  readonly metric: Metric
  readonly dense: Float32Array | null
  readonly sparse: SparseVector | null
  readonly topK: number
  readonly predicate: Predicate | null
}

export interface Match {
  readonly record: StoredRecord
  /** The score Pinecone reports (a distance for euclidean). */
  readonly score: number
}

interface Scored {
  record: StoredRecord
  score: number
  /** Larger is better for every metric (the negated distance for euclidean). */
  key: number
}

export function search(ns: Namespace, q: SearchQuery): Match[] {
  if (q.topK <= 0 || ns.size === 0) return []
  const score = scorer(q)
  const higherIsBetter = q.metric !== 'euclidean'
  const heap = new TopK(q.topK)
  const pred = q.predicate
  for (const record of ns.records.values()) {
    if (pred !== null && !pred(record.metadata)) continue
    const s = score(record)
    if (Number.isNaN(s)) continue
    heap.offer(record, s, higherIsBetter ? s : -s)
  }
  return heap.drain().map(({ record, score: s }) => ({ record, score: s }))
}

function scorer(q: SearchQuery): (r: StoredRecord) => number {
  const { dense, sparse, metric } = q
  const sparseMap = sparse === null ? null : toMap(sparse)
  if (dense === null) {
    // Sparse index (or a sparse-only query): dot product over the shared indices.
    return (r) => (r.sparse === null || sparseMap === null ? 0 : sparseDot(sparseMap, r.sparse))
  }
  switch (metric) {
    case 'cosine': {
      const qn = norm(dense)
      return (r) => (r.values === null ? NaN : dot(dense, r.values) / (qn * r.norm))
    }
    case 'euclidean':
      return (r) => (r.values === null ? NaN : squaredL2(dense, r.values))
    case 'dotproduct':
      return sparseMap === null
        ? (r) => (r.values === null ? NaN : dot(dense, r.values))
        : (r) =>
            (r.values === null ? NaN : dot(dense, r.values)) + (r.sparse === null ? 0 : sparseDot(sparseMap, r.sparse))
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  const n = a.length
  let s0 = 0
  let s1 = 0
  let s2 = 0
  let s3 = 0
  let i = 0
  for (; i + 3 < n; i += 4) {
    s0 += a[i]! * b[i]!
    s1 += a[i + 1]! * b[i + 1]!
    s2 += a[i + 2]! * b[i + 2]!
    s3 += a[i + 3]! * b[i + 3]!
  }
  for (; i < n; i++) s0 += a[i]! * b[i]!
  return s0 + s1 + s2 + s3
}

function squaredL2(a: Float32Array, b: Float32Array): number {
  const n = a.length
  let s0 = 0
  let s1 = 0
  let i = 0
  for (; i + 1 < n; i += 2) {
    const d0 = a[i]! - b[i]!
    const d1 = a[i + 1]! - b[i + 1]!
    s0 += d0 * d0
    s1 += d1 * d1
  }
  for (; i < n; i++) {
    const d = a[i]! - b[i]!
    s0 += d * d
  }
  return s0 + s1
}

function norm(v: Float32Array): number {
  return Math.sqrt(dot(v, v))
}

function toMap(s: SparseVector): Map<number, number> {
  const m = new Map<number, number>()
  for (let i = 0; i < s.indices.length; i++) m.set(s.indices[i]!, s.values[i]!)
  return m
}

function sparseDot(q: Map<number, number>, r: SparseVector): number {
  let s = 0
  for (let i = 0; i < r.indices.length; i++) {
    const w = q.get(r.indices[i]!)
    if (w !== undefined) s += w * r.values[i]!
  }
  return s
}

/** a ranks before b: better key, then smaller id. */
function before(a: Scored, b: Scored): boolean {
  return a.key > b.key || (a.key === b.key && a.record.id < b.record.id)
}

// A bounded binary heap whose root is the worst of the best k seen so far.
class TopK {
  private readonly items: Scored[] = []
  constructor(private readonly k: number) {}

  offer(record: StoredRecord, score: number, key: number): void {
    const items = this.items
    const item: Scored = { record, score, key }
    if (items.length < this.k) {
      items.push(item)
      this.up(items.length - 1)
    } else if (before(item, items[0]!)) {
      items[0] = item
      this.down(0)
    }
  }

  /** Best first. */
  drain(): Scored[] {
    return this.items.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0))
  }

  private up(i: number): void {
    const items = this.items
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(items[parent]!, items[i]!)) break // parent is already the worse one
      ;[items[parent], items[i]] = [items[i]!, items[parent]!]
      i = parent
    }
  }

  private down(i: number): void {
    const items = this.items
    const n = items.length
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let worst = i
      if (l < n && before(items[worst]!, items[l]!)) worst = l
      if (r < n && before(items[worst]!, items[r]!)) worst = r
      if (worst === i) return
      ;[items[worst], items[i]] = [items[i]!, items[worst]!]
      i = worst
    }
  }
}
