import { open, readdir, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { FRAME_HEADER_BYTES, MAX_PAYLOAD_BYTES, readFrame } from '../codec.js'
import type { LogRecord } from '../record.js'

// Segment files: `<first LSN, 16 digits>.log`, holding consecutive frames. The LSN of a
// record is its index in the whole log, so a segment's name says where it starts and the
// next segment's name says where it ends.

const SUFFIX = '.log'
const DIGITS = 16

export interface SegmentRef {
  readonly firstLsn: number
  readonly path: string
}

export function formatLsn(lsn: number): string {
  return String(lsn).padStart(DIGITS, '0')
}

export function segmentPath(dir: string, firstLsn: number): string {
  return join(dir, `${formatLsn(firstLsn)}${SUFFIX}`)
}

export async function listSegments(dir: string): Promise<SegmentRef[]> {
  const names = await readdir(dir)
  return names
    .filter((n) => n.endsWith(SUFFIX) && /^\d+$/.test(n.slice(0, -SUFFIX.length)))
    .map((n) => ({ firstLsn: Number(n.slice(0, -SUFFIX.length)), path: join(dir, n) }))
    .sort((a, b) => a.firstLsn - b.firstLsn)
}

export type FrameStep =
  | { readonly kind: 'record'; readonly record: LogRecord; readonly offset: number; readonly end: number }
  /** The file ends here, cleanly (`offset` = end of the last whole frame). */
  | { readonly kind: 'end'; readonly offset: number }
  /** A partial frame follows `offset`: a torn tail, or a frame still being written. */
  | { readonly kind: 'incomplete'; readonly offset: number }
  | { readonly kind: 'corrupt'; readonly offset: number; readonly reason: string }

const CHUNK = 1024 * 1024

/** Reads frames of one segment sequentially with buffered reads. `skip` frames are
 *  stepped over without decoding their payloads. */
export class FrameCursor {
  readonly #file: FileHandle
  #buf: Buffer = Buffer.alloc(0)
  /** File offset of #buf[0]. */
  #base: number
  #pos = 0

  private constructor(file: FileHandle, offset: number) {
    this.#file = file
    this.#base = offset
  }

  static async open(path: string, offset = 0): Promise<FrameCursor> {
    return new FrameCursor(await open(path, 'r'), offset)
  }

  get offset(): number {
    return this.#base + this.#pos
  }

  /** Steps over up to `n` frames without decoding; returns how many it skipped. */
  async skip(n: number): Promise<number> {
    let skipped = 0
    while (skipped < n) {
      if (!(await this.#fill(FRAME_HEADER_BYTES))) break
      const length = this.#buf.readUInt32LE(this.#pos)
      if (length === 0 || length > MAX_PAYLOAD_BYTES) break
      if (!(await this.#fill(FRAME_HEADER_BYTES + length))) break
      this.#pos += FRAME_HEADER_BYTES + length
      skipped++
    }
    return skipped
  }

  async next(): Promise<FrameStep> {
    for (;;) {
      const r = readFrame(this.#buf, this.#pos)
      if (r.kind === 'record') {
        const offset = this.offset
        this.#pos = r.next
        return { kind: 'record', record: r.record, offset, end: this.offset }
      }
      if (r.kind === 'corrupt') return { kind: 'corrupt', offset: this.offset, reason: r.reason }
      const need =
        this.#buf.length - this.#pos >= FRAME_HEADER_BYTES
          ? FRAME_HEADER_BYTES + this.#buf.readUInt32LE(this.#pos)
          : FRAME_HEADER_BYTES
      if (!(await this.#fill(need))) {
        return this.#pos === this.#buf.length
          ? { kind: 'end', offset: this.offset }
          : { kind: 'incomplete', offset: this.offset }
      }
    }
  }

  /** Makes at least `n` bytes available after #pos; false if the file has fewer. */
  async #fill(n: number): Promise<boolean> {
    const have = this.#buf.length - this.#pos
    if (have >= n) return true
    const want = Math.max(CHUNK, n - have)
    const next = Buffer.allocUnsafe(have + want)
    this.#buf.copy(next, 0, this.#pos)
    const { bytesRead } = await this.#file.read(next, have, want, this.#base + this.#buf.length)
    this.#base += this.#pos
    this.#pos = 0
    this.#buf = next.subarray(0, have + bytesRead)
    return this.#buf.length >= n
  }

  close(): Promise<void> {
    return this.#file.close()
  }
}

export interface ScanResult {
  readonly records: number
  /** Bytes of whole, valid frames from the start of the file. */
  readonly validBytes: number
  readonly fileBytes: number
  /** Why reading stopped before the end of the file, when it did. */
  readonly problem?: { readonly kind: 'incomplete' | 'corrupt'; readonly reason: string }
}

/** Reads a whole segment, counting valid frames and finding where they stop. */
export async function scanSegment(path: string): Promise<ScanResult> {
  const cursor = await FrameCursor.open(path)
  let records = 0
  try {
    for (;;) {
      const step = await cursor.next()
      if (step.kind === 'record') {
        records++
        continue
      }
      const handle = await open(path, 'r')
      const { size } = await handle.stat()
      await handle.close()
      if (step.kind === 'end') return { records, validBytes: step.offset, fileBytes: size }
      return {
        records,
        validBytes: step.offset,
        fileBytes: size,
        problem:
          step.kind === 'corrupt'
            ? { kind: 'corrupt', reason: step.reason }
            : { kind: 'incomplete', reason: 'partial record at the end of the file' },
      }
    }
  } finally {
    await cursor.close()
  }
}
