import type { VectorStore } from './contract.js'

// Walking a namespace's ids a page at a time, for the comparisons that must see every id
// (verify --full, the cutover's reconciliation of writes by filter) in bounded memory.

const PAGE = 100

/** Ids of one namespace (or those matching `filter`), one at a time, read a page at a time.
 *  `list` pages come in bytewise order; `matching` pages in the store's own order. */
export function idCursor(
  store: VectorStore,
  namespace: string,
  filter?: Record<string, unknown>,
  page = PAGE,
  signal?: AbortSignal,
): { next(): Promise<string | undefined> } {
  let ids: readonly string[] = []
  let at = 0
  let cursor: string | undefined
  let done = false
  return {
    async next() {
      while (at >= ids.length) {
        if (done) return undefined
        const options = { limit: page, ...(cursor === undefined ? {} : { cursor }), ...(signal ? { signal } : {}) }
        const p =
          filter === undefined || !store.matching
            ? await store.list(namespace, options)
            : await store.matching(namespace, filter, options)
        ids = p.ids
        at = 0
        cursor = p.next
        if (p.next === undefined) done = true
      }
      return ids[at++]
    },
  }
}

/** Every id either store lists in `namespace`, once each, in bytewise order (a merge of the
 *  two listings), with the side(s) that hold it. */
export async function* unionOfIds(
  a: VectorStore,
  b: VectorStore,
  namespace: string,
  signal?: AbortSignal,
): AsyncGenerator<{ id: string; inA: boolean; inB: boolean }> {
  const x = idCursor(a, namespace, undefined, PAGE, signal)
  const y = idCursor(b, namespace, undefined, PAGE, signal)
  let p = await x.next()
  let q = await y.next()
  while (p !== undefined || q !== undefined) {
    const order = p === undefined ? 1 : q === undefined ? -1 : bytewise(p, q)
    if (order < 0) {
      yield { id: p as string, inA: true, inB: false }
      p = await x.next()
    } else if (order > 0) {
      yield { id: q as string, inA: false, inB: true }
      q = await y.next()
    } else {
      yield { id: p as string, inA: true, inB: true }
      p = await x.next()
      q = await y.next()
    }
  }
}

export function bytewise(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}
