import { randomBytes } from 'node:crypto'
import type { Logger } from '../../logger.js'
import { encodeRecord } from '../codec.js'
import { BaseWriteLog } from '../base.js'
import type { LogEntry, LogStats, Position, ReadOptions } from '../contract.js'
import { DEFAULT_DEDUPE_WINDOW } from '../dedupe.js'
import { GroupCommit } from '../group-commit.js'
import type { LogRecord } from '../record.js'
import type { RetryPolicy } from '../../retry.js'
import { S3Appender } from './appender.js'
import { commitCheckpoint, readCheckpoint, retain } from './checkpoints.js'
import { S3Store, type S3Encryption } from './client.js'
import { MAX_OBJECT_RECORDS, comparePositions, logPrefix, normalizePrefix, parseLogKey, position } from './keys.js'
import { Settledness, closedWriterKey, readS3, type S3ReadSource } from './reader.js'

// The S3 write log: records batched into objects under <prefix>log/ (keys.ts), written by
// appender.ts, read in key order by reader.ts, checkpoints and retention in checkpoints.ts.

export interface S3LogOptions {
  readonly bucket: string
  /** Key prefix for this migration's log, e.g. "vecshift/my-migration". */
  readonly prefix: string
  readonly region: string
  readonly endpoint?: string
  readonly forcePathStyle?: boolean
  readonly sse?: S3Encryption
  /** How long the first append of an idle log waits for others to share its object. */
  readonly lingerMs?: number
  readonly maxObjectRecords?: number
  readonly maxObjectBytes?: number
  /** Bytes accepted but not yet durable; beyond it appends get LOG_BACKPRESSURE. */
  readonly maxQueueBytes?: number
  /** Time an append may spend on retries before it rejects with LOG_UNAVAILABLE. */
  readonly appendTimeoutMs?: number
  readonly requestTimeoutMs?: number
  /** Age at which another writer's object is taken as final (reader.ts). */
  readonly settleMs?: number
  readonly followPollMs?: number
  readonly dedupeWindow?: number
  /** Keys per listing page; tests use a small one to exercise pagination. */
  readonly listPageSize?: number
  readonly logger?: Logger
}

export class S3WriteLog extends BaseWriteLog {
  readonly backend = 's3' as const
  readonly bucket: string
  readonly prefix: string
  readonly writerId: string
  readonly #store: S3Store
  readonly #queue: GroupCommit<Buffer>
  readonly #source: S3ReadSource
  #wrote = false

  private constructor(options: S3LogOptions) {
    super()
    const settleMs = options.settleMs ?? 5000
    const appendTimeoutMs = options.appendTimeoutMs ?? 10_000
    const retry: RetryPolicy = { baseMs: 50, maxMs: 1000, deadlineMs: appendTimeoutMs }
    this.bucket = options.bucket
    this.prefix = normalizePrefix(options.prefix)
    this.writerId = randomBytes(4).toString('hex')
    this.#store = new S3Store(
      {
        bucket: options.bucket,
        region: options.region,
        endpoint: options.endpoint,
        forcePathStyle: options.forcePathStyle,
        sse: options.sse,
        // An attempt must end within a quarter of the settle window (appender.ts).
        requestTimeoutMs: Math.min(options.requestTimeoutMs ?? 5000, Math.max(100, Math.floor(settleMs / 4))),
        listPageSize: options.listPageSize,
      },
      retry,
    )
    const appender = new S3Appender({
      store: this.#store,
      prefix: this.prefix,
      writerId: this.writerId,
      settleMs,
      appendTimeoutMs,
      retry,
      logger: options.logger,
    })
    this.#queue = new GroupCommit<Buffer>(
      {
        backend: 's3',
        maxQueueBytes: options.maxQueueBytes ?? 64 * 1024 * 1024,
        maxBatchRecords: Math.min(options.maxObjectRecords ?? 10_000, MAX_OBJECT_RECORDS),
        maxBatchBytes: options.maxObjectBytes ?? 8 * 1024 * 1024,
        lingerMs: options.lingerMs ?? 20,
      },
      (record) => {
        const frame = encodeRecord(record)
        return { prepared: frame, bytes: frame.length }
      },
      async (batch) => {
        this.#wrote = true
        return appender.flush(batch)
      },
    )
    this.#source = {
      store: this.#store,
      prefix: this.prefix,
      writerId: this.writerId,
      settleMs,
      followPollMs: options.followPollMs ?? 500,
      dedupeWindow: options.dedupeWindow ?? DEFAULT_DEDUPE_WINDOW,
      // Readers go on while close() finishes the appends it accepted, and see them.
      isClosed: () => this.state === 'closed',
    }
  }

  static async open(options: S3LogOptions): Promise<S3WriteLog> {
    const log = new S3WriteLog(options)
    // Fail at start-up, not on the first client write, when the bucket is unreachable or
    // the credentials cannot list it.
    try {
      for await (const _ of log.#store.list(logPrefix(log.prefix))) break
    } catch (err) {
      log.#store.destroy()
      throw err
    }
    return log
  }

  compare(a: Position, b: Position): number {
    return comparePositions(a, b)
  }

  protected appendRecords(records: readonly LogRecord[]): Promise<Position[]> {
    return this.#queue.append(records)
  }

  protected readEntries(options: ReadOptions): AsyncIterable<LogEntry> {
    return readS3(this.#source, options)
  }

  protected async headPosition(): Promise<Position | undefined> {
    return (await this.#listing()).head
  }

  protected async tailPosition(): Promise<Position | undefined> {
    return (await this.#listing()).tail
  }

  protected async collectStats(): Promise<LogStats> {
    const { records, bytes, head, tail } = await this.#listing()
    return { records, bytes, head, tail }
  }

  /** What a reader would go through right now, from the listing alone (the record count
   *  is in each key): up to the first object not yet settled. */
  async #listing(): Promise<LogStats> {
    const settledness = new Settledness(this.#source)
    let records = 0
    let bytes = 0
    let head: Position | undefined
    let tail: Position | undefined
    for await (const o of this.#store.list(logPrefix(this.prefix))) {
      const obj = parseLogKey(this.prefix, o.key)
      if (!obj) continue
      if (!(await settledness.settled(obj))) break
      records += obj.count
      bytes += o.size
      head ??= position(obj.name, 0)
      tail = position(obj.name, obj.count - 1)
    }
    return { records, bytes, head, tail }
  }

  protected async commitCheckpoint(consumer: string, at: Position): Promise<void> {
    await commitCheckpoint(this.#store, this.prefix, consumer, at)
  }

  protected async readCheckpoint(consumer: string): Promise<Position | undefined> {
    return readCheckpoint(this.#store, this.prefix, consumer)
  }

  protected async removePassed(): Promise<{ removed: number }> {
    return retain(this.#store, this.prefix, new Settledness(this.#source))
  }

  protected finishAppends(): Promise<void> {
    return this.#queue.close()
  }

  protected async release(): Promise<void> {
    // Every accepted append is settled: other readers may take this writer's objects as
    // final at once.
    try {
      if (this.#wrote)
        await this.#store.putJson(closedWriterKey(this.prefix, this.writerId), {
          writer: this.writerId,
          closedAt: new Date().toISOString(),
        })
    } catch {
      // Without the marker, readers wait settleMs before taking this writer's last objects.
    } finally {
      this.#store.destroy()
    }
  }
}

export function openS3Log(options: S3LogOptions): Promise<S3WriteLog> {
  return S3WriteLog.open(options)
}
