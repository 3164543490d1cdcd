import { mulberry32 } from '../../prng.js'
import type { VectorStore } from '../../stores/contract.js'

// Uniform samples of a store's ids: one reservoir over every namespace's listing (Vitter's
// algorithm R), so each record is equally likely to be drawn whatever its namespace, and
// memory stays at the sample's size however large the index. Listing is the cost: one list
// call per page of ids.

export interface SampledId {
  readonly namespace: string
  readonly id: string
}

export interface SampleResult {
  readonly ids: SampledId[]
  /** Ids listed in all (the population the sample was drawn from). */
  readonly listed: number
}

export async function sampleIds(
  store: VectorStore,
  namespaces: readonly string[],
  size: number,
  random: () => number,
  onPage?: (listed: number) => void,
  signal?: AbortSignal,
): Promise<SampleResult> {
  const reservoir: SampledId[] = []
  let seen = 0
  for (const namespace of namespaces) {
    let cursor: string | undefined
    do {
      if (signal?.aborted) return { ids: reservoir, listed: seen }
      const page = await store.list(namespace, cursor === undefined ? {} : { cursor })
      for (const id of page.ids) {
        seen++
        if (reservoir.length < size) reservoir.push({ namespace, id })
        else {
          const j = Math.floor(random() * seen)
          if (j < size) reservoir[j] = { namespace, id }
        }
      }
      cursor = page.next
      onPage?.(seen)
    } while (cursor !== undefined)
  }
  return { ids: reservoir, listed: seen }
}

/** A seeded PRNG: a verification can be repeated with the same sample. */
export const seededRandom = mulberry32
