import { hostname } from 'node:os'
import type { ControlStore } from './contract.js'
import type { Logger } from '../logger.js'

// The coordinator's lease: while a cutover or rollback runs, its process says so in the
// control store (the `coordinator` report, beside the record so that renewing it never moves
// the epoch), every third of leaseMs. A gateway holding writes for a pause whose coordinator's
// lease ran out, or whose process is gone from this host, ends the pause itself
// (proxy/replica.ts). The same loop notices an operator's `--abort` before the pause.

export const LEASE_REPORT = 'coordinator'
export const ABORT_REPORT = 'coordinator-abort'

export interface CoordinatorLease {
  readonly kind: 'cutover' | 'rollback'
  /** The attempt, once the barrier has started it. */
  readonly attempt: string | undefined
  readonly host: string
  readonly pid: number
  readonly startedAt: string
  readonly expiresAt: string
}

export interface AbortRequest {
  readonly at: string
  readonly by: string
}

export interface LeaseHandle {
  /** Renews now (after the barrier: so the lease names the attempt at once). */
  renew(): Promise<void>
  stop(): void
}

export function holdLease(
  control: ControlStore,
  o: {
    readonly kind: 'cutover' | 'rollback'
    readonly leaseMs: number
    readonly attempt: () => string | undefined
    /** Called once when an operator asks to abort (vecshift cutover --abort). */
    readonly onAbortRequest: (by: string) => void
    readonly logger?: Logger
  },
): LeaseHandle {
  const startedAt = new Date()
  const host = hostname()
  let stopped = false
  const renew = async () => {
    if (stopped) return
    const lease: CoordinatorLease = {
      kind: o.kind,
      attempt: o.attempt(),
      host,
      pid: process.pid,
      startedAt: startedAt.toISOString(),
      expiresAt: new Date(Date.now() + o.leaseMs).toISOString(),
    }
    try {
      await control.report(LEASE_REPORT, lease)
      const ask = (await control.reports())[ABORT_REPORT]?.value as AbortRequest | undefined
      if (ask && Date.parse(ask.at) >= startedAt.getTime()) o.onAbortRequest(ask.by)
    } catch (err) {
      // A lease that cannot be renewed runs out: the gateways end the pause. Said, not fatal.
      o.logger?.warn({ err }, 'could not renew the coordinator lease')
    }
  }
  const timer = setInterval(() => void renew(), Math.max(100, Math.floor(o.leaseMs / 3)))
  timer.unref()
  void renew()
  return {
    renew,
    stop: () => {
      stopped = true
      clearInterval(timer)
    },
  }
}
