import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ControlStore, ReplicaLease } from '../../control/contract.js'
import {
  HISTORY,
  transitioned,
  type CutoverAttempt,
  type CutoverStep,
  type MigrationRecord,
} from '../../control/record.js'
import { E, VecshiftError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import type { ReplayStatus } from '../../replay/status.js'
import type { VectorStore } from '../../stores/contract.js'
import type { WriteLog } from '../../writelog/contract.js'
import type { CopyCheckpoint } from '../copy/checkpoint.js'
import { wholeWrites } from '../../replay/dirty.js'
import { reconcile, unreconcilable, type ReconcileResult } from './reconcile.js'

// The cutover: named, timed steps, each within what is left of the write-pause budget.
//   1. preconditions  copy done, replayer following with lag under a bound, writes by filter
//                     reconcilable
//   (pre-reconcile)   the dirty set is reconciled while traffic still flows (not paused)
//   (catch-up)        wait, bounded, until the replayer is within a few records of the log's
//                     tail, so that the drain inside the pause is short
//   2. barrier        phase cutover: every live replica holds new writes, finishes the ones
//                     in flight and appends a fence to the log
//   3. drain          the replayer applies everything up to every replica's fence
//   4. reconcile      ids written since the pre-reconcile are compared and repaired
//   5. flip           phase target-primary: reads and writes go to the target; held writes
//                     are released to it
// Past the budget, or on any failure, the cutover aborts by itself: phase capture again, held
// writes go to the source, and the reason is recorded. Each step's time is in the record.

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
  /** The write pause budget: barrier to flip. */
  readonly maxPauseMs: number
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
  /** Barrier to flip, as the control store saw it. */
  readonly pauseMs?: number
  readonly record: MigrationRecord
}

class Abort extends Error {}

const DEFAULT_BARRIER_LAG = 100
const DEFAULT_CATCH_UP_MS = 30_000
/** The replayer reports its status after each batch it applies. */
const CATCH_UP_POLL_MS = 20

const PHASES = {
  cutover: { from: 'capture', hold: 'cutover', done: 'target-primary' },
  rollback: { from: 'target-primary', hold: 'rollback', done: 'source-primary' },
} as const

