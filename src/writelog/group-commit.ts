import { E, VecshiftError, isVecshiftError } from '../errors.js'
import type { Position } from './contract.js'
import type { LogRecord } from './record.js'

// The append queue shared by the remote backends (kafka, s3): a bounded queue, batches
// bounded in records and bytes, a linger bound, and one batch in flight at a time.
//
// Group commit: while one batch is being made durable, new appends queue up and leave
// together in the next batch, so under load one round trip covers many writes. When the
// log is idle, the first append waits at most `lingerMs` for company before it is sent.
// Keeping one batch in flight is what keeps a backend's writes in append order (a retried
// batch never overtakes nor is overtaken by a later one).
//
// Backpressure: bytes accepted but not yet durable are capped at `maxQueueBytes`; an append
// beyond that is refused at once with LOG_BACKPRESSURE (503, retriable) rather than queued,
// so a slow peer turns into fast, honest refusals instead of unbounded memory and latency.

export interface GroupCommitOptions {
  /** Named in error messages: "kafka", "s3". */
  readonly backend: string
  readonly maxQueueBytes: number
  readonly maxBatchRecords: number
  readonly maxBatchBytes: number
  readonly lingerMs: number
}

export interface Queued<T> {
  readonly record: LogRecord
  /** What the backend prepared at append time (encoded frames, planned messages). */
  readonly prepared: T
  readonly bytes: number
  /** Index of the record within its append call, and that call. */
  readonly index: number
  readonly owner: object
}

/** Makes one batch durable: a position or an error per record, in batch order. Throwing
 *  fails the whole batch. */
export type FlushBatch<T> = (batch: readonly Queued<T>[]) => Promise<ReadonlyArray<Position | Error>>

interface PendingAppend<T> {
  readonly items: Queued<T>[]
  readonly positions: Array<Position | undefined>
  remaining: number
  failure: Error | undefined
  readonly resolve: (positions: Position[]) => void
  readonly reject: (err: Error) => void
}

export class GroupCommit<T> {
  readonly #options: GroupCommitOptions
  readonly #prepare: (record: LogRecord) => { prepared: T; bytes: number }
  readonly #flushBatch: FlushBatch<T>
  #queue: Queued<T>[] = []
  #queuedBytes = 0
  #flushing: Promise<void> | undefined
  #timer: NodeJS.Timeout | undefined
  #closed = false

  constructor(
    options: GroupCommitOptions,
    prepare: (record: LogRecord) => { prepared: T; bytes: number },
    flush: FlushBatch<T>,
  ) {
    this.#options = options
    this.#prepare = prepare
    this.#flushBatch = flush
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Bytes accepted and not yet durable (queued or in flight). */
  get pendingBytes(): number {
    return this.#queuedBytes
  }

  append(records: readonly LogRecord[]): Promise<Position[]> {
    if (this.#closed) return Promise.reject(new VecshiftError(E.LOG_CLOSED))
    if (records.length === 0) return Promise.resolve([])
    let prepared: Array<{ prepared: T; bytes: number }>
    try {
      prepared = records.map((r) => this.#prepare(r))
    } catch (err) {
      return Promise.reject(err)
    }
    const bytes = prepared.reduce((n, p) => n + p.bytes, 0)
    // One append larger than the whole queue is still accepted when the queue is empty, or
    // it could never be written at all.
    if (this.#queuedBytes > 0 && this.#queuedBytes + bytes > this.#options.maxQueueBytes) {
      return Promise.reject(
        new VecshiftError(E.LOG_BACKPRESSURE, [this.#options.backend, this.#queuedBytes], { retryAfter: 1 }),
      )
    }
    return new Promise<Position[]>((resolve, reject) => {
      const owner: PendingAppend<T> = {
        items: [],
        positions: new Array(records.length).fill(undefined),
        remaining: records.length,
        failure: undefined,
        resolve,
        reject,
      }
      records.forEach((record, index) => {
        const p = prepared[index] as { prepared: T; bytes: number }
        owner.items.push({ record, prepared: p.prepared, bytes: p.bytes, index, owner })
      })
      this.#queue.push(...owner.items)
      this.#queuedBytes += bytes
      this.#schedule()
    })
  }

  /** Stops accepting appends and waits until everything accepted is durable or failed:
   *  callers of accepted appends may be about to acknowledge a client. */
  async close(): Promise<void> {
    this.#closed = true
    if (this.#timer) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    for (;;) {
      if (this.#queue.length > 0 && !this.#flushing) this.#start()
      if (!this.#flushing) return
      await this.#flushing
    }
  }

  #schedule(): void {
    if (this.#flushing) return
    const full = this.#queue.length >= this.#options.maxBatchRecords || this.#queuedBytes >= this.#options.maxBatchBytes
    if (full || this.#options.lingerMs <= 0 || this.#closed) {
      this.#start()
    } else if (!this.#timer) {
      this.#timer = setTimeout(() => this.#start(), this.#options.lingerMs)
    }
  }

  #start(): void {
    if (this.#timer) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    if (this.#flushing) return
    this.#flushing = this.#loop().finally(() => {
      this.#flushing = undefined
      // An append may have been queued after the loop's last look at the queue (its caller
      // ran between the loop's end and this callback).
      if (this.#queue.length > 0) this.#schedule()
    })
  }

  async #loop(): Promise<void> {
    // Appends that arrive while a batch is in flight have already waited at least that
    // long: they go out as soon as it is done, without a second linger.
    while (this.#queue.length > 0) {
      const batch = this.#take()
      if (batch.length === 0) continue
      let results: ReadonlyArray<Position | Error>
      try {
        results = await this.#flushBatch(batch)
      } catch (err) {
        const error = this.#asLogError(err)
        results = batch.map(() => error)
      }
      for (const [i, item] of batch.entries()) {
        this.#settle(item, results[i] ?? new VecshiftError(E.INTERNAL, ['batch result missing']))
      }
    }
  }

  #take(): Queued<T>[] {
    const batch: Queued<T>[] = []
    let bytes = 0
    while (this.#queue.length > 0) {
      const next = this.#queue[0] as Queued<T>
      const owner = next.owner as PendingAppend<T>
      if (owner.failure) {
        // The rest of an append that already failed: the caller has its answer, and
        // writing these now would only leave orphans in the log.
        this.#queue.shift()
        this.#queuedBytes -= next.bytes
        continue
      }
      if (
        batch.length > 0 &&
        (batch.length >= this.#options.maxBatchRecords || bytes + next.bytes > this.#options.maxBatchBytes)
      )
        break
      batch.push(next)
      bytes += next.bytes
      this.#queue.shift()
    }
    return batch
  }

  #settle(item: Queued<T>, result: Position | Error): void {
    this.#queuedBytes -= item.bytes
    const owner = item.owner as PendingAppend<T>
    if (owner.failure) return
    if (result instanceof Error) {
      owner.failure = result
      owner.reject(result)
      return
    }
    owner.positions[item.index] = result
    if (--owner.remaining === 0) owner.resolve(owner.positions as Position[])
  }

  #asLogError(err: unknown): Error {
    if (isVecshiftError(err)) return err
    const message = err instanceof Error ? err.message : String(err)
    return new VecshiftError(E.LOG_UNAVAILABLE, [this.#options.backend, message], { cause: err, retryAfter: 1 })
  }
}
