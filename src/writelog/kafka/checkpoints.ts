import type { Admin } from 'kafkajs'
import { E, VecshiftError } from '../../errors.js'
import type { Position } from '../contract.js'
import { withRetries, type RetryPolicy } from '../../retry.js'
import { isRetriableKafkaError, type KafkaCluster } from './client.js'
import { decodeCut, encodeCut } from './position.js'

// Consumer checkpoints as Kafka consumer-group offsets: consumer "replayer" of topic T is
// group "vecshift.T.replayer", committed offset of partition p = the position's component p.
// A cut is exactly a set of per-partition offsets, so this is lossless; Kafka stores it
// durably (replicated __consumer_offsets) and every Kafka tool shows the replayer's lag.
// Commits are plain OffsetCommits with generation -1 (no group membership), as Kafka's
// admin tools do. Kafka expires the offsets of a group that has not committed for
// offsets.retention.minutes (7 days by default): keep it above the longest pause of a
// migration's replayer.

const CONSUMER = /^[A-Za-z0-9._-]{1,100}$/

export class KafkaCheckpoints {
  constructor(
    private readonly cluster: KafkaCluster,
    private readonly admin: Admin,
    private readonly topic: string,
    private readonly partitions: number,
    private readonly retry: RetryPolicy,
  ) {}

  groupOf(consumer: string): string {
    if (!CONSUMER.test(consumer))
      throw new VecshiftError(E.BAD_REQUEST, [`checkpoint consumer name "${consumer}" must match ${CONSUMER}`])
    return `vecshift.${this.topic}.${consumer}`
  }

  async commit(consumer: string, position: Position): Promise<void> {
    const groupId = this.groupOf(consumer)
    const cut = decodeCut(position, this.partitions)
    await this.#retrying(`committing checkpoint ${consumer}`, async () => {
      const coordinator = await this.cluster.findGroupCoordinator({ groupId })
      const { responses } = await coordinator.offsetCommit({
        groupId,
        groupGenerationId: -1,
        memberId: '',
        topics: [
          { topic: this.topic, partitions: cut.map((offset, partition) => ({ partition, offset: String(offset) })) },
        ],
      })
      for (const t of responses) {
        for (const p of t.partitions) {
          if (p.errorCode !== 0)
            throw Object.assign(
              new Error(`offset commit for partition ${p.partition} failed with Kafka error ${p.errorCode}`),
              { retriable: true },
            )
        }
      }
    })
  }

  async get(consumer: string): Promise<Position | undefined> {
    const groupId = this.groupOf(consumer)
    const topics = await this.#retrying(`reading checkpoint ${consumer}`, () =>
      this.admin.fetchOffsets({ groupId, topics: [this.topic] }),
    )
    const partitions = topics.find((t) => t.topic === this.topic)?.partitions ?? []
    if (partitions.every((p) => Number(p.offset) < 0)) return undefined
    const cut = new Array<number>(this.partitions).fill(0)
    for (const p of partitions) if (p.partition < this.partitions) cut[p.partition] = Math.max(0, Number(p.offset))
    return encodeCut(cut)
  }

  #retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetries(fn, { policy: this.retry, isRetriable: isRetriableKafkaError }).catch((err: unknown) => {
      throw new VecshiftError(E.LOG_UNAVAILABLE, ['kafka', `${what}: ${(err as Error).message}`], {
        cause: err,
        retryAfter: 1,
      })
    })
  }
}