export async function runCutover(options: CutoverOptions): Promise<CutoverResult> {
  const { control, logger } = options
  const direction = options.direction ?? 'cutover'
  const phases = PHASES[direction]
  const steps: CutoverStep[] = []
  const step = async <T>(name: string, fn: () => Promise<T>, describe?: (out: T) => string): Promise<T> => {
    const started = Date.now()
    try {
      const out = await fn()
      const done: CutoverStep = {
        name,
        startedAt: new Date(started).toISOString(),
        ms: Date.now() - started,
        ok: true,
        ...(describe ? { detail: describe(out) } : typeof out === 'string' ? { detail: out } : {}),
      }
      steps.push(done)
      options.onStep?.(done)
      return out
    } catch (err) {
      const failed: CutoverStep = {
        name,
        startedAt: new Date(started).toISOString(),
        ms: Date.now() - started,
        ok: false,
        detail: (err as Error).message,
      }
      steps.push(failed)
      options.onStep?.(failed)
      throw err
    }
  }

  // 1. Preconditions: refuse, with the reason, before anything changes.
  let record = await control.read()
  try {
    await step('preconditions', async () => {
      // Replicas report a new epoch within a poll of the control store; give them that.
      let why = await refusal(options, record)
      for (let i = 0; i < 100 && why?.includes('older epoch'); i++) {
        await sleep(50)
        record = await control.read()
        why = await refusal(options, record)
      }
      if (why) throw new VecshiftError(E.CUTOVER_REFUSED, [why])
      return `replicas and replayer ready; copy ${options.copy?.finishedAt ? 'done' : '?'}`
    })
  } catch (err) {
    if (err instanceof VecshiftError && err.code === E.CUTOVER_REFUSED.code)
      return { outcome: 'refused', reason: err.message, steps, record }
    throw err
  }
  if (options.dryRun) return { outcome: 'dry-run', steps, record }

  // Reconcile everything written so far while traffic still flows, so that the pause only
  // has to cover what is written from now on. First the replayer applies every write logged
  // before now (the copy finished before now): a write by filter applied later than that was
  // logged after the copy and lands on top of it, so the pause need not look at it again.
  let before: ReconcileResult
  try {
    before = await step(
      'pre-reconcile',
      async () => {
        const from = await options.log.tail()
        const waitMs = options.catchUpTimeoutMs ?? DEFAULT_CATCH_UP_MS
        if (from !== undefined) {
          await replayerReaches(
            options,
            waitMs,
            (s) =>
              s?.checkpoint !== undefined && options.log.compare(s.checkpoint, from) >= 0 ? 'applied' : undefined,
            () =>
              `the replayer did not apply the writes logged before the cutover began (through ${from}) in ${waitMs} ms; see \`vecshift status\`, then try again`,
          )
        }
        const r = await reconcile(options.source, options.target, options.dirtyPath, {
          wholeWrites: 'reconcile',
          // A copy that ran with the write log says which namespaces it could not position;
          // one that did not (collection strategy, or capture began after it) positioned none.
          // A rollback has no copy: the reverse log is all there is.
          unpositioned:
            direction === 'rollback'
              ? new Set()
              : options.copy?.settle
                ? new Set(options.copy.settle.unpositioned)
                : 'all',
          ...(options.onReconcileProgress ? { onProgress: options.onReconcileProgress } : {}),
        })
        return r
      },
      (r) => reconcileDetail(r),
    )
  } catch (err) {
    if (err instanceof VecshiftError && err.code === E.CUTOVER_REFUSED.code)
      return { outcome: 'refused', reason: err.message, steps, record: await control.read() }
    throw err
  }

  // Catch up: the pause is bounded, the replayer's work before the fence should be small. A
  // replayer that cannot get close while writes flow is applying slower than they arrive:
  // that is a refusal to fix first, not a pause to gamble on.
  const barrierLag = options.barrierLagRecords ?? DEFAULT_BARRIER_LAG
  const catchUpMs = options.catchUpTimeoutMs ?? DEFAULT_CATCH_UP_MS
  try {
    await step('catch-up', () =>
      replayerReaches(
        options,
        catchUpMs,
        (s) =>
          s && s.retrying === undefined && s.lagRecords !== undefined && s.lagRecords <= barrierLag
            ? `replay lag ${s.lagRecords} records`
            : undefined,
        (s) => {
          const lag =
            s?.retrying !== undefined ? `retrying (${s.retrying})` : `${s?.lagRecords ?? 'unknown'} records behind`
          return `the replayer did not come within ${barrierLag} records of the log's tail in ${catchUpMs} ms (${lag}); it applies writes slower than they arrive, or the target is failing: see \`vecshift status\`, then try again`
        },
      ),
    )
  } catch (err) {
    if (err instanceof VecshiftError && err.code === E.CUTOVER_REFUSED.code)
      return { outcome: 'refused', reason: err.message, steps, record: await control.read() }
    throw err
  }

  const attempt: CutoverAttempt = {
    id: randomUUID(),
    kind: direction,
    startedAt: new Date().toISOString(),
    outcome: 'running',
    steps: [],
  }
  const deadline = { at: 0 }
  const remaining = () => deadline.at - Date.now()
  /** Whatever `work` is doing, the budget ends it (store calls retry for longer than that). */
  const bounded = async <T>(what: string, work: Promise<T>): Promise<T> => {
    const stop = new AbortController()
    work.catch(() => undefined)
    try {
      return await Promise.race([
        work,
        sleep(Math.max(0, remaining()), undefined, { signal: stop.signal }).then(() => {
          throw new Abort(`${what} did not finish within the ${options.maxPauseMs} ms write-pause budget`)
        }),
      ])
    } finally {
      stop.abort()
    }
  }
  const within = async <T>(what: string, fn: () => Promise<T | undefined>, pollMs = 5): Promise<T> => {
    for (;;) {
      const v = await fn()
      if (v !== undefined) return v
      if (remaining() <= 0)
        throw new Abort(`${what} did not finish within the ${options.maxPauseMs} ms write-pause budget`)
      await sleep(pollMs)
    }
  }

  // 2. Barrier.
  record = await control.update(record.epoch, (r) => ({
    ...transitioned(r, phases.hold, options.by, `${direction}: barrier`),
    cutovers: [...r.cutovers, attempt].slice(-HISTORY),
  }))
  const barrierEpoch = record.epoch
  const pauseStarted = Date.now()
  deadline.at = pauseStarted + options.maxPauseMs
  try {
    const fences = await step('barrier', async () => {
      const leases = await within('the barrier (every replica holding writes, none in flight)', async () => {
        const live = (await control.replicas()).filter((l) => Date.parse(l.expiresAt) > Date.now())
        return live.length > 0 && live.every((l) => l.fence?.epoch === barrierEpoch) ? live : undefined
      })
      return leases
    })
    // 3. Drain: the replayer has applied everything up to the last fence.
    const last = lastFence(options.log, fences)
    await step('drain', async () => {
      if (last === undefined) return 'no fence (no replica logs writes)'
      await within(`the replayer reaching the fence at ${last}`, async () => {
        const s = await bounded("reading the replayer's status", options.replayStatus())
        return s?.checkpoint !== undefined && options.log.compare(s.checkpoint, last) >= 0 ? true : undefined
      })
      return `applied through ${last}`
    })
    // 4. Reconcile what was written since the pre-reconcile.
    await step('reconcile', async () => {
      // Writes by filter read here were logged after the pre-reconcile began, so after the
      // copy: the replayer applied them on top of it (counted, not matched again). The ids
      // the pre-reconcile repaired are checked again: a repair can have landed after a newer
      // write while traffic flowed.
      const r = await bounded(
        'reconciliation',
        reconcile(options.source, options.target, options.dirtyPath, {
          from: before.offset,
          also: before.repairedIds,
          wholeWrites: 'count',
        }),
      )
      return `${r.checked} ids checked, ${r.repaired} repaired${r.filterWrites > 0 ? `; ${r.filterWrites} writes by filter since the pre-reconcile, applied after the copy` : ''}`
    })
    // 5. Flip.
    const flipStarted = Date.now()
    record = await step('flip', async () => {
      if (remaining() <= 0) throw new Abort(`the ${options.maxPauseMs} ms budget ran out before the flip`)
      // The record the flip writes is its own last step: the history shows the flip timed up
      // to that write (the step list returned times it to the write's acknowledgement).
      return control.update(barrierEpoch, (r) =>
        finish(
          transitioned(r, phases.done, options.by, `${direction}: flipped`),
          attempt.id,
          'done',
          [
            ...steps,
            { name: 'flip', startedAt: new Date(flipStarted).toISOString(), ms: Date.now() - flipStarted, ok: true },
          ],
          Date.now() - pauseStarted,
        ),
      )
    })
    const pauseMs = Date.now() - pauseStarted
    logger?.info({ pauseMs, epoch: record.epoch, phase: record.phase }, `${direction} done`)
    return { outcome: 'done', steps, pauseMs, record }
  } catch (err) {
    const reason = (err as Error).message
    logger?.warn({ err, reason }, `${direction} aborted; the primary stays where it was`)
    // Abort: back to where it started (held writes released there), whatever the epoch.
    const current = await control.read()
    record =
      current.phase === phases.hold
        ? await control.update(current.epoch, (r) =>
            finish(
              transitioned(r, phases.from, options.by, `${direction} aborted: ${reason}`),
              attempt.id,
              'aborted',
              steps,
              Date.now() - pauseStarted,
              reason,
            ),
          )
        : current
    return { outcome: 'aborted', reason, steps, pauseMs: Date.now() - pauseStarted, record }
  }
}

