import { E, VecshiftError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import type { Position } from '../contract.js'
import type { Queued } from '../group-commit.js'
import { backoffMs, type RetryPolicy } from '../../retry.js'
import { describe, isRetriableS3Error, type S3Store } from './client.js'
import { logKey, objectName, position } from './keys.js'

// Writes one group-commit batch as one S3 object: the records' frames (codec.ts) back to
// back, exactly the file backend's segment format. An append is durable when the PutObject
// that holds it succeeded (S3 is read-after-write consistent, so any reader listing after
// that sees it).
//
// Why a key has a time limit: readers go through keys in order and, for another writer's
// objects, only once they are `settleMs` old (reader.ts), so an object must be visible
// before its key is settleMs old or a reader may already be past it. Attempts on one key
// therefore start only in the first half of that window and each is cut off after a quarter
// of it; a success always lands in time. When the window is over the batch is retried under
// a new key with a fresh time. If a cut-off attempt still completes on the server, the same
// records exist under two keys and readers drop the second copy (dedupe by writer,
// instance, seq). After `appendTimeoutMs` of trying, the batch's appends reject.

export interface S3AppenderDeps {
  readonly store: S3Store
  readonly prefix: string
  readonly writerId: string
  readonly settleMs: number
  readonly appendTimeoutMs: number
  readonly retry: RetryPolicy
  readonly logger?: Logger | undefined
}

export class S3Appender {
  readonly #deps: S3AppenderDeps
  #clock = 0
  #records = 0

  constructor(deps: S3AppenderDeps) {
    this.#deps = deps
  }

  /** Keys an attempt was sent under that did not end as the batch's object (the window
   *  passed, or the batch's appends were refused): removed after the next success. */
  #orphans: string[] = []

  readonly flush = async (batch: readonly Queued<Buffer>[]): Promise<Position[]> => {
    const { store, prefix, writerId, settleMs, appendTimeoutMs, retry, logger } = this.#deps
    const body = Buffer.concat(batch.map((item) => item.prepared))
    const first = this.#records
    this.#records += batch.length
    const started = Date.now()
    let attempt = 0
    let last: unknown
    for (;;) {
      const ms = this.#tick()
      const obj = objectName(ms, writerId, first, batch.length)
      const key = logKey(prefix, obj.name)
      let tried = false
      while (Date.now() < ms + settleMs / 2) {
        try {
          await store.putOnce(key, body)
          if (this.#orphans.length > 0) await this.#removeOrphans(key)
          return batch.map((_, i) => position(obj.name, i))
        } catch (err) {
          last = err
          if (!tried) this.#orphans.push(key)
          tried = true
          if (!isRetriableS3Error(err) || Date.now() - started >= appendTimeoutMs) throw this.#failure(err, key)
          const delay = backoffMs(attempt++, retry)
          logger?.warn(
            { bucket: store.bucket, key, attempt, delayMs: delay, err: describe(err) },
            'write log: s3 put failed, retrying',
          )
          await new Promise((r) => setTimeout(r, delay))
        }
      }
      if (Date.now() - started >= appendTimeoutMs) throw this.#failure(last, key)
    }
  }

  /**
   * A put cut off by a server that died part way can leave a torn object on stores whose
   * writes are not atomic (s3rver; S3 itself never shows a partial object), and a cut-off
   * put that completed leaves a whole copy. Neither holds an acknowledged write that is not
   * elsewhere: the batch succeeded under a later key, or its appends were refused and its
   * writes never forwarded. So once the store answers again (a put just succeeded under
   * `kept`) they are deleted, best effort, before that put is acknowledged: a reader would
   * otherwise stop at a torn object as corrupt. Only after failures; a failed delete is
   * tried again after the next put.
   */
  async #removeOrphans(kept: string): Promise<void> {
    const keys = this.#orphans.filter((k) => k !== kept)
    this.#orphans = []
    if (keys.length === 0) return
    const { store, logger } = this.#deps
    try {
      await store.deleteMany(keys)
      logger?.info({ bucket: store.bucket, keys }, 'write log: removed objects of interrupted s3 puts')
    } catch (err) {
      this.#orphans.push(...keys)
      logger?.warn(
        { bucket: store.bucket, keys, err: describe(err) },
        'write log: could not remove objects of interrupted s3 puts; trying after the next put',
      )
    }
  }

  #tick(): number {
    // Never backwards, so one writer's keys only grow.
    this.#clock = Math.max(this.#clock, Date.now())
    return this.#clock
  }

  #failure(err: unknown, key: string): VecshiftError {
    const { store, logger } = this.#deps
    logger?.error({ bucket: store.bucket, key, err: describe(err) }, 'write log: s3 put failed; appends refused')
    return new VecshiftError(E.LOG_UNAVAILABLE, ['s3', `putting ${key} in bucket ${store.bucket}: ${describe(err)}`], {
      cause: err,
      retryAfter: 1,
    })
  }
}
