// A separate process changing the control record: `node --import tsx control-contender.ts
// STORE MIGRATION N` makes N changes (each epoch + 1, retried on conflict) and exits. STORE is
// a directory (the file store) or a JSON object of node-postgres connection settings with a
// "schema" key (the postgres store).
import type { ControlStore } from '../../src/control/contract.js'
import { FileControlStore } from '../../src/control/file-store.js'
import { PostgresControlStore } from '../../src/control/postgres-store.js'
import { changeTimes } from './control-changes.js'

const [where, migration, n] = process.argv.slice(2) as [string, string, string]
let store: ControlStore
if (where.startsWith('{')) {
  const { schema, ...connection } = JSON.parse(where) as { schema: string } & Record<string, unknown>
  store = await PostgresControlStore.open({ migration, schema, connection, label: 'postgres (test)' })
} else {
  store = await FileControlStore.open({ dir: where, migration })
}
await changeTimes(store, Number(n))
await store.close()
