import type { ParsedWrite } from '../wire/pinecone/write-requests.js'
import type { IntentRecord, RecordHeader } from './record.js'

// A parsed write as the log holds it: the intent record, before the write is sent.

export function intentOf(parsed: ParsedWrite, header: RecordHeader): IntentRecord {
  switch (parsed.op) {
    case 'upsert':
      return {
        ...header,
        op: 'upsert',
        vectors: parsed.vectors.map((v) => ({
          id: v.id,
          ...(v.values ? { values: v.values } : {}),
          ...(v.sparseValues ? { sparseValues: v.sparseValues } : {}),
          ...(v.metadata ? { metadata: v.metadata } : {}),
        })),
      }
    case 'update':
      return {
        ...header,
        op: 'update',
        ...(parsed.id !== undefined ? { id: parsed.id } : {}),
        ...(parsed.values ? { values: parsed.values } : {}),
        ...(parsed.sparseValues ? { sparseValues: parsed.sparseValues } : {}),
        ...(parsed.setMetadata ? { setMetadata: parsed.setMetadata } : {}),
        ...(parsed.filter ? { filter: parsed.filter } : {}),
      }
    case 'delete':
      return {
        ...header,
        op: 'delete',
        ...(parsed.ids ? { ids: parsed.ids } : {}),
        ...(parsed.filter ? { filter: parsed.filter } : {}),
        ...(parsed.deleteAll ? { deleteAll: true } : {}),
        ...(parsed.deleteNamespace ? { deleteNamespace: true } : {}),
      }
    case 'create_namespace':
      return { ...header, op: 'create_namespace', ...(parsed.schema ? { schema: parsed.schema } : {}) }
  }
}
