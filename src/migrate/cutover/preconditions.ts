import type { ReplicaLease } from '../../control/contract.js'
import type { MigrationRecord } from '../../control/record.js'
import { E, VecshiftError } from '../../errors.js'
import { wholeWrites } from '../../replay/dirty.js'
import type { ReplayStatus } from '../../replay/status.js'
import type { CutoverOptions } from './coordinator.js'
import { pause } from './deadline.js'
import { unreconcilable } from './reconcile.js'
import { PHASE_MOVES } from './phases.js'

// What must hold before a cutover (or a rollback) may start, each refusal saying what to do;
// and the wait for the replayer that the steps before the pause share.

/** The replayer reports its status after each batch it applies. */
const CATCH_UP_POLL_MS = 20

export async function refusal(o: CutoverOptions, record: MigrationRecord): Promise<string | undefined> {
  const direction = o.direction ?? 'cutover'
  const from = PHASE_MOVES[direction].from
  const replayCommand = direction === 'cutover' ? 'vecshift replay --follow' : 'vecshift replay --reverse --follow'
  if (record.phase !== from) return `the migration is in phase ${record.phase}; a ${direction} starts from ${from}`
  if (direction === 'cutover' && !o.copy?.finishedAt)
    return 'the copy has not finished (vecshift copy; vecshift status shows its progress)'
  const replay = await o.replayStatus()
  if (!replay) return `no replayer has reported; run \`${replayCommand}\` beside the gateway`
  if (replay.failed) {
    const f = replay.failed
    return (
      `the target refused a logged write for good (${f.what}` +
      (f.namespace !== undefined ? `, namespace ${JSON.stringify(f.namespace)}` : '') +
      (f.id !== undefined ? `, id ${JSON.stringify(f.id)}` : '') +
      `, after ${f.after ?? 'the start'}: ${f.error}); replay stopped before it, so the target would diverge: ` +
      `make the target accept it and run \`${replayCommand}\` again ` +
      '(docs/replay-and-cutover.md, "A write the target refuses")'
    )
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
      return (
        `the last verification (${v.finishedAt}) failed: ${(v.failures ?? []).join('; ') || 'see vecshift verify'}; ` +
        'fix the target and run `vecshift verify` again'
      )
    if (Date.now() - Date.parse(v.finishedAt) > maxAge)
      return (
        `the last passing verification is from ${v.finishedAt}, ` +
        `older than cutover.verifyMaxAgeMs (${maxAge} ms): run \`vecshift verify\` again`
      )
  }
  // Writes by filter since capture began are reconciled before the pause (pre-reconcile):
  // refuse when that cannot be done, or when the dirty set read here is not the replayer's.
  const whole = await wholeWrites(o.dirtyPath)
  if (replay.counts.filterWrites > whole.count)
    return (
      `the replayer applied ${replay.counts.filterWrites} writes by filter or delete-all, ` +
      `but the dirty set the ${direction} reads (${o.dirtyPath}) holds ${whole.count}: ` +
      `those writes have not been reconciled; run the ${direction} with the replayer's replay.dataDir and migration.id`
    )
  if (whole.count > 0) {
    const why = await unreconcilable(o.source, o.target)
    if (why)
      return (
        `${whole.count} writes by filter or delete-all since capture began ` +
        `(namespaces ${whole.namespaces.map((n) => JSON.stringify(n)).join(', ')}) ` +
        `have not been reconciled and cannot be: ${why}; ` +
        "copy those namespaces again from a file of the source's ids (copy.idsFile, docs/copy.md) while the replayer follows"
      )
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
export async function replayerReaches(
  o: CutoverOptions,
  timeoutMs: number,
  reached: (s: ReplayStatus | undefined) => string | undefined,
  refusal: (s: ReplayStatus | undefined) => string,
  signal: AbortSignal,
): Promise<string> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const s = await o.replayStatus()
    const done = reached(s)
    if (done !== undefined) return done
    if (Date.now() >= until) throw new VecshiftError(E.CUTOVER_REFUSED, [refusal(s)])
    await pause(CATCH_UP_POLL_MS, signal)
  }
}
