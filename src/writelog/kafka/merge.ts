import { E, VecshiftError } from '../../errors.js'
import { HEADER, SEQUENCER, type Kind } from './messages.js'

// Merges the partitions of a write-log topic into one stream of entries, following the
// rules in messages.ts. Pure bookkeeping over messages the reader has fetched, so it can be
// reasoned about (and tested) without a broker.
//
// - A partition's candidate is its first message after any markers it may pass (a marker
//   with ref r may be passed once partition 0 is past r). A marker it may not pass blocks it.
// - A sequenced record at the head of partition 0 is a candidate once each target partition
//   is blocked at a marker with ref >= its offset (everything before that marker there has
//   been emitted).
// - Among candidates the smallest merge key (writer clock, writer, counter) goes first, so a
//   single writer's records come back in exactly the order it appended them.
// - The cut advances over a partition's markers only together with the message after them,
//   so the position of an entry does not depend on markers written after it.

export interface LogMessage {
  readonly partition: number
  readonly offset: number
  readonly kind: Kind
  readonly order: string
  readonly value: Buffer
  readonly part: string
  readonly targets: readonly number[]
  readonly ref: number
}

export interface FetchedMessage {
  readonly offset: string
  readonly value: Buffer | null
  readonly headers?: Record<string, Buffer | string | Array<Buffer | string> | undefined>
}

function header(m: FetchedMessage, name: string): string | undefined {
  const h = m.headers?.[name]
  const v = Array.isArray(h) ? h[0] : h
  return v === undefined ? undefined : v.toString()
}

export function parseMessage(topic: string, partition: number, partitions: number, m: FetchedMessage): LogMessage {
  const kind = header(m, HEADER.kind)
  const where = `${topic}/${partition}@${m.offset}`
  if (kind !== 'r' && kind !== 'p' && kind !== 's' && kind !== 'm') {
    throw new VecshiftError(E.LOG_CORRUPT, [
      where,
      'a message without a vecshift kind header (was something else written to the topic?)',
    ])
  }
  const targetsText = header(m, HEADER.targets)
  const targets =
    targetsText === undefined || targetsText === ''
      ? []
      : targetsText === '*'
        ? Array.from({ length: partitions - 1 }, (_, i) => i + 1)
        : targetsText.split(',').map(Number)
  return {
    partition,
    offset: Number(m.offset),
    kind,
    order: header(m, HEADER.order) ?? '',
    value: m.value ?? Buffer.alloc(0),
    part: header(m, HEADER.part) ?? '',
    targets,
    ref: Number(header(m, HEADER.ref) ?? -1),
  }
}

export class Merger {
  readonly cut: number[]
  readonly #buffers: LogMessage[][]
  /** Next offset to fetch per partition (one past the last buffered message). */
  readonly next: number[]

  constructor(start: readonly number[]) {
    this.cut = [...start]
    this.next = [...start]
    this.#buffers = start.map(() => [])
  }

  get partitions(): number {
    return this.cut.length
  }

  push(partition: number, messages: readonly LogMessage[]): void {
    const buffer = this.#buffers[partition] as LogMessage[]
    for (const m of messages) {
      if (m.offset < (this.next[partition] as number)) continue
      buffer.push(m)
      this.next[partition] = m.offset + 1
    }
  }

  /** True when the partition's candidate cannot be known without fetching more. */
  needs(partition: number): boolean {
    return this.#scan(partition).state === 'more'
  }

  /** Consumes and returns the next message to emit, or undefined when none can go yet. */
  step(): LogMessage | undefined {
    let best: { partition: number; index: number; message: LogMessage } | undefined
    for (let p = 0; p < this.partitions; p++) {
      const s = this.#scan(p)
      if (s.state !== 'candidate') continue
      const m = s.message
      if (m.kind === 's' && !this.#sequencedReady(m)) continue
      if (!best || m.order < best.message.order) best = { partition: p, index: s.index, message: m }
    }
    if (!best) return undefined
    const buffer = this.#buffers[best.partition] as LogMessage[]
    buffer.splice(0, best.index + 1)
    this.cut[best.partition] = best.message.offset + 1
    return best.message
  }

  #scan(
    partition: number,
  ):
    | { state: 'candidate'; index: number; message: LogMessage }
    | { state: 'blocked'; marker: LogMessage }
    | { state: 'more' } {
    const buffer = this.#buffers[partition] as LogMessage[]
    const sequencerCut = this.#sequencerFloor()
    for (let i = 0; i < buffer.length; i++) {
      const m = buffer[i] as LogMessage
      if (m.kind !== 'm') return { state: 'candidate', index: i, message: m }
      if (partition !== SEQUENCER && m.ref >= sequencerCut) return { state: 'blocked', marker: m }
    }
    return { state: 'more' }
  }

  /** Everything in partition 0 below this offset has been emitted. The first buffered
   *  message's offset rather than the cut, so a gap in offsets cannot block a marker. */
  #sequencerFloor(): number {
    const head = (this.#buffers[SEQUENCER] as LogMessage[])[0]
    return head ? head.offset : (this.next[SEQUENCER] as number)
  }

  #sequencedReady(m: LogMessage): boolean {
    if (m.partition !== SEQUENCER) return true
    for (const q of m.targets) {
      if (q === SEQUENCER || q >= this.partitions) continue
      const s = this.#scan(q)
      if (s.state !== 'blocked' || s.marker.ref < m.offset) return false
    }
    return true
  }
}