async function refusal(o: CutoverOptions, record: MigrationRecord): Promise<string | undefined> {
  const direction = o.direction ?? 'cutover'
  const from = PHASES[direction].from
  const replayCommand = direction === 'cutover' ? 'vecshift replay --follow' : 'vecshift replay --reverse --follow'
  if (record.phase !== from) return `the migration is in phase ${record.phase}; a ${direction} starts from ${from}`
  if (direction === 'cutover' && !o.copy?.finishedAt)
    return 'the copy has not finished (vecshift copy; vecshift status shows its progress)'
  const replay = await o.replayStatus()
  if (!replay) return `no replayer has reported; run \`${replayCommand}\` beside the gateway`
  if (replay.failed) {
    const f = replay.failed
    return `the target refused a logged write for good (${f.what}${f.namespace !== undefined ? `, namespace ${JSON.stringify(f.namespace)}` : ''}${f.id !== undefined ? `, id ${JSON.stringify(f.id)}` : ''}, after ${f.after ?? 'the start'}: ${f.error}); replay stopped before it, so the target would diverge: make the target accept it and run \`${replayCommand}\` again (docs/replay-and-cutover.md, "A write the target refuses")`
  }
  if (Date.now() - Date.parse(replay.updatedAt) > o.replayStaleMs)
    return `the replayer last reported at ${replay.updatedAt}; run \`${replayCommand}\` beside the gateway`
  if (replay.retrying !== undefined)
    return `the replayer is retrying a failed step (${replay.retrying}); the target must answer before the cutover`
  if (replay.lagRecords === undefined || replay.lagRecords > o.maxLagRecords)
    return `replay lag is ${replay.lagRecords ?? 'unknown'} records (at most ${o.maxLagRecords}); let the replayer catch up`
  if (direction === 'cutover' && o.verification) {
    const v = await o.verification()
    const maxAge = o.verifyMaxAgeMs ?? 3_600_000
    if (!v) return 'cutover.requireVerify is set and no verification has run: run `vecshift verify`'
    if (!v.passed)
      return `the last verification (${v.finishedAt}) failed: ${(v.failures ?? []).join('; ') || 'see vecshift verify'}; fix the target and run \`vecshift verify\` again`
    if (Date.now() - Date.parse(v.finishedAt) > maxAge)
      return `the last passing verification is from ${v.finishedAt}, older than cutover.verifyMaxAgeMs (${maxAge} ms): run \`vecshift verify\` again`
  }
  // Writes by filter since capture began are reconciled before the pause (pre-reconcile):
  // refuse when that cannot be done, or when the dirty set read here is not the replayer's.
  const whole = await wholeWrites(o.dirtyPath)
  if (replay.counts.filterWrites > whole.count)
    return `the replayer applied ${replay.counts.filterWrites} writes by filter or delete-all, but the dirty set the ${direction} reads (${o.dirtyPath}) holds ${whole.count}: those writes have not been reconciled; run the ${direction} with the replayer's replay.dataDir and migration.id`
  if (whole.count > 0) {
    const why = await unreconcilable(o.source, o.target)
    if (why)
      return `${whole.count} writes by filter or delete-all since capture began (namespaces ${whole.namespaces.map((n) => JSON.stringify(n)).join(', ')}) have not been reconciled and cannot be: ${why}; copy those namespaces again from a file of the source's ids (copy.idsFile, docs/copy.md) while the replayer follows`
  }
  const live = (await o.control.replicas()).filter((l: ReplicaLease) => Date.parse(l.expiresAt) > Date.now())
  if (live.length === 0)
    return 'no gateway replica holds a lease: start the gateway (it registers in the control store)'
  const stale = live.filter((l) => l.epoch !== record.epoch)
  if (stale.length > 0)
    return `replica ${stale.map((l) => l.replica).join(', ')} is acting on an older epoch; wait a moment and try again`
  return undefined
}

