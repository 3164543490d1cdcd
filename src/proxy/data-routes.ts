import type { FastifyInstance, RouteHandlerMethod } from 'fastify'
import { E, vxError } from '../errors.js'
import type { ClientAuth } from './auth.js'
import { type CaptureContext, captureHandler } from './capture.js'
import { type ForwardContext, forwardHandler } from './forward.js'
import type { Router, WriteRoute } from './router.js'
import { DATA_ROUTES, type DataRoute } from './routes.js'
import type { ShadowReads, TargetQuery } from './shadow.js'
import type { StorePlane } from './store-plane.js'

// Pinecone's data-plane routes (routes.ts) over REST: each route's handler asks the router
// where the request goes and runs the matching way of sending it there: forwarded as bytes,
// captured in the log on the way, answered by a pgvector target's store plane, or compared
// on the target too (a shadow read).

export interface DataRoutesOptions {
  readonly router: Router
  /** The source's data plane, and the client's auth. */
  readonly source: ForwardContext
  /** A Pinecone target reached over HTTP ... */
  readonly target: ForwardContext | undefined
  /** ... or a pgvector target answered through the store plane. */
  readonly plane: { readonly plane: StorePlane; readonly label: string } | undefined
  /** Writes to the source, captured in the write log. */
  readonly capture: CaptureContext | undefined
  /** Writes to the target after the cutover, captured in the reverse log. */
  readonly reverse: CaptureContext | undefined
  /** Resolves once the target's shape is known (captured writes to it are checked with it). */
  readonly targetShapeReady: (() => Promise<unknown>) | undefined
  readonly shadow: { readonly reads: ShadowReads; readonly query: TargetQuery } | undefined
}

export function registerDataRoutes(app: FastifyInstance, o: DataRoutesOptions): void {
  for (const route of DATA_ROUTES) {
    const handler = route.kind === 'read' ? readHandler(route, o) : writeHandler(route, o)
    app.route({ method: route.method, url: route.url, config: { op: route.op }, handler })
  }
}

function readHandler(route: DataRoute, o: DataRoutesOptions): RouteHandlerMethod {
  const { router } = o
  const toSource = forwardHandler(o.source, route.op)
  const toTarget = targetHandler(route, o)
  const shadow = o.shadow
  // While the target follows the source, some queries are compared on it too.
  const shadowed =
    shadow && route.op === 'query' ? shadow.reads.handler(o.source.upstream, o.source.auth, shadow.query) : undefined
  return function read(req, reply) {
    const to = router.read()
    if (to.side === 'source') {
      if (shadowed && to.shadowable && shadow?.reads.pick()) return shadowed.call(this, req, reply)
      return toSource.call(this, req, reply)
    }
    return (toTarget as RouteHandlerMethod).call(this, req, reply)
  }
}

function writeHandler(route: DataRoute, o: DataRoutesOptions): RouteHandlerMethod {
  const { router } = o
  const handlers: Partial<Record<WriteRoute, RouteHandlerMethod>> = {
    source: forwardHandler(o.source, route.op),
    target: targetHandler(route, o),
  }
  if (route.captured) {
    if (o.capture) handlers['source-capture'] = captureHandler(o.capture, route.captured)
    if (o.reverse) handlers['target-capture'] = withTargetShape(captureHandler(o.reverse, route.captured), o)
  }
  const request = { kind: route.kind, label: `${route.method} ${route.url}` }
  // Held at a cutover barrier, then sent where the routing says at that moment.
  return function write(req, reply) {
    return router.write(request, async (to) => (handlers[to] as RouteHandlerMethod).call(this, req, reply))
  }
}

/** How the target answers this route: forwarded to a Pinecone target, or through the store
 *  plane of a pgvector one (which refuses what pgvector has no counterpart for). */
function targetHandler(route: DataRoute, o: DataRoutesOptions): RouteHandlerMethod | undefined {
  if (o.target) return forwardHandler(o.target, route.op)
  if (!o.plane) return undefined
  const { plane, label } = o.plane
  const auth: ClientAuth = o.source.auth
  if (route.kind === 'read') return plane.reader(route.op, auth)
  if (route.kind === 'write' && route.captured) return plane.writer(route.captured, auth)
  return async () => {
    throw vxError(E.TARGET_UNSUPPORTED, route.op, label)
  }
}

/** The capture path checks writes against the target's shape synchronously; a target's is
 *  known once described (a target created by the copy, later), which the first write to it
 *  waits for. Once known, the wait is a resolved promise. */
function withTargetShape(inner: RouteHandlerMethod, o: DataRoutesOptions): RouteHandlerMethod {
  const ready = o.targetShapeReady
  if (!ready) return inner
  return async function captured(req, reply) {
    await ready()
    return inner.call(this, req, reply)
  }
}
