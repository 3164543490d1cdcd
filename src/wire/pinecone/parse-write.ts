import { invalidArgument } from './errors.js'
import { NOT_HANDLED, parseWriteBody } from './fast-json.js'
import { LIMITS, requestTooLarge } from './limits.js'
import {
  canonicalNamespace,
  checkNamespaceName,
  parseCreateNamespace,
  parseDelete,
  parseUpdate,
  parseUpsert,
  type IndexShape,
  type ParsedWrite,
} from './write-requests.js'

// A write request's bytes as Pinecone would parse and check them, whatever carried them:
// the gateway's REST routes and the pgvector store plane today, a gRPC listener next. A
// refusal throws Pinecone's error (errors.ts), which each transport answers in its shape.

/** The writes vecshift can capture: each has a log record that the replayer can apply. */
export type WriteOp = 'upsert' | 'update' | 'delete' | 'delete_namespace' | 'create_namespace'

/**
 * Parses one write. `pathNamespace` is the namespace a route carries in its path (deleting a
 * namespace), already decoded by the router: decoding it again would log another name.
 */
export function parseWrite(op: WriteOp, raw: Buffer, shape: IndexShape, pathNamespace?: string): ParsedWrite {
  if (op === 'delete_namespace') {
    // Deleting a namespace deletes every record in it and the namespace: logged as deleteAll
    // there, marked as a namespace delete (a created namespace outlives deleteAll).
    const ns = canonicalNamespace(checkNamespaceName(pathNamespace))
    return { op: 'delete', namespace: ns, deleteAll: true, deleteNamespace: true }
  }
  // Pinecone refuses a data-plane request over 2 MB; the gateway's own body limit is set
  // higher for other routes, so the write is refused here, before it is logged.
  if (raw.length > LIMITS.maxRequestBytes) throw requestTooLarge(raw.length)
  // Upserts and updates are mostly dense vectors: the fast parser reads them straight into
  // typed arrays. It declines anything unusual, malformed bodies included, and JSON.parse
  // then gives the answer and the error message.
  let body: unknown = op === 'delete' || op === 'create_namespace' ? NOT_HANDLED : parseWriteBody(raw)
  if (body === NOT_HANDLED) {
    try {
      body = JSON.parse(raw.toString('utf8'))
    } catch (err) {
      throw invalidArgument(`Invalid JSON in request body: ${(err as Error).message}`)
    }
  }
  switch (op) {
    case 'upsert':
      return parseUpsert(body, shape)
    case 'update':
      return parseUpdate(body, shape)
    case 'delete':
      return parseDelete(body)
    case 'create_namespace':
      return parseCreateNamespace(body)
  }
}
