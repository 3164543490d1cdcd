import { setTimeout as sleep } from 'node:timers/promises'

// A token bucket shared by every copy worker: `take(n)` waits until n tokens are there.
// Rate 0 means unlimited. The bucket holds at most one second's worth, so a pause (a slow
// store, a retry) does not turn into a burst afterwards.

export class TokenBucket {
  readonly #rate: number
  #tokens: number
  #last = performance.now()
  #queue: Promise<void> = Promise.resolve()

  constructor(perSecond: number) {
    this.#rate = perSecond
    this.#tokens = perSecond
  }

  take(n: number): Promise<void> {
    if (this.#rate <= 0) return Promise.resolve()
    // Takers queue in order, so a large take is not starved by small ones.
    const next = this.#queue.then(() => this.#take(n))
    this.#queue = next.catch(() => undefined)
    return next
  }

  async #take(n: number): Promise<void> {
    for (;;) {
      const now = performance.now()
      this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#last) / 1000) * this.#rate)
      this.#last = now
      // A take bigger than the bucket waits for a full bucket and goes into debt.
      if (this.#tokens >= Math.min(n, this.#rate)) {
        this.#tokens -= n
        return
      }
      await sleep(Math.ceil(((Math.min(n, this.#rate) - this.#tokens) / this.#rate) * 1000))
    }
  }
}
