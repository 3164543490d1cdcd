import { type ReplayStatus, ReplayStatusFile } from '../replay/status.js'

// The replayers' lag over the last minutes, for the status page's chart. The replayer
// itself keeps only its latest status (a file or a control-store report); the gateway
// samples it on a timer so that the page can show whether the lag is shrinking.

export interface LagSample {
  /** Milliseconds since the epoch. */
  readonly at: number
  readonly consumer: string
  readonly lagRecords: number | null
  readonly lagSeconds: number
}

export class LagHistory {
  readonly #samples: LagSample[] = []
  readonly #capacity: number
  readonly #read: () => Promise<ReplayStatus[]>
  #timer: NodeJS.Timeout | undefined

  /** `capacity` samples per consumer at most (a bounded ring, whatever the uptime). */
  constructor(read: () => Promise<ReplayStatus[]>, options: { capacity?: number } = {}) {
    this.#read = read
    this.#capacity = options.capacity ?? 600
  }

  start(everyMs: number): void {
    if (this.#timer) return
    void this.sample()
    this.#timer = setInterval(() => void this.sample(), everyMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** Takes one sample of every replayer that reports a status. Never throws: a status file
   *  that cannot be read leaves a gap in the chart, not an error. */
  async sample(now = Date.now()): Promise<void> {
    const statuses = await this.#read().catch(() => [])
    for (const s of statuses) {
      this.#samples.push({ at: now, consumer: s.consumer, lagRecords: s.lagRecords ?? null, lagSeconds: s.lagSeconds })
    }
    const consumers = new Set(this.#samples.map((s) => s.consumer)).size
    const excess = this.#samples.length - this.#capacity * Math.max(1, consumers)
    if (excess > 0) this.#samples.splice(0, excess)
  }

  samples(): readonly LagSample[] {
    return this.#samples
  }
}

/** Reads the replayers' status files (forward and rollback), for /metrics and the status page:
 *  replay.dataDir, shared with the replayer when it runs on this host or the directory is on a
 *  shared volume. A file that cannot be read is left out. */
export function replayStatusReader(dataDir: string, migration: string): () => Promise<ReplayStatus[]> {
  const files = ['replay', 'rollback'].map((c) => new ReplayStatusFile(dataDir, migration, c))
  return async () =>
    (await Promise.all(files.map((f) => f.load().catch(() => undefined)))).filter((s) => s !== undefined)
}
