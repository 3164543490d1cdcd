import type { StoredVector } from '../stores/contract.js'
import type { Change } from './batch.js'
import type { Intent } from './intents.js'

// What `vecshift replay --dry-run` prints, one JSON line per change it would make: enough to
// see which ids and namespaces a replay touches, without the vectors themselves.

/** One id's coalesced change in a batch. */
export function describeChange(namespace: string, id: string, change: Change): Record<string, unknown> {
  return {
    op: change.kind === 'put' ? 'upsert' : change.kind,
    namespace,
    id,
    ...(change.kind === 'put'
      ? summary(change.vector)
      : change.kind === 'update'
        ? {
            values: change.values !== undefined,
            sparseValues: change.sparseValues !== undefined,
            setMetadata: change.setMetadata,
          }
        : {}),
  }
}

/** A write that names no ids (by filter, delete all). */
export function describeWholeWrite(intent: Intent, uncertain: boolean): Record<string, unknown> {
  return {
    op: intent.op,
    namespace: intent.namespace,
    ...(intent.op === 'update'
      ? { filter: intent.filter, setMetadata: intent.setMetadata }
      : intent.op === 'delete' && intent.deleteAll
        ? { deleteAll: true }
        : { filter: (intent as { filter?: unknown }).filter }),
    ...(uncertain ? { uncertain: true } : {}),
  }
}

function summary(v: StoredVector): Record<string, unknown> {
  return {
    ...(v.values ? { dimension: v.values.length } : {}),
    ...(v.sparseValues ? { sparseEntries: v.sparseValues.indices.length } : {}),
    ...(v.metadata ? { metadata: v.metadata } : {}),
  }
}
