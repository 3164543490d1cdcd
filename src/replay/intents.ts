import type { LogEntry, Position } from '../writelog/contract.js'
import type { AbandonRecord, IntentRecord, FenceRecord, OutcomeKind, OutcomeRecord } from '../writelog/record.js'

// Matches each logged intent with its outcome and releases intents in log order once their
// fate is known. The gateway logs an intent before it forwards a write and the outcome after
// the source answered (src/proxy/capture), so an intent's outcome is always later in the log,
// possibly much later and after other writes. An intent is released:
// - `ok` or `failed` when its outcome has been read;
// - `unknown` when its outcome says so (the source did not answer usably), or when none came
//   within `outcomeWaitMs` (the gateway died between the two): by log time once a record that
//   much younger has been read, or by the clock once the reader is at the end of the log.
// - `unknown` at once when a record says its gateway is dead (abandon: a gateway that took
//   over found it gone), since no outcome can come any more.
// An intent younger than that with no outcome yet holds back everything after it: the write
// may still be on its way to the source. The checkpoint never passes an unreleased intent, so
// after a restart the same intents are met again with their outcomes.

export type Intent = IntentRecord

export interface Released {
  readonly kind: 'intent'
  /** A Kafka log may carry one intent as several entries (one per partition); all parts. */
  readonly parts: readonly Intent[]
  readonly outcome: OutcomeKind
  /** True when no outcome was logged and the wait ran out. */
  readonly timedOut: boolean
  /** The checkpoint that is right once this and everything released before it is applied. */
  readonly after: Position | undefined
}

export interface ReleasedFence {
  readonly kind: 'fence'
  readonly fence: FenceRecord
  readonly after: Position | undefined
}

interface Pending {
  readonly key: string
  readonly ts: number
  /** The position of the record read just before this one: the checkpoint that keeps it. */
  readonly before: Position | undefined
  readonly parts: Intent[]
  fence?: FenceRecord
  outcome?: OutcomeKind
}

/** Outcomes of intents already released (or before the checkpoint) are dropped; a bounded
 *  memory of early outcomes covers a Kafka reader meeting an outcome before an intent part. */
const EARLY_OUTCOMES = 100_000

export class IntentTracker {
  readonly #queue: Pending[] = []
  readonly #byKey = new Map<string, Pending>()
  readonly #early = new Map<string, OutcomeKind>()
  #head = 0
  #lastRead: Position | undefined
  #newestTs = 0

  constructor(
    readonly outcomeWaitMs: number,
    start: Position | undefined,
  ) {
    this.#lastRead = start
  }

  /** Records read but held back (waiting for an outcome, or behind one that is). */
  get waiting(): number {
    return this.#queue.length - this.#head
  }

  /** The timestamp of the oldest record not yet released, for lag in seconds. */
  get oldestWaitingTs(): number | undefined {
    return this.#queue[this.#head]?.ts
  }

  /** Where a restart must begin so that nothing unreleased is skipped. */
  get checkpoint(): Position | undefined {
    const first = this.#queue[this.#head]
    return first ? first.before : this.#lastRead
  }

  offer(entry: LogEntry): void {
    const r = entry.record
    const before = this.#lastRead
    this.#lastRead = entry.position
    if (r.ts > this.#newestTs) this.#newestTs = r.ts
    if (r.op === 'outcome') {
      const key = `${r.instance}:${r.intentSeq}`
      const pending = this.#byKey.get(key)
      if (pending) {
        pending.outcome = r.outcome
      } else {
        this.#early.set(key, r.outcome)
        if (this.#early.size > EARLY_OUTCOMES) this.#early.delete(this.#early.keys().next().value as string)
      }
      return
    }
    if (r.op === 'abandon') {
      this.#abandon(r)
      return
    }
    const key = `${r.instance}:${r.seq}`
    if (r.op === 'fence') {
      this.#push({ key, ts: r.ts, before, parts: [], fence: r, outcome: 'ok' })
      return
    }
    const existing = this.#byKey.get(key)
    if (existing) {
      existing.parts.push(r)
      return
    }
    const early = this.#early.get(key)
    if (early !== undefined) this.#early.delete(key)
    this.#push({ key, ts: r.ts, before, parts: [r], ...(early === undefined ? {} : { outcome: early }) })
  }

  /** An outcome read past the point where reading stops (--until): it settles an intent
   *  before that point but moves nothing else. */
  offerOutcome(r: OutcomeRecord): void {
    const pending = this.#byKey.get(`${r.instance}:${r.intentSeq}`)
    if (pending) pending.outcome = r.outcome
    if (r.ts > this.#newestTs) this.#newestTs = r.ts
  }

  /** Every intent of the dead instance still waiting for an outcome gets `unknown`; the
   *  queue holds only what is not released yet, so this walks at most that. */
  #abandon(r: AbandonRecord): void {
    const prefix = `${r.abandoned}:`
    for (let i = this.#head; i < this.#queue.length; i++) {
      const p = this.#queue[i] as Pending
      if (p.outcome === undefined && p.key.startsWith(prefix)) p.outcome = 'unknown'
    }
  }

  #push(p: Pending): void {
    this.#queue.push(p)
    this.#byKey.set(p.key, p)
  }

  /**
   * The intents (and fences) that can be applied now, in log order. `atEnd`: the reader has
   * nothing more to read for now, so the clock decides whether a missing outcome is late.
   */
  release(now: number, atEnd: boolean): Array<Released | ReleasedFence> {
    const out: Array<Released | ReleasedFence> = []
    while (this.#head < this.#queue.length) {
      const p = this.#queue[this.#head] as Pending
      let timedOut = false
      if (p.outcome === undefined) {
        const lateByLog = this.#newestTs - p.ts > this.outcomeWaitMs
        const lateByClock = atEnd && now - p.ts > this.outcomeWaitMs
        if (!lateByLog && !lateByClock) break
        timedOut = true
      }
      this.#head++
      this.#byKey.delete(p.key)
      const after = this.#queue[this.#head]?.before ?? this.#lastRead
      if (p.fence) out.push({ kind: 'fence', fence: p.fence, after })
      else out.push({ kind: 'intent', parts: p.parts, outcome: p.outcome ?? 'unknown', timedOut, after })
    }
    // Drop released entries from the front now and then, not on every call.
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head)
      this.#head = 0
    }
    return out
  }
}
