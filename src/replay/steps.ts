import { setTimeout as sleep } from 'node:timers/promises'
import { E, VecshiftError } from '../errors.js'
import type { Logger } from '../logger.js'
import { backoffMs } from '../retry.js'
import type { VectorStore } from '../stores/contract.js'
import type { Position } from '../writelog/contract.js'
import { refusal } from './batch.js'
import type { ReplayFailure } from './status.js'

// How the replayer runs each step against the target or the source: a following replayer
// retries retriable failures forever (the store adapters back off within their own deadline
// first), so a write is never skipped and the lag grows and shows instead. A refusal no retry
// can change stops replay, naming the write, and is kept for `vecshift status` and the cutover.

/** Which logged write a step was writing: its namespace, the record the target refused
 *  (when a batch was narrowed down to it), and where it ends in the log. */
export interface RefusedWrite {
  readonly namespace?: string
  readonly id?: string
  readonly through?: Position | undefined
}

export interface StepOptions {
  /** The store that refuses, named in the error. */
  readonly target: VectorStore
  readonly follow: boolean
  readonly dryRun: boolean
  readonly logger?: Logger
  readonly signal?: AbortSignal
  /** The checkpoint saved, and the one that is right once what is being handled is applied. */
  readonly position: () => { readonly committed: Position | undefined; readonly handledThrough: Position | undefined }
  /** Writes the replayer's status now (it shows `retrying` and `failed`). */
  readonly report: () => Promise<unknown>
}

export class ReplaySteps {
  /** The error being retried, if any. */
  retrying: string | undefined
  /** The write the target refused for good, once it did. */
  failed: ReplayFailure | undefined

  constructor(private readonly o: StepOptions) {}

  /**
   * Runs a target/source step. `written`: the step writes logged writes to the target, and
   * says which: a refusal no retry can change then stops replay with that named
   * (E.REPLAY_REFUSED) instead of being skipped.
   */
  async run<T>(what: string, fn: () => Promise<T>, written?: (err: unknown) => Promise<RefusedWrite>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const out = await fn()
        if (this.retrying !== undefined) this.o.logger?.info({ what }, 'the target answers again; replay continues')
        this.retrying = undefined
        return out
      } catch (err) {
        if (written && refusal(err) && !this.o.signal?.aborted && !this.o.dryRun)
          throw await this.#stop(what, err, written)
        await this.#waitToRetry(what, err, attempt)
      }
    }
  }

  /** Records the refused write and answers the error that stops replay before it. */
  async #stop(what: string, err: unknown, written: (err: unknown) => Promise<RefusedWrite>): Promise<VecshiftError> {
    const { through, ...where }: RefusedWrite = await written(err).catch(() => ({}))
    const { committed, handledThrough } = this.o.position()
    const failed: ReplayFailure = {
      what,
      ...where,
      after: committed,
      through: through ?? handledThrough,
      error: (err as Error).message,
      at: new Date().toISOString(),
    }
    this.failed = failed
    this.o.logger?.error({ err, failed }, 'the target refused a logged write for good; replay stops before it')
    await this.o.report().catch(() => undefined)
    const record = [
      where.namespace !== undefined ? `namespace ${JSON.stringify(where.namespace)}` : undefined,
      where.id !== undefined ? `id ${JSON.stringify(where.id)}` : undefined,
    ]
      .filter(Boolean)
      .join(', ')
    return new VecshiftError(
      E.REPLAY_REFUSED,
      [
        this.o.target.label,
        `${what}${record ? `: ${record}` : ''}`,
        committed ?? '(the start)',
        failed.through ?? '(the start)',
        (err as Error).message,
      ],
      { cause: err },
    )
  }

  /** Waits before the next attempt, or throws `err` when there is to be none. */
  async #waitToRetry(what: string, err: unknown, attempt: number): Promise<void> {
    const retriable = err instanceof VecshiftError && err.retriable
    if (!this.o.follow || !retriable || this.o.signal?.aborted) throw err
    this.retrying = (err as Error).message
    const delay = Math.max(250, backoffMs(attempt, { baseMs: 500, maxMs: 5_000, deadlineMs: Infinity }))
    this.o.logger?.warn({ err, what, delayMs: delay }, 'replay step failed; retrying (lag grows)')
    await this.o.report()
    const signal = this.o.signal
    await sleep(delay, undefined, signal ? { signal } : {}).catch(() => undefined)
    if (signal?.aborted) throw err
  }
}
