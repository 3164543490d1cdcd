import type { StoredVector, VectorStore } from '../../stores/contract.js'
import { readDirtyFrom, type DirtyEntry } from '../../replay/dirty.js'

// Reconciliation: the ids written since capture began (the replayer's dirty set) are read
// on both sides, and wherever the target differs from the source it is repaired from the
// source (upserted as the source holds it, or deleted when the source has none). The
// replayer already applied every logged write; this is the cutover's proof that it did, and
// the repair for anything it could not know (a write whose outcome never came).
//
// Entries are read from byte `from` on, so the cutover can reconcile everything while traffic
// flows and then, inside the write pause, only what was written since, without re-reading
// the file from the top.

export interface ReconcileResult {
  readonly checked: number
  readonly repaired: number
  /** Byte offset of the dirty file read so far: where the next pass starts. */
  readonly offset: number
  /** Namespaces touched by writes by filter or delete-all (not enumerable by id). */
  readonly wholeNamespaces: readonly string[]
  /** The ids this pass wrote. While writes still flow, a repair can land after a newer write
   *  the replayer made, so the next pass (inside the pause) checks these again. */
  readonly repairedIds: ReadonlyMap<string, readonly string[]>
}

export async function reconcile(
  source: VectorStore, target: VectorStore, dirtyPath: string, from: number,
  also: ReadonlyMap<string, readonly string[]> = new Map(), batchSize = 500,
): Promise<ReconcileResult> {
  let offset = from
  let checked = 0
  let repaired = 0
  const whole = new Set<string>()
  const pending = new Map<string, Set<string>>()
  const repairedIds = new Map<string, string[]>()
  let queued = 0
  const flush = async () => {
    for (const [ns, set] of pending) {
      const ids = [...set]
      const [a, b] = await Promise.all([source.fetch(ns, ids), target.fetch(ns, ids)])
      const upserts: StoredVector[] = []
      const deletes: string[] = []
      for (const id of ids) {
        const s = a.get(id)
        const t = b.get(id)
        if (s === undefined && t !== undefined) deletes.push(id)
        else if (s !== undefined && (t === undefined || !same(s, t))) upserts.push(s)
      }
      if (upserts.length > 0) await target.upsert(ns, upserts)
      if (deletes.length > 0) await target.delete(ns, { ids: deletes })
      checked += ids.length
      repaired += upserts.length + deletes.length
      if (upserts.length + deletes.length > 0) repairedIds.set(ns, [...(repairedIds.get(ns) ?? []), ...upserts.map((v) => v.id), ...deletes])
    }
    pending.clear()
    queued = 0
  }
  const add = async (namespace: string, id: string) => {
    let set = pending.get(namespace)
    if (!set) pending.set(namespace, (set = new Set()))
    if (!set.has(id)) {
      set.add(id)
      if (++queued >= batchSize) await flush()
    }
  }
  for (const [ns, ids] of also) for (const id of ids) await add(ns, id)
  for await (const { entry, end } of readDirtyFrom(dirtyPath, from) as AsyncIterable<{ entry: DirtyEntry; end: number }>) {
    offset = end
    if (!('id' in entry)) {
      whole.add(entry.namespace)
      continue
    }
    await add(entry.namespace, entry.id)
  }
  await flush()
  return { checked, repaired, offset, wholeNamespaces: [...whole].sort(), repairedIds }
}

/** Equal as records: dense and sparse values bit for bit, metadata as a map. */
export function same(a: StoredVector, b: StoredVector): boolean {
  return sameFloats(a.values, b.values) &&
    sameFloats(a.sparseValues?.values, b.sparseValues?.values) &&
    sameInts(a.sparseValues?.indices, b.sparseValues?.indices) &&
    canonical(a.metadata) === canonical(b.metadata)
}

function sameFloats(x: Float32Array | undefined, y: Float32Array | undefined): boolean {
  const n = x?.length ?? 0
  if (n !== (y?.length ?? 0)) return false
  for (let i = 0; i < n; i++) if (!Object.is((x as Float32Array)[i], (y as Float32Array)[i])) return false
  return true
}

function sameInts(x: Uint32Array | undefined, y: Uint32Array | undefined): boolean {
  const n = x?.length ?? 0
  if (n !== (y?.length ?? 0)) return false
  for (let i = 0; i < n; i++) if ((x as Uint32Array)[i] !== (y as Uint32Array)[i]) return false
  return true
}

function canonical(m: object | undefined): string {
  if (m === undefined || Object.keys(m).length === 0) return '{}'
  return JSON.stringify(Object.fromEntries(Object.entries(m).sort(([p], [q]) => (p < q ? -1 : 1))))
}
