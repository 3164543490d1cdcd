import { E, VecshiftError } from '../../errors.js'
import { readFrame } from '../codec.js'
import type { LogEntry, ReadOptions } from '../contract.js'
import { DedupeWindow } from '../dedupe.js'
import type { LogRecord } from '../record.js'
import type { S3Store } from './client.js'
import { logKey, logPrefix, parseLogKey, parsePosition, position, type ObjectName } from './keys.js'

// read() for the S3 backend. Several gateway instances may write under one prefix; the log
// order is key order (keys.ts): by the writer's clock, then writer, then its own order.
//
// An object of another writer is read only once it is settled: `settleMs` old by its key's
// clock, or its writer has closed (it leaves writers/<id>.closed behind). Until then a
// writer with an older key might still be putting it, and a reader that went past would
// never come back for it. The reader stops at the first unsettled object (a bounded read
// ends there; a following read waits and lists again). Its own writer's objects are
// settled at once: that writer has one put in flight at a time, in key order. Cross-writer
// order therefore rests on the writers' clocks; keep them in sync (NTP), as any
// timestamp-ordered store needs.

export interface S3ReadSource {
  readonly store: S3Store
  readonly prefix: string
  readonly writerId: string
  readonly settleMs: number
  readonly followPollMs: number
  readonly dedupeWindow: number
  isClosed(): boolean
}

export interface Retention {
  /** Name of the newest object retention deleted. */
  readonly through: string
}

export function retentionKey(prefix: string): string {
  return `${prefix}retention.json`
}

export function closedWriterKey(prefix: string, writer: string): string {
  return `${prefix}writers/${writer}.closed`
}

/** Decides which listed objects a reader may go through, see above. */
export class Settledness {
  #closed: Set<string> | undefined
  constructor(private readonly src: S3ReadSource) {}

  async settled(obj: ObjectName): Promise<boolean> {
    if (obj.writer === this.src.writerId || Date.now() - obj.ms >= this.src.settleMs) return true
    if (!this.#closed) {
      const closed = new Set<string>()
      for await (const o of this.src.store.list(`${this.src.prefix}writers/`)) {
        const m = /([0-9a-f]{8})\.closed$/.exec(o.key)
        if (m) closed.add(m[1] as string)
      }
      this.#closed = closed
    }
    return this.#closed.has(obj.writer)
  }

  /** Forget what was learnt, so a following reader sees writers that closed since. */
  refresh(): void {
    this.#closed = undefined
  }
}

export async function* readS3(src: S3ReadSource, options: ReadOptions = {}): AsyncGenerator<LogEntry> {
  const { signal, follow } = options
  const retention = await src.store.getJson<Retention>(retentionKey(src.prefix))
  const dedupe = new DedupeWindow(src.dedupeWindow)
  let startAfter: string | undefined
  if (options.after !== undefined) {
    const after = parsePosition(options.after)
    if (retention && after.name <= retention.through) {
      const gone = parseLogKeyOrThrow(src.prefix, logKey(src.prefix, retention.through))
      if (after.name < retention.through || after.index < gone.count - 1) {
        throw new VecshiftError(E.LOG_CORRUPT, [
          options.after,
          `retention already deleted it (everything up to ${retention.through})`,
        ])
      }
    }
    const key = logKey(src.prefix, after.name)
    const obj = parseLogKeyOrThrow(src.prefix, key)
    if (after.index < obj.count - 1) {
      const body = await src.store.get(key)
      if (!body) throw new VecshiftError(E.LOG_CORRUPT, [options.after, 'the object holding this position is gone'])
      for (const entry of decodeObject(src, obj, body, after.index + 1, dedupe)) yield entry
    }
    startAfter = key
  }
  const settledness = new Settledness(src)
  for (;;) {
    let blocked = false
    for await (const listed of src.store.list(logPrefix(src.prefix), startAfter)) {
      if (signal?.aborted || src.isClosed()) return
      const obj = parseLogKey(src.prefix, listed.key)
      if (!obj) continue
      if (!(await settledness.settled(obj))) {
        blocked = true
        break
      }
      const body = await src.store.get(listed.key)
      // Gone between list and get: retention removed it, and every checkpoint had passed it.
      if (body) for (const entry of decodeObject(src, obj, body, 0, dedupe)) yield entry
      startAfter = listed.key
    }
    if (!follow || signal?.aborted || src.isClosed()) return
    settledness.refresh()
    await sleep(blocked ? Math.min(src.followPollMs, src.settleMs) : src.followPollMs, signal)
  }
}

function* decodeObject(
  src: S3ReadSource,
  obj: ObjectName,
  body: Buffer,
  from: number,
  dedupe: DedupeWindow,
): Generator<LogEntry> {
  const where = `s3://${src.store.bucket}/${logKey(src.prefix, obj.name)}`
  let offset = 0
  for (let i = 0; i < obj.count; i++) {
    const frame = readFrame(body, offset)
    if (frame.kind !== 'record') {
      throw new VecshiftError(E.LOG_CORRUPT, [
        `${where} record ${i}`,
        frame.kind === 'corrupt' ? frame.reason : 'the object ends early',
      ])
    }
    offset = frame.next
    if (i < from) continue
    const record: LogRecord = frame.record
    if (!dedupe.first(`${obj.writer}\u0000${record.instance}\u0000${record.seq}`)) continue
    yield { position: position(obj.name, i), record }
  }
  if (offset !== body.length)
    throw new VecshiftError(E.LOG_CORRUPT, [where, `${body.length - offset} bytes after its ${obj.count} records`])
}

function parseLogKeyOrThrow(prefix: string, key: string): ObjectName {
  const obj = parseLogKey(prefix, key)
  if (!obj) throw new VecshiftError(E.LOG_CORRUPT, [key, 'not a log object name'])
  return obj
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}
