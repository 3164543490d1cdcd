// A separate process changing the control record: `node --import tsx control-contender.ts
// DIR MIGRATION N` makes N changes (each epoch + 1, retried on conflict) and exits.
import { FileControlStore } from '../../src/control/file-store.js'

const [dir, migration, n] = process.argv.slice(2) as [string, string, string]
const store = await FileControlStore.open({ dir, migration })
for (let done = 0; done < Number(n);) {
  const r = await store.read()
  try {
    await store.update(r.epoch, (x) => ({ ...x, epoch: x.epoch + 1, changedBy: `pid ${process.pid}` }))
    done++
  } catch (err) {
    if ((err as { code?: string }).code !== 'VECSHIFT_ERR_CONTROL_CONFLICT') throw err
  }
}
await store.close()
