// The client ledger of the end-to-end tests: what each id must end as, from the writes the
// SDK saw succeed (null: deleted), and where a store differs from it. The comparison is the
// demo's own (src/cli/demo-traffic.ts), for one namespace.
import { ledgerDifferences, type Expected } from '../../src/cli/demo-traffic.js'
import type { VectorStore } from '../../src/stores/contract.js'

export type { Expected }

/** One line per id whose record on `store` is not what the ledger says. */
export function differences(store: VectorStore, ledger: Map<string, Expected>, namespace = ''): Promise<string[]> {
  return ledgerDifferences(store, new Map([[namespace, ledger]]))
}
