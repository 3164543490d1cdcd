import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { ReplicaLease } from '../../control/contract.js'
import {
  HISTORY,
  transitioned,
  type CutoverAttempt,
  type CutoverStep,
  type MigrationRecord,
} from '../../control/record.js'
import { E, VecshiftError } from '../../errors.js'
import type { WriteLog } from '../../writelog/contract.js'
import type { CutoverOptions } from './coordinator.js'
import { pause } from './deadline.js'
import { type Direction, PHASE_MOVES } from './phases.js'
import { refusal, replayerReaches } from './preconditions.js'
import { reconcile, type ReconcileResult } from './reconcile.js'

// The cutover, and the rollback, as a table: each step has a name, what it does, the stage it
// belongs to and its deadline, and one function that runs it. coordinator.ts runs the table
// in order: it times each step, reports it, gives it an AbortSignal that fires at its
// deadline, and decides what a failure means from the stage:
// - prepare: before the write pause. Nothing has changed yet; a failure refuses the cutover.
// - pause: from the barrier on, every step shares the write-pause budget (cutover.maxPauseMs,
//   barrier to flip). A failure, or the budget running out, aborts: phase back to where it
//   started, held writes released there, the reason in the record.
// `vecshift cutover --help` and docs/replay-and-cutover.md print this table (stepsHelp()).

/** How long the preconditions may take: control store and status reads, and a few seconds
 *  for replicas to act on the latest epoch. */
export const PRECONDITIONS_MS = 15_000
/** Replicas report a new epoch within a poll of the control store; the preconditions wait
 *  this long for them before refusing. */
const EPOCH_CATCH_UP_MS = 5_000
const DEFAULT_BARRIER_LAG = 100
const DEFAULT_CATCH_UP_MS = 30_000
const DEFAULT_PRE_RECONCILE_MS = 30 * 60_000
/** A step before the pause that waits on the replayer refuses, with the replayer's state, at
 *  its own bound; the step's deadline is that bound plus this, so the refusal says why. */
const REFUSAL_MARGIN_MS = 2_000
/** The attempt's hard deadline is the pause budget plus this: time for the coordinator's own
 *  abort to be written first, when it is alive to write it. */
const DEADLINE_MARGIN_MS = 1_000

/** One cutover as it runs: what the steps learn and hand on. */
export interface CutoverRun {
  readonly o: CutoverOptions
  readonly direction: Direction
  record: MigrationRecord
  /** Steps finished so far (the flip writes them into the record). */
  readonly steps: CutoverStep[]
  /** The pre-reconcile's pass: the in-pause reconcile starts where it ended. */
  before?: ReconcileResult
  /** From the barrier on. */
  attempt?: CutoverAttempt
  barrierEpoch?: number
  /** When the barrier's record was acknowledged: the pause as the control store saw it. */
  pauseStartedAt?: number
  fences?: readonly ReplicaLease[]
  /** Renews the coordinator's lease now (the barrier names its attempt in it at once). */
  renewLease?: (() => Promise<void>) | undefined
}

export interface StepSpec {
  readonly name: string
  /** What the step does, for --help and the docs. */
  readonly does: string
  readonly stage: 'prepare' | 'pause'
  /** Its deadline in words, for --help and the docs. */
  readonly deadline: string
  /** Its own deadline in ms; a step in the pause also ends with the pause budget. */
  readonly deadlineMs: (o: CutoverOptions) => number
  /** Runs the step; its answer is the step's detail. Throws CUTOVER_REFUSED to refuse. */
  readonly run: (run: CutoverRun, signal: AbortSignal) => Promise<string>
}

/** Every step in the write pause shares its budget. */
const IN_PAUSE = {
  stage: 'pause',
  deadline: 'the pause budget',
  deadlineMs: (o: CutoverOptions) => o.maxPauseMs,
} as const

