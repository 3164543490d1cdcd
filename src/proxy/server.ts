import type { AddressInfo } from 'node:net'
import type { Readable } from 'node:stream'
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  type RouteHandlerMethod,
} from 'fastify'
import type { Config, PineconeStoreConfig } from '../config/schema.js'
import { E, VecshiftError, vxError } from '../errors.js'
import type { Logger } from '../logger.js'
import { buildAdmin } from './admin.js'
import { ClientAuth } from './auth.js'
import { KeyCheck } from './key-check.js'
import { registerControlShim } from './control-shim.js'
import { forwardHandler, type ForwardContext } from './forward.js'
import { GatewayMetrics } from './metrics.js'
import { ReadinessProbe, type Primary } from './readiness.js'
import { captureHandler } from './capture.js'
import { RecordFactory } from './write-path.js'
import { describeSourceIndex } from './index-shape.js'
import type { IndexShape, ParsedWrite } from '../wire/pinecone/write-requests.js'
import type { WriteLog } from '../writelog/contract.js'
import { sendError, toVecshiftError, writeClientError } from './reply-error.js'
import { CONTROL_PREFIXES, DATA_ROUTES } from './routes.js'
import { Upstream } from './upstream.js'
import { hostname } from 'node:os'
import { processAlive } from '../process-alive.js'
import type { ControlStore } from '../control/contract.js'
import { initialRecord, transitioned, type MigrationRecord } from '../control/record.js'
import type { AbandonRecord, FenceRecord } from '../writelog/record.js'
import { CAPTURING, REVERSE_CAPTURING, RoutingState, SHADOWING } from './routing.js'
import { StorePlane } from './store-plane.js'
import { unmodelledHandler } from './unmodelled.js'
import { frontedIndexModel } from './fronted-index.js'
import { parseApiVersion } from '../wire/pinecone/api-version.js'
import { ShadowReads, type TargetQuery } from './shadow.js'
import { upstreamRequestHeaders } from './headers.js'
import { ProgressReporter } from '../control/reporter.js'
import { ReplayStatusFile } from '../replay/status.js'
import type { ReplayStatus } from '../replay/status.js'
import type { VectorStore } from '../stores/contract.js'
import { gatherStatus } from '../status/gather.js'
import { LagHistory } from './lag-history.js'

// The gateway's composition root: builds the upstream pools, the data-plane and
// control-plane routes, the admin server, and owns the lifecycle (listen, drain, close).

export interface GatewayDeps {
  /** The write log, required in the capturing phases. Opened and closed by the caller,
   *  which owns it (it outlives the gateway on shutdown, to flush what was accepted). */
  readonly writeLog?: WriteLog
  /** The control store the routing comes from; without one, the phase is the config's. */
  readonly control?: ControlStore
  /** The reverse log: writes sent to the target after the cutover, for a rollback. */
  readonly reverseLog?: WriteLog
  /** A pgvector target (opened and closed by the caller): once it is primary, the gateway
   *  answers Pinecone's data plane from it through the adapter. */
  readonly targetStore?: VectorStore
}

export interface GatewayAddresses {
  readonly url: string
  readonly adminUrl: string | undefined
}

export class Gateway {
  readonly config: Config
  readonly metrics: GatewayMetrics
  readonly app: FastifyInstance
  readonly admin: FastifyInstance | undefined
  readonly #logger: Logger
  readonly #source: Upstream
  readonly #sourceControl: Upstream
  readonly #readiness: ReadinessProbe
  readonly #writeLog: WriteLog | undefined
  readonly #records = new RecordFactory()
  #shape: IndexShape | undefined
  readonly #startedAt = Date.now()
  #inFlight = 0
  #closing: Promise<void> | undefined
  #addresses: GatewayAddresses | undefined
  readonly #sourceConfig: PineconeStoreConfig
  readonly #target: Upstream | undefined
  readonly #targetControl: Upstream | undefined
  readonly #reverseLog: WriteLog | undefined
  #targetShape: IndexShape | undefined
  readonly #targetStore: VectorStore | undefined
  readonly #replayStatuses: () => Promise<ReplayStatus[]>
  readonly #lagHistory: LagHistory
  readonly #shadow: ShadowReads | undefined
  readonly #plane: StorePlane | undefined
  readonly #control: ControlStore | undefined
  readonly #routing: RoutingState
  readonly #keyCheck: KeyCheck | undefined
  #fence: { epoch: number; position: string | undefined } | undefined
  readonly #stops: Array<() => void> = []
  #lastRenewal = Date.now()

