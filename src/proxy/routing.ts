import { E, VecshiftError } from '../errors.js'
import type { MigrationRecord, Phase } from '../control/record.js'

// The gateway's view of the migration record: which side serves reads and writes, whether
// writes are held at the cutover barrier, and how many writes are in flight. Routing
// changes take effect for the next request, with no restart: a write in flight finishes
// where it started, and the barrier waits for those.

/** Phases in which writes to the source are captured in the write log. */
/** Phases in which the target follows the source (the replayer applies the log to it), so
 *  comparing its answers with the source's means something. */
export const SHADOWING: ReadonlySet<Phase> = new Set(['capture', 'cutover', 'source-primary'])

export const CAPTURING: ReadonlySet<Phase> = new Set<Phase>(['capture', 'cutover', 'source-primary'])
/** Phases in which writes to the target are captured in the reverse log (for a rollback). */
export const REVERSE_CAPTURING: ReadonlySet<Phase> = new Set<Phase>(['target-primary', 'rollback'])

export interface HoldLimits {
  /** Writes held at once; more get 503 + Retry-After (the client retries). */
  readonly maxHeldWrites: number
  /** A write held longer than this gets 503 + Retry-After (the cutover should have ended). */
  readonly maxHoldMs: number
}

export class RoutingState {
  #record: MigrationRecord
  #inFlight = 0
  #held = 0
  #maxHeldMs = 0
  #leaseLost: string | undefined
  #released: Array<() => void> = []
  #drained: Array<() => void> = []

  constructor(
    record: MigrationRecord,
    readonly limits: HoldLimits,
  ) {
    this.#record = record
  }

  get record(): MigrationRecord {
    return this.#record
  }

  get writesInFlight(): number {
    return this.#inFlight
  }

  get writesHeld(): number {
    return this.#held
  }

  /** The longest a write has waited at a barrier, since the last call. */
  takeMaxHeldMs(): number {
    const ms = this.#maxHeldMs
    this.#maxHeldMs = 0
    return ms
  }

  /** Takes a newer record (an older or equal epoch is ignored); answers whether it changed. */
  set(record: MigrationRecord): boolean {
    if (record.epoch <= this.#record.epoch) return false
    this.#record = record
    if (!record.routing.holdWrites) for (const release of this.#released.splice(0)) release()
    return true
  }

  /** The replica could not renew its lease: writes are refused until it can (docs/architecture.md
   *  invariant 6), since it may be acting on routing the others have moved past. */
  setLeaseLost(reason: string | undefined): void {
    this.#leaseLost = reason
  }

  /**
   * Admits a write: waits while writes are held (bounded), then counts it in flight until
   * finishWrite(). Throws a retriable 503 when the lease is lost or the hold runs too long.
   */
  async admitWrite(): Promise<void> {
    if (this.#leaseLost !== undefined)
      throw new VecshiftError(E.CONTROL_UNAVAILABLE, ['lease', this.#leaseLost], { retryAfter: 1 })
    if (this.#record.routing.holdWrites) {
      if (this.#held >= this.limits.maxHeldWrites) {
        throw new VecshiftError(E.WRITES_HELD, [this.#held, 'too many writes are waiting'], { retryAfter: 1 })
      }
      const started = Date.now()
      this.#held++
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.#released = this.#released.filter((r) => r !== release)
            reject(
              new VecshiftError(E.WRITES_HELD, [this.#held, `held for ${this.limits.maxHoldMs} ms`], { retryAfter: 1 }),
            )
          }, this.limits.maxHoldMs)
          const release = () => {
            clearTimeout(timer)
            resolve()
          }
          this.#released.push(release)
        })
      } finally {
        this.#held--
        this.#maxHeldMs = Math.max(this.#maxHeldMs, Date.now() - started)
      }
      if (this.#leaseLost !== undefined)
        throw new VecshiftError(E.CONTROL_UNAVAILABLE, ['lease', this.#leaseLost], { retryAfter: 1 })
    }
    this.#inFlight++
  }

  finishWrite(): void {
    this.#inFlight--
    if (this.#inFlight === 0) for (const done of this.#drained.splice(0)) done()
  }

  /** Resolves once no write is in flight (at once if none is). */
  drained(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve()
    return new Promise((resolve) => this.#drained.push(resolve))
  }
}
