// The records of one namespace. Records are immutable values: an update builds a new record
// and never writes into an existing Float32Array or metadata object. That lets a collection
// snapshot an index by copying maps of references, and lets persistence serialize without
// locking.

import type { Metadata, SparseVector } from '../wire/pinecone/types.js'

export type { Metadata, MetadataValue, Metric, SparseVector, VectorType } from '../wire/pinecone/types.js'

export interface StoredRecord {
  readonly id: string
  /** Dense values; null on a sparse index. */
  readonly values: Float32Array | null
  /** L2 norm of `values`, precomputed for cosine. */
  readonly norm: number
  readonly sparse: SparseVector | null
  readonly metadata: Metadata | null
}

export function l2norm(v: Float32Array): number {
  let s = 0
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!
    s += x * x
  }
  return Math.sqrt(s)
}

export class Namespace {
  readonly records = new Map<string, StoredRecord>()
  /** Created by POST /namespaces: it exists even while empty. */
  explicit = false
  schema: unknown = undefined
  // Ids in bytewise order for list/fetch_by_metadata pagination, rebuilt lazily after a write.
  private sorted: string[] | null = null

  get size(): number {
    return this.records.size
  }

  get(id: string): StoredRecord | undefined {
    return this.records.get(id)
  }

  set(record: StoredRecord): void {
    if (this.sorted !== null && !this.records.has(record.id)) this.sorted = null
    this.records.set(record.id, record)
  }

  delete(id: string): boolean {
    const had = this.records.delete(id)
    if (had) this.sorted = null
    return had
  }

  clear(): void {
    this.records.clear()
    this.sorted = null
  }

  /** Ids sorted by UTF-16 code unit, which is bytewise order for the ASCII ids Pinecone allows. */
  sortedIds(): readonly string[] {
    if (this.sorted === null) {
      this.sorted = [...this.records.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    }
    return this.sorted
  }
}

/** The first position in `sorted` whose id is > `after` (binary search). */
export function upperBound(sorted: readonly string[], after: string): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! <= after) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The first position in `sorted` whose id is >= `key`. */
export function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! < key) lo = mid + 1
    else hi = mid
  }
  return lo
}
