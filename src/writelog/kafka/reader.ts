import { E, VecshiftError } from '../../errors.js'
import { readFrame } from '../codec.js'
import type { LogEntry, ReadOptions } from '../contract.js'
import type { LogRecord } from '../record.js'
import { DedupeWindow } from '../dedupe.js'
import type { PartitionFetch, PartitionFetcher } from './fetcher.js'
import { Merger, parseMessage, type LogMessage } from './merge.js'
import { writerOf } from './messages.js'
import { decodeCut, encodeCut } from './position.js'

// read() for the Kafka backend: fetch what the merge needs, let merge.ts decide what comes
// next, decode, drop producer-retry duplicates, yield.
//
// A bounded read ends at the high watermarks seen when it started (what Kafka had made
// durable then). A following read keeps polling the partitions it is waiting on.

export interface ReadSource {
  readonly topic: string
  readonly partitions: number
  readonly fetcher: PartitionFetcher
  offsets(): Promise<{ low: number[]; high: number[] }>
  isClosed(): boolean
  readonly dedupeWindow: number
  readonly followPollMs: number
}

export interface ReadHooks {
  /** Called for each emitted message with its value size (stats count bytes this way). */
  onMessage?(bytes: number): void
}

export async function* readKafka(
  src: ReadSource,
  options: ReadOptions = {},
  hooks: ReadHooks = {},
): AsyncGenerator<LogEntry> {
  const { signal } = options
  const { low, high } = await src.offsets()
  let start: number[]
  if (options.after === undefined) {
    start = low
  } else {
    start = decodeCut(options.after, src.partitions)
    for (let p = 0; p < src.partitions; p++) {
      if ((start[p] as number) < (low[p] as number)) {
        throw new VecshiftError(E.LOG_CORRUPT, [
          `${src.topic}/${p}@${start[p]}`,
          `Kafka retention already deleted it; the oldest offset is ${low[p]}`,
        ])
      }
      if ((start[p] as number) > (high[p] as number)) {
        throw new VecshiftError(E.LOG_CORRUPT, [
          `${src.topic}/${p}@${start[p]}`,
          `beyond the end of the partition (${high[p]}): the topic was recreated or the position is from another log`,
        ])
      }
    }
  }
  const merger = new Merger(start)
  // Bounded: the snapshot taken above. Following: the newest high watermark seen.
  const end = [...high]
  const dedupe = new DedupeWindow(src.dedupeWindow)
  for (;;) {
    if (signal?.aborted || src.isClosed()) return
    const wanted: Array<{ partition: number; offset: number }> = []
    for (let p = 0; p < src.partitions; p++) {
      if (merger.needs(p) && (merger.next[p] as number) < (end[p] as number))
        wanted.push({ partition: p, offset: merger.next[p] as number })
    }
    if (wanted.length > 0) {
      const got = await src.fetcher.fetch(wanted, 0)
      absorb(src, merger, wanted, got, end, options.follow === true)
      continue
    }
    const message = merger.step()
    if (message) {
      const entry = decode(src.topic, message)
      hooks.onMessage?.(message.value.length)
      if (dedupe.first(identity(message, entry.record))) {
        yield { position: encodeCut(merger.cut), record: entry.record }
      }
      continue
    }
    if (!options.follow) return
    // Nothing can go yet: wait (long poll) on the partitions that have nothing buffered.
    const waiting: Array<{ partition: number; offset: number }> = []
    for (let p = 0; p < src.partitions; p++)
      if (merger.needs(p)) waiting.push({ partition: p, offset: merger.next[p] as number })
    if (waiting.length === 0) {
      // Every partition has a head but none may go: a sequenced record whose markers are
      // not yet written. They come with the writer's next round trip.
      await new Promise((r) => setTimeout(r, src.followPollMs))
      continue
    }
    const got = await src.fetcher.fetch(waiting, src.followPollMs)
    absorb(src, merger, waiting, got, end, true)
  }
}

function absorb(
  src: ReadSource,
  merger: Merger,
  wanted: ReadonlyArray<{ partition: number; offset: number }>,
  got: Map<number, PartitionFetch>,
  end: number[],
  follow: boolean,
): void {
  for (const { partition, offset } of wanted) {
    const data = got.get(partition)
    if (follow && data) end[partition] = Math.max(end[partition] as number, data.highWatermark)
    const limit = end[partition] as number
    const messages = (data?.messages ?? [])
      .filter((m) => Number(m.offset) < limit)
      .map((m) => parseMessage(src.topic, partition, src.partitions, m))
    if (messages.length === 0 && !follow && offset < limit) {
      // Offsets below the snapshot's end with no messages (transaction markers, compacted
      // gaps): there is nothing more to read in this partition.
      end[partition] = offset
    }
    merger.push(partition, messages)
  }
}

function decode(topic: string, m: LogMessage): { record: LogRecord } {
  const frame = readFrame(m.value, 0)
  if (frame.kind !== 'record' || frame.next !== m.value.length) {
    const reason =
      frame.kind === 'corrupt'
        ? frame.reason
        : frame.kind === 'incomplete'
          ? 'truncated record'
          : 'bytes after the record'
    throw new VecshiftError(E.LOG_CORRUPT, [`${topic}/${m.partition}@${m.offset}`, reason])
  }
  return { record: frame.record }
}

/** A record's identity for dedupe: the writer (copies of a retried produce come from the
 *  writer that retried), the record's (instance, seq), and the part for split records. */
function identity(m: LogMessage, record: { instance: string; seq: number }): string {
  return `${writerOf(m.order)}\u0000${record.instance}\u0000${record.seq}\u0000${m.part}`
}
