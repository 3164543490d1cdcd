import type { Readable } from 'node:stream'
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify'
import type { Config } from '../config/schema.js'
import { E, VecshiftError, vxError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { ClientAuth } from './auth.js'
import type { GatewayMetrics } from './metrics.js'
import type { ReadinessProbe } from './readiness.js'
import { sendError, toVecshiftError, writeClientError } from './reply-error.js'
import { CONTROL_PREFIXES } from './routes.js'

// The gateway's HTTP listener before any route: limits (body, headers, concurrency, a
// deadline for a body that stops arriving), the client's key confirmed before the body is
// read, health and readiness probes, metrics per answer, and every refusal in Pinecone's
// error shape. The routes themselves are registered by data-routes.ts and control-shim.ts.

export interface HttpAppOptions {
  readonly limits: Config['gateway']['limits']
  readonly logger: Logger
  readonly auth: ClientAuth
  readonly metrics: GatewayMetrics
  readonly readiness: ReadinessProbe
  /** Whether the gateway is shutting down: new requests are refused, readiness fails. */
  readonly closing: () => boolean
}

export interface HttpApp {
  readonly app: FastifyInstance
  /** Requests being answered now. */
  inFlight(): number
  /** Stops accepting requests and lets those in flight finish, for at most `deadlineMs`; then
   *  closes the connections left. */
  drain(deadlineMs: number): Promise<void>
}

/** Probes answered without a key (kubelets and load balancers hold none). */
const UNAUTHENTICATED_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz'])

export function buildHttpApp(o: HttpAppOptions): HttpApp {
  const { limits, metrics, auth } = o
  let inFlight = 0
  const app = Fastify({
    loggerInstance: o.logger.child({ component: 'gateway' }) as FastifyBaseLogger,
    // Per-request log lines would cost more than forwarding does; errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.maxBodyBytes,
    requestTimeout: limits.requestTimeoutMs,
    // A request without Host is answered by Fastify (in Pinecone's shape), not dropped by
    // Node. Node checks its header and request deadlines every connectionsCheckingInterval
    // (30 s by default): often enough here that a short deadline is kept to within half.
    http: {
      maxHeaderSize: limits.maxHeaderBytes,
      requireHostHeader: false,
      connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(limits.requestTimeoutMs / 2))),
    },
    // Namespaces are up to 512 characters, and they are path parameters.
    routerOptions: { maxParamLength: 1024 },
    // Shutdown answers are sent by the onRequest hook below, in Pinecone's error shape.
    return503OnClosing: false,
    // Every refusal in Pinecone's shape: Fastify's own (a bad URL encoding) and Node's
    // (a request its parser refused, before Fastify saw it).
    frameworkErrors: (err, req, reply) => {
      sendError(reply, toVecshiftError(err), shapeOf(req))
    },
    clientErrorHandler: (err, socket) => writeClientError(err, socket, limits),
  })

  // Bodies are not parsed here: with a declared length, the stream itself becomes
  // request.body and is piped to the upstream, and an oversize body is refused before a
  // byte of it is read. A body without Content-Length (chunked) is buffered up to the
  // limit first, so that an oversize one is refused before anything reaches the upstream.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (req, payload, done) => {
    const declared = req.headers['content-length']
    if (declared === undefined) return bufferWithin(payload, limits.maxBodyBytes, done)
    if (Number(declared) > limits.maxBodyBytes) return done(vxError(E.BODY_TOO_LARGE, declared, limits.maxBodyBytes))
    done(null, payload)
  })

  app.addHook('onRequest', (req, reply, done) => {
    if (o.closing()) {
      reply.header('connection', 'close')
      return done(vxError(E.SHUTTING_DOWN))
    }
    if (inFlight >= limits.maxConcurrentRequests) {
      metrics.rejected.labels('concurrency').inc()
      return done(vxError(E.TOO_MANY_REQUESTS, limits.maxConcurrentRequests))
    }
    inFlight++
    metrics.inFlight.inc()
    const deadline = req.raw.complete ? undefined : bodyDeadline(req, reply, o)
    // 'close' fires for finished and aborted responses alike, so the count cannot drift.
    reply.raw.once('close', () => {
      clearTimeout(deadline)
      inFlight--
      metrics.inFlight.dec()
    })
    // The key is confirmed before the body is read: nothing is parsed, validated, logged
    // or forwarded for a client whose key is not (docs/architecture.md invariant 7).
    if (UNAUTHENTICATED_PATHS.has(req.routeOptions.url as string)) return done()
    let admitted: Promise<void> | undefined
    try {
      admitted = auth.admit(req.headers)
    } catch (err) {
      return done(err as Error)
    }
    if (admitted === undefined) return done()
    admitted.then(
      () => done(),
      (err: Error) => done(err),
    )
  })

  app.addHook('onResponse', (req, reply, done) => {
    const op = (req.routeOptions.config as { op?: string }).op ?? 'other'
    metrics.requests.labels(op, req.method, String(reply.statusCode)).inc()
    done()
  })

  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    const r = await o.readiness.check()
    const ready = r.ready && !o.closing()
    return reply.code(ready ? 200 : 503).send({ ready, detail: o.closing() ? 'shutting down' : r.detail })
  })

  app.setErrorHandler((err, req, reply) => {
    const error = toVecshiftError(err)
    if (error.statusCode >= 500) {
      req.log.warn({ err: error, cause: error.cause, op: req.routeOptions.url, method: req.method }, error.message)
    }
    sendError(reply, error, shapeOf(req))
  })
  const drain = async (deadlineMs: number) => {
    o.logger.info({ inFlight, deadlineMs }, 'gateway draining')
    const timer = setTimeout(() => {
      o.logger.warn({ inFlight }, 'drain deadline passed; closing remaining connections')
      app.server.closeAllConnections()
    }, deadlineMs)
    timer.unref()
    // server.close() closes only the connections idle at that moment; a keep-alive
    // connection whose request finishes later would hold the drain open until the deadline.
    const sweeper = setInterval(() => app.server.closeIdleConnections(), 50)
    sweeper.unref()
    try {
      await app.close()
    } finally {
      clearTimeout(timer)
      clearInterval(sweeper)
    }
  }
  return { app, inFlight: () => inFlight, drain }
}

