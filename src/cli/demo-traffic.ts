import type { Index } from '@pinecone-database/pinecone'
import { setTimeout as sleep } from 'node:timers/promises'
import { mulberry32 } from '../prng.js'
import type { VectorStore } from '../stores/contract.js'

// The demo's application: workers using the official SDK through the gateway the whole
// time, as a real app would during a migration. Each worker owns its ids, so each id's
// writes are ordered, and a ledger keeps what each id must end as from the writes the SDK
// saw succeed. At the end the new index is checked against the ledger.

export type Expected = { values: number[]; metadata: Record<string, unknown> } | null

export interface TrafficFigures {
  writes: number
  queries: number
  errors: string[]
  /** The slowest acknowledged write, and when it started (to tell the cutover's pause). */
  longestWriteMs: number
  /** Write latencies while a window is marked (the cutover), for the pause clients saw. */
  markedLongestMs: number
}

export class Traffic {
  readonly figures: TrafficFigures = { writes: 0, queries: 0, errors: [], longestWriteMs: 0, markedLongestMs: 0 }
  /** namespace -> id -> what it must end as. */
  readonly ledger = new Map<string, Map<string, Expected>>()
  #stop = false
  #marked = false
  #running: Promise<void> | undefined

  constructor(
    private readonly index: Index,
    private readonly options: {
      workers: number
      idsPerWorker: number
      dimension: number
      namespaces: readonly string[]
      pauseMs: number
    },
  ) {}

  start(): void {
    this.#running = Promise.all(Array.from({ length: this.options.workers }, (_, w) => this.#worker(w))).then(
      () => undefined,
    )
  }

  /** Marks the window whose slowest write is reported as the cutover's pause. */
  mark(on: boolean): void {
    this.#marked = on
  }

  async stop(): Promise<void> {
    this.#stop = true
    await this.#running
  }

  async #worker(w: number): Promise<void> {
    const rnd = mulberry32(7_000 + w)
    const { dimension, namespaces, idsPerWorker } = this.options
    let n = 0
    while (!this.#stop) {
      const ns = namespaces[Math.floor(rnd() * namespaces.length)] as string
      const id = `live-${w}-${Math.floor(rnd() * idsPerWorker)}`
      const ledger = this.#ledgerOf(ns)
      const pick = rnd()
      const started = performance.now()
      const marked = this.#marked
      try {
        if (pick < 0.45) {
          const values = Array.from({ length: dimension }, () => Math.fround(rnd() - 0.5))
          const metadata = { category: 'live', worker: w, n }
          await this.index.namespace(ns).upsert({ records: [{ id, values, metadata }] })
          ledger.set(id, { values, metadata })
        } else if (pick < 0.6) {
          await this.index.namespace(ns).update({ id, metadata: { touched: n } })
          const before = ledger.get(id)
          if (before) ledger.set(id, { ...before, metadata: { ...before.metadata, touched: n } })
        } else if (pick < 0.7) {
          await this.index.namespace(ns).deleteMany({ ids: [id] })
          ledger.set(id, null)
        } else {
          await this.index.namespace(ns).query({
            vector: Array.from({ length: dimension }, () => rnd() - 0.5),
            topK: 10,
            filter: { category: { $ne: 'live' } },
          })
          this.figures.queries++
          n++
          await sleep(this.options.pauseMs)
          continue
        }
        const ms = performance.now() - started
        this.figures.writes++
        this.figures.longestWriteMs = Math.max(this.figures.longestWriteMs, ms)
        if (marked || this.#marked) this.figures.markedLongestMs = Math.max(this.figures.markedLongestMs, ms)
      } catch (err) {
        this.figures.errors.push(`${ns}/${id}: ${(err as Error).message}`)
      }
      n++
      await sleep(this.options.pauseMs)
    }
  }

  #ledgerOf(ns: string): Map<string, Expected> {
    let m = this.ledger.get(ns)
    if (!m) {
      m = new Map()
      this.ledger.set(ns, m)
    }
    return m
  }
}

/** Ids whose record on `store` differs from the ledger, one line each (the end-to-end
 *  tests' ledgers are checked with it too, test/helpers/ledger.ts). */
export async function ledgerDifferences(store: VectorStore, ledger: Traffic['ledger']): Promise<string[]> {
  const wrong: string[] = []
  for (const [ns, ids] of ledger) {
    const got = await store.fetch(ns, [...ids.keys()])
    for (const [id, want] of ids) {
      const have = got.get(id)
      if (want === null) {
        if (have) wrong.push(`${ns}/${id}: deleted, but ${store.label} has it`)
      } else if (!have) {
        wrong.push(`${ns}/${id}: missing on ${store.label}`)
      } else if (
        JSON.stringify(Array.from(have.values ?? [])) !== JSON.stringify(want.values) ||
        canonical(have.metadata) !== canonical(want.metadata)
      ) {
        wrong.push(
          `${ns}/${id}: ${JSON.stringify(Array.from(have.values ?? []))} ${JSON.stringify(have.metadata)} ` +
            `on ${store.label} != ${JSON.stringify(want)}`,
        )
      }
    }
  }
  return wrong
}

function canonical(m: object | undefined): string {
  return JSON.stringify(m ? Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : 1))) : {})
}
