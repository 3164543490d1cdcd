import { E, VecshiftError } from '../../errors.js'
import type { StoredVector, VectorStore } from '../../stores/contract.js'
import { idCursor, unionOfIds } from '../../stores/ids.js'
import { readDirtyFrom, type DirtyEntry } from '../../replay/dirty.js'
import { identicalRecords } from '../verify/equality.js'

// Reconciliation: the ids written since capture began (the replayer's dirty set) are read
// on both sides, and wherever the target differs from the source it is repaired from the
// source (upserted as the source holds it, or deleted when the source has none). The
// replayer already applied every logged write; this is the cutover's proof that it did, and
// the repair for anything it could not know (a write whose outcome never came).
//
// Writes that name no ids (by filter, delete-all, namespace deletion) are in the dirty set as
// what they selected. Each is reconciled by what it can have touched:
// - a filter: the records matching it now, on both sides (fetch_by_metadata, SQL). A copy
//   that overwrote a filter write (issue 15) left on the target the record as it was before
//   the write, which the write's filter matched; on the source the filter matches what it
//   should still select. The copy positions its batches in the write log (settle.ts), so
//   this finds nothing when the copy worked: it is the proof, not the mechanism.
// - delete-all, a namespace deletion, a write applied without a known outcome (the gateway
//   died before logging it; the source may not have done it), or any such write in a
//   namespace whose copy was not positioned in the log (no replayer followed it, or a collection copy): the whole
//   namespace, every id either side lists. An unpositioned copy can have had an older write
//   by filter replayed onto a newer record; no filter finds those, a listing does.
// This runs before the write pause, while traffic flows: it can be long for a large
// namespace, and the pause must not be.
//
// Entries are read from byte `from` on, so the cutover can reconcile everything while traffic
// flows and then, inside the write pause, only what was written since, without re-reading
// the file from the top.

export interface ReconcileOptions {
  /** Byte offset of the dirty file to start at. */
  readonly from?: number
  /** Ids to check whatever the dirty set says (the ids an earlier pass repaired). */
  readonly also?: ReadonlyMap<string, readonly string[]>
  readonly batchSize?: number
  /** Writes by filter, delete-all and namespace deletions read in this pass: reconciled
   *  ('reconcile'), or only counted ('count': inside the write pause, where the cutover has
   *  made sure they are safe, see coordinator.ts). */
  readonly wholeWrites?: 'reconcile' | 'count'
  /** Namespaces whose copy had batches not positioned in the write log ('all' for a copy
   *  that never was, like the collection strategy). */
  readonly unpositioned?: ReadonlySet<string> | 'all'
  /** Told the running count of ids checked, after each batch. */
  readonly onProgress?: (checked: number) => void
  /** Once aborted, no further read or repair starts (a store call already sent finishes):
   *  the pass rejects with the signal's reason, and awaiting it means none of its writes can
   *  land on the target later (coordinator.ts aborts a cutover this way). */
  readonly signal?: AbortSignal
}

export interface ReconcileResult {
  readonly checked: number
  readonly repaired: number
  /** Byte offset of the dirty file read so far: where the next pass starts. */
  readonly offset: number
  /** Writes by filter, delete-all or namespace deletion read in this pass. */
  readonly filterWrites: number
  /** The namespaces they touched. */
  readonly wholeNamespaces: readonly string[]
  /** Namespaces compared id by id in full (delete-all, or an unpositioned copy). */
  readonly comparedInFull: readonly string[]
  /** Ids that filters selected (on either side). */
  readonly matched: number
  /** The ids this pass wrote. While writes still flow, a repair can land after a newer write
   *  the replayer made, so the next pass (inside the pause) checks these again. */
  readonly repairedIds: ReadonlyMap<string, readonly string[]>
}

interface Touched {
  /** Distinct filters (by their JSON). */
  readonly filters: Map<string, Record<string, unknown>>
  whole: boolean
}