/** Node enforces requestTimeout only until a request is handed over, not while its body is
 *  still arriving: a client that stops mid-body would hold its slot for ever. */
function bodyDeadline(req: FastifyRequest, reply: FastifyReply, o: HttpAppOptions): NodeJS.Timeout {
  const { limits, metrics } = o
  return setTimeout(() => {
    if (req.raw.complete) return
    // Answered already (refused before its body was read), and the body still has not all
    // arrived: the connection goes, or a client that stopped would keep it.
    if (reply.sent) {
      req.raw.socket.destroy()
      return
    }
    metrics.rejected.labels('request-timeout').inc()
    reply.header('connection', 'close')
    sendError(reply, vxError(E.REQUEST_TIMEOUT, limits.requestTimeoutMs), shapeOf(req))
    // The rest of the body will not be read: the connection goes once the answer is out,
    // and with it the upstream request that was reading the body.
    const socket = req.raw.socket
    socket.end()
    setTimeout(() => socket.destroy(), 1_000).unref()
  }, limits.requestTimeoutMs)
}

function isControlPath(url: string): boolean {
  for (const prefix of CONTROL_PREFIXES) {
    if (url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`)) return true
  }
  return false
}

/** Which of Pinecone's two error shapes a request gets. */
export function shapeOf(req: FastifyRequest): 'data' | 'control' {
  return isControlPath(req.url) ? 'control' : 'data'
}

/** Reads a body sent without Content-Length into memory, failing it past `max` bytes. */
function bufferWithin(source: Readable, max: number, done: (err: Error | null, body?: Buffer) => void): void {
  const chunks: Buffer[] = []
  let seen = 0
  let finished = false
  const finish = (err: Error | null, body?: Buffer) => {
    if (finished) return
    finished = true
    source.removeAllListeners('data')
    done(err, body)
  }
  source.on('data', (chunk: Buffer) => {
    seen += chunk.length
    if (seen > max) {
      // Stop reading; the 413 answer closes the connection.
      source.pause()
      finish(new VecshiftError(E.BODY_TOO_LARGE, [`more than ${max}`, max]))
    } else {
      chunks.push(chunk)
    }
  })
  source.once('end', () => finish(null, Buffer.concat(chunks, seen)))
  source.once('error', (err) => finish(err))
}
