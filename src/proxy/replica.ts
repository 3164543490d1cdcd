import { hostname } from 'node:os'
import type { Config } from '../config/schema.js'
import type { ControlStore } from '../control/contract.js'
import { type CoordinatorLease, LEASE_REPORT } from '../control/coordinator-lease.js'
import {
  type CutoverAttempt,
  endPause,
  type MigrationRecord,
  type Phase,
  runningAttempt,
  transitioned,
} from '../control/record.js'
import { E, VecshiftError } from '../errors.js'
import type { Logger } from '../logger.js'
import { processAlive } from '../process-alive.js'
import type { WriteLog } from '../writelog/contract.js'
import type { AbandonRecord, FenceRecord } from '../writelog/record.js'
import type { Router } from './router.js'
import type { RecordFactory } from './write-path.js'

// One gateway replica's life in the control store: it joins (takes the record, follows its
// changes), renews its lease, answers a cutover barrier with a fence once its writes in
// flight are done, settles the writes of replicas that died, and leaves. A replica that
// cannot renew its lease for leaseMs stops taking writes (docs/architecture.md, invariant 6):
// it may be acting on routing the others have moved past.

export interface ReplicaOptions {
  readonly control: ControlStore
  readonly router: Router
  readonly records: RecordFactory
  readonly writeLog: WriteLog | undefined
  readonly reverseLog: WriteLog | undefined
  readonly logger: Logger
}

