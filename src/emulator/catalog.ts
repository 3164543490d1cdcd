// The project's control-plane state: its indexes and collections. Collections hold a snapshot
// of a pod-based index's records, as Pinecone's do, and a new index can be created from one.
import { controlError, indexNotFound } from '../wire/pinecone/errors.js'
import { VectorIndex, type IndexConfig, type RecordSet } from './index-store.js'
import type { Metric, VectorType } from './records.js'

export interface Collection {
  readonly name: string
  readonly source: string
  readonly environment: string
  readonly dimension: number | null
  readonly metric: Metric
  readonly vectorType: VectorType
  readonly createdAt: number
  readonly data: RecordSet
}

export function collectionVectorCount(c: Collection): number {
  let n = 0
  for (const ns of c.data.values()) n += ns.size
  return n
}

export function collectionNotFound(name: string): Error {
  return controlError(404, 'NOT_FOUND', `Collection ${name} not found.`)
}

export class Catalog {
  readonly indexes = new Map<string, VectorIndex>()
  readonly collections = new Map<string, Collection>()
  /** Bumped by every change to the set of indexes/collections or to an index's config. */
  generation = 0

  constructor(private readonly onChange: () => void = () => {}) {}

  /** Any change: persistence schedules a snapshot. */
  changed(): void {
    this.generation++
    this.onChange()
  }

  findIndex(name: string): VectorIndex | undefined {
    return this.indexes.get(name)
  }

  index(name: string): VectorIndex {
    const index = this.indexes.get(name)
    if (index === undefined) throw indexNotFound(name)
    return index
  }

  addIndex(config: IndexConfig, data?: RecordSet, explicit?: ReadonlyArray<readonly [string, unknown]>): VectorIndex {
    if (this.indexes.has(config.name)) throw controlError(409, 'ALREADY_EXISTS', 'Resource already exists.')
    const index = new VectorIndex(config, this.onChange)
    if (data !== undefined) index.load(data, explicit)
    this.indexes.set(config.name, index)
    this.changed()
    return index
  }

  deleteIndex(name: string): void {
    const index = this.index(name)
    if (index.config.deletionProtection === 'enabled') {
      throw controlError(
        403,
        'FORBIDDEN',
        'Deletion protection is enabled for this index. Disable deletion protection before retrying.',
      )
    }
    this.indexes.delete(name)
    this.changed()
  }

  collection(name: string): Collection {
    const c = this.collections.get(name)
    if (c === undefined) throw collectionNotFound(name)
    return c
  }

  addCollection(c: Collection): void {
    if (this.collections.has(c.name)) throw controlError(409, 'ALREADY_EXISTS', 'Resource already exists.')
    this.collections.set(c.name, c)
    this.changed()
  }

  deleteCollection(name: string): void {
    this.collection(name)
    this.collections.delete(name)
    this.changed()
  }
}
