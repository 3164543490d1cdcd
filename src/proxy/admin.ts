import { createHash, timingSafeEqual } from 'node:crypto'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify'
import type { Logger } from '../logger.js'
import { E, vxError } from '../errors.js'
import type { GatewayMetrics } from './metrics.js'
import type { ReadinessProbe } from './readiness.js'
import { sendError, toVecshiftError } from './reply-error.js'
import { STATUS_HTML } from './status-page/html.js'
import { STATUS_JS } from './status-page/script.js'
import { STATUS_CSS } from './status-page/style.js'

// The admin port: health, readiness and Prometheus metrics without a token (probes and
// scrapers must reach them), everything under /admin/ with a bearer token when one is
// configured. Config validation refuses a non-loopback admin address without a token.
// The status page (/status) is served without a token because it holds no data: its script
// asks /admin/migration, with the token, for everything it shows.

export interface AdminOptions {
  readonly logger: Logger
  readonly metrics: GatewayMetrics
  readonly readiness: ReadinessProbe
  readonly token: string | undefined
  readonly status: () => Record<string, unknown> | Promise<Record<string, unknown>>
  /** Everything the status page shows: the gateway, the migration record, the replayers
   *  and the lag history. */
  readonly migration: () => Promise<Record<string, unknown>>
  readonly isClosing: () => boolean
}

export function buildAdmin(options: AdminOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  })
  const expected = options.token === undefined ? undefined : digest(options.token)

  app.setErrorHandler((err, _req, reply) => sendError(reply, toVecshiftError(err), 'control'))
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    const r = await options.readiness.check()
    const ready = r.ready && !options.isClosing()
    return reply.code(ready ? 200 : 503).send({ ready, detail: options.isClosing() ? 'shutting down' : r.detail })
  })
  app.get('/metrics', async (_req, reply) => {
    reply.type(options.metrics.registry.contentType)
    return options.metrics.registry.metrics()
  })
  // A strict policy: the page loads its own script and styles and talks to this port only.
  const page = (type: string, body: string) => async (_req: unknown, reply: FastifyReply) =>
    reply
      .type(type)
      .header(
        'content-security-policy',
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      )
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-store')
      .send(body)
  app.get('/', async (_req, reply) => reply.redirect('/status'))
  app.get('/status', page('text/html; charset=utf-8', STATUS_HTML))
  app.get('/status/page.js', page('text/javascript; charset=utf-8', STATUS_JS))
  app.get('/status/page.css', page('text/css; charset=utf-8', STATUS_CSS))
  app.register(async (scoped) => {
    scoped.addHook('onRequest', async (req) => {
      if (expected === undefined) return
      const header = req.headers.authorization
      const presented = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : ''
      if (!timingSafeEqual(digest(presented), expected)) throw vxError(E.ADMIN_UNAUTHORIZED)
    })
    scoped.get('/admin/status', async () => options.status())
    scoped.get('/admin/migration', async (_req, reply) => {
      reply.header('cache-control', 'no-store')
      return options.migration()
    })
  })
  return app
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest()
}
