import { Partitioners, type PartitionMetadata } from 'kafkajs'
import { encodeRecord } from '../codec.js'
import type { LogRecord } from '../record.js'

// How records become Kafka messages, and why.
//
// Kafka orders messages only within a partition. What the replayer needs is (1) each id's
// writes in order, and (2) writes that name no ids (delete by filter, deleteAll, update by
// filter) and cutover fences ordered against every id's writes. So:
//
// - 'r' (record): a record naming ids in one partition goes whole to the partition of
//   murmur2(namespace + "\0" + id) (Kafka's default partitioner), with that key. All writes
//   of an id share one partition and keep the order Kafka gives them.
// - 'p' (part): a record naming ids in several partitions (an upsert of 100 vectors, a
//   delete of several ids) is split into one message per partition, each a valid record of
//   the same kind, header and (instance, seq) with the subset of ids of that partition. A
//   reader yields each part as an entry in its partition's order. Parts are not reassembled:
//   with several writers, two split records can land in opposite orders in two partitions,
//   and waiting for "all parts at once" would deadlock.
// - 's' (sequenced) + 'm' (marker): a record that must be ordered against several partitions
//   (id-less intents, fences, and the outcome of a split intent, which must follow all its
//   parts) is written in two phases: the record itself to partition 0, the sequencer, then,
//   once Kafka returned its offset o, a marker carrying o to each target partition. A reader
//   yields the record when partition 0 reaches it and each target partition has consumed
//   everything before a marker with ref >= o; partition q's messages after that marker wait
//   until partition 0 is past the marker's ref. Because every sequenced record is ordered by
//   its offset in partition 0, and a marker for ref r also places every earlier sequenced
//   record at or before it, sequenced records from concurrent writers never wait on each
//   other in a cycle. The append resolves only once the markers are acknowledged, so a write
//   that was acknowledged before another began is always read before it (causal order);
//   writes that were in flight together may be read in either order, as with any log fed by
//   concurrent clients.
//
// Outcomes follow their intent: to the intent's partition when it had one, as a sequenced
// record targeting the intent's parts when it was split, and into partition 0 after a
// sequenced intent.

export type Kind = 'r' | 'p' | 's' | 'm'

export const HEADER = {
  kind: 'vx',
  /** Merge key: the writer's clock (base36, fixed width), writer id, per-writer counter. */
  order: 'vx-o',
  /** "i/n" for parts. */
  part: 'vx-part',
  /** Sequenced records: target partitions, "1,3", or "*" for all but 0. */
  targets: 'vx-t',
  /** Markers: the partition-0 offset they stand for. */
  ref: 'vx-ref',
} as const

export const SEQUENCER = 0
export const WRITER_ID_LENGTH = 8

/** Merge key: fixed-width base36 clock, writer id, fixed-width base36 counter, so plain
 *  string comparison orders by time, then writer, then the writer's own sequence. */
export function orderKey(ms: number, writer: string, counter: number): string {
  return ms.toString(36).padStart(9, '0') + writer + counter.toString(36).padStart(8, '0')
}

export function writerOf(order: string): string {
  return order.slice(9, 9 + WRITER_ID_LENGTH)
}

export interface PlannedMessage {
  readonly kind: 'r' | 'p' | 's'
  readonly partition: number
  readonly key: string | null
  readonly value: Buffer
  readonly part?: string
  /** Sequenced only; never contains the sequencer partition. */
  readonly targets?: readonly number[]
}

const MAX_REMEMBERED_INTENTS = 100_000

export function idKey(namespace: string, id: string): string {
  return `${namespace}\u0000${id}`
}

/** Plans records for a topic of `partitions` partitions. Remembers where each intent went
 *  so its outcome can follow it. */
export class Planner {
  readonly #partitions: number
  readonly #partitioner = Partitioners.DefaultPartitioner()
  readonly #metadata: PartitionMetadata[]
  readonly #intents = new Map<string, readonly number[]>()

  constructor(partitions: number) {
    this.#partitions = partitions
    this.#metadata = Array.from({ length: partitions }, (_, partitionId) => ({
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
      partitionErrorCode: 0,
    }))
  }

  partitionOf(key: string): number {
    return this.#partitioner({ topic: '', partitionMetadata: this.#metadata, message: { key, value: null } })
  }

  plan(record: LogRecord): PlannedMessage[] {
    switch (record.op) {
      case 'upsert':
        return this.#byIds(
          record,
          record.vectors.map((v) => v.id),
          (ids) => {
            const keep = new Set(ids)
            return { ...record, vectors: record.vectors.filter((v) => keep.has(v.id)) }
          },
        )
      case 'update':
        if (record.id !== undefined) return this.#byIds(record, [record.id], () => record)
        return this.#sequenced(record, this.#allTargets())
      case 'delete':
        if (record.ids && record.ids.length > 0 && !record.filter && !record.deleteAll) {
          return this.#byIds(record, record.ids, (ids) => ({ ...record, ids }))
        }
        return this.#sequenced(record, this.#allTargets())
      case 'outcome': {
        const key = `${record.instance}\u0000${record.intentSeq}`
        const home = this.#intents.get(key)
        this.#intents.delete(key)
        // An intent this writer did not plan (another process wrote it, or it was forgotten)
        // gets an outcome ordered after everything.
        if (!home) return this.#sequenced(record, this.#allTargets(), false)
        if (home.length === 1)
          return [{ kind: 'r', partition: home[0] as number, key: null, value: encodeRecord(record) }]
        return this.#sequenced(
          record,
          home.filter((p) => p !== SEQUENCER),
          false,
        )
      }
      case 'create_namespace':
        return this.#sequenced(record, this.#allTargets())
      case 'fence':
      case 'abandon':
        // Ordered after every partition's records so far: an abandon settles intents
        // wherever they were written.
        return this.#sequenced(record, this.#allTargets(), false)
    }
  }

  #byIds(record: LogRecord, ids: readonly string[], subset: (ids: string[]) => LogRecord): PlannedMessage[] {
    const groups = new Map<number, string[]>()
    for (const id of ids) {
      const p = this.partitionOf(idKey(record.namespace, id))
      const g = groups.get(p)
      if (g) {
        if (!g.includes(id)) g.push(id)
      } else groups.set(p, [id])
    }
    this.#remember(record, [...groups.keys()])
    if (groups.size === 1) {
      const [[partition, g]] = [...groups] as [[number, string[]]]
      return [{ kind: 'r', partition, key: idKey(record.namespace, g[0] as string), value: encodeRecord(record) }]
    }
    const n = groups.size
    return [...groups].map(([partition, g], i) => ({
      kind: 'p',
      partition,
      key: idKey(record.namespace, g[0] as string),
      value: encodeRecord(subset(g)),
      part: `${i}/${n}`,
    }))
  }

  #sequenced(record: LogRecord, targets: readonly number[], remember = true): PlannedMessage[] {
    if (remember) this.#remember(record, [SEQUENCER])
    return [{ kind: 's', partition: SEQUENCER, key: null, value: encodeRecord(record), targets }]
  }

  #remember(record: LogRecord, partitions: number[]): void {
    if (record.op !== 'upsert' && record.op !== 'update' && record.op !== 'delete' && record.op !== 'create_namespace')
      return
    this.#intents.set(
      `${record.instance}\u0000${record.seq}`,
      partitions.sort((a, b) => a - b),
    )
    if (this.#intents.size > MAX_REMEMBERED_INTENTS) this.#intents.delete(this.#intents.keys().next().value as string)
  }

  #allTargets(): number[] {
    return Array.from({ length: this.#partitions - 1 }, (_, i) => i + 1)
  }
}
