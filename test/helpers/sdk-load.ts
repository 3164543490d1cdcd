// SDK clients writing through a gateway for as long as a test runs, with a ledger of what each
// id must end as: one writer, so each id's last acknowledged write is defined. 80 % upserts
// (metadata { n } with the write's number), 20 % deletes, over 40 ids, at most `perSecond`
// (the copy's rate limiter paces them).
import type { Pinecone } from '@pinecone-database/pinecone'
import { TokenBucket } from '../../src/migrate/copy/rate.js'
import type { VectorStore } from '../../src/stores/contract.js'
import { prng } from './prng.js'

type Index = ReturnType<Pinecone['index']>

export interface SdkLoad {
  /** Per id: the number of its last acknowledged upsert, or null once deleted. */
  readonly ledger: ReadonlyMap<string, number | null>
  /** What every failed request said (a client error is a broken promise). */
  readonly errors: readonly string[]
  /** Writes acknowledged so far. */
  writes(): number
  /** Stops writing and waits for the write in flight. */
  stop(): Promise<void>
  /** The ids a store holds otherwise than the ledger says, each with both states. */
  differences(store: VectorStore): Promise<string[]>
}

export function startSdkLoad(index: Index, o: { readonly seed: number; readonly perSecond: number }): SdkLoad {
  const ledger = new Map<string, number | null>()
  const errors: string[] = []
  let writes = 0
  let stop = false
  const rnd = prng(o.seed)
  const pace = new TokenBucket(o.perSecond)
  const running = (async () => {
    for (let n = 0; !stop; n++) {
      await pace.take(1)
      const id = `live-${Math.floor(rnd() * 40)}`
      try {
        if (rnd() < 0.8) {
          await index.upsert({ records: [{ id, values: [n, 1, 1, 1], metadata: { n } }] })
          ledger.set(id, n)
        } else {
          await index.deleteMany({ ids: [id] })
          ledger.set(id, null)
        }
        writes++
      } catch (err) {
        errors.push((err as Error).message)
      }
    }
  })()
  return {
    ledger,
    errors,
    writes: () => writes,
    stop: async () => {
      stop = true
      await running
    },
    differences: async (store) => {
      const ids = [...ledger.keys()]
      const got = await store.fetch('', ids)
      return ids
        .filter((id) => {
          const want = ledger.get(id)
          const have = got.get(id)
          return want === null ? have !== undefined : (have?.metadata as { n?: number } | undefined)?.n !== want
        })
        .map((id) => `${id}: ledger ${ledger.get(id)}, store ${JSON.stringify(got.get(id)?.metadata ?? null)}`)
    },
  }
}
