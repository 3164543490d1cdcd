import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/schema.js'
import type { ControlStore } from '../control/contract.js'
import { initialRecord } from '../control/record.js'
import { E, VecshiftError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { ReplayStatus } from '../replay/status.js'
import { gatherStatus } from '../status/gather.js'
import type { VectorStore } from '../stores/contract.js'
import type { IndexShape } from '../wire/pinecone/write-requests.js'
import type { WriteLog } from '../writelog/contract.js'
import { buildAdmin } from './admin.js'
import { ClientAuth } from './auth.js'
import { buildHttpApp, type HttpApp } from './http-app.js'
import { KeyCheck } from './key-check.js'
import { LagHistory, replayStatusReader } from './lag-history.js'
import { GatewayMetrics } from './metrics.js'
import { ReadinessProbe } from './readiness.js'
import { Replica } from './replica.js'
import { registerRestRoutes } from './rest-routes.js'
import { Router } from './router.js'
import { CAPTURING, RoutingState } from './routing.js'
import { reportShadowReads, ShadowReads } from './shadow.js'
import { closeSides, describeIndexes, keyAuthority, openSides, primaryOf, type Sides } from './sides.js'
import { RecordFactory } from './write-path.js'

// The gateway's composition root: wires the parts and owns the start and stop order.
//   sides.ts        the source and target as the gateway reaches them
//   router.ts       where each request goes (reads, writes, holds at a barrier)
//   replica.ts      this replica's lease, the record it follows, fences, dead replicas
//   write-path.ts   the capture sequence, transport-neutral; capture.ts its REST adapter
//   http-app.ts     the REST listener's limits, auth and probes; rest-routes.ts its routes
//                   (data-routes.ts, control-shim.ts, unmodelled.ts)
// docs/architecture.md, "The gateway", draws the same map.

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
  readonly #deps: GatewayDeps
  readonly #sides: Sides
  readonly #router: Router
  readonly #records = new RecordFactory()
  readonly #http: HttpApp
  readonly #readiness: ReadinessProbe
  readonly #replica: Replica | undefined
  readonly #replayStatuses: () => Promise<ReplayStatus[]>
  readonly #lagHistory: LagHistory
  readonly #shadow: ShadowReads | undefined
  readonly #keyCheck: KeyCheck | undefined
  readonly #stops: Array<() => void> = []
  readonly #startedAt = Date.now()
  #sourceShape: IndexShape | undefined
  #closing: Promise<void> | undefined
  #addresses: GatewayAddresses | undefined

  constructor(config: Config, logger: Logger, deps: GatewayDeps = {}) {
    this.config = config
    this.#logger = logger
    const { gateway, migration } = config
    const sides = openSides(config, deps.targetStore, logger)
    this.#sides = sides
    if (migration.phase === 'capture' && deps.writeLog === undefined)
      throw new VecshiftError(E.CONFIG_INVALID, ['migration.phase: "capture" needs a write log (writelog.*)'])
    const hasTarget = sides.target !== undefined || sides.plane !== undefined
    this.#deps = { ...deps, ...(hasTarget ? {} : { reverseLog: undefined }) }
    // Epoch 0: whatever the control store holds (epoch 1 and up) replaces it at listen().
    const state = new RoutingState({ ...initialRecord(migration.id, migration.phase), epoch: 0 }, gateway.cutover)
    this.#router = new Router(state, {
      migrationId: migration.id,
      capturesSource: deps.writeLog !== undefined,
      capturesTarget: this.#deps.reverseLog !== undefined,
      hasTarget,
    })
    this.#replayStatuses = replayStatusReader(config.replay.dataDir, migration.id)
    this.metrics = new GatewayMetrics(
      { migration: migration.id },
      this.#replayStatuses,
      gateway.auth.mode === 'passthrough' ? () => this.#keyCheck?.size ?? 0 : undefined,
    )
    this.#lagHistory = new LagHistory(this.#replayStatuses)
    this.#shadow =
      gateway.shadow.percent > 0 && hasTarget
        ? new ShadowReads(gateway.shadow, [this.metrics.registry], logger.child({ component: 'shadow' }))
        : undefined
    // Passthrough auth: keys are confirmed with the index that takes them.
    this.#keyCheck =
      gateway.auth.mode === 'passthrough'
        ? KeyCheck.configured(
            gateway.auth,
            () => keyAuthority(sides, config, this.#router.record.routing.writes),
            (r) => this.metrics.keyChecks.labels(r).inc(),
          )
        : undefined
    this.#readiness = new ReadinessProbe(
      () => primaryOf(sides, config, this.#router.record.routing.writes),
      gateway.readinessIntervalMs,
    )
    const auth = new ClientAuth({
      mode: gateway.auth.mode,
      acceptedKeys: config.secrets.gatewayApiKeys,
      upstreamKey: config.secrets.sourceApiKey,
      ...(this.#keyCheck ? { keyCheck: this.#keyCheck } : {}),
    })
    this.#http = buildHttpApp({
      limits: gateway.limits,
      logger,
      auth,
      metrics: this.metrics,
      readiness: this.#readiness,
      closing: () => this.#closing !== undefined,
    })
    this.app = this.#http.app
    registerRestRoutes(this.app, {
      config,
      sides,
      router: this.#router,
      auth,
      metrics: this.metrics,
      records: this.#records,
      logger,
      writeLog: deps.writeLog,
      reverseLog: this.#deps.reverseLog,
      sourceShape: () => this.#sourceShape as IndexShape,
      shadow: this.#shadow,
      publicUrl: (req) =>
        gateway.publicUrl?.replace(/\/+$/, '') ?? `http://${req.headers.host ?? this.#addresses?.url ?? 'localhost'}`,
    })
    const { writeLog, reverseLog } = this.#deps
    this.#replica = deps.control
      ? new Replica(config, {
          control: deps.control,
          router: this.#router,
          records: this.#records,
          writeLog,
          reverseLog,
          logger,
        })
      : undefined
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
    const r = this.#router.record
    const { sourceConfig } = this.#sides
    return {
      migration: this.config.migration.id,
      phase: r.phase,
      epoch: r.epoch,
      routing: r.routing,
      writes: { inFlight: this.#router.state.writesInFlight, held: this.#router.state.writesHeld },
      ...(this.#shadow ? { shadow: this.#shadow.summary() } : {}),
      source: { index: sourceConfig.index, host: sourceConfig.host },
      writeLog: this.#deps.writeLog
        ? { backend: this.#deps.writeLog.backend, instance: this.#records.instance }
        : undefined,
      inFlight: this.#http.inFlight(),
      closing: this.#closing !== undefined,
      uptimeMs: Date.now() - this.#startedAt,
    }
  }

  async listen(): Promise<GatewayAddresses> {
    const { gateway, admin } = this.config
    await this.#replica?.join(this.config.migration.phase)
    const phase = this.#router.record.phase
    if (CAPTURING.has(phase) && this.#deps.writeLog === undefined) {
      throw new VecshiftError(E.CONFIG_INVALID, [
        `migration phase ${phase} (control store ${this.config.control.dir}) captures writes: the gateway needs a ` +
          'write log (writelog.*)',
      ])
    }
    this.#sourceShape = await describeIndexes(
      this.#sides,
      this.config,
      { source: this.#deps.writeLog !== undefined, target: this.#deps.reverseLog !== undefined },
      this.#logger,
    )
    await this.app.listen({ host: gateway.listen.host, port: gateway.listen.port })
    if (this.admin) await this.admin.listen({ host: admin.listen.host, port: admin.listen.port })
    this.#addresses = { url: urlOf(this.app), adminUrl: this.admin ? urlOf(this.admin) : undefined }
    if (this.admin) {
      this.#lagHistory.start(1_000)
      this.#stops.push(() => this.#lagHistory.stop())
    }
    if (this.#replica) await this.#replica.start()
    if (this.#shadow && this.#deps.control)
      this.#stops.push(reportShadowReads(this.#shadow, this.#deps.control, this.#records.instance, this.#logger))
    const r = this.#router.record
    this.#logger.info(
      { ...this.#addresses, source: this.#sides.sourceConfig.host, phase: r.phase, epoch: r.epoch },
      'gateway listening',
    )
    return this.#addresses
  }

  /** Stops accepting requests, lets in-flight ones finish (up to shutdownTimeoutMs, then
   *  closes the remaining connections), and releases the upstream pools. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#replica?.stop()
    for (const stop of this.#stops.splice(0)) stop()
    const deadlineMs = this.config.gateway.shutdownTimeoutMs
    try {
      await this.#http.drain(deadlineMs)
      await this.admin?.close()
    } finally {
      await Promise.allSettled([closeSides(this.#sides, deadlineMs), this.#replica?.leave()])
    }
    this.#logger.info('gateway closed')
  }

  /** What the status page shows. The migration's own status (copy, replicas, cutovers) is
   *  the control store's; without one, the page shows this gateway's phase alone. */
  async #migrationStatus(): Promise<Record<string, unknown>> {
    const control = this.#deps.control
    const [migration, replay] = await Promise.all([
      control ? gatherStatus(this.config, control) : Promise.resolve(null),
      this.#replayStatuses(),
    ])
    return { now: Date.now(), gateway: this.status(), migration, replay, lag: this.#lagHistory.samples() }
  }
}

function urlOf(app: FastifyInstance): string {
  const address = app.server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${host}:${address.port}`
}
