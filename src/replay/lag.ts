import type { Position, WriteLog } from '../writelog/contract.js'

// How far behind the log's tail the replayer is, for its status. Asking a log for its tail
// costs a request on some backends (Kafka, S3), so the tail is looked up at most once a
// second, and whenever the checkpoint has passed the tail last seen.

export class TailWatch {
  #tail: Position | undefined
  #lookedUpAt = 0

  constructor(private readonly log: WriteLog) {}

  /** The log's tail, looked up again when `force`d, stale, or behind `committed`. */
  async tail(committed: Position | undefined, force: boolean, now: number): Promise<Position | undefined> {
    const last = this.#tail
    const behind = last !== undefined && committed !== undefined && this.log.compare(committed, last) > 0
    if (force || behind || now - this.#lookedUpAt >= 1000) {
      this.#lookedUpAt = now
      this.#tail = await this.log.tail().catch(() => this.#tail)
    }
    return this.#tail
  }
}

/** Records between the checkpoint and the tail. A log whose positions do not count records
 *  (S3) still says when the replayer is at its tail: 0 then, unknown otherwise (the cutover
 *  waits for the 0). */
export function lagInRecords(
  log: WriteLog,
  committed: Position | undefined,
  tail: Position | undefined,
): number | undefined {
  if (tail === undefined) return 0
  if (log.distance) return log.distance(committed, tail)
  return committed !== undefined && log.compare(committed, tail) >= 0 ? 0 : undefined
}

/** Seconds (one decimal) since the oldest write not yet applied was made; 0 when caught up. */
export function lagInSeconds(lagRecords: number | undefined, oldestWaitingTs: number | undefined, now: number): number {
  return lagRecords === 0 ? 0 : Math.max(0, Math.round((now - (oldestWaitingTs ?? now)) / 100) / 10)
}
