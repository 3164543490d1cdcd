import { E, VecshiftError } from '../../errors.js'
import { withRetries, type RetryPolicy } from '../../retry.js'
import { isRetriableKafkaError, type KafkaCluster } from './client.js'
import type { FetchedMessage } from './merge.js'

// Reads given partitions of one topic from given offsets, straight from their leaders (see
// client.ts for why not through a consumer group). One request per leader, in parallel.

const MAX_PARTITION_BYTES = 4 * 1024 * 1024
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024
const READ_COMMITTED = 1
const STALE_METADATA = new Set([
  'NOT_LEADER_FOR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'FENCED_LEADER_EPOCH',
])

export interface PartitionFetch {
  readonly messages: FetchedMessage[]
  readonly highWatermark: number
}

export class PartitionFetcher {
  readonly #cluster: KafkaCluster
  readonly #topic: string
  readonly #retry: RetryPolicy
  #connected: Promise<void> | undefined

  constructor(cluster: KafkaCluster, topic: string, retry: RetryPolicy) {
    this.#cluster = cluster
    this.#topic = topic
    this.#retry = retry
  }

  async connect(): Promise<void> {
    this.#connected ??= (async () => {
      await this.#cluster.connect()
      await this.#cluster.addTargetTopic(this.#topic)
    })()
    try {
      await this.#connected
    } catch (err) {
      this.#connected = undefined
      throw err
    }
  }

  async fetch(
    requests: ReadonlyArray<{ partition: number; offset: number }>,
    maxWaitMs: number,
  ): Promise<Map<number, PartitionFetch>> {
    return withRetries(
      async () => {
        try {
          await this.connect()
          return await this.#fetchOnce(requests, maxWaitMs)
        } catch (err) {
          const type = (err as { type?: string }).type
          if (type === 'OFFSET_OUT_OF_RANGE') {
            throw new VecshiftError(
              E.LOG_CORRUPT,
              [
                `${this.#topic}`,
                'a requested offset is no longer (or not yet) in the topic: ' +
                  'Kafka retention deleted records not yet read, or the topic was recreated',
              ],
              { cause: err },
            )
          }
          if (type && STALE_METADATA.has(type)) await this.#cluster.refreshMetadata().catch(() => undefined)
          throw err
        }
      },
      { policy: this.#retry, isRetriable: (err) => !(err instanceof VecshiftError) && isRetriableKafkaError(err) },
    ).catch((err: unknown) => {
      if (err instanceof VecshiftError) throw err
      throw new VecshiftError(E.LOG_UNAVAILABLE, ['kafka', `reading ${this.#topic}: ${(err as Error).message}`], {
        cause: err,
        retryAfter: 1,
      })
    })
  }

  async #fetchOnce(
    requests: ReadonlyArray<{ partition: number; offset: number }>,
    maxWaitMs: number,
  ): Promise<Map<number, PartitionFetch>> {
    const leaders = new Map<number, number>()
    for (const m of this.#cluster.findTopicPartitionMetadata(this.#topic)) leaders.set(m.partitionId, m.leader)
    const byLeader = new Map<number, Array<{ partition: number; offset: number }>>()
    for (const r of requests) {
      const leader = leaders.get(r.partition)
      if (leader === undefined || leader < 0) {
        throw Object.assign(new Error(`no leader for ${this.#topic}/${r.partition}`), {
          type: 'LEADER_NOT_AVAILABLE',
          retriable: true,
        })
      }
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), r])
    }
    const out = new Map<number, PartitionFetch>()
    await Promise.all(
      [...byLeader].map(async ([leader, wanted]) => {
        const broker = await this.#cluster.findBroker({ nodeId: leader })
        const { responses } = await broker.fetch({
          replicaId: -1,
          isolationLevel: READ_COMMITTED,
          maxWaitTime: maxWaitMs,
          minBytes: 1,
          maxBytes: MAX_RESPONSE_BYTES,
          topics: [
            {
              topic: this.#topic,
              partitions: wanted.map((w) => ({
                partition: w.partition,
                fetchOffset: String(w.offset),
                maxBytes: MAX_PARTITION_BYTES,
              })),
            },
          ],
        })
        for (const t of responses) {
          for (const data of t.partitions) {
            const from = wanted.find((w) => w.partition === data.partition)?.offset ?? 0
            // A fetch returns whole record batches, which may start before the offset asked for.
            const messages = data.messages.filter((m) => Number(m.offset) >= from && !m.isControlRecord)
            out.set(data.partition, { messages, highWatermark: Number(data.highWatermark) })
          }
        }
      }),
    )
    return out
  }

  async disconnect(): Promise<void> {
    this.#connected = undefined
    await this.#cluster.disconnect()
  }
}