export class Replica {
  readonly #o: ReplicaOptions & {
    readonly migrationId: string
    readonly leaseMs: number
    /** How often the control store is asked for changes (watchers that cannot be told). */
    readonly pollMs: number
    /** A replica on another host is dead once its lease expired this much longer ago: any
     *  request it forwarded has timed out by then. */
    readonly requestTimeoutMs: number
  }
  readonly #stops: Array<() => void> = []
  #fence: { epoch: number; position: string | undefined } | undefined
  #lastRenewal = Date.now()
  #reaping = false
  #stopped = false

  constructor(config: Config, options: ReplicaOptions) {
    this.#o = {
      ...options,
      migrationId: config.migration.id,
      leaseMs: config.control.leaseMs,
      pollMs: config.control.pollMs,
      requestTimeoutMs: config.gateway.upstream.requestTimeoutMs,
    }
  }

  /** Takes the record and follows its changes. A config that says capture moves a migration
   *  still in passthrough to capture, once: the config is how an operator starts capturing. */
  async join(configPhase: Phase): Promise<MigrationRecord> {
    const { control, router } = this.#o
    let record = await control.read()
    if (configPhase === 'capture' && record.phase === 'passthrough') {
      await this.#everyReplicaCanCapture(record.migration)
      record = await control.update(record.epoch, (r) =>
        transitioned(r, 'capture', `gateway ${this.#o.records.instance}`, 'migration.phase: capture in the config'),
      )
    }
    router.flip(record)
    this.#stops.push(control.watch((r) => this.#onRecord(r), this.#o.pollMs))
    return router.record
  }

  /** Refuses to move the migration into capture while a live replica runs without a write
   *  log: it could not follow, and its writes would fail (it would have to be restarted). */
  async #everyReplicaCanCapture(migration: string): Promise<void> {
    const now = Date.now()
    const stuck = (await this.#o.control.replicas()).find(
      (l) => l.replica !== this.#o.records.instance && l.canCapture === false && Date.parse(l.expiresAt) > now,
    )
    if (stuck)
      throw new VecshiftError(E.REPLICA_CANNOT_FOLLOW, [migration, 'capture', stuck.replica, stuck.pid, stuck.host])
  }

  /** Once the gateway listens: the lease, the reaper of dead replicas, and the current
   *  record acted on (a barrier already in force is answered). */
  async start(): Promise<void> {
    await this.#heartbeat()
    this.#every(Math.max(50, Math.floor(this.#o.leaseMs / 3)), () => this.#heartbeat())
    // Gateways that died with writes in flight are found and their orphaned intents
    // settled at once (a restarted gateway finds its dead predecessor here).
    if (this.#o.writeLog || this.#o.reverseLog) {
      await this.#reapDead()
      this.#every(Math.max(250, Math.floor(this.#o.leaseMs / 2)), () => this.#reapDead())
    }
    this.#onRecord(this.#o.router.record, true)
  }

  /** Stops following the record and renewing the lease (the lease then runs out). */
  stop(): void {
    this.#stopped = true
    for (const stop of this.#stops.splice(0)) stop()
  }

  /** Leaves the control store: the others stop waiting for this replica at a barrier. */
  leave(): Promise<void> {
    return this.#o.control.leave(this.#o.records.instance)
  }

  #every(ms: number, tick: () => Promise<void>): void {
    const timer = setInterval(() => void tick(), ms)
    timer.unref()
    this.#stops.push(() => clearInterval(timer))
  }

  /** A record from the control store: applied if newer; a barrier is answered with a fence
   *  once this replica's writes in flight are done. */
  #onRecord(record: MigrationRecord, initial = false): void {
    const { router, control, logger } = this.#o
    if (!initial && !router.flip(record)) return
    const r = router.record
    logger.info({ phase: r.phase, epoch: r.epoch, routing: r.routing }, 'routing')
    // Tell the others at once which epoch this replica acts on (a cutover waits for that).
    if (!initial) void this.#heartbeat()
    if (!r.routing.holdWrites) return
    // While writes are held, look for the next change often: the hold is the pause clients see.
    const fast = control.watch((next) => this.#onRecord(next), 10)
    this.#stops.push(fast)
    const epoch = r.epoch
    void router.state
      .drained()
      .then(async () => {
        if (router.record.epoch !== epoch) return
        this.#fence = { epoch, position: await this.#appendFence(r.phase, epoch) }
        await this.#heartbeat()
      })
      .catch((err: unknown) =>
        logger.error({ err, epoch }, 'could not append the cutover fence; the cutover will time out and abort'),
      )
    const watchdog = new PauseWatchdog(r, this.#o, this.#o.records.instance)
    const poll = setInterval(() => {
      if (!router.record.routing.holdWrites || router.record.epoch !== epoch) {
        clearInterval(poll)
        fast()
        return
      }
      void watchdog.check()
    }, 10)
    poll.unref()
  }

  /** The fence goes where the replayer that must drain reads: the write log at a cutover,
   *  the reverse log at a rollback. Undefined when this replica logs nothing there. */
  async #appendFence(phase: Phase, epoch: number): Promise<string | undefined> {
    const log = phase === 'rollback' ? this.#o.reverseLog : this.#o.writeLog
    if (!log) return undefined
    const { records } = this.#o
    const fence: FenceRecord = {
      instance: records.instance,
      seq: records.nextSeq(),
      ts: Date.now(),
      apiVersion: '',
      requestId: `fence-${epoch}`,
      namespace: '',
      op: 'fence',
      fenceId: `${this.#o.migrationId}-epoch-${epoch}-${records.instance}`,
    }
    const [position] = await log.append([fence])
    return position
  }

  /** Renews this replica's lease; one that cannot be renewed for leaseMs stops writes. */
  async #heartbeat(): Promise<void> {
    if (this.#stopped) return
    const { control, router, records, leaseMs, logger } = this.#o
    try {
      await control.heartbeat(
        {
          replica: records.instance,
          host: hostname(),
          pid: process.pid,
          epoch: router.record.epoch,
          heldWrites: router.state.writesHeld,
          inFlightWrites: router.state.writesInFlight,
          canCapture: this.#o.writeLog !== undefined,
          ...(this.#fence ? { fence: this.#fence } : {}),
        },
        leaseMs,
      )
      this.#lastRenewal = Date.now()
      router.state.setLeaseLost(undefined)
    } catch (err) {
      const age = Date.now() - this.#lastRenewal
      logger.warn({ err, ageMs: age }, 'could not renew the gateway lease')
      if (age > leaseMs) router.state.setLeaseLost(`not renewed for ${age} ms: ${(err as Error).message}`)
    }
  }

  /**
   * Another gateway is dead when, on this host, its pid is not running, or, on another host,
   * its lease expired without it leaving (a clean shutdown leaves) longer ago than an upstream
   * request may take. Its intents that have no outcome yet will never get one: an `abandon`
   * record in each log this gateway writes tells the replayer so, instead of it waiting
   * replay.outcomeWaitMs for each (it repairs their ids from the source, as for any unknown
   * outcome). The dead replica then leaves the control store, so it is reaped once; a failed
   * append is tried again next round.
   */
  async #reapDead(): Promise<void> {
    if (this.#stopped || this.#reaping) return
    this.#reaping = true
    const { control, records, logger } = this.#o
    try {
      const now = Date.now()
      const me = hostname()
      const logs = [this.#o.writeLog, this.#o.reverseLog].filter((l): l is WriteLog => l !== undefined)
      for (const lease of await control.replicas()) {
        if (lease.replica === records.instance) continue
        // Across hosts only the lease can tell, and a replica cut off from the control store
        // may still be alive with writes in flight: it is judged dead once any request it
        // forwarded has timed out too (its own outcome, if it lives, is then `unknown` anyway).
        const dead =
          lease.host === me ? !processAlive(lease.pid) : Date.parse(lease.expiresAt) + this.#o.requestTimeoutMs < now
        if (!dead) continue
        const abandon: AbandonRecord = {
          instance: records.instance,
          seq: records.nextSeq(),
          ts: Date.now(),
          apiVersion: '',
          requestId: `abandon-${lease.replica}`,
          namespace: '',
          op: 'abandon',
          abandoned: lease.replica,
        }
        await Promise.all(logs.map((log) => log.append([abandon])))
        await control.leave(lease.replica)
        logger.warn(
          { replica: lease.replica, host: lease.host, pid: lease.pid, expiresAt: lease.expiresAt },
          'a gateway replica is gone; its writes without an outcome are marked unknown for the replayer',
        )
      }
    } catch (err) {
      logger.warn({ err }, 'could not settle the writes of a gone gateway replica; trying again')
    } finally {
      this.#reaping = false
    }
  }
}

/**
 * Ends a pause its coordinator left behind. Every replica holding writes checks, while it
 * holds them, whether the attempt passed its hard deadline, or its coordinator's lease ran
 * out, or (on this host) its process is gone; then it moves the record back to where the
 * pause started, by compare-and-set on the pause's epoch. Only one replica's change lands; a
 * flip that landed first wins instead (it is never undone), and every replica follows the
 * record either way. Held writes are then released where the record says, with no error.
 */
class PauseWatchdog {
  readonly #record: MigrationRecord
  readonly #o: ReplicaOptions
  readonly #by: string
  #busy = false
  #leaseReadAt = 0

  constructor(record: MigrationRecord, o: ReplicaOptions, replica: string) {
    this.#record = record
    this.#o = o
    this.#by = `gateway ${replica}`
  }

  async check(): Promise<void> {
    const attempt = runningAttempt(this.#record)
    if (!attempt || this.#busy) return
    this.#busy = true
    try {
      const why = await this.#orphaned(attempt)
      if (why === undefined) return
      const epoch = this.#record.epoch
      await this.#o.control.update(epoch, (r) => endPause(r, this.#by, why))
      this.#o.logger.warn(
        { attempt: attempt.id, epoch, reason: why },
        'ended a write pause its coordinator left behind',
      )
    } catch (err) {
      // Another replica, the coordinator or an operator changed the record first: follow it.
      if (!(err instanceof VecshiftError && err.code === E.CONTROL_CONFLICT.code))
        this.#o.logger.warn({ err }, 'could not end an orphaned write pause; trying again')
    } finally {
      this.#busy = false
    }
  }

  /** Why the attempt's coordinator can no longer end its pause, if it cannot. */
  async #orphaned(a: CutoverAttempt): Promise<string | undefined> {
    const now = Date.now()
    if (a.deadline !== undefined && now > Date.parse(a.deadline))
      return `the write pause passed its deadline (${a.deadline}) without a flip; its coordinator is gone or stuck`
    if (a.owner && a.owner.host === hostname() && !processAlive(a.owner.pid))
      return `its coordinator (pid ${a.owner.pid} on ${a.owner.host}) died during the write pause`
    // The lease is a read of the control store: not at every tick.
    if (now - this.#leaseReadAt < LEASE_READ_MS) return undefined
    this.#leaseReadAt = now
    const lease = (await this.#o.control.reports())[LEASE_REPORT]?.value as CoordinatorLease | undefined
    // The lease names the attempt once the barrier has started it; before its first renewal
    // after that, the owner's host and pid say it is the same process.
    const same = lease?.attempt === a.id || (lease?.host === a.owner?.host && lease?.pid === a.owner?.pid)
    if (lease && same && Date.parse(lease.expiresAt) < now)
      return `its coordinator's lease (pid ${lease.pid} on ${lease.host}) ran out at ${lease.expiresAt}`
    return undefined
  }
}

/** How often a replica holding writes reads the coordinator's lease. */
const LEASE_READ_MS = 250
