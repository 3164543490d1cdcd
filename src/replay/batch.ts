import type { Metadata, SparseVector } from '../wire/pinecone/types.js'
import type { StoredVector, VectorStore } from '../stores/contract.js'
import { E, VecshiftError } from '../errors.js'

// A batch of logged writes, coalesced per (namespace, id) into the one change that leaves the
// id as the writes in log order would: several writes to one id become one request. Every
// change here is idempotent (an upsert, a delete, a metadata merge), so applying a batch
// twice — after a crash between applying it and saving the checkpoint — changes nothing.
//
// Writes that are not about known ids (update or delete by filter, delete all) do not enter
// a batch: the replayer applies the batch before them and then applies them alone, so their
// order against every other write is kept.

/** What one id becomes. */
export type Change =
  | { readonly kind: 'put'; readonly vector: StoredVector }
  | {
      readonly kind: 'update'
      readonly values?: Float32Array
      readonly sparseValues?: SparseVector
      readonly setMetadata?: Metadata
    }
  | { readonly kind: 'delete' }

export interface UpdateById {
  readonly id: string
  readonly values?: Float32Array
  readonly sparseValues?: SparseVector
  readonly setMetadata?: Metadata
}

export class Batch {
  readonly #namespaces = new Map<string, Map<string, Change>>()
  #size = 0

  /** Distinct (namespace, id) pairs. */
  get size(): number {
    return this.#size
  }