export const STEPS: readonly StepSpec[] = [
  {
    name: 'preconditions',
    does:
      'copy done, replayer following with lag <= cutover.maxLagRecords and no refused write, writes by filter ' +
      'reconcilable, every live gateway replica on the latest epoch',
    stage: 'prepare',
    deadline: `${PRECONDITIONS_MS / 1000} s`,
    deadlineMs: () => PRECONDITIONS_MS,
    run: async (run, signal) => {
      const { o } = run
      const waitUntil = Date.now() + EPOCH_CATCH_UP_MS
      let why = await refusal(o, run.record)
      while (why?.includes('older epoch') && Date.now() < waitUntil) {
        await pause(50, signal)
        run.record = await o.control.read()
        why = await refusal(o, run.record)
      }
      if (why) throw new VecshiftError(E.CUTOVER_REFUSED, [why])
      return `replicas and replayer ready; copy ${o.copy?.finishedAt ? 'done' : '?'}`
    },
  },
  {
    name: 'pre-reconcile',
    does:
      'while traffic flows: the replayer applies what was logged before the cutover began, then every id ' +
      'written since capture began (and every namespace a write by filter touched) is compared and repaired',
    stage: 'prepare',
    deadline: 'cutover.preReconcileTimeoutMs',
    deadlineMs: (o) => o.preReconcileTimeoutMs ?? DEFAULT_PRE_RECONCILE_MS,
    run: async (run, signal) => {
      run.before = await preReconcile(run, signal)
      return reconcileDetail(run.before)
    },
  },
  {
    name: 'catch-up',
    does: "the replayer comes within cutover.barrierLagRecords of the log's tail, so the drain in the pause is short",
    stage: 'prepare',
    deadline: 'cutover.catchUpTimeoutMs',
    deadlineMs: (o) => (o.catchUpTimeoutMs ?? DEFAULT_CATCH_UP_MS) + REFUSAL_MARGIN_MS,
    run: (run, signal) => catchUp(run.o, signal),
  },
  {
    name: 'barrier',
    does: 'phase cutover: every live replica holds new writes, finishes those in flight and appends a fence',
    ...IN_PAUSE,
    run: async (run, signal) => {
      await beginPause(run)
      const epoch = run.barrierEpoch
      run.fences = await poll(signal, 5, async () => {
        const live = (await run.o.control.replicas()).filter((l) => Date.parse(l.expiresAt) > Date.now())
        return live.length > 0 && live.every((l) => l.fence?.epoch === epoch) ? live : undefined
      })
      return `${run.fences.length} replica(s) holding writes`
    },
  },
  {
    name: 'drain',
    does: 'the replayer applies everything up to the last fence',
    ...IN_PAUSE,
    run: async (run, signal) => {
      const last = lastFence(run.o.log, run.fences ?? [])
      if (last === undefined) return 'no fence (no replica logs writes)'
      await poll(signal, 5, async () => {
        const s = await run.o.replayStatus()
        return s?.checkpoint !== undefined && run.o.log.compare(s.checkpoint, last) >= 0 ? true : undefined
      })
      return `applied through ${last}`
    },
  },
  {
    name: 'reconcile',
    does: 'ids written since the pre-reconcile, and those it repaired, are compared and repaired',
    ...IN_PAUSE,
    run: async (run, signal) => {
      // Writes by filter read here were logged after the pre-reconcile began, so after the
      // copy: the replayer applied them on top of it (counted, not matched again). The ids
      // the pre-reconcile repaired are checked again: a repair can have landed after a newer
      // write while traffic flowed.
      const r = await reconcile(run.o.source, run.o.target, run.o.dirtyPath, {
        from: run.before?.offset ?? 0,
        also: run.before?.repairedIds ?? new Map(),
        wholeWrites: 'count',
        signal,
      })
      let out = `${r.checked} ids checked, ${r.repaired} repaired`
      if (r.filterWrites > 0)
        out +=
          `; ${r.filterWrites} writes by filter since the pre-reconcile, applied after the copy ` +
          `(namespaces ${namespaces(r.wholeNamespaces)})`
      return out
    },
  },
  {
    name: 'flip',
    does:
      'one compare-and-set of the record: reads and writes to the other side, held writes released to it. ' +
      'The commit point: once written, a flip is never undone by an abort',
    ...IN_PAUSE,
    run: async (run) => {
      const { o, direction } = run
      const started = Date.now()
      const attempt = run.attempt as CutoverAttempt
      // The record the flip writes carries the steps, its own included: the history shows the
      // flip timed up to that write (the step list returned times it to the acknowledgement).
      run.record = await o.control.update(run.barrierEpoch as number, (r) =>
        finishAttempt(
          transitioned(r, PHASE_MOVES[direction].done, o.by, `${direction}: flipped`),
          attempt.id,
          'done',
          [
            ...run.steps,
            { name: 'flip', startedAt: new Date(started).toISOString(), ms: Date.now() - started, ok: true },
          ],
          Date.now() - (run.pauseStartedAt as number),
        ),
      )
      return `epoch ${run.record.epoch}, phase ${run.record.phase}`
    },
  },
]

