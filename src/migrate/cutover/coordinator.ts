import type { CutoverStep, MigrationRecord } from '../../control/record.js'
import { endPause, runningAttempt } from '../../control/record.js'
import { holdLease } from '../../control/coordinator-lease.js'
import type { ControlStore } from '../../control/contract.js'
import { E, VecshiftError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import type { ReplayStatus } from '../../replay/status.js'
import type { VectorStore } from '../../stores/contract.js'
import type { WriteLog } from '../../writelog/contract.js'
import type { CopyCheckpoint } from '../copy/checkpoint.js'
import { withDeadline } from './deadline.js'
import { type Direction, PHASE_MOVES } from './phases.js'
import { STEPS, type CutoverRun, type StepSpec } from './steps.js'

// The cutover's coordinator: runs the step table (steps.ts) in order. For each step it gives
// the work an AbortSignal that fires at the step's deadline (in the pause, at the latest when
// the pause budget runs out), times it, reports it (onStep, the log), and decides from the
// step's stage what a failure means: before the pause a refusal, nothing changed; in the
// pause an abort, back to where the migration started, held writes released there, the
// reason recorded. An aborted step is waited for (bounded) before writes are released, so
// nothing it started lands on the target afterwards (deadline.ts).

export interface CutoverOptions {
  /** cutover: source -> target. rollback: after a cutover, back to the source, replaying the
   *  reverse log; `source` is then the store being left (the target) and `target` the one
   *  returned to (the source). */
  readonly direction?: 'cutover' | 'rollback'
  readonly control: ControlStore
  readonly log: WriteLog
  readonly source: VectorStore
  readonly target: VectorStore
  /** What the replayer last reported (re-read while waiting). */
  readonly replayStatus: () => Promise<ReplayStatus | undefined>
  readonly copy: CopyCheckpoint | undefined
  readonly dirtyPath: string
  /** The write-pause budget, barrier to flip (cutover.maxPauseMs): every step in the pause
   *  shares it, and past it the cutover aborts. */
  readonly maxPauseMs: number
  /** The pre-reconcile's deadline (cutover.preReconcileTimeoutMs). */
  readonly preReconcileTimeoutMs?: number
  /** Replay lag (records) above which the cutover does not start. */
  readonly maxLagRecords: number
  /** Before the barrier, wait until the replayer is at most this many records behind (the
   *  drain in the pause applies them), for at most catchUpTimeoutMs; then refuse. */
  readonly barrierLagRecords?: number
  readonly catchUpTimeoutMs?: number
  /** When set (cutover.requireVerify), the last `vecshift verify` must have passed within
   *  verifyMaxAgeMs; a cutover direction of rollback ignores it. */
  readonly verification?: () => Promise<VerificationResult | undefined>
  readonly verifyMaxAgeMs?: number
  /** A replayer silent for this long is not running. */
  readonly replayStaleMs: number
  readonly by: string
  readonly dryRun: boolean
  readonly logger?: Logger
  /** Told the ids checked so far while the pre-reconcile runs (it can be long). */
  readonly onReconcileProgress?: (checked: number) => void
  /** Called as steps finish, for progress on the terminal. */
  readonly onStep?: (step: CutoverStep) => void
  /** The operator's cancellation (Ctrl-C): before the pause it refuses, in it it aborts. */
  readonly signal?: AbortSignal
  /** The coordinator's lease in the control store (control.leaseMs): past it without a
   *  renewal, the gateways end a pause this process left behind. */
  readonly leaseMs?: number
}

export interface VerificationResult {
  readonly passed: boolean
  readonly finishedAt: string
  readonly failures?: readonly string[]
}

export interface CutoverResult {
  readonly outcome: 'done' | 'aborted' | 'refused' | 'dry-run'
  readonly reason?: string
  readonly steps: readonly CutoverStep[]
  /** The write pause: from the barrier's record to the flip's (or the abort's), as the
   *  control store acknowledged them. */
  readonly pauseMs?: number
  readonly record: MigrationRecord
}

/** After a step is stopped, how long its store calls already sent may take to finish before
 *  the cutover gives up waiting for them and releases the writes anyway (the ids involved
 *  stay in the dirty set: the next cutover checks them again). */
const SETTLE_MS = 1_000
/** The abort's own reads and writes of the control store. */
const ABORT_MS = 10_000
/** The coordinator's lease (control/coordinator-lease.ts), when the config gives none. */
const DEFAULT_LEASE_MS = 5_000

class Abort extends Error {}

export async function runCutover(options: CutoverOptions): Promise<CutoverResult> {
  const direction: Direction = options.direction ?? 'cutover'
  // The operator's Ctrl-C, or `--abort` seen through the lease: both end the run the same way.
  const cancel = new AbortController()
  const stopOnSignal = () => cancel.abort(options.signal?.reason)
  options.signal?.addEventListener('abort', stopOnSignal, { once: true })
  if (options.signal?.aborted) stopOnSignal()
  const run: CutoverRun = {
    o: { ...options, signal: cancel.signal },
    direction,
    record: await bounded('reading the control record', () => options.control.read()),
    steps: [],
  }
  const lease = options.dryRun
    ? undefined
    : holdLease(options.control, {
        kind: direction,
        leaseMs: options.leaseMs ?? DEFAULT_LEASE_MS,
        attempt: () => run.attempt?.id,
        onAbortRequest: (by) => cancel.abort(new Error(`${direction} aborted by the operator (${by})`)),
        ...(options.logger ? { logger: options.logger } : {}),
      })
  run.renewLease = lease ? () => lease.renew() : undefined
  try {
    return await runSteps(run)
  } finally {
    lease?.stop()
    options.signal?.removeEventListener('abort', stopOnSignal)
  }
}

async function runSteps(run: CutoverRun): Promise<CutoverResult> {
  const { o: options, direction } = run
  let pauseDeadline: number | undefined
  for (const step of STEPS) {
    if (step.stage === 'pause') pauseDeadline ??= Date.now() + options.maxPauseMs
    try {
      await runStep(run, step, pauseDeadline)
    } catch (err) {
      if (step.stage === 'pause') return abort(run, err as Error)
      const refused = err instanceof VecshiftError && err.code === E.CUTOVER_REFUSED.code
      if (refused || options.signal?.aborted)
        return { outcome: 'refused', reason: (err as Error).message, steps: run.steps, record: run.record }
      throw err
    }
    if (options.dryRun && step.name === 'preconditions')
      return { outcome: 'dry-run', steps: run.steps, record: run.record }
  }
  const pauseMs = Date.now() - (run.pauseStartedAt as number)
  options.logger?.info({ pauseMs, epoch: run.record.epoch, phase: run.record.phase }, `${direction} done`)
  return { outcome: 'done', steps: run.steps, pauseMs, record: run.record }
}

/** Runs one step within its deadline, and records how it went. */
async function runStep(run: CutoverRun, step: StepSpec, pauseDeadline: number | undefined): Promise<void> {
  const { o } = run
  const started = Date.now()
  const own = started + step.deadlineMs(o)
  const deadline = pauseDeadline === undefined ? own : Math.min(own, pauseDeadline)
  const timeout = () =>
    pauseDeadline !== undefined && deadline === pauseDeadline
      ? new Abort(`${step.name} did not finish within the ${o.maxPauseMs} ms write-pause budget`)
      : new VecshiftError(E.CUTOVER_REFUSED, [
          `the ${step.name} step did not finish within ${deadline - started} ms (${step.deadline})`,
        ])
  const record = (ok: boolean, detail: string | undefined) => {
    const done: CutoverStep = {
      name: step.name,
      startedAt: new Date(started).toISOString(),
      ms: Date.now() - started,
      ok,
      ...(detail === undefined ? {} : { detail }),
    }
    run.steps.push(done)
    o.onStep?.(done)
    o.logger?.info({ step: done }, `${run.direction} step ${step.name} ${ok ? 'done' : 'failed'}`)
  }
  try {
    const detail = await withDeadline((signal) => step.run(run, signal), {
      ms: deadline - started,
      timeout,
      settleMs: SETTLE_MS,
      ...(o.signal ? { signal: o.signal } : {}),
    })
    record(true, detail)
  } catch (err) {
    record(false, (err as Error).message)
    throw err
  }
}

/** Ends a cutover that failed in the pause: back to where it started, held writes released
 *  there, whatever the epoch. A flip that was written is never undone: if the record shows
 *  this attempt done (its acknowledgement was lost or came too late), the cutover is done. */
async function abort(run: CutoverRun, err: Error): Promise<CutoverResult> {
  const { o, direction } = run
  const moves = PHASE_MOVES[direction]
  const reason = err.message
  const pauseMs = () => (run.pauseStartedAt === undefined ? 0 : Date.now() - run.pauseStartedAt)
  const current = await bounded('reading the control record to abort', () => o.control.read())
  const mine = current.cutovers.find((a) => a.id === run.attempt?.id)
  if (current.phase === moves.done && mine?.outcome === 'done') {
    o.logger?.warn({ reason }, `${direction}: the flip was written although a step failed after it; done`)
    return { outcome: 'done', steps: run.steps, pauseMs: mine.pauseMs ?? pauseMs(), record: current }
  }
  // Ended already by someone else (a gateway whose deadline passed, or `--abort`): say why.
  if (mine?.outcome === 'aborted' && current.phase === moves.from)
    return { outcome: 'aborted', reason: mine.reason ?? reason, steps: run.steps, pauseMs: pauseMs(), record: current }
  o.logger?.warn({ err, reason }, `${direction} aborted; the primary stays where it was`)
  const record =
    current.phase === moves.hold && runningAttempt(current)?.id === run.attempt?.id
      ? await bounded('releasing the held writes', () =>
          o.control.update(current.epoch, (r) => endPause(r, o.by, reason, { steps: run.steps, pauseMs: pauseMs() })),
        )
      : current
  return { outcome: 'aborted', reason, steps: run.steps, pauseMs: pauseMs(), record }
}

/** A control-store call outside the steps, bounded too. */
function bounded<T>(what: string, work: () => Promise<T>): Promise<T> {
  return withDeadline(() => work(), {
    ms: ABORT_MS,
    settleMs: 0,
    timeout: () =>
      new VecshiftError(E.CUTOVER_REFUSED, [
        `${what} did not finish within ${ABORT_MS} ms; the control store is not answering (vecshift status shows the phase)`,
      ]),
  })
}