export async function reconcile(
  source: VectorStore,
  target: VectorStore,
  dirtyPath: string,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const batchSize = options.batchSize ?? 500
  const { signal } = options
  const call = signal ? { signal } : {}
  let offset = options.from ?? 0
  let checked = 0
  let repaired = 0
  let filterWrites = 0
  let matched = 0
  const touched = new Map<string, Touched>()
  const pending = new Map<string, Set<string>>()
  const repairedIds = new Map<string, string[]>()
  let queued = 0
  const flush = async () => {
    for (const [ns, set] of pending) {
      const ids = [...set]
      signal?.throwIfAborted()
      const [a, b] = await Promise.all([source.fetch(ns, ids, call), target.fetch(ns, ids, call)])
      const upserts: StoredVector[] = []
      const deletes: string[] = []
      for (const id of ids) {
        const s = a.get(id)
        const t = b.get(id)
        if (s === undefined && t !== undefined) deletes.push(id)
        else if (s !== undefined && (t === undefined || !identicalRecords(s, t))) upserts.push(s)
      }
      signal?.throwIfAborted()
      if (upserts.length > 0) await target.upsert(ns, upserts, call)
      signal?.throwIfAborted()
      if (deletes.length > 0) await target.delete(ns, { ids: deletes }, call)
      checked += ids.length
      repaired += upserts.length + deletes.length
      if (upserts.length + deletes.length > 0)
        repairedIds.set(ns, [...(repairedIds.get(ns) ?? []), ...upserts.map((v) => v.id), ...deletes])
    }
    pending.clear()
    queued = 0
    options.onProgress?.(checked)
  }
  const add = async (namespace: string, id: string) => {
    let set = pending.get(namespace)
    if (!set) {
      set = new Set()
      pending.set(namespace, set)
    }
    if (!set.has(id)) {
      set.add(id)
      if (++queued >= batchSize) await flush()
    }
  }
  for (const [ns, ids] of options.also ?? new Map<string, readonly string[]>()) for (const id of ids) await add(ns, id)
  for await (const { entry, end } of readDirtyFrom(dirtyPath, offset) as AsyncIterable<{
    entry: DirtyEntry
    end: number
  }>) {
    offset = end
    if ('id' in entry) {
      await add(entry.namespace, entry.id)
      continue
    }
    filterWrites++
    let t = touched.get(entry.namespace)
    if (!t) {
      t = { filters: new Map(), whole: false }
      touched.set(entry.namespace, t)
    }
    if ('filter' in entry && entry.filter !== undefined) t.filters.set(JSON.stringify(entry.filter), entry.filter)
    else t.whole = true
    // Applied without a known outcome: the source may not have done it, so its filter says
    // nothing of what differs.
    if (entry.uncertain) t.whole = true
  }
  await flush()

  const comparedInFull: string[] = []
  if (options.wholeWrites !== 'count' && touched.size > 0) {
    const can = await capabilities(source, target)
    for (const [ns, t] of touched) {
      const unpositioned = options.unpositioned === 'all' || options.unpositioned?.has(ns) === true
      if (t.whole || unpositioned || !(can.source.match || can.target.match)) {
        await compareNamespace(source, target, ns, can, add, flush, signal)
        comparedInFull.push(ns)
        continue
      }
      for (const filter of t.filters.values()) {
        for (const [store, side] of [
          [source, can.source],
          [target, can.target],
        ] as const) {
          if (!side.match) continue
          const ids = idCursor(store, ns, filter, undefined, signal)
          for (let id = await ids.next(); id !== undefined; id = await ids.next()) {
            matched++
            await add(ns, id)
          }
        }
      }
    }
    await flush()
  }
  return {
    checked,
    repaired,
    offset,
    filterWrites,
    matched,
    repairedIds,
    wholeNamespaces: [...touched.keys()].sort(),
    comparedInFull: comparedInFull.sort(),
  }
}

interface Capabilities {
  readonly source: { readonly list: boolean; readonly match: boolean }
  readonly target: { readonly list: boolean; readonly match: boolean }
}

async function capabilities(source: VectorStore, target: VectorStore): Promise<Capabilities> {
  const [s, t] = await Promise.all([source.describe(), target.describe()])
  return {
    source: { list: s.canList, match: s.canList && source.matching !== undefined },
    target: { list: t.canList, match: t.canList && target.matching !== undefined },
  }
}

/** Why writes by filter cannot be reconciled between these stores, if they cannot. */
export async function unreconcilable(source: VectorStore, target: VectorStore): Promise<string | undefined> {
  const can = await capabilities(source, target)
  if (can.source.list || can.target.list) return undefined
  return `neither the ${source.label} nor the ${target.label} can list ids or select them by metadata`
}

/** Every id of the namespace on both sides. A side that cannot list (a pod-based index) is
 *  covered by the other's listing plus a count: once every id the listing side holds is
 *  equal on both, equal counts mean equal sets. */
async function compareNamespace(
  source: VectorStore,
  target: VectorStore,
  ns: string,
  can: Capabilities,
  add: (ns: string, id: string) => Promise<void>,
  flush: () => Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (can.source.list && can.target.list) {
    for await (const { id } of unionOfIds(source, target, ns, signal)) await add(ns, id)
    return
  }
  const lister = can.source.list ? source : can.target.list ? target : undefined
  if (!lister)
    throw new VecshiftError(E.CUTOVER_REFUSED, [
      `writes by filter or delete-all in namespace "${ns}" have not been reconciled: ` +
        `${await unreconcilable(source, target)}; ` +
        "copy that namespace again from a file of the source's ids (copy.idsFile, docs/copy.md) " +
        'while the replayer follows, then run the cutover again',
    ])
  const ids = idCursor(lister, ns, undefined, undefined, signal)
  for (let id = await ids.next(); id !== undefined; id = await ids.next()) await add(ns, id)
  await flush()
  const count = async (store: VectorStore) =>
    (await store.stats(signal ? { signal } : {})).find((n) => n.namespace === ns)?.vectorCount ?? 0
  const [a, b] = await Promise.all([count(source), count(target)])
  if (a !== b) {
    const other = lister === source ? target : source
    throw new VecshiftError(E.CUTOVER_REFUSED, [
      `writes by filter or delete-all touched namespace "${ns}": ` +
        `after reconciling every id the ${lister.label} lists, the source holds ${a} records and the target ${b}, ` +
        `and the ${other.label} cannot list the ones it has alone; ` +
        "copy that namespace again from a file of the source's ids (copy.idsFile, docs/copy.md) " +
        'while the replayer follows, then run the cutover again',
    ])
  }
}
