import { setTimeout as sleep } from 'node:timers/promises'

// One way to give work a deadline: the work gets an AbortSignal that fires at the deadline
// (or when the caller's signal does), the caller stops waiting at that moment, and then waits
// a short, bounded while for the work to settle. Stopping to wait is not enough on its own:
// a reconcile that goes on after its cutover aborted would write the source's state of an id
// into the target after the replayer wrote a newer one. The signal stops the work from
// starting anything new; the settle wait lets a store call already sent finish, so that once
// this returns nothing of the work can still land.

export interface DeadlineOptions {
  /** From now. */
  readonly ms: number
  /** The error the work's signal is aborted with (and thrown) when the deadline passes. */
  readonly timeout: () => Error
  /** How long to wait for the work to settle once it has been aborted. */
  readonly settleMs: number
  /** An outer cancellation (the operator's), which aborts the work the same way. */
  readonly signal?: AbortSignal
}

/** A deadline passed or the work failed, and the work did not settle within settleMs. */
export class Unsettled extends Error {}

export async function withDeadline<T>(work: (signal: AbortSignal) => Promise<T>, o: DeadlineOptions): Promise<T> {
  const own = new AbortController()
  const signal = o.signal ? AbortSignal.any([own.signal, o.signal]) : own.signal
  const timer = setTimeout(() => own.abort(o.timeout()), Math.max(0, o.ms))
  const running = (async () => work(signal))()
  running.catch(() => undefined)
  try {
    return await Promise.race([running, rejectOnAbort(signal)])
  } catch (err) {
    // A failure of the work itself stops whatever of it still runs, as a timeout does.
    if (!signal.aborted) own.abort(err)
    if (!(await settles(running, o.settleMs)))
      throw new Unsettled(`${(err as Error).message} (work still in flight ${o.settleMs} ms after it was stopped)`, {
        cause: err,
      })
    throw err
  } finally {
    clearTimeout(timer)
  }
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason)
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true })
  })
}

async function settles(p: Promise<unknown>, ms: number): Promise<boolean> {
  const stop = new AbortController()
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      sleep(ms, false, { signal: stop.signal }),
    ])
  } finally {
    stop.abort()
  }
}

/** A pause between polls that ends early, rejecting, when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => signal.throwIfAborted())
}