/** The table as lines of text, for --help and the docs. */
export function stepsHelp(): string {
  const width = Math.max(...STEPS.map((s) => s.name.length))
  const lines: string[] = []
  for (const stage of ['prepare', 'pause'] as const) {
    lines.push(
      stage === 'prepare'
        ? 'Before the write pause (a failure refuses; nothing has changed):'
        : 'In the write pause, cutover.maxPauseMs from the barrier to the flip (a failure or the budget aborts):',
    )
    for (const s of STEPS.filter((x) => x.stage === stage))
      lines.push(...wrap(`  ${s.name.padEnd(width)}  `, `${s.does} [deadline: ${s.deadline}]`, 96))
  }
  return lines.join('\n')
}

/** `text` after `lead`, wrapped at `width` columns, continuation lines indented under it. */
function wrap(lead: string, text: string, width: number): string[] {
  const lines: string[] = []
  let line = lead
  for (const word of text.split(' ')) {
    if (line.length + word.length + 1 > width && line.trim() !== '') {
      lines.push(line.trimEnd())
      line = ' '.repeat(lead.length)
    }
    line += `${word} `
  }
  lines.push(line.trimEnd())
  return lines
}

async function preReconcile(run: CutoverRun, signal: AbortSignal): Promise<ReconcileResult> {
  const { o, direction } = run
  // Reconcile everything written so far while traffic still flows, so that the pause only
  // has to cover what is written from now on. First the replayer applies every write logged
  // before now (the copy finished before now): a write by filter applied later than that was
  // logged after the copy and lands on top of it, so the pause need not look at it again.
  const from = await o.log.tail()
  const waitMs = o.catchUpTimeoutMs ?? DEFAULT_CATCH_UP_MS
  if (from !== undefined) {
    await replayerReaches(
      o,
      waitMs,
      (s) => (s?.checkpoint !== undefined && o.log.compare(s.checkpoint, from) >= 0 ? 'applied' : undefined),
      () =>
        `the replayer did not apply the writes logged before the cutover began (through ${from}) in ${waitMs} ms; ` +
        'see `vecshift status`, then try again',
      signal,
    )
  }
  return reconcile(o.source, o.target, o.dirtyPath, {
    wholeWrites: 'reconcile',
    // A copy that ran with the write log says which namespaces it could not position; one
    // that did not (collection strategy, or capture began after it) positioned none. A
    // rollback has no copy: the reverse log is all there is.
    unpositioned: direction === 'rollback' ? new Set() : o.copy?.settle ? new Set(o.copy.settle.unpositioned) : 'all',
    ...(o.onReconcileProgress ? { onProgress: o.onReconcileProgress } : {}),
    signal,
  })
}

/** The pause is bounded, so the replayer's work before the fence should be small. A replayer
 *  that cannot get close while writes flow applies slower than they arrive: that is a refusal
 *  to fix first, not a pause to gamble on. */
