// The emulator's composition root: builds the catalog, persistence, fault injector and request
// stats, wires them into one Fastify server (control plane at /, data plane of index N at
// /data/N, the emulator's own endpoints at /_emulator), and owns the lifecycle.
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify'
import { createLogger, type Logger } from '../logger.js'
import { registerAdminRoutes } from './admin-routes.js'
import { apiKeyHook } from './auth.js'
import { Catalog } from './catalog.js'
import { createIndex, registerControlRoutes } from './control-routes.js'
import { readCreateWithSpec } from './control-requests.js'
import { registerDataRoutes } from './data-routes.js'
import { FaultInjector, type FaultRule, type Op } from './faults.js'
import { errorFor, isDataPlane, sendError, sendJsonText, toPineconeError } from './http.js'
import { HARD_BODY_LIMIT, registerJsonBody } from './json-body.js'
import { Persistence } from './persistence.js'
import { RequestStats, type StatsSnapshot } from './request-stats.js'

/** The request line and headers the emulator reads, as the gateway's default. */
export const EMULATOR_MAX_HEADER_BYTES = 1024 * 1024

export interface EmulatorOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string
  /** Port; default 0 (any free port). */
  port?: number
  /** Keep indexes, collections and records here across restarts. */
  dataDir?: string
  /** When set, every request must carry it in `Api-Key`. */
  apiKey?: string
  logger?: Logger
  /** Indexes to create at start-up (skipped when they already exist, e.g. loaded from dataDir). */
  indexes?: readonly PrecreatedIndex[]
  /** How long an index restored from a collection reports Initializing; default 200 ms. */
  restoreDelayMs?: number
  /** How long a new collection reports Initializing; default 0 (Ready at once). */
  collectionDelayMs?: number
}

export interface PrecreatedIndex {
  name: string
  /** Ignored for sparse indexes. */
  dimension: number
  metric: 'cosine' | 'dotproduct' | 'euclidean'
  kind?: 'serverless' | 'pod'
  vectorType?: 'dense' | 'sparse'
}

export interface Emulator {
  /** Controller URL: http://127.0.0.1:PORT */
  readonly url: string
  readonly port: number
  /** Data-plane URL of an index: `${url}/data/${name}`. */
  indexHost(name: string): string
  readonly faults: FaultInjector
  /** Requests seen per operation (also at GET /_emulator/stats). */
  stats(): StatsSnapshot
  /** Rotates the API key: requests with the old one get 401 from now on. */
  setApiKey(key: string | undefined): void
  /** Idempotent; flushes persistence. */
  close(): Promise<void>
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const logger = opts.logger ?? createLogger({ level: 'silent' })
  const host = opts.host ?? '127.0.0.1'
  let persistence: Persistence | null = null
  let loading = true
  const catalog = new Catalog(() => {
    if (!loading) persistence?.schedule()
  })
  if (opts.dataDir !== undefined) {
    persistence = new Persistence(opts.dataDir, catalog, logger)
    await persistence.load()
  }
  loading = false
  for (const spec of opts.indexes ?? []) {
    if (catalog.findIndex(spec.name) !== undefined) continue
    try {
      createIndex(catalog, precreatedRequest(spec), { restoreDelayMs: 0, collectionDelayMs: 0 })
    } catch (err) {
      throw new Error(`cannot create index ${spec.name}: ${(err as Error).message}`, { cause: err })
    }
  }

  const faults = new FaultInjector()
  const stats = new RequestStats()
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Per-request log lines would dominate the benchmarks' hot path.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: HARD_BODY_LIMIT,
    // Pinecone ids may be up to 512 characters and appear in query strings, many times over.
    routerOptions: { maxParamLength: 1024 },
    forceCloseConnections: true,
    // A fetch of 1,000 ids of up to 512 characters is a query string of half a megabyte;
    // Node's default (16 KiB) refuses 400 UUIDs.
    http: { maxHeaderSize: EMULATOR_MAX_HEADER_BYTES },
  })
  let baseUrl = ''
  const hostFor = (name: string) => `${baseUrl}/data/${encodeURIComponent(name)}`

  registerJsonBody(app)
  let apiKey = opts.apiKey
  app.addHook(
    'onRequest',
    apiKeyHook(() => apiKey),
  )
  app.addHook('onRequest', (req, reply) => countAndInjectFaults(req, reply, stats, faults))
  app.setErrorHandler((err, req, reply) => {
    const e = toPineconeError(req.url, err)
    if (e.status >= 500) req.log.error({ err }, 'emulator error')
    return sendError(reply, e)
  })
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, errorFor(req.url, 404, `Not Found: ${req.method} ${req.url.split('?')[0]}`)),
  )

  registerControlRoutes(app, {
    catalog,
    hostFor,
    restoreDelayMs: opts.restoreDelayMs ?? 200,
    collectionDelayMs: opts.collectionDelayMs ?? 0,
  })
  registerDataRoutes(app, catalog)
  registerAdminRoutes(app, faults, stats)

  await app.listen({ host, port: opts.port ?? 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  baseUrl = `http://${urlHost(host)}:${port}`
  logger.info({ url: baseUrl, dataDir: opts.dataDir }, 'emulator listening')

  let closing: Promise<void> | null = null
  return {
    url: baseUrl,
    port,
    indexHost: hostFor,
    faults,
    stats: () => stats.snapshot(),
    setApiKey(key) {
      apiKey = key
    },
    close() {
      closing ??= (async () => {
        await app.close()
        await persistence?.close()
      })()
      return closing
    },
  }
}

// Listening on every interface still means clients reach it on loopback.
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1'
  return host.includes(':') ? `[${host}]` : host
}

function precreatedRequest(spec: PrecreatedIndex) {
  const sparse = spec.vectorType === 'sparse'
  return readCreateWithSpec({
    name: spec.name,
    ...(sparse ? { vector_type: 'sparse' } : { dimension: spec.dimension }),
    metric: spec.metric,
    spec:
      spec.kind === 'pod'
        ? { pod: { environment: 'us-east-1-aws', pod_type: 'p1.x1' } }
        : { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
}

async function countAndInjectFaults(
  req: FastifyRequest,
  reply: FastifyReply,
  stats: RequestStats,
  faults: FaultInjector,
): Promise<void> {
  const op = (req.routeOptions.config as { op?: Op } | undefined)?.op
  if (op === undefined) return
  const params = req.params as { index?: string; name?: string } | undefined
  const index = params?.index ?? params?.name
  stats.count(op, index)
  const rule = faults.take(op, index)
  if (rule === undefined) return
  stats.countFault(op)
  await applyFault(req, reply, rule)
}

async function applyFault(req: FastifyRequest, reply: FastifyReply, rule: FaultRule): Promise<void> {
  if (rule.latencyMs !== undefined && rule.latencyMs > 0) await sleep(rule.latencyMs)
  if (rule.reset) {
    reply.hijack()
    req.raw.socket.destroy()
    return
  }
  if (rule.status === undefined) return // latency only: serve the request normally
  if (rule.retryAfter !== undefined) reply.header('retry-after', String(rule.retryAfter))
  if (rule.body !== undefined) {
    if (typeof rule.body === 'string') await reply.code(rule.status).type('text/plain; charset=utf-8').send(rule.body)
    else await sendJsonText(reply, rule.status, JSON.stringify(rule.body))
    return
  }
  const plane = isDataPlane(req.url) ? 'data' : 'control'
  await sendError(reply, errorFor(req.url, rule.status, `Injected fault (${plane} plane): HTTP ${rule.status}`))
}
