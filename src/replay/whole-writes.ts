import type { VectorStore } from '../stores/contract.js'
import type { DirtyEntry } from './dirty.js'
import type { Intent } from './intents.js'

// Writes that name no ids: an update or delete by filter, a delete-all, a namespace deletion.
// They do not enter a batch; the replayer applies the batch before them and then each alone,
// so their order against every other write is kept.

/** The dirty-set entry: what the write selected, for the cutover to reconcile. `uncertain`:
 *  applied without a known outcome, so the cutover compares its namespace in full. */
export function wholeEntry(intent: Intent, uncertain: boolean): Exclude<DirtyEntry, { id: string }> {
  const mark = uncertain ? { uncertain: true as const } : {}
  return intent.op === 'delete' && intent.deleteAll
    ? { namespace: intent.namespace, deleteAll: true, ...mark }
    : { namespace: intent.namespace, filter: (intent as { filter: Record<string, unknown> }).filter, ...mark }
}

/** The step's name, in the logs and in a refusal. */
export function wholeWriteStep(intent: Intent): string {
  return `apply ${intent.op} by ${intent.op === 'delete' && intent.deleteAll ? 'deleteAll' : 'filter'}`
}

export async function sendWholeWrite(target: VectorStore, intent: Intent): Promise<void> {
  const ns = intent.namespace
  if (intent.op === 'update')
    await target.update(ns, {
      filter: intent.filter as Record<string, unknown>,
      setMetadata: intent.setMetadata ?? {},
    })
  else if (intent.op === 'delete' && intent.deleteNamespace && target.deleteNamespace) await target.deleteNamespace(ns)
  else if (intent.op === 'delete' && intent.deleteAll) await target.delete(ns, { deleteAll: true })
  else if (intent.op === 'delete') await target.delete(ns, { filter: intent.filter as Record<string, unknown> })
}