  #slot(namespace: string): Map<string, Change> {
    let ids = this.#namespaces.get(namespace)
    if (!ids) {
      ids = new Map()
      this.#namespaces.set(namespace, ids)
    }
    return ids
  }

  #set(ids: Map<string, Change>, id: string, change: Change): void {
    if (!ids.has(id)) this.#size++
    ids.set(id, change)
  }

  upsert(namespace: string, vectors: readonly StoredVector[]): void {
    const ids = this.#slot(namespace)
    for (const v of vectors) this.#set(ids, v.id, { kind: 'put', vector: v })
  }

  delete(namespace: string, idList: readonly string[]): void {
    const ids = this.#slot(namespace)
    for (const id of idList) this.#set(ids, id, { kind: 'delete' })
  }

  /** Pinecone's update by id: values and sparse values replace, setMetadata merges into the
   *  metadata; updating an id that does not exist changes nothing. */
  update(namespace: string, u: UpdateById): void {
    const ids = this.#slot(namespace)
    const before = ids.get(u.id)
    if (before === undefined || before.kind === 'update') {
      const merged = before?.kind === 'update' ? before : undefined
      this.#set(ids, u.id, {
        kind: 'update',
        ...pick(u.values ?? merged?.values, 'values'),
        ...pick(u.sparseValues ?? merged?.sparseValues, 'sparseValues'),
        ...pick(mergeMetadata(merged?.setMetadata, u.setMetadata), 'setMetadata'),
      })
    } else if (before.kind === 'put') {
      const v = before.vector
      const metadata = mergeMetadata(v.metadata, u.setMetadata)
      this.#set(ids, u.id, {
        kind: 'put',
        vector: {
          id: v.id,
          ...pick(u.values ?? v.values, 'values'),
          ...pick(u.sparseValues ?? v.sparseValues, 'sparseValues'),
          ...pick(metadata, 'metadata'),
        },
      })
    }
    // A delete stays a delete: the update finds no record.
  }

  /** Every (namespace, id) in the batch, for the dirty set. */
  *ids(): Iterable<readonly [string, string]> {
    for (const [ns, ids] of this.#namespaces) for (const id of ids.keys()) yield [ns, id]
  }

  /** What the batch will send, for --dry-run. */
  *describe(): Iterable<{ namespace: string; id: string; change: Change }> {
    for (const [namespace, ids] of this.#namespaces) for (const [id, change] of ids) yield { namespace, id, change }
  }

  /** Sends the batch to the target: per namespace one upsert and one delete (the adapter
   *  splits them within the store's limits) and the updates, `concurrency` at a time.
   *  Answers how many requests of each kind carried how many ids. */
  async apply(
    target: VectorStore,
    concurrency: number,
  ): Promise<{ upserted: number; deleted: number; updated: number }> {
    try {
      return await this.#apply(target, concurrency)
    } catch (err) {
      if (!refusal(err)) throw err
      // Refused: the changes one at a time, in order, to name the one refused (each change
      // is the id's final state, so sending them again is what a restart would do). A
      // refusal that does not come back this way leaves the batch applied.
      await this.#oneByOne(target)
      return this.#counts()
    }
  }

  async #oneByOne(target: VectorStore): Promise<void> {
    for (const [namespace, ids] of this.#namespaces) {
      for (const [id, change] of ids) {
        try {
          if (change.kind === 'put') await target.upsert(namespace, [change.vector])
          else if (change.kind === 'delete') await target.delete(namespace, { ids: [id] })
          else
            await target.update(namespace, {
              id,
              ...pick(change.values, 'values'),
              ...pick(change.sparseValues, 'sparseValues'),
              ...pick(change.setMetadata, 'setMetadata'),
            })
        } catch (err) {
          if (refusal(err)) throw new RecordRefused(namespace, id, err)
          throw err
        }
      }
    }
  }

  #counts(): { upserted: number; deleted: number; updated: number } {
    const n = { upserted: 0, deleted: 0, updated: 0 }
    for (const { change } of this.describe())
      n[change.kind === 'put' ? 'upserted' : change.kind === 'delete' ? 'deleted' : 'updated']++
    return n
  }

  async #apply(
    target: VectorStore,
    concurrency: number,
  ): Promise<{ upserted: number; deleted: number; updated: number }> {
    let upserted = 0
    let deleted = 0
    let updated = 0
    for (const [namespace, ids] of this.#namespaces) {
      const puts: StoredVector[] = []
      const deletes: string[] = []
      const updates: UpdateById[] = []
      for (const [id, change] of ids) {
        if (change.kind === 'put') puts.push(change.vector)
        else if (change.kind === 'delete') deletes.push(id)
        else updates.push({ id, ...change })
      }
      if (puts.length > 0) await target.upsert(namespace, puts)
      if (deletes.length > 0) await target.delete(namespace, { ids: deletes })
      let next = 0
      await Promise.all(
        Array.from({ length: Math.min(concurrency, updates.length) }, async () => {
          for (;;) {
            const u = updates[next++]
            if (u === undefined) return
            const { id, values, sparseValues, setMetadata } = u
            await target.update(namespace, {
              id,
              ...pick(values, 'values'),
              ...pick(sparseValues, 'sparseValues'),
              ...pick(setMetadata, 'setMetadata'),
            })
          }
        }),
      )
      upserted += puts.length
      deleted += deletes.length
      updated += updates.length
    }
    return { upserted, deleted, updated }
  }
}

/** The target refused this record of a batch for good (Batch.apply). */
export class RecordRefused extends Error {
  override readonly name = 'RecordRefused'
  constructor(
    readonly namespace: string,
    readonly id: string,
    override readonly cause: unknown,
  ) {
    super((cause as Error).message)
  }
}

/** Whether a failure is the store saying no to what was sent, for good: a refusal or a
 *  value it cannot hold. Outages, a refused key or a missing index are not about a record. */
export function refusal(err: unknown): boolean {
  return (
    err instanceof RecordRefused ||
    (err instanceof VecshiftError &&
      !err.retriable &&
      (err.code === E.STORE_REFUSED.code || err.code === E.STORE_UNSUPPORTED.code))
  )
}

function mergeMetadata(a: Metadata | undefined, b: Metadata | undefined): Metadata | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return { ...a, ...b }
}

/** `{ [key]: value }` when value is present, `{}` otherwise (exactOptionalPropertyTypes). */
function pick<K extends string, T>(value: T | undefined, key: K): { [P in K]?: T } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: T }
}