/** Polls the replayer's status until `reached` says so (its answer is the step's detail);
 *  after `timeoutMs`, refuses the cutover with `refusal` of the last status seen. */
async function replayerReaches(
  o: CutoverOptions,
  timeoutMs: number,
  reached: (s: ReplayStatus | undefined) => string | undefined,
  refusal: (s: ReplayStatus | undefined) => string,
): Promise<string> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const s = await o.replayStatus()
    const done = reached(s)
    if (done !== undefined) return done
    if (Date.now() >= until) throw new VecshiftError(E.CUTOVER_REFUSED, [refusal(s)])
    await sleep(CATCH_UP_POLL_MS)
  }
}

function reconcileDetail(r: ReconcileResult): string {
  let out = `${r.checked} ids checked, ${r.repaired} repaired`
  if (r.filterWrites > 0) {
    const names =
      r.wholeNamespaces
        .slice(0, 20)
        .map((n) => JSON.stringify(n))
        .join(', ') + (r.wholeNamespaces.length > 20 ? `, and ${r.wholeNamespaces.length - 20} more` : '')
    out += `; ${r.filterWrites} writes by filter or delete-all in ${r.wholeNamespaces.length} namespace(s) reconciled (${names}; ${r.matched} records matched their filters`
    out +=
      r.comparedInFull.length > 0
        ? `; compared in full: ${r.comparedInFull.map((n) => JSON.stringify(n)).join(', ')})`
        : ')'
  }
  return out
}

function lastFence(log: WriteLog, leases: readonly ReplicaLease[]): string | undefined {
  let last: string | undefined
  for (const l of leases) {
    const p = l.fence?.position
    if (p !== undefined && (last === undefined || log.compare(p, last) > 0)) last = p
  }
  return last
}

function finish(
  r: MigrationRecord,
  id: string,
  outcome: 'done' | 'aborted',
  steps: readonly CutoverStep[],
  maxPauseMs: number,
  reason?: string,
): MigrationRecord {
  return {
    ...r,
    cutovers: r.cutovers.map((a) =>
      a.id === id ? { ...a, outcome, steps: [...steps], maxPauseMs, ...(reason === undefined ? {} : { reason }) } : a,
    ),
  }
}
