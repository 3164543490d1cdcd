import { randomBytes } from 'node:crypto'
import { Partitioners, type Admin, type Producer } from 'kafkajs'
import { E, VecshiftError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { BaseWriteLog } from '../base.js'
import type { LogEntry, LogStats, Position, ReadOptions } from '../contract.js'
import { DEFAULT_DEDUPE_WINDOW } from '../dedupe.js'
import { GroupCommit } from '../group-commit.js'
import type { LogRecord } from '../record.js'
import { withRetries, type RetryPolicy } from '../../retry.js'
import { KafkaAppender } from './appender.js'
import { KafkaCheckpoints } from './checkpoints.js'
import { createKafka, isRetriableKafkaError, kafkaInternals } from './client.js'
import { PartitionFetcher } from './fetcher.js'
import { Planner, WRITER_ID_LENGTH, type PlannedMessage } from './messages.js'
import { compareCuts, decodeCut } from './position.js'
import { readKafka, type ReadSource } from './reader.js'

// The Kafka write log: one topic per migration. messages.ts explains how records map to
// messages and why per-id order holds; position.ts what a position is; checkpoints.ts where
// checkpoints live; appender.ts when an append counts as durable.

export interface KafkaLogOptions {
  readonly brokers: readonly string[]
  readonly topic: string
  readonly clientId?: string
  /** Connect with TLS. SASL credentials come only from VECSHIFT_KAFKA_SASL_* variables. */
  readonly ssl?: boolean
  /** How long the first append of an idle log waits for others to share its produce. */
  readonly lingerMs?: number
  readonly compression?: 'none' | 'gzip'
  /** Bytes accepted but not yet acknowledged; beyond it appends get LOG_BACKPRESSURE. */
  readonly maxQueueBytes?: number
  readonly maxBatchRecords?: number
  /** Keep below the topic's max.message.bytes. */
  readonly maxBatchBytes?: number
  readonly requestTimeoutMs?: number
  /** Time an append may spend on retries before it rejects with LOG_UNAVAILABLE. */
  readonly appendTimeoutMs?: number
  /** Let the broker auto-create the topic (when it allows that). */
  readonly createTopic?: boolean
  readonly followPollMs?: number
  readonly dedupeWindow?: number
  readonly logger?: Logger
}

interface Scan {
  readonly low: number[]
  after: Position | undefined
  records: number
  bytes: number
}

export class KafkaWriteLog extends BaseWriteLog {
  readonly backend = 'kafka' as const
  readonly topic: string
  readonly partitions: number
  readonly #admin: Admin
  readonly #producer: Producer
  readonly #fetcher: PartitionFetcher
  readonly #checkpoints: KafkaCheckpoints
  readonly #queue: GroupCommit<PlannedMessage[]>
  readonly #source: ReadSource
  readonly #retry: RetryPolicy
  #scan: Scan | undefined
  #scanning: Promise<Scan> | undefined

  private constructor(init: {
    topic: string
    partitions: number
    admin: Admin
    producer: Producer
    fetcher: PartitionFetcher
    checkpoints: KafkaCheckpoints
    queue: GroupCommit<PlannedMessage[]>
    retry: RetryPolicy
    followPollMs: number
    dedupeWindow: number
  }) {
    super()
    this.topic = init.topic
    this.partitions = init.partitions
    this.#admin = init.admin
    this.#producer = init.producer
    this.#fetcher = init.fetcher
    this.#checkpoints = init.checkpoints
    this.#queue = init.queue
    this.#retry = init.retry
    this.#source = {
      topic: init.topic,
      partitions: init.partitions,
      fetcher: init.fetcher,
      dedupeWindow: init.dedupeWindow,
      followPollMs: init.followPollMs,
      offsets: () => this.#offsets(),
      // Readers go on while close() finishes the appends it accepted, and see them.
      isClosed: () => this.state === 'closed',
    }
  }

  static async open(options: KafkaLogOptions): Promise<KafkaWriteLog> {
    const { topic, logger } = options
    const requestTimeoutMs = options.requestTimeoutMs ?? 5000
    const retry: RetryPolicy = { baseMs: 50, maxMs: 1000, deadlineMs: options.appendTimeoutMs ?? 10_000 }
    const kafka = createKafka({
      brokers: options.brokers,
      clientId: options.clientId ?? 'vecshift',
      ssl: options.ssl ?? false,
      requestTimeoutMs,
      connectionTimeoutMs: Math.min(3000, requestTimeoutMs),
      logger,
    })
    const admin = kafka.admin()
    const producer = kafka.producer({
      allowAutoTopicCreation: options.createTopic ?? true,
      idempotent: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    })
    const cluster = kafkaInternals(kafka)
    const fetcher = new PartitionFetcher(cluster, topic, retry)
    try {
      await withRetries(
        async () => {
          await admin.connect()
          await producer.connect()
        },
        { policy: retry, isRetriable: isRetriableKafkaError },
      )
      const metadata = await withRetries(() => admin.fetchTopicMetadata({ topics: [topic] }), {
        policy: retry,
        isRetriable: isRetriableKafkaError,
      })
      const partitions = metadata.topics.find((t) => t.name === topic)?.partitions.length ?? 0
      if (partitions === 0) throw new Error(`topic ${topic} has no partitions`)
      await fetcher.connect()
      const writerId = randomBytes(WRITER_ID_LENGTH / 2).toString('hex')
      const planner = new Planner(partitions)
      let log: KafkaWriteLog | undefined
      const appender = new KafkaAppender({
        producer,
        topic,
        partitions,
        writerId,
        compression: options.compression ?? 'none',
        retry,
        requestTimeoutMs,
        logger,
        highWatermarks: async () => (await (log as KafkaWriteLog).#offsets()).high,
      })
      const queue = new GroupCommit<PlannedMessage[]>(
        {
          backend: 'kafka',
          maxQueueBytes: options.maxQueueBytes ?? 64 * 1024 * 1024,
          maxBatchRecords: options.maxBatchRecords ?? 5000,
          maxBatchBytes: options.maxBatchBytes ?? 900 * 1024,
          lingerMs: options.lingerMs ?? 2,
        },
        (record) => {
          const prepared = planner.plan(record)
          return { prepared, bytes: prepared.reduce((n, m) => n + m.value.length, 0) }
        },
        appender.flush,
      )
      log = new KafkaWriteLog({
        topic,
        partitions,
        admin,
        producer,
        fetcher,
        queue,
        retry,
        checkpoints: new KafkaCheckpoints(cluster, admin, topic, partitions, retry),
        followPollMs: options.followPollMs ?? 250,
        dedupeWindow: options.dedupeWindow ?? DEFAULT_DEDUPE_WINDOW,
      })
      await appender.init()
      return log
    } catch (err) {
      await Promise.allSettled([producer.disconnect(), admin.disconnect(), fetcher.disconnect()])
      if (err instanceof VecshiftError) throw err
      throw new VecshiftError(
        E.LOG_UNAVAILABLE,
        ['kafka', `opening ${topic} on ${options.brokers.join(',')}: ${(err as Error).message}`],
        { cause: err, retryAfter: 1 },
      )
    }
  }

  compare(a: Position, b: Position): number {
    return compareCuts(a, b)
  }

  /** Messages after `from` up to `to`, summed over partitions: the replayer's lag. The parts
   *  of a write split over partitions and the markers of sequenced records are messages too,
   *  so this bounds the records from above; from the start of the topic (undefined) it also
   *  counts what retention has deleted. */
  distance(from: Position | undefined, to: Position): number {
    const b = decodeCut(to)
    const a = from === undefined ? [] : decodeCut(from)
    let n = 0
    for (let i = 0; i < b.length; i++) n += Math.max(0, (b[i] as number) - (a[i] ?? 0))
    return n
  }

  protected appendRecords(records: readonly LogRecord[]): Promise<Position[]> {
    return this.#queue.append(records)
  }

  protected readEntries(options: ReadOptions): AsyncIterable<LogEntry> {
    return readKafka(this.#source, options)
  }

  protected async headPosition(): Promise<Position | undefined> {
    for await (const entry of readKafka(this.#source)) return entry.position
    return undefined
  }

  protected async tailPosition(): Promise<Position | undefined> {
    return (await this.#scanned()).after
  }

  protected async collectStats(): Promise<LogStats> {
    const scan = await this.#scanned()
    return { records: scan.records, bytes: scan.bytes, head: await this.headPosition(), tail: scan.after }
  }

  /** tail() and stats() need to know which is the last record a reader would return (a
   *  sequenced record still waiting for its markers is not one yet), so they run the reader,
   *  incrementally from where they last stopped; a full scan only on the first call, or
   *  after Kafka's retention moved the start of the topic. */
  #scanned(): Promise<Scan> {
    this.#scanning ??= (async () => {
      const { low } = await this.#offsets()
      let scan = this.#scan
      if (!scan || low.some((l, p) => l > (scan as Scan).low[p]!))
        scan = { low, after: undefined, records: 0, bytes: 0 }
      const current = scan
      const options = current.after === undefined ? {} : { after: current.after }
      for await (const entry of readKafka(this.#source, options, {
        onMessage: (bytes) => {
          current.bytes += bytes
        },
      })) {
        current.records++
        current.after = entry.position
      }
      this.#scan = current
      return current
    })().finally(() => {
      this.#scanning = undefined
    })
    return this.#scanning
  }

  protected async commitCheckpoint(consumer: string, position: Position): Promise<void> {
    await this.#checkpoints.commit(consumer, position)
  }

  protected async readCheckpoint(consumer: string): Promise<Position | undefined> {
    return this.#checkpoints.get(consumer)
  }

  /** A no-op: Kafka deletes by topic configuration (retention.ms / retention.bytes), and
   *  the DeleteRecords call that could trim exactly to the checkpoints is not something
   *  every Kafka offers. Set the topic's retention longer than the migration (or -1), or
   *  Kafka may delete records the replayer has not applied; a reader then fails with
   *  LOG_CORRUPT instead of skipping them. */
  protected async removePassed(): Promise<{ removed: number }> {
    return { removed: 0 }
  }

  protected finishAppends(): Promise<void> {
    return this.#queue.close()
  }

  protected async release(): Promise<void> {
    await Promise.allSettled([this.#producer.disconnect(), this.#admin.disconnect(), this.#fetcher.disconnect()])
  }

  async #offsets(): Promise<{ low: number[]; high: number[] }> {
    const rows = await withRetries(() => this.#admin.fetchTopicOffsets(this.topic), {
      policy: this.#retry,
      isRetriable: isRetriableKafkaError,
    }).catch((err: unknown) => {
      throw new VecshiftError(
        E.LOG_UNAVAILABLE,
        ['kafka', `reading offsets of ${this.topic}: ${(err as Error).message}`],
        { cause: err, retryAfter: 1 },
      )
    })
    const low = new Array<number>(this.partitions).fill(0)
    const high = new Array<number>(this.partitions).fill(0)
    for (const r of rows) {
      if (r.partition >= this.partitions) continue
      low[r.partition] = Number(r.low)
      high[r.partition] = Number(r.high)
    }
    return { low, high }
  }
}

export function openKafkaLog(options: KafkaLogOptions): Promise<KafkaWriteLog> {
  return KafkaWriteLog.open(options)
}
