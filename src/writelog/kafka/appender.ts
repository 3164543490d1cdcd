import { CompressionTypes, type Message, type Producer } from 'kafkajs'
import { E, VecshiftError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import type { Position } from '../contract.js'
import type { Queued } from '../group-commit.js'
import { withRetries, type RetryPolicy } from '../../retry.js'
import { isRetriableKafkaError } from './client.js'
import { HEADER, SEQUENCER, orderKey, type PlannedMessage } from './messages.js'
import { encodeCut } from './position.js'

// Writes one group-commit batch to Kafka (messages.ts says what each message is).
//
// Durability: an append resolves when Kafka acknowledged every message of it with acks=-1
// (all in-sync replicas have it) — and for a sequenced record, its markers too. A produce
// that fails is retried, capped and jittered, until the append deadline; then the batch's
// appends reject with LOG_UNAVAILABLE. A retry may leave a second copy of messages whose
// first answer was lost; readers drop it (reader.ts).
//
// After any failure the writer "seals" before its next batch: a marker with ref = the end of
// partition 0 in every other partition. A sequenced record whose markers never made it (a
// failed second phase, or a writer that died between the phases) would otherwise hold up
// partition 0 for readers; the seal places it, and everything before it, here. The same
// seal runs when a writer opens, for writers that died.
//
// Positions: a writer's cut grows by the offsets Kafka assigned to its own messages, from the
// topic's end at open. Markers are left out, as readers leave them out (merge.ts).

export interface AppenderDeps {
  readonly producer: Producer
  readonly topic: string
  readonly partitions: number
  readonly writerId: string
  readonly compression: 'none' | 'gzip'
  readonly retry: RetryPolicy
  readonly requestTimeoutMs: number
  readonly highWatermarks: () => Promise<number[]>
  readonly logger?: Logger | undefined
}

export class KafkaAppender {
  readonly #deps: AppenderDeps
  #cut: number[] = []
  #sealNeeded = false
  #clock = 0
  #counter = 0

  constructor(deps: AppenderDeps) {
    this.#deps = deps
  }

  async init(): Promise<void> {
    await this.#seal()
    this.#cut = await this.#deps.highWatermarks()
  }

  readonly flush = async (batch: readonly Queued<PlannedMessage[]>[]): Promise<Array<Position | Error>> => {
    const results = new Array<Position | Error>(batch.length)
    // An append that holds a sequenced record followed by more records is split after it,
    // so its later records land after the markers and are read after it, in append order.
    let from = 0
    while (from < batch.length) {
      let to = from
      while (to < batch.length) {
        const item = batch[to++] as Queued<PlannedMessage[]>
        const next = batch[to]
        if (next && next.owner === item.owner && item.prepared.some((m) => m.kind === 's')) break
      }
      await this.#writeSegment(batch.slice(from, to), results, from)
      from = to
    }
    return results
  }

  async #writeSegment(
    items: readonly Queued<PlannedMessage[]>[],
    results: Array<Position | Error>,
    base: number,
  ): Promise<void> {
    try {
      if (this.#sealNeeded) await this.#seal()
      const planned = items.flatMap((item) => item.prepared)
      const offsets = await this.#send(planned.map((m) => this.#message(m)))
      const markers = new Map<number, number>()
      const sequencedItems: number[] = []
      let k = 0
      items.forEach((item, i) => {
        for (const m of item.prepared) {
          const offset = offsets[k++] as number
          this.#cut[m.partition] = Math.max(this.#cut[m.partition] ?? 0, offset + 1)
          if (m.kind === 's') {
            sequencedItems.push(i)
            for (const q of m.targets ?? []) markers.set(q, Math.max(markers.get(q) ?? -1, offset))
          }
        }
        results[base + i] = encodeCut(this.#cut)
      })
      if (markers.size > 0) {
        try {
          await this.#sendMarkers(markers)
        } catch (err) {
          this.#sealNeeded = true
          const error = this.#failure(err, 'writing markers')
          for (const i of sequencedItems) results[base + i] = error
        }
      }
    } catch (err) {
      this.#sealNeeded = true
      const error = this.#failure(err, 'producing')
      items.forEach((_, i) => {
        results[base + i] = error
      })
    }
  }

  async #seal(): Promise<void> {
    if (this.#deps.partitions > 1) {
      const high = await this.#deps.highWatermarks()
      const end = high[SEQUENCER] as number
      if (end > 0) {
        const markers = new Map<number, number>()
        for (let q = 1; q < this.#deps.partitions; q++) markers.set(q, end - 1)
        await this.#sendMarkers(markers)
      }
    }
    this.#sealNeeded = false
  }

  #sendMarkers(markers: Map<number, number>): Promise<number[]> {
    return this.#send(
      [...markers].map(([partition, ref]) => ({
        partition,
        key: null,
        value: null,
        headers: { [HEADER.kind]: 'm', [HEADER.ref]: String(ref), [HEADER.order]: this.#nextOrder() },
      })),
    )
  }

  #message(m: PlannedMessage): Message {
    const headers: Record<string, string> = { [HEADER.kind]: m.kind, [HEADER.order]: this.#nextOrder() }
    if (m.part) headers[HEADER.part] = m.part
    if (m.kind === 's') headers[HEADER.targets] = (m.targets ?? []).join(',')
    return { partition: m.partition, key: m.key, value: m.value, headers }
  }

  #nextOrder(): string {
    // The writer's clock never runs backwards, so its merge keys only grow.
    this.#clock = Math.max(this.#clock, Date.now())
    return orderKey(this.#clock, this.#deps.writerId, this.#counter++)
  }

  /** Sends messages (headers and order keys fixed before the first attempt, so a retry
   *  writes identical copies) and returns each message's offset. */
  async #send(messages: Message[]): Promise<number[]> {
    const { producer, topic, compression, retry, requestTimeoutMs, logger } = this.#deps
    const metadata = await withRetries(
      () =>
        producer.send({
          topic,
          acks: -1,
          timeout: requestTimeoutMs,
          messages,
          compression: compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        }),
      {
        policy: retry,
        isRetriable: isRetriableKafkaError,
        onRetry: (err, attempt, delayMs) =>
          logger?.warn(
            { topic, attempt, delayMs, err: (err as Error).message },
            'write log: kafka produce failed, retrying',
          ),
      },
    )
    const base = new Map<number, number>()
    for (const m of metadata) base.set(m.partition, Number(m.baseOffset))
    const seen = new Map<number, number>()
    return messages.map((m) => {
      const p = m.partition as number
      const i = seen.get(p) ?? 0
      seen.set(p, i + 1)
      const b = base.get(p)
      if (b === undefined) throw new VecshiftError(E.INTERNAL, [`kafka acknowledged no offset for ${topic}/${p}`])
      return b + i
    })
  }

  #failure(err: unknown, what: string): VecshiftError {
    const message = (err as Error)?.message ?? String(err)
    this.#deps.logger?.error(
      { topic: this.#deps.topic, err: message },
      `write log: kafka ${what} failed; appends refused`,
    )
    return new VecshiftError(E.LOG_UNAVAILABLE, ['kafka', `${what} to ${this.#deps.topic}: ${message}`], {
      cause: err,
      retryAfter: 1,
    })
  }
}
