import { E, VecshiftError } from '../errors.js'

// The migration record: where a migration stands and how traffic is routed, shared by every
// gateway replica, the copier, the replayer and the operator's commands (docs/architecture.md,
// "control"). Every change goes through a compare-and-set on `epoch`, which increases by one
// with each change, so a process acting on an old view is refused instead of undoing
// another's change, and a gateway can tell which routing is newer.

export const PHASES = [
  'passthrough',
  'capture',
  'cutover',
  'target-primary',
  'rollback',
  'source-primary',
  'finalized',
] as const
export type Phase = (typeof PHASES)[number]

/**
 * The moves a migration may make (docs/architecture.md, "Phases"):
 *   passthrough -> capture -> cutover -> target-primary -> finalized
 *                     ^          |            |
 *                     +- abort --+            +-> rollback -> source-primary -> capture (try again)
 *                                                    |                       -> finalized (stay)
 *                                                    +-> target-primary (rollback aborted)
 * capture -> passthrough abandons the migration before any cutover.
 */
export const TRANSITIONS: Readonly<Record<Phase, readonly Phase[]>> = Object.freeze({
  passthrough: ['capture'],
  capture: ['cutover', 'passthrough'],
  cutover: ['target-primary', 'capture'],
  'target-primary': ['rollback', 'finalized'],
  rollback: ['source-primary', 'target-primary'],
  'source-primary': ['capture', 'finalized'],
  finalized: [],
})

export type Side = 'source' | 'target'

export interface Routing {
  /** Where reads go; `canaryPercent` of them go to the other side. */
  readonly reads: Side
  readonly canaryPercent: number
  /** Where writes go. */
  readonly writes: Side
  /** The cutover's barrier: replicas hold new writes (bounded) until this is lifted. */
  readonly holdWrites: boolean
}

export interface CutoverStep {
  readonly name: string
  readonly startedAt: string
  readonly ms: number
  readonly ok: boolean
  readonly detail?: string
}

export interface CutoverAttempt {
  readonly id: string
  readonly kind: 'cutover' | 'rollback'
  readonly startedAt: string
  readonly outcome: 'running' | 'done' | 'aborted'
  readonly reason?: string
  readonly steps: readonly CutoverStep[]
  /** The write pause, barrier to flip (or abort), as the coordinator measured it. */
  readonly pauseMs?: number
  /** The process running it; its lease is the `coordinator` report (coordinator-lease.ts). */
  readonly owner?: { readonly host: string; readonly pid: number }
  /** Past this (the barrier, plus the pause budget, plus a margin) with no flip, the pause is
   *  over whatever the coordinator does: a gateway ends it (endPause). */
  readonly deadline?: string
}

/** The phase a pause goes back to when it ends without a flip. */
export const PAUSE_ORIGIN: Readonly<Partial<Record<Phase, Phase>>> = Object.freeze({
  cutover: 'capture',
  rollback: 'target-primary',
})

/** The attempt that holds writes now, if the record is in a pause. */
export function runningAttempt(r: MigrationRecord): CutoverAttempt | undefined {
  const last = r.cutovers.at(-1)
  return PAUSE_ORIGIN[r.phase] !== undefined && last?.outcome === 'running' ? last : undefined
}

/**
 * The record with its pause ended without a flip: back to the phase the pause started from
 * (held writes are released there), the running attempt marked aborted with `reason`. The
 * coordinator's own abort, a gateway ending an orphaned pause and `--abort` all write this.
 */
export function endPause(
  r: MigrationRecord,
  by: string,
  reason: string,
  finished: { readonly steps?: readonly CutoverStep[]; readonly pauseMs?: number } = {},
): MigrationRecord {
  const origin = PAUSE_ORIGIN[r.phase]
  if (origin === undefined) throw new VecshiftError(E.CONTROL_TRANSITION, [r.phase, 'the end of a pause', 'none'])
  const attempt = runningAttempt(r)
  const ended = transitioned(r, origin, by, `${attempt?.kind ?? r.phase} aborted: ${reason}`)
  return {
    ...ended,
    cutovers: r.cutovers.map((a) =>
      a === attempt
        ? {
            ...a,
            outcome: 'aborted' as const,
            reason,
            ...(finished.steps ? { steps: [...finished.steps] } : {}),
            ...(finished.pauseMs !== undefined ? { pauseMs: finished.pauseMs } : {}),
          }
        : a,
    ),
  }
}

export interface MigrationRecord {
  readonly version: 1
  readonly migration: string
  readonly phase: Phase
  readonly routing: Routing
  readonly epoch: number
  readonly updatedAt: string
  /** Who made the last change and why, for `vecshift status`. */
  readonly changedBy?: string
  readonly reason?: string
  /** Most recent last; bounded (HISTORY). */
  readonly cutovers: readonly CutoverAttempt[]
}

export const HISTORY = 20

/** The routing each phase implies; a change of phase resets routing to it. */
export function routingFor(phase: Phase): Routing {
  switch (phase) {
    case 'target-primary':
      return { reads: 'target', canaryPercent: 0, writes: 'target', holdWrites: false }
    case 'cutover':
    case 'rollback':
      return {
        reads: phase === 'cutover' ? 'source' : 'target',
        canaryPercent: 0,
        writes: phase === 'cutover' ? 'source' : 'target',
        holdWrites: true,
      }
    default:
      return { reads: 'source', canaryPercent: 0, writes: 'source', holdWrites: false }
  }
}

export function initialRecord(migration: string, phase: Phase = 'passthrough'): MigrationRecord {
  return {
    version: 1,
    migration,
    phase,
    routing: routingFor(phase),
    epoch: 1,
    updatedAt: new Date().toISOString(),
    cutovers: [],
  }
}

/** Refuses a move the table does not allow, naming the moves that are. */
export function checkTransition(from: Phase, to: Phase): void {
  if (TRANSITIONS[from].includes(to)) return
  const allowed = TRANSITIONS[from]
  throw new VecshiftError(E.CONTROL_TRANSITION, [
    from,
    to,
    allowed.length === 0 ? 'none (the migration is finalized)' : allowed.join(', '),
  ])
}

/** The record after a move to `to` (checked), with the routing that phase implies. */
export function transitioned(
  r: MigrationRecord,
  to: Phase,
  by: string,
  reason?: string,
  routing?: Partial<Routing>,
): MigrationRecord {
  checkTransition(r.phase, to)
  return changed(r, to, { ...routingFor(to), ...routing }, by, reason)
}

/** The record with part of its routing changed and its phase kept: reads moved to the target,
 *  or a canary share of them, while writes stay where the phase puts them. */
export function rerouted(r: MigrationRecord, routing: Partial<Routing>, by: string, reason?: string): MigrationRecord {
  return changed(r, r.phase, { ...r.routing, ...routing }, by, reason)
}

/** Every change's shape, written once: the next epoch, when, by whom and why. A change
 *  without a reason drops the previous one, which explained an older change. */
function changed(r: MigrationRecord, phase: Phase, routing: Routing, by: string, reason?: string): MigrationRecord {
  const { reason: _previous, ...rest } = r
  return {
    ...rest,
    phase,
    routing,
    epoch: r.epoch + 1,
    updatedAt: new Date().toISOString(),
    changedBy: by,
    ...(reason === undefined ? {} : { reason }),
  }
}
