import { ABORT_REPORT, type AbortRequest, type CoordinatorLease, LEASE_REPORT } from '../control/coordinator-lease.js'
import type { ControlStore } from '../control/contract.js'
import { endPause, PAUSE_ORIGIN, runningAttempt } from '../control/record.js'
import { E, VecshiftError } from '../errors.js'

// `vecshift cutover --abort` and `vecshift rollback --abort`: end a running cutover (or
// rollback) from another shell, whether its process is alive, stuck or dead.
// - In its write pause: the record goes back to where the pause started, at once (held
//   writes are released there, with no client error); a coordinator still alive then finds
//   its flip refused and reports the abort.
// - Before its pause: the coordinator is asked, through the control store, to stop; it
//   refuses within a third of its lease, having changed nothing.
// Refused (exit 2) when nothing of that kind runs; asking again after an abort is answered
// the same way as the first time was carried out (idempotent).

export type AbortOutcome =
  | { readonly outcome: 'aborted'; readonly detail: string }
  | { readonly outcome: 'asked'; readonly detail: string }
  | { readonly outcome: 'already'; readonly detail: string }

export async function abortRunning(direction: 'cutover' | 'rollback', control: ControlStore): Promise<AbortOutcome> {
  const by = `vecshift ${direction} --abort`
  const record = await control.read()
  const attempt = runningAttempt(record)
  const request: AbortRequest = { at: new Date().toISOString(), by }
  if (attempt?.kind === direction) {
    await control.report(ABORT_REPORT, request)
    try {
      const ended = await control.update(record.epoch, (r) => endPause(r, by, `aborted by the operator (${by})`))
      return {
        outcome: 'aborted',
        detail: `${direction} ${attempt.id} aborted in its write pause: phase ${ended.phase}, held writes released there`,
      }
    } catch (err) {
      // Its coordinator or a gateway ended the pause first: what was asked for holds.
      if (!(err instanceof VecshiftError && err.code === E.CONTROL_CONFLICT.code)) throw err
      const now = (await control.read()).cutovers.find((a) => a.id === attempt.id)
      if (now?.outcome === 'running') throw err
      return {
        outcome: 'already',
        detail: `${direction} ${attempt.id} ended meanwhile (${now?.outcome}): ${now?.reason}`,
      }
    }
  }
  const lease = (await control.reports())[LEASE_REPORT]?.value as CoordinatorLease | undefined
  const live = lease?.kind === direction && Date.parse(lease.expiresAt) > Date.now() ? lease : undefined
  const last = record.cutovers.filter((a) => a.kind === direction).at(-1)
  // The same request again (a retried command), while no newer run has started: what it
  // asked for holds.
  const newer = live !== undefined && (!last || Date.parse(live.startedAt) > Date.parse(last.startedAt))
  if (!newer && last?.outcome === 'aborted' && last.reason?.includes(by) && record.phase === PAUSE_ORIGIN[direction])
    return { outcome: 'already', detail: `the last ${direction} (${last.id}) is aborted already: ${last.reason}` }
  if (live) {
    await control.report(ABORT_REPORT, request)
    return {
      outcome: 'asked',
      detail:
        `asked the running ${direction} (pid ${live.pid} on ${live.host}) to stop; it has not started its ` +
        'write pause, so it refuses, having changed nothing',
    }
  }
  throw new VecshiftError(E.CUTOVER_REFUSED, [
    `no ${direction} is running (phase ${record.phase}${last ? `; the last one ended ${last.outcome}` : ''}): ` +
      'there is nothing to abort',
  ])
}
