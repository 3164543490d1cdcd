import { setTimeout as sleep } from 'node:timers/promises'

// Bounded retries for remote peers (the kafka and s3 write logs, the stores). The caller says which
// errors are worth retrying (an allowlist: connection failures, timeouts, throttling); any
// other error, or running out of time, ends the loop with the last error so the append
// rejects loudly instead of hanging.

export interface RetryPolicy {
  /** First backoff before jitter. */
  readonly baseMs: number
  /** Cap on one backoff. */
  readonly maxMs: number
  /** Total time for all attempts, measured from the first one. */
  readonly deadlineMs: number
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({ baseMs: 50, maxMs: 1000, deadlineMs: 10_000 })

/** "Full jitter" exponential backoff: a uniform delay in [0, min(max, base * 2^attempt)],
 *  so many gateway replicas retrying at once do not hit the peer in lockstep. */
export function backoffMs(attempt: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 20))
  return Math.floor(Math.random() * ceiling)
}

export interface RetryOptions {
  readonly policy: RetryPolicy
  readonly isRetriable: (err: unknown) => boolean
  /** Called before each retry (for a log line); not called for the first attempt. */
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void
  /** Once aborted, no further attempt starts and the backoff ends: rejects with its reason. */
  readonly signal?: AbortSignal
}

export async function withRetries<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const started = Date.now()
  const { signal } = options
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted()
    try {
      return await fn(attempt)
    } catch (err) {
      if (!options.isRetriable(err)) throw err
      const delay = backoffMs(attempt, options.policy)
      if (Date.now() - started + delay >= options.policy.deadlineMs) throw err
      options.onRetry?.(err, attempt + 1, delay)
      await sleep(delay, undefined, signal ? { signal } : {}).catch(() => signal?.throwIfAborted())
    }
  }
}
