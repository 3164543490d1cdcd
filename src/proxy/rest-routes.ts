import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Config } from '../config/schema.js'
import type { Logger } from '../logger.js'
import type { IndexShape, ParsedWrite } from '../wire/pinecone/write-requests.js'
import type { WriteLog } from '../writelog/contract.js'
import { ClientAuth, TargetAuth } from './auth.js'
import type { CaptureContext } from './capture.js'
import { registerControlShim } from './control-shim.js'
import { registerDataRoutes } from './data-routes.js'
import type { ForwardContext } from './forward.js'
import { upstreamRequestHeaders } from './headers.js'
import type { GatewayMetrics } from './metrics.js'
import { primaryIndexModel } from './primary-index.js'
import type { Router } from './router.js'
import type { ShadowReads, TargetQuery } from './shadow.js'
import type { Sides } from './sides.js'
import { unmodelledHandler } from './unmodelled.js'
import type { RecordFactory } from './write-path.js'

// Every route of the REST listener, wired to the sides, the router and the logs: Pinecone's
// data plane (data-routes.ts), the control-plane shim, and the routes vecshift does not
// model (unmodelled.ts). A gRPC listener would wire the same parts the same way.

export interface RestRoutesOptions {
  readonly config: Config
  readonly sides: Sides
  readonly router: Router
  /** The client's auth, as the source takes it. */
  readonly auth: ClientAuth
  readonly metrics: GatewayMetrics
  readonly records: RecordFactory
  readonly logger: Logger
  readonly writeLog: WriteLog | undefined
  readonly reverseLog: WriteLog | undefined
  /** The source's shape, known before the first request when writes are captured. */
  readonly sourceShape: () => IndexShape
  readonly shadow: ShadowReads | undefined
  /** The URL clients reach the gateway at, for this request. */
  readonly publicUrl: (req: FastifyRequest) => string
}

export function registerRestRoutes(app: FastifyInstance, o: RestRoutesOptions): void {
  const { config, sides, auth, metrics } = o
  const source: ForwardContext = { upstream: sides.source, auth, metrics }
  // The target's answers use the target's key when one is configured (it is another
  // project's index); otherwise the client's, as for the source.
  const targetKeys = new ClientAuth({
    mode: config.secrets.targetApiKey === undefined ? config.gateway.auth.mode : 'keys',
    acceptedKeys: config.secrets.gatewayApiKeys,
    upstreamKey: config.secrets.targetApiKey,
  })
  const target: ForwardContext | undefined = sides.target
    ? { upstream: sides.target, auth: new TargetAuth(auth, targetKeys), metrics }
    : undefined
  const logged = { records: o.records, logger: o.logger }
  const capture: CaptureContext | undefined = o.writeLog
    ? { ...source, ...logged, log: o.writeLog, shape: o.sourceShape }
    : undefined
  // After the cutover, writes to the target are captured in the reverse log, the same way,
  // so that a rollback can replay them into the source.
  const { plane, targetShape } = sides
  const shapeOfTarget = () => targetShape?.known as IndexShape
  const reverse: CaptureContext | undefined = !o.reverseLog
    ? undefined
    : target
      ? { ...target, ...logged, log: o.reverseLog, shape: shapeOfTarget }
      : plane
        ? { ...source, ...logged, log: o.reverseLog, shape: shapeOfTarget, apply: (w: ParsedWrite) => plane.write(w) }
        : undefined
  const query = targetQuery(sides, target)
  const storeLabel = plane ? (sides.targetStore?.label ?? 'pgvector') : undefined
  registerDataRoutes(app, {
    router: o.router,
    source,
    target,
    plane: plane ? { plane, label: storeLabel as string } : undefined,
    capture,
    reverse,
    targetShapeReady: targetShape ? () => targetShape.describe() : undefined,
    shadow: o.shadow && query ? { reads: o.shadow, query } : undefined,
  })
  registerControlShim(app, {
    upstream: sides.sourceControl,
    auth,
    metrics,
    indexName: sides.sourceConfig.index,
    publicUrl: o.publicUrl,
    describeFromPrimary: primaryIndexModel(config, sides, o.router, o.publicUrl),
  })
  // Routes the gateway does not model are forwarded, or refused while writes are captured.
  app.setNotFoundHandler(
    unmodelledHandler({
      routing: o.router.state,
      migrationId: config.migration.id,
      indexName: sides.sourceConfig.index,
      source,
      target,
      storeLabel,
    }),
  )
}

/** How the target answers a shadowed query: forwarded as bytes, or through the store plane. */
function targetQuery(sides: Sides, target: ForwardContext | undefined): TargetQuery | undefined {
  const plane = sides.plane
  if (target)
    return async (req, body) => {
      const headers = upstreamRequestHeaders(req.headers, target.auth.upstreamKey)
      const res = await target.upstream.request('POST', req.url, headers, body)
      return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) }
    }
  return plane ? (req, body) => plane.queryAnswer(req, body) : undefined
}