  constructor(config: Config, logger: Logger, deps: GatewayDeps = {}) {
    this.config = config
    this.#logger = logger
    const { gateway } = config
    if (config.source.type !== 'pinecone') {
      // Serving Pinecone's API from a pgvector source means translating every call; the
      // gateway forwards bytes to a Pinecone index and does not do that yet.
      throw new VecshiftError(E.CONFIG_INVALID, [
        `source.type: the gateway needs a Pinecone source (got ${config.source.type}); pgvector can be a copy source or target`,
      ])
    }
    const source = config.source
    if (source.host === undefined) {
      throw new VecshiftError(E.CONFIG_INVALID, [
        "source.host: the gateway forwards to the source index's data-plane URL; set it (the `host` that describe_index or the Pinecone console shows)",
      ])
    }
    this.#sourceConfig = source
    if (config.migration.phase === 'capture' && deps.writeLog === undefined) {
      throw new VecshiftError(E.CONFIG_INVALID, ['migration.phase: "capture" needs a write log (writelog.*)'])
    }
    this.#writeLog = deps.writeLog
    this.#control = deps.control
    // Epoch 0: whatever the control store holds (epoch 1 and up) replaces it at listen().
    this.#routing = new RoutingState(
      { ...initialRecord(config.migration.id, config.migration.phase), epoch: 0 },
      gateway.cutover,
    )
    // The replayers' status files, for /metrics and /admin/status (replay.dataDir, shared
    // with the replayer when it runs on this host or the directory is on a shared volume).
    const replayFiles = ['replay', 'rollback'].map(
      (c) => new ReplayStatusFile(config.replay.dataDir, config.migration.id, c),
    )
    this.#replayStatuses = async () =>
      (await Promise.all(replayFiles.map((f) => f.load().catch(() => undefined)))).filter(
        (s): s is ReplayStatus => s !== undefined,
      )
    this.metrics = new GatewayMetrics(
      { migration: config.migration.id },
      this.#replayStatuses,
      gateway.auth.mode === 'passthrough' ? () => this.#keyCheck?.size ?? 0 : undefined,
    )
    this.#lagHistory = new LagHistory(this.#replayStatuses)
    const upstreamOptions = { ...gateway.upstream, tlsVerify: source.tlsVerify }
    this.#source = new Upstream({ ...upstreamOptions, name: 'source', url: source.host })
    this.#sourceControl = new Upstream({ ...upstreamOptions, name: 'source-control', url: source.controllerHost })
    // Reads and writes go to the target once routing says so (a Pinecone target with a host).
    const target = config.target?.type === 'pinecone' && config.target.host !== undefined ? config.target : undefined
    this.#target = target
      ? new Upstream({ ...gateway.upstream, tlsVerify: target.tlsVerify, name: 'target', url: target.host as string })
      : undefined
    this.#targetControl = target
      ? new Upstream({
          ...gateway.upstream,
          tlsVerify: target.tlsVerify,
          name: 'target-control',
          url: target.controllerHost,
        })
      : undefined
    this.#targetStore = config.target?.type === 'pgvector' ? deps.targetStore : undefined
    this.#plane = this.#targetStore ? new StorePlane(this.#targetStore, () => this.#describeTarget()) : undefined
    this.#reverseLog = target || this.#targetStore ? deps.reverseLog : undefined
    this.#shadow =
      gateway.shadow.percent > 0 && (target || this.#targetStore)
        ? new ShadowReads(gateway.shadow, [this.metrics.registry], logger.child({ component: 'shadow' }))
        : undefined
    // Passthrough auth: keys are confirmed with the index that takes them, the source or,
    // once writes go to it, a Pinecone target reached with the clients' own keys.
    this.#keyCheck =
      gateway.auth.mode === 'passthrough'
        ? new KeyCheck({
            ttlMs: gateway.auth.cacheTtlMs,
            refusedTtlMs: gateway.auth.refusedTtlMs,
            maxEntries: gateway.auth.maxCachedKeys,
            maxConcurrent: gateway.auth.maxConcurrentChecks,
            authority: () =>
              this.#target &&
              config.secrets.targetApiKey === undefined &&
              this.#routing.record.routing.writes === 'target'
                ? this.#target
                : this.#source,
            onProbe: (result) => this.metrics.keyChecks.labels(result).inc(),
          })
        : undefined
    // Ready means the side taking writes now can be reached: the source, or the target after
    // a cutover (its adapter's connection for pgvector).
    this.#readiness = new ReadinessProbe((): Primary => {
      if (this.#routing.record.routing.writes === 'target') {
        if (this.#targetStore) return { kind: 'store', store: this.#targetStore }
        if (this.#target)
          return {
            kind: 'upstream',
            upstream: this.#target,
            apiKey: config.secrets.targetApiKey ?? config.secrets.sourceApiKey,
          }
      }
      return { kind: 'upstream', upstream: this.#source, apiKey: config.secrets.sourceApiKey }
    }, gateway.readinessIntervalMs)
    this.app = this.#buildApp()
    this.admin = config.admin.enabled
      ? buildAdmin({
          logger: logger.child({ component: 'admin' }),
          metrics: this.metrics,
          readiness: this.#readiness,
          token: config.secrets.adminToken,
          status: async () => ({ ...this.status(), replay: await this.#replayStatuses() }),
          migration: () => this.#migrationStatus(),
          isClosing: () => this.#closing !== undefined,
        })
      : undefined
  }

  get addresses(): GatewayAddresses | undefined {
    return this.#addresses
  }

  status(): Record<string, unknown> {
    return {
      migration: this.config.migration.id,
      phase: this.#routing.record.phase,
      epoch: this.#routing.record.epoch,
      routing: this.#routing.record.routing,
      writes: { inFlight: this.#routing.writesInFlight, held: this.#routing.writesHeld },
      ...(this.#shadow ? { shadow: this.#shadow.summary() } : {}),
      source: { index: this.#sourceConfig.index, host: this.#sourceConfig.host },
      writeLog: this.#writeLog ? { backend: this.#writeLog.backend, instance: this.#records.instance } : undefined,
      inFlight: this.#inFlight,
      closing: this.#closing !== undefined,
      uptimeMs: Date.now() - this.#startedAt,
    }
  }

  /** What the status page shows. The migration's own status (copy, replicas, cutovers) is
   *  the control store's; without one, the page shows this gateway's phase alone. */
  async #migrationStatus(): Promise<Record<string, unknown>> {
    const [migration, replay] = await Promise.all([
      this.#control ? gatherStatus(this.config, this.#control) : Promise.resolve(null),
      this.#replayStatuses(),
    ])
    return { now: Date.now(), gateway: this.status(), migration, replay, lag: this.#lagHistory.samples() }
  }

  #buildApp(): FastifyInstance {
    const { limits } = this.config.gateway
    const app = Fastify({
      loggerInstance: this.#logger.child({ component: 'gateway' }) as FastifyBaseLogger,
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

    const auth = new ClientAuth({
      mode: this.config.gateway.auth.mode,
      acceptedKeys: this.config.secrets.gatewayApiKeys,
      upstreamKey: this.config.secrets.sourceApiKey,
      ...(this.#keyCheck ? { keyCheck: this.#keyCheck } : {}),
    })
    const data: ForwardContext = { upstream: this.#source, auth, metrics: this.metrics }
    const control: ForwardContext = { upstream: this.#sourceControl, auth, metrics: this.metrics }

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
      if (this.#closing !== undefined) {
        reply.header('connection', 'close')
        return done(vxError(E.SHUTTING_DOWN))
      }
      if (this.#inFlight >= limits.maxConcurrentRequests) {
        this.metrics.rejected.labels('concurrency').inc()
        return done(vxError(E.TOO_MANY_REQUESTS, limits.maxConcurrentRequests))
      }
      this.#inFlight++
      this.metrics.inFlight.inc()
      // Node enforces requestTimeout only until a request is handed over, not while its body
      // is still arriving: a client that stops mid-body would hold its slot for ever.
      const deadline = req.raw.complete
        ? undefined
        : setTimeout(() => {
            if (req.raw.complete) return
            // Answered already (refused before its body was read), and the body still has not
            // all arrived: the connection goes, or a client that stopped would keep it.
            if (reply.sent) {
              req.raw.socket.destroy()
              return
            }
            this.metrics.rejected.labels('request-timeout').inc()
            reply.header('connection', 'close')
            sendError(reply, vxError(E.REQUEST_TIMEOUT, limits.requestTimeoutMs), shapeOf(req))
            // The rest of the body will not be read: the connection goes once the answer is out,
            // and with it the upstream request that was reading the body.
            const socket = req.raw.socket
            socket.end()
            setTimeout(() => socket.destroy(), 1_000).unref()
          }, limits.requestTimeoutMs)
      // 'close' fires for finished and aborted responses alike, so the count cannot drift.
      reply.raw.once('close', () => {
        clearTimeout(deadline)
        this.#inFlight--
        this.metrics.inFlight.dec()
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

    const capture = this.#writeLog
      ? {
          ...data,
          log: this.#writeLog,
          shape: () => this.#shape as IndexShape,
          records: this.#records,
          logger: this.#logger,
        }
      : undefined
    // The target's answers use the target's key when one is configured (it is another
    // project's index); otherwise the client's, as for the source.
    const targetAuth = new ClientAuth({
      mode: this.config.secrets.targetApiKey === undefined ? this.config.gateway.auth.mode : 'keys',
      acceptedKeys: this.config.secrets.gatewayApiKeys,
      upstreamKey: this.config.secrets.targetApiKey,
    })
    const toTarget: ForwardContext | undefined = this.#target
      ? { upstream: this.#target, auth: new TargetAuth(auth, targetAuth), metrics: this.metrics }
      : undefined
    // After the cutover, writes to the target are captured in the reverse log, the same way,
    // so that a rollback can replay them into the source.
    const plane = this.#plane
    const reverseCommon = {
      log: this.#reverseLog as WriteLog,
      shape: () => this.#targetShape as IndexShape,
      records: this.#records,
      logger: this.#logger,
    }
    const reverse = !this.#reverseLog
      ? undefined
      : toTarget
        ? { ...toTarget, ...reverseCommon }
        : plane
          ? { auth, metrics: this.metrics, apply: (w: ParsedWrite) => plane.write(w), ...reverseCommon }
          : undefined
    // The capture path checks writes against the target's shape synchronously; a target's
    // is known once described (a target created by the copy, later), which the first write
    // to it waits for. Once known, the wait is a resolved promise.
    const targetShapeReady = plane ? () => plane.shapeReady() : this.#target ? () => this.#describeTarget() : undefined
    const withTargetShape = (inner: RouteHandlerMethod): RouteHandlerMethod =>
      targetShapeReady
        ? async function captured(req, reply) {
            await targetShapeReady()
            return inner.call(this, req, reply)
          }
        : inner
    // How the target answers a shadowed query: forwarded as bytes, or through the store plane.
    const targetUpstream = this.#target
    const targetQuery: TargetQuery | undefined =
      toTarget && targetUpstream
        ? async (req, body) => {
            const res = await targetUpstream.request(
              'POST',
              req.url,
              upstreamRequestHeaders(req.headers, toTarget.auth.upstreamKey),
              body,
            )
            return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) }
          }
        : plane
          ? (req, body) => plane.queryAnswer(req, body)
          : undefined
    /** A pgvector target answers through the store plane: reads, writes, or a refusal. */
    const fromStore = (route: (typeof DATA_ROUTES)[number]): RouteHandlerMethod | undefined => {
      if (!plane) return undefined
      if (route.kind === 'read') return plane.reader(route.op, auth)
      if (route.kind === 'write' && route.captured) return plane.writer(route.captured, auth)
      const label = this.#targetStore?.label ?? 'pgvector'
      return async () => {
        throw vxError(E.TARGET_UNSUPPORTED, route.op, label)
      }
    }
    const routing = this.#routing
    const noTarget = () =>
      vxError(
        E.CONFIG_INVALID,
        'target: routing sends requests to the target, but the config names no Pinecone target with a host nor a pgvector target',
      )
    for (const route of DATA_ROUTES) {
      const sourceForward = forwardHandler(data, route.op)
      const targetForward = toTarget ? forwardHandler(toTarget, route.op) : fromStore(route)
      const targetCaptured =
        reverse && route.kind === 'write' && route.captured
          ? withTargetShape(captureHandler(reverse, route.captured))
          : undefined
      let handler: RouteHandlerMethod
      if (route.kind === 'read') {
        const shadow = this.#shadow
        const shadowed =
          shadow && route.op === 'query' && targetQuery ? shadow.handler(this.#source, auth, targetQuery) : undefined
        handler = function read(req, reply) {
          const r = routing.record.routing
          const other = r.canaryPercent > 0 && Math.random() * 100 < r.canaryPercent
          const side = other ? (r.reads === 'source' ? 'target' : 'source') : r.reads
          if (side === 'source') {
            // While the target follows the source, some queries are compared on it too.
            if (shadowed && !other && SHADOWING.has(routing.record.phase) && (shadow as ShadowReads).pick())
              return shadowed.call(this, req, reply)
            return sourceForward.call(this, req, reply)
          }
          if (!targetForward) throw noTarget()
          return targetForward.call(this, req, reply)
        }
      } else {
        const captured =
          capture && route.kind === 'write' && route.captured ? captureHandler(capture, route.captured) : undefined
        const migrationId = this.config.migration.id
        handler = async function write(req, reply) {
          // Held here at a cutover barrier; then sent where the routing says at that moment.
          await routing.admitWrite()
          try {
            const r = routing.record
            if (r.routing.writes === 'target') {
              if (!targetForward) throw noTarget()
              if (REVERSE_CAPTURING.has(r.phase) && targetCaptured) return await targetCaptured.call(this, req, reply)
              if (REVERSE_CAPTURING.has(r.phase) && route.kind === 'uncapturable-write' && reverse) {
                throw vxError(E.CAPTURE_UNSUPPORTED, `${route.method} ${route.url}`, migrationId, r.phase)
              }
              return await targetForward.call(this, req, reply)
            }
            if (CAPTURING.has(r.phase)) {
              if (route.kind === 'uncapturable-write')
                throw vxError(E.CAPTURE_UNSUPPORTED, `${route.method} ${route.url}`, migrationId, r.phase)
              if (!captured)
                throw vxError(
                  E.CONFIG_INVALID,
                  `migration phase ${r.phase} captures writes, and this gateway has no write log (writelog.*); restart it with one`,
                )
              return await captured.call(this, req, reply)
            }
            return await sourceForward.call(this, req, reply)
          } finally {
            routing.finishWrite()
          }
        }
      }
      app.route({ method: route.method, url: route.url, config: { op: route.op }, handler })
    }
    registerControlShim(app, {
      ...control,
      indexName: this.#sourceConfig.index,
      publicUrl: (req) => this.#publicUrl(req),
      describeFromPrimary: (req) => this.#describeFromPrimary(req),
    })

    app.addHook('onResponse', (req, reply, done) => {
      const op = (req.routeOptions.config as { op?: string }).op ?? 'other'
      this.metrics.requests.labels(op, req.method, String(reply.statusCode)).inc()
      done()
    })

    app.get('/healthz', async () => ({ status: 'ok' }))
    app.get('/readyz', async (_req, reply) => {
      const r = await this.#readiness.check()
      const ready = r.ready && this.#closing === undefined
      return reply.code(ready ? 200 : 503).send({ ready, detail: this.#closing ? 'shutting down' : r.detail })
    })

    // Routes the gateway does not model are forwarded, or refused while writes are captured.
    app.setNotFoundHandler(
      unmodelledHandler({
        routing,
        migrationId: this.config.migration.id,
        indexName: this.#sourceConfig.index,
        source: data,
        target: toTarget,
        storeLabel: plane ? (this.#targetStore?.label ?? 'pgvector') : undefined,
      }),
    )
    app.setErrorHandler((err, req, reply) => {
      const error = toVecshiftError(err)
      if (error.statusCode >= 500) {
        req.log.warn({ err: error, cause: error.cause, op: req.routeOptions.url, method: req.method }, error.message)
      }
      sendError(reply, error, shapeOf(req))
    })
    return app
  }

  #describing: Promise<IndexShape> | undefined

  /** The target's shape, asked once (again after a failure): of the pgvector store, or of
   *  the Pinecone target's control plane. */
  #describeTarget(): Promise<IndexShape> {
    if (this.#targetShape) return Promise.resolve(this.#targetShape)
    if (this.#describing) return this.#describing
    const store = this.#targetStore
    const asked = store
      ? store
          .describe()
          .then(
            (d): IndexShape => ({ name: d.name, dimension: d.dimension, metric: d.metric, vectorType: d.vectorType }),
          )
      : describeSourceIndex(
          this.#targetControl as Upstream,
          (this.config.target as PineconeStoreConfig).index,
          (this.config.secrets.targetApiKey ?? this.config.secrets.sourceApiKey) as string,
          this.#logger,
          2,
        )
    this.#describing = asked
      .then((shape) => {
        this.#targetShape = shape
        return shape
      })
      .finally(() => {
        this.#describing = undefined
      })
    return this.#describing
  }

  /** The fronted index as the primary describes it, once the target is primary (the old
   *  index may be gone by then): a Pinecone target's IndexModel renamed, or one made from
   *  the target's shape. Undefined while the source is primary. */
  async #describeFromPrimary(req: FastifyRequest): Promise<Record<string, unknown> | undefined> {
    if (this.#routing.record.routing.writes !== 'target') return undefined
    const version = parseApiVersion(req.headers['x-pinecone-api-version'])
    const targetControl = this.#targetControl
    if (targetControl && this.config.target?.type === 'pinecone') {
      const key = this.config.secrets.targetApiKey
      const headers = upstreamRequestHeaders(req.headers, key)
      delete headers['accept-encoding']
      const res = await targetControl.request(
        'GET',
        `/indexes/${encodeURIComponent(this.config.target.index)}`,
        headers,
        null,
      )
      if (res.statusCode === 200) {
        const doc = (await res.body.json()) as Record<string, unknown>
        doc.name = this.#sourceConfig.index
        return doc
      }
      await res.body.dump()
    }
    const shape = await this.#describeTarget()
    return frontedIndexModel(this.#sourceConfig.index, shape, version, this.#publicUrl(req))
  }

  #publicUrl(req: FastifyRequest): string {
    return (
      this.config.gateway.publicUrl?.replace(/\/+$/, '') ??
      `http://${req.headers.host ?? this.#addresses?.url ?? 'localhost'}`
    )
  }

  async listen(): Promise<GatewayAddresses> {
    const { gateway, admin } = this.config
    if (this.#control) {
      let record = await this.#control.read()
      if (this.config.migration.phase === 'capture' && record.phase === 'passthrough') {
        // The config is how an operator starts capturing; the record follows it once.
        record = await this.#control.update(record.epoch, (r) =>
          transitioned(r, 'capture', `gateway ${this.#records.instance}`, 'migration.phase: capture in the config'),
        )
      }
      this.#routing.set(record)
      this.#stops.push(this.#control.watch((r) => this.#onRecord(r), this.config.control.pollMs))
    }
    const phase = this.#routing.record.phase
    if (CAPTURING.has(phase) && this.#writeLog === undefined) {
      throw new VecshiftError(E.CONFIG_INVALID, [
        `migration phase ${phase} (control store ${this.config.control.dir}) captures writes: the gateway needs a write log (writelog.*)`,
      ])
    }
    if (this.#targetStore || (this.#reverseLog && this.#targetControl)) {
      // Requests to the target are checked against its shape, as Pinecone would check them.
      // Before the copy the target may not exist yet (a pgvector table, or an index the copy
      // creates from a collection): it is described when routing reaches it.
      await this.#describeTarget().catch((err: unknown) => {
        if (!(err instanceof VecshiftError && err.code === E.STORE_NOT_FOUND.code)) throw err
        this.#logger.info(
          { target: this.#targetStore?.label ?? (this.config.target as PineconeStoreConfig).index },
          'the target does not exist yet; it is described when routing reaches it',
        )
      })
    }
    if (this.#writeLog) {
      // Writes are validated against the index before anything is logged, so its shape is
      // needed before the first request.
      this.#shape = await describeSourceIndex(
        this.#sourceControl,
        this.#sourceConfig.index,
        this.config.secrets.sourceApiKey as string,
        this.#logger,
      )
    }
    await this.app.listen({ host: gateway.listen.host, port: gateway.listen.port })
    let adminUrl: string | undefined
    if (this.admin) {
      await this.admin.listen({ host: admin.listen.host, port: admin.listen.port })
      adminUrl = urlOf(this.admin)
    }
    this.#addresses = { url: urlOf(this.app), adminUrl }
    if (this.admin) {
      this.#lagHistory.start(1_000)
      this.#stops.push(() => this.#lagHistory.stop())
    }
    if (this.#control) {
      await this.#heartbeat()
      const every = Math.max(50, Math.floor(this.config.control.leaseMs / 3))
      const timer = setInterval(() => void this.#heartbeat(), every)
      timer.unref()
      this.#stops.push(() => clearInterval(timer))
      // Gateways that died with writes in flight are found and their orphaned intents
      // settled at once (a restarted gateway finds its dead predecessor here).
      if (this.#writeLog || this.#reverseLog) {
        await this.#reapDead()
        const reaper = setInterval(
          () => void this.#reapDead(),
          Math.max(250, Math.floor(this.config.control.leaseMs / 2)),
        )
        reaper.unref()
        this.#stops.push(() => clearInterval(reaper))
      }
      this.#onRecord(this.#routing.record, true)
      // Shadow comparisons go to the control store too, for `vecshift status`.
      const shadow = this.#shadow
      if (shadow) {
        const reporter = new ProgressReporter(this.#control, `shadow:${this.#records.instance}`, 2_000, this.#logger)
        const tick = setInterval(
          () =>
            reporter.update({
              ...shadow.summary(),
              replica: this.#records.instance,
              updatedAt: new Date().toISOString(),
            }),
          2_000,
        )
        tick.unref()
        this.#stops.push(() => clearInterval(tick))
      }
    }
    this.#logger.info(
      {
        ...this.#addresses,
        source: this.#sourceConfig.host,
        phase: this.#routing.record.phase,
        epoch: this.#routing.record.epoch,
      },
      'gateway listening',
    )
    return this.#addresses
  }

  /** A record from the control store (watch): applied if newer; a barrier is answered with
   *  a fence once this replica's writes in flight are done. */
  #onRecord(record: MigrationRecord, initial = false): void {
    if (!initial && !this.#routing.set(record)) return
    const r = this.#routing.record
    this.#logger.info({ phase: r.phase, epoch: r.epoch, routing: r.routing }, 'routing')
    // Tell the others at once which epoch this replica acts on (a cutover waits for that).
    if (!initial) void this.#heartbeat()
    if (!r.routing.holdWrites) return
    // While writes are held, look for the next change often: the hold is the pause clients see.
    const fast = this.#control?.watch((next) => this.#onRecord(next), 10)
    const stopFast = () => fast?.()
    this.#stops.push(stopFast)
    const epoch = r.epoch
    void this.#routing
      .drained()
      .then(async () => {
        if (this.#routing.record.epoch !== epoch) return
        let position: string | undefined
        // The fence goes where the replayer that must drain reads: the write log at a
        // cutover, the reverse log at a rollback.
        const fenceLog = r.phase === 'rollback' ? this.#reverseLog : this.#writeLog
        if (fenceLog) {
          const fence: FenceRecord = {
            instance: this.#records.instance,
            seq: this.#records.nextSeq(),
            ts: Date.now(),
            apiVersion: '',
            requestId: `fence-${epoch}`,
            namespace: '',
            op: 'fence',
            fenceId: `${this.config.migration.id}-epoch-${epoch}-${this.#records.instance}`,
          }
          ;[position] = await fenceLog.append([fence])
        }
        this.#fence = { epoch, position }
        await this.#heartbeat()
      })
      .catch((err: unknown) =>
        this.#logger.error({ err, epoch }, 'could not append the cutover fence; the cutover will time out and abort'),
      )
    const poll = setInterval(() => {
      if (!this.#routing.record.routing.holdWrites) {
        clearInterval(poll)
        stopFast()
      }
    }, 10)
    poll.unref()
  }

  /**
   * Another gateway is dead when, on this host, its pid is not running, or, on another host,
   * its lease expired without it leaving (a clean shutdown leaves) longer ago than an upstream
   * request may take. Its intents that have no
   * outcome yet will never get one: an `abandon` record in each log this gateway writes
   * tells the replayer so, instead of it waiting replay.outcomeWaitMs for each (it repairs
   * their ids from the source, as for any unknown outcome). The dead replica then leaves
   * the control store, so it is reaped once; a failed append is tried again next round.
   */
  async #reapDead(): Promise<void> {
    if (!this.#control || this.#closing || this.#reaping) return
    this.#reaping = true
    try {
      const now = Date.now()
      const me = hostname()
      const logs = [this.#writeLog, this.#reverseLog].filter((l): l is WriteLog => l !== undefined)
      for (const lease of await this.#control.replicas()) {
        if (lease.replica === this.#records.instance) continue
        // Across hosts only the lease can tell, and a replica cut off from the control store
        // may still be alive with writes in flight: it is judged dead once any request it
        // forwarded has timed out too (its own outcome, if it lives, is then `unknown` anyway).
        const dead =
          lease.host === me
            ? !processAlive(lease.pid)
            : Date.parse(lease.expiresAt) + this.config.gateway.upstream.requestTimeoutMs < now
        if (!dead) continue
        const abandon: AbandonRecord = {
          instance: this.#records.instance,
          seq: this.#records.nextSeq(),
          ts: Date.now(),
          apiVersion: '',
          requestId: `abandon-${lease.replica}`,
          namespace: '',
          op: 'abandon',
          abandoned: lease.replica,
        }
        await Promise.all(logs.map((log) => log.append([abandon])))
        await this.#control.leave(lease.replica)
        this.#logger.warn(
          { replica: lease.replica, host: lease.host, pid: lease.pid, expiresAt: lease.expiresAt },
          'a gateway replica is gone; its writes without an outcome are marked unknown for the replayer',
        )
      }
    } catch (err) {
      this.#logger.warn({ err }, 'could not settle the writes of a gone gateway replica; trying again')
    } finally {
      this.#reaping = false
    }
  }

  #reaping = false

  /** Renews this replica's lease; one that cannot be renewed for leaseMs stops writes. */
  async #heartbeat(): Promise<void> {
    if (!this.#control || this.#closing) return
    try {
      await this.#control.heartbeat(
        {
          replica: this.#records.instance,
          host: hostname(),
          pid: process.pid,
          epoch: this.#routing.record.epoch,
          heldWrites: this.#routing.writesHeld,
          inFlightWrites: this.#routing.writesInFlight,
          ...(this.#fence ? { fence: this.#fence } : {}),
        },
        this.config.control.leaseMs,
      )
      this.#lastRenewal = Date.now()
      this.#routing.setLeaseLost(undefined)
    } catch (err) {
      const age = Date.now() - this.#lastRenewal
      this.#logger.warn({ err, ageMs: age }, 'could not renew the gateway lease')
      if (age > this.config.control.leaseMs)
        this.#routing.setLeaseLost(`not renewed for ${age} ms: ${(err as Error).message}`)
    }
  }

  /** Stops accepting requests, lets in-flight ones finish (up to shutdownTimeoutMs, then
   *  closes the remaining connections), and releases the upstream pools. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    for (const stop of this.#stops.splice(0)) stop()
    const deadline = this.config.gateway.shutdownTimeoutMs
    this.#logger.info({ inFlight: this.#inFlight, deadlineMs: deadline }, 'gateway draining')
    const timer = setTimeout(() => {
      this.#logger.warn({ inFlight: this.#inFlight }, 'drain deadline passed; closing remaining connections')
      this.app.server.closeAllConnections()
    }, deadline)
    timer.unref()
    // server.close() closes only the connections idle at that moment; a keep-alive
    // connection whose request finishes later would hold the drain open until the deadline.
    const sweeper = setInterval(() => this.app.server.closeIdleConnections(), 50)
    sweeper.unref()
    try {
      await this.app.close()
      await this.admin?.close()
    } finally {
      clearTimeout(timer)
      clearInterval(sweeper)
      // The pools close once their requests are done; one still sending a body its client
      // abandoned would hold them open, so past the drain deadline they are destroyed.
      const upstreams = [this.#source, this.#sourceControl, this.#target, this.#targetControl].filter(
        (u): u is Upstream => u !== undefined,
      )
      const closing = Promise.allSettled(upstreams.map((u) => u.close()))
      const late = setTimeout(() => {
        for (const u of upstreams) void u.destroy().catch(() => undefined)
      }, deadline)
      late.unref()
      await Promise.allSettled([closing, this.#control?.leave(this.#records.instance)])
      clearTimeout(late)
    }
    this.#logger.info('gateway closed')
  }
}

/** Probes answered without a key (kubelets and load balancers hold none). */
const UNAUTHENTICATED_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz'])

function isControlPath(url: string): boolean {
  for (const prefix of CONTROL_PREFIXES) {
    if (url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`)) return true
  }
  return false
}

function shapeOf(req: FastifyRequest): 'data' | 'control' {
  return isControlPath(req.url) ? 'control' : 'data'
}

function urlOf(app: FastifyInstance): string {
  const address = app.server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${host}:${address.port}`
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

/** For the target: the client is let in as for the source; the upstream key is the target's. */
class TargetAuth extends ClientAuth {
  constructor(
    private readonly client: ClientAuth,
    private readonly target: ClientAuth,
  ) {
    super({ mode: client.mode, acceptedKeys: [], upstreamKey: undefined })
  }

  override allows(headers: Parameters<ClientAuth['allows']>[0]): boolean {
    return this.client.allows(headers)
  }

  override get upstreamKey(): string | undefined {
    return this.target.upstreamKey ?? this.client.upstreamKey
  }
}
