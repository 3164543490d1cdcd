// The client ledger of the end-to-end tests: what each id must end as, from the writes the
// SDK saw succeed (null: deleted), and where a store differs from it.
import type { VectorStore } from '../../src/stores/contract.js'

export type Expected = { values: number[]; metadata: Record<string, unknown> } | null

/** One line per id whose record on `store` is not what the ledger says. */
export async function differences(store: VectorStore, ledger: Map<string, Expected>, namespace = ''): Promise<string[]> {
  const got = await store.fetch(namespace, [...ledger.keys()])
  const wrong: string[] = []
  for (const [id, want] of ledger) {
    const have = got.get(id)
    if (want === null) {
      if (have) wrong.push(`${id}: deleted, but ${store.label} has it`)
    } else if (!have) {
      wrong.push(`${id}: missing on ${store.label}`)
    } else if (JSON.stringify(Array.from(have.values ?? [])) !== JSON.stringify(want.values) || JSON.stringify(sorted(have.metadata)) !== JSON.stringify(sorted(want.metadata))) {
      wrong.push(`${id}: ${JSON.stringify(Array.from(have.values ?? []))} ${JSON.stringify(have.metadata)} != ${JSON.stringify(want)}`)
    }
  }
  return wrong
}

function sorted(m: object | undefined): unknown {
  return m ? Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : 1))) : {}
}
