import type { Logger } from '../logger.js'
import type { ControlStore } from './contract.js'

// Sends a worker's progress to the control store, at most every `intervalMs` (the latest
// value wins; one write in flight at a time). Best effort: the worker's own checkpoint (the
// copy's file, the log's consumer offset) is what it resumes from, so a control store that
// does not answer costs a stale `vecshift status`, never the work. flush() sends the last.

export class ProgressReporter {
  #latest: unknown
  #pending = false
  #inFlight: Promise<void> | undefined
  #lastAt = 0
  #timer: NodeJS.Timeout | undefined
  #warned = false

  constructor(
    private readonly control: ControlStore,
    private readonly name: string,
    private readonly intervalMs = 500,
    private readonly logger?: Logger,
  ) {}

  update(value: unknown): void {
    this.#latest = value
    this.#pending = true
    if (this.#inFlight || this.#timer) return
    const wait = this.#lastAt + this.intervalMs - Date.now()
    if (wait <= 0) this.#send()
    else {
      this.#timer = setTimeout(() => {
        this.#timer = undefined
        this.#send()
      }, wait)
      this.#timer.unref()
    }
  }

  /** Sends what is pending now and waits for it. */
  async flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    await this.#inFlight
    if (this.#pending) this.#send()
    await this.#inFlight
  }

  #send(): void {
    if (!this.#pending) return
    this.#pending = false
    this.#lastAt = Date.now()
    const value = this.#latest
    this.#inFlight = this.control
      .report(this.name, value)
      .then(
        () => {
          this.#warned = false
        },
        (err: unknown) => {
          if (!this.#warned)
            this.logger?.warn(
              { err, report: this.name },
              'could not report progress to the control store; the work goes on',
            )
          this.#warned = true
        },
      )
      .finally(() => {
        this.#inFlight = undefined
        if (this.#pending) this.update(this.#latest)
      })
  }
}
