import type { ControlStore } from '../../src/control/contract.js'

/** Makes `n` changes to the record (each epoch + 1), retrying the ones another process's
 *  change beat to it (CONTROL_CONFLICT): the contention the compare-and-set tests need. */
export async function changeTimes(store: ControlStore, n: number, by = `pid ${process.pid}`): Promise<void> {
  for (let done = 0; done < n; ) {
    const r = await store.read()
    try {
      await store.update(r.epoch, (x) => ({ ...x, epoch: x.epoch + 1, changedBy: by }))
      done++
    } catch (err) {
      if ((err as { code?: string }).code !== 'VECSHIFT_ERR_CONTROL_CONFLICT') throw err
    }
  }
}
