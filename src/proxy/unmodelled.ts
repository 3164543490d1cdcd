import type { FastifyReply, FastifyRequest } from 'fastify'
import { E, vxError } from '../errors.js'
import { forwardHandler, type ForwardContext } from './forward.js'
import { CAPTURING, REVERSE_CAPTURING, type RoutingState } from './routing.js'
import { canonicalPath } from './fronted-index.js'
import { CONTROL_PREFIXES } from './routes.js'

// Requests to routes the gateway does not model (a newer API version's, or one it has no
// reason to parse). An app must not break just by pointing at the gateway, so:
// - while nothing is captured (passthrough, finalized), every such request is forwarded, to
//   the side that takes writes now;
// - while writes are captured (capture, cutover, source-primary; the reverse capture after
//   a cutover), one that only reads (GET, HEAD, OPTIONS, or a POST known to be a search, a
//   fetch or a list) is forwarded to the side that serves reads, and anything else is
//   refused (ROUTE_UNMODELLED): a write the log cannot hold would be missing on the target,
//   which is the one thing the migration promises never happens. Fail closed, and say so.

/** POSTs of the data plane that read: the 2026-07 Documents API's searches, fetches and
 *  lists. Others get added when an API version brings them. */
const READ_POSTS: readonly RegExp[] = [/^\/namespaces\/[^/]+\/documents\/(search|fetch|list)$/]

export function isReadOnlyRequest(method: string, path: string): boolean {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return true
  return method === 'POST' && READ_POSTS.some((re) => re.test(path))
}

export interface UnmodelledOptions {
  readonly routing: RoutingState
  readonly migrationId: string
  /** The index the gateway fronts, for refusals. */
  readonly indexName: string
  readonly source: ForwardContext
  /** A Pinecone target reached over HTTP, once routing sends requests there. */
  readonly target: ForwardContext | undefined
  /** The label of a pgvector target, which has no counterpart for an unmodelled route. */
  readonly storeLabel: string | undefined
}

export function unmodelledHandler(options: UnmodelledOptions) {
  const toSource = forwardHandler(options.source, 'unmodelled')
  const toTarget = options.target ? forwardHandler(options.target, 'unmodelled') : undefined
  return function unmodelled(this: unknown, req: FastifyRequest, reply: FastifyReply) {
    const path = req.url.split('?')[0] as string
    // The upstream may resolve dot segments (raw or escaped) against its own base path: a
    // request for this index must never reach another one. Pinecone's SDKs send none.
    if (hasDotSegment(path))
      throw vxError(E.BAD_REQUEST, `the path ${path.slice(0, 200)} has "." or ".." segments; the gateway forwards none`)
    // A control-plane path spelled so that the router did not take it for one (doubled
    // slashes): the shim's checks must not be bypassed by forwarding it as something else.
    const canonical = canonicalPath(path)
    if (canonical !== path && isControlPath(canonical)) {
      throw vxError(E.CONTROL_PLANE_REFUSED, req.method, canonical, options.indexName)
    }
    const read = isReadOnlyRequest(req.method, path)
    const record = options.routing.record
    if (!read && (CAPTURING.has(record.phase) || REVERSE_CAPTURING.has(record.phase))) {
      throw vxError(E.ROUTE_UNMODELLED, `${req.method} ${path}`, options.migrationId, record.phase)
    }
    const side = read ? record.routing.reads : record.routing.writes
    if (side === 'source') return toSource.call(this as never, req, reply)
    if (toTarget) return toTarget.call(this as never, req, reply)
    if (options.storeLabel !== undefined)
      throw vxError(E.TARGET_UNSUPPORTED, `${req.method} ${path}`, options.storeLabel)
    throw vxError(
      E.CONFIG_INVALID,
      'target: routing sends requests to the target, but the config names no Pinecone target with a host nor a pgvector target',
    )
  }
}

/** Dot segments as sent, or once escapes are undone (an escaped "/" included). */
function hasDotSegment(path: string): boolean {
  let decoded = path
  try {
    decoded = decodeURIComponent(path)
  } catch {
    /* kept as sent */
  }
  const dots = (p: string) => p.split('/').some((s) => s === '.' || s === '..')
  return dots(path) || dots(decoded)
}

function isControlPath(path: string): boolean {
  return CONTROL_PREFIXES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))
}