function catchUp(o: CutoverOptions, signal: AbortSignal): Promise<string> {
  const barrierLag = o.barrierLagRecords ?? DEFAULT_BARRIER_LAG
  const catchUpMs = o.catchUpTimeoutMs ?? DEFAULT_CATCH_UP_MS
  return replayerReaches(
    o,
    catchUpMs,
    (s) =>
      s && s.retrying === undefined && s.lagRecords !== undefined && s.lagRecords <= barrierLag
        ? `replay lag ${s.lagRecords} records`
        : undefined,
    (s) => {
      const lag =
        s?.retrying !== undefined ? `retrying (${s.retrying})` : `${s?.lagRecords ?? 'unknown'} records behind`
      return (
        `the replayer did not come within ${barrierLag} records of the log's tail in ${catchUpMs} ms (${lag}); ` +
        'it applies writes slower than they arrive, or the target is failing: see `vecshift status`, then try again'
      )
    },
    signal,
  )
}

/** The barrier's record: the phase that holds writes, and the attempt, started. */
async function beginPause(run: CutoverRun): Promise<void> {
  const { o, direction } = run
  const attempt: CutoverAttempt = {
    id: randomUUID(),
    kind: direction,
    startedAt: new Date().toISOString(),
    outcome: 'running',
    steps: [],
    owner: { host: hostname(), pid: process.pid },
    // The gateways end the pause by themselves past this, whatever became of this process.
    deadline: new Date(Date.now() + o.maxPauseMs + DEADLINE_MARGIN_MS).toISOString(),
  }
  run.attempt = attempt
  run.record = await o.control.update(run.record.epoch, (r) => ({
    ...transitioned(r, PHASE_MOVES[direction].hold, o.by, `${direction}: barrier`),
    cutovers: [...r.cutovers, attempt].slice(-HISTORY),
  }))
  run.barrierEpoch = run.record.epoch
  run.pauseStartedAt = Date.now()
  await run.renewLease?.()
}

/** Asks `probe` every `everyMs` until it answers; the step's signal ends the wait. */
async function poll<T>(signal: AbortSignal, everyMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    signal.throwIfAborted()
    const v = await probe()
    if (v !== undefined) return v
    await pause(everyMs, signal)
  }
}

function lastFence(log: WriteLog, leases: readonly ReplicaLease[]): string | undefined {
  let last: string | undefined
  for (const l of leases) {
    const p = l.fence?.position
    if (p !== undefined && (last === undefined || log.compare(p, last) > 0)) last = p
  }
  return last
}

/** Up to 20 namespace names, quoted, and how many more. */
function namespaces(names: readonly string[]): string {
  const shown = names
    .slice(0, 20)
    .map((n) => JSON.stringify(n))
    .join(', ')
  return shown + (names.length > 20 ? `, and ${names.length - 20} more` : '')
}

function reconcileDetail(r: ReconcileResult): string {
  let out = `${r.checked} ids checked, ${r.repaired} repaired`
  if (r.filterWrites > 0) {
    out +=
      `; ${r.filterWrites} writes by filter or delete-all in ${r.wholeNamespaces.length} namespace(s) reconciled ` +
      `(${namespaces(r.wholeNamespaces)}; ${r.matched} records matched their filters`
    out += r.comparedInFull.length > 0 ? `; compared in full: ${namespaces(r.comparedInFull)})` : ')'
  }
  return out
}

/** The record with attempt `id` ended: its outcome, steps and pause. */
export function finishAttempt(
  r: MigrationRecord,
  id: string,
  outcome: 'done' | 'aborted',
  steps: readonly CutoverStep[],
  pauseMs: number,
  reason?: string,
): MigrationRecord {
  return {
    ...r,
    cutovers: r.cutovers.map((a) =>
      a.id === id ? { ...a, outcome, steps: [...steps], pauseMs, ...(reason === undefined ? {} : { reason }) } : a,
    ),
  }
}
