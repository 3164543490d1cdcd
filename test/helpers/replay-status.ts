// Waiting on a replayer through its status (the file `vecshift replay` and the tests'
// replayers save, which the cutover reads): instead of a fixed sleep after starting one, a
// test waits for the status the next step needs.
import { noCounts, type ReplayStatus } from '../../src/replay/status.js'
import { until } from './until.js'

export interface ReplayFollowingOptions {
  /** The lag, in records, the status must be at or under (a cutover's maxLagRecords). */
  readonly maxLagRecords: number
  readonly timeoutMs?: number
  /** What the test waits for, for the failure message. */
  readonly what?: string
}

/** Waits until the replayer reports a status a cutover's preconditions accept: saved, not
 *  retrying a failed step, with a known lag at or under `maxLagRecords`. A status read while
 *  it is being replaced counts as none yet. */
export async function untilReplayFollowing(
  load: () => Promise<ReplayStatus | undefined>,
  options: ReplayFollowingOptions,
): Promise<void> {
  let last: ReplayStatus | undefined
  await until(
    async () => {
      last = await load().catch(() => undefined)
      return (
        last !== undefined &&
        last.retrying === undefined &&
        last.lagRecords !== undefined &&
        last.lagRecords <= options.maxLagRecords
      )
    },
    {
      timeoutMs: options.timeoutMs ?? 30_000,
      intervalMs: 50,
      what: options.what ?? `the replayer to follow the log within ${options.maxLagRecords} records`,
      onTimeout: () =>
        last === undefined
          ? 'no status saved'
          : `last status: lag ${last.lagRecords ?? 'unknown'} records${last.retrying ? `, retrying (${last.retrying})` : ''}`,
    },
  )
}

/** The status of a replayer that is caught up with an empty log, with `over` on top: what a
 *  test that drives the cutover directly hands it as the replayer's report. */
export function caughtUpStatus(over: Partial<ReplayStatus> = {}): ReplayStatus {
  return {
    consumer: 'replay',
    checkpoint: undefined,
    tail: undefined,
    lagRecords: 0,
    lagSeconds: 0,
    awaitingOutcome: 0,
    dirtyIds: 0,
    lastFence: undefined,
    retrying: undefined,
    updatedAt: new Date().toISOString(),
    counts: noCounts(),
    ...over,
  }
}
