import { EventEmitter, once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { mkdir, open, stat, truncate, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { E, VecshiftError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { encodeRecord, FrameArena } from '../codec.js'
import { BaseWriteLog } from '../base.js'
import type { LogEntry, LogStats, Position, ReadOptions } from '../contract.js'
import type { LogRecord } from '../record.js'
import { fsyncDir, readJson, writeJsonAtomic } from '../../atomic-json.js'
import { acquireDirLock, type DirLock } from './lock.js'
import { FrameCursor, formatLsn, listSegments, scanSegment, segmentPath, type SegmentRef } from './segments.js'

// The embedded write log: segment files in one directory, group-committed.
//
// Durability: an append resolves after its bytes are written and fdatasync'ed. Appends that
// arrive while a sync is running wait for the next one and share it, so under concurrency
// one sync covers many writes (group commit) and throughput follows the disk's sequential
// bandwidth rather than its sync latency. If a write or sync fails, the log stops accepting
// appends until it is reopened: after a failed fsync the page cache state is unknown, and
// failing closed is the only honest answer.
//
// Write-behind: once enough bytes have queued (EAGER_WRITE_BYTES), they are handed to a
// positional write at once, on libuv's thread pool, while the main thread goes on encoding
// the appends that will share the same sync; the sync then only waits for those writes and
// the last few bytes. Offsets are assigned in append order, so the file holds frames in
// LSN order whatever order the writes finish in. A crash can leave a hole (a later write
// landed, an earlier one did not): opening the log cuts the tail at the first bad frame,
// and nothing after it was ever acknowledged, since a sync covers every write before it.

export interface FileLogOptions {
  readonly dir: string
  /** A segment is closed and a new one started once it reaches this size. Default 256 MiB:
   *  each rotation costs a directory sync and a fresh file's first allocation (a latency
   *  spike for one batch), and at a disk's full rate 64 MiB segments rotated twice a second. */
  readonly segmentBytes?: number
  /** Encoded bytes waiting for a sync; appends beyond it are refused (503), not queued. */
  readonly maxQueueBytes?: number
  /** Bytes written per sync at most, so one sync's latency stays bounded. */
  readonly maxBatchBytes?: number
  /** Open without the writer lock, never truncating: for `vecshift log` next to a writer. */
  readonly readOnly?: boolean
  /** How often a reader following the log from another process looks for new records
   *  (the writer's own readers are woken by each commit). Default 200 ms. */
  readonly followPollMs?: number
  readonly logger?: Logger
}

/** What opening the log found and repaired at the torn tail. */
export interface Recovery {
  readonly segment: string
  readonly truncatedBytes: number
  readonly reason: string
}

interface Pending {
  readonly frames: Buffer[]
  readonly bytes: number
  readonly resolve: (positions: Position[]) => void
  readonly reject: (err: Error) => void
}

interface Active {
  readonly file: FileHandle
  readonly firstLsn: number
  /** Bytes given an offset in this segment: written, or being written. */
  size: number
}

/** Queued bytes that start a write at once instead of waiting for the next sync. Large
 *  enough that a write costs little per byte, small enough to overlap encoding. */
const EAGER_WRITE_BYTES = 256 * 1024

const CHECKPOINTS = 'checkpoints.json'
const FOLLOW_POLL_MS = 200
/** Polls a read-only reader waits for a half-written tail frame before calling it corrupt. */
const TAIL_RETRIES = 25

/** Readers note where every OFFSET_EVERY-th record's frame starts (see #offsets). */
const OFFSET_EVERY = 64

export class FileWriteLog extends BaseWriteLog {
  readonly backend = 'file' as const
  readonly dir: string
  readonly recovery: Recovery | undefined
  readonly #options: Required<Omit<FileLogOptions, 'logger' | 'dir'>>
  readonly #logger: Logger | undefined
  readonly #lock: DirLock | undefined
  readonly #segments: SegmentRef[]
  /** Read-only: how far the last segment has been counted (see #readableLimit). */
  #tailScan: { path: string; offset: number; records: number } | undefined
  /** Where frames start, learnt by readers: per segment path, [lsn, byte offset] every
   *  OFFSET_EVERY records, ascending. A read from a position opens its segment near it
   *  instead of stepping over every frame from the segment's start (the copy reads short
   *  windows of the log, batch after batch, deep into a large segment). */
  readonly #offsets = new Map<string, Array<[number, number]>>()
  readonly #events = new EventEmitter()
  #active: Active | undefined
  /** Records durable in the log: the next LSN to be assigned once the queue is written. */
  #durable: number
  /** Appends not yet durable, in LSN order; the first #submitted of them have their bytes
   *  written or being written. */
  #queue: Pending[] = []
  #submitted = 0
  #unsubmittedBytes = 0
  #queuedBytes = 0
  /** Writes started since the last sync; the next sync waits for all of them. */
  #writes: Array<Promise<void>> = []
  #writeError: Error | undefined
  /** Frames are carved from slabs that are reused once their frames are durable. */
  readonly #arena = new FrameArena({ recycle: true })
  #flushing: Promise<void> | undefined
  #failure: Error | undefined
  #checkpoints: Record<string, Position>

  private constructor(init: {
    dir: string
    options: FileLogOptions
    lock: DirLock | undefined
    segments: SegmentRef[]
    active: Active | undefined
    durable: number
    recovery: Recovery | undefined
    checkpoints: Record<string, Position>
  }) {
    super()
    this.dir = init.dir
    this.#options = {
      segmentBytes: init.options.segmentBytes ?? 256 * 1024 * 1024,
      maxQueueBytes: init.options.maxQueueBytes ?? 64 * 1024 * 1024,
      maxBatchBytes: init.options.maxBatchBytes ?? 8 * 1024 * 1024,
      readOnly: init.options.readOnly ?? false,
      followPollMs: init.options.followPollMs ?? FOLLOW_POLL_MS,
    }
    this.#logger = init.options.logger
    this.#lock = init.lock
    this.#segments = init.segments
    this.#active = init.active
    this.#durable = init.durable
    this.recovery = init.recovery
    this.#checkpoints = init.checkpoints
    this.#events.setMaxListeners(0)
  }

  static async open(options: FileLogOptions): Promise<FileWriteLog> {
    const dir = options.dir
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const lock = options.readOnly ? undefined : acquireDirLock(dir)
    try {
      const segments = await listSegments(dir)
      let durable = 0
      let recovery: Recovery | undefined
      let active: Active | undefined
      const last = segments[segments.length - 1]
      if (last) {
        const scan = await scanSegment(last.path)
        if (scan.problem && !options.readOnly) {
          // A torn or corrupt tail: bytes no append ever reported durable (an append
          // resolves only after its sync). Cut them so they are never replayed.
          await truncate(last.path, scan.validBytes)
          recovery = {
            segment: last.path,
            truncatedBytes: scan.fileBytes - scan.validBytes,
            reason: scan.problem.reason,
          }
          options.logger?.warn(recovery, 'write log: cut a torn tail')
        }
        durable = last.firstLsn + scan.records
        if (!options.readOnly) {
          const file = await open(last.path, 'r+')
          await file.datasync()
          active = { file, firstLsn: last.firstLsn, size: scan.validBytes }
        }
      }
      const checkpoints = (await readJson<Record<string, Position>>(join(dir, CHECKPOINTS))) ?? {}
      return new FileWriteLog({ dir, options, lock, segments, active, durable, recovery, checkpoints })
    } catch (err) {
      lock?.release()
      throw err
    }
  }

  compare(a: Position, b: Position): number {
    return Number(a) - Number(b)
  }

  distance(from: Position | undefined, to: Position): number {
    // Positions are log sequence numbers: one per record.
    return Math.max(0, Number(to) - (from === undefined ? this.#headLsn() - 1 : Number(from)))
  }

  protected appendRecords(records: readonly LogRecord[]): Promise<Position[]> {
    if (this.#options.readOnly)
      return Promise.reject(new VecshiftError(E.LOG_UNAVAILABLE, ['file', 'opened read-only']))
    if (this.#failure) {
      return Promise.reject(
        new VecshiftError(E.LOG_UNAVAILABLE, ['file', this.#failure.message], { cause: this.#failure, retryAfter: 1 }),
      )
    }
    if (records.length === 0) return Promise.resolve([])
    const frames = records.map((r) => encodeRecord(r, this.#arena))
    let bytes = 0
    for (const f of frames) bytes += f.length
    if (this.#queuedBytes + bytes > this.#options.maxQueueBytes && this.#queuedBytes > 0) {
      for (const frame of frames) this.#arena.release(frame)
      return Promise.reject(new VecshiftError(E.LOG_BACKPRESSURE, ['file', this.#queuedBytes], { retryAfter: 1 }))
    }
    return new Promise<Position[]>((resolve, reject) => {
      this.#queue.push({ frames, bytes, resolve, reject })
      this.#queuedBytes += bytes
      this.#unsubmittedBytes += bytes
      if (this.#unsubmittedBytes >= EAGER_WRITE_BYTES) this.#writeBehind()
      this.#kick()
    })
  }

  /** Starts writing every queued, unwritten append into the active segment, when they fit
   *  in it; otherwise the next flush writes them, rotating first. */
  #writeBehind(): void {
    const active = this.#active
    if (!active || this.#failure || this.#unsubmittedBytes === 0) return
    if (active.size > 0 && active.size + this.#unsubmittedBytes > this.#options.segmentBytes) return
    const buffers: Buffer[] = []
    for (let i = this.#submitted; i < this.#queue.length; i++) buffers.push(...(this.#queue[i] as Pending).frames)
    const offset = active.size
    active.size += this.#unsubmittedBytes
    this.#submitted = this.#queue.length
    this.#unsubmittedBytes = 0
    this.#write(active.file, buffers, offset)
  }

  #write(file: FileHandle, buffers: Buffer[], offset: number): void {
    // Failures are kept for the next sync to report (and fail the log), never left unhandled.
    this.#writes.push(
      writeAll(file, coalesce(buffers), offset).catch((err: Error) => {
        this.#writeError ??= err
      }),
    )
  }

  #kick(): void {
    if (this.#flushing) return
    // Start on the next turn of the event loop, not now: the writers a sync just released
    // resume in the same turn and append again, and they should share the next sync instead
    // of the first of them taking a sync alone while the rest wait for another.
    this.#flushing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#flush())
      .finally(() => {
        this.#flushing = undefined
        // An append may have queued between the loop's last check and this callback.
        if (this.#queue.length > 0 && !this.#failure) this.#kick()
      })
  }

  /** Writes and syncs queued appends, one batch per sync, until the queue is empty. */
  async #flush(): Promise<void> {
    while (this.#queue.length > 0 && !this.#failure) {
      // A batch is every append already being written, and more up to maxBatchBytes.
      let bytes = 0
      let count = 0
      let take = 0
      while (
        take < this.#queue.length &&
        (take < this.#submitted ||
          take === 0 ||
          bytes + (this.#queue[take] as Pending).bytes <= this.#options.maxBatchBytes)
      ) {
        const p = this.#queue[take] as Pending
        bytes += p.bytes
        count += p.frames.length
        take++
      }
      const batch = this.#queue.slice(0, take)
      try {
        if (take > this.#submitted) await this.#writeRest(take)
        const active = this.#active as Active
        const writes = this.#writes
        this.#writes = []
        await Promise.all(writes)
        if (this.#writeError) throw this.#writeError
        await active.file.datasync()
      } catch (err) {
        this.#fail(err as Error)
        return
      }
      this.#queue.splice(0, take)
      this.#submitted -= take
      let lsn = this.#durable
      this.#durable += count
      this.#queuedBytes -= bytes
      for (const p of batch) {
        const positions = new Array<Position>(p.frames.length)
        for (let i = 0; i < positions.length; i++) positions[i] = formatLsn(lsn++)
        // Written and synced: nothing reads these bytes again, so their slab space is free.
        for (const frame of p.frames) this.#arena.release(frame)
        p.resolve(positions)
      }
      this.#events.emit('durable')
    }
  }

  /** Starts the writes of queue[#submitted, end), rotating to a new segment first when they
   *  do not fit in the active one (after syncing it: its records belong to the batch too). */
  async #writeRest(end: number): Promise<void> {
    let bytes = 0
    for (let i = this.#submitted; i < end; i++) bytes += (this.#queue[i] as Pending).bytes
    let active = this.#active
    if (!active || (active.size > 0 && active.size + bytes > this.#options.segmentBytes)) {
      // Rotation costs the batch no extra round trips: the old segment's writes and sync,
      // the new name's directory sync and the new segment's writes all run at once, and the
      // batch is acknowledged only when every one of them is done.
      const old = active
      if (old) {
        const writes = this.#writes
        this.#writes = [
          Promise.all(writes)
            .then(async () => {
              if (this.#writeError) return
              await old.file.datasync()
              await old.file.close()
            })
            .catch((err: Error) => {
              this.#writeError ??= err
            }),
        ]
      }
      // The new segment starts at the first record not yet written anywhere.
      let firstLsn = this.#durable
      for (let i = 0; i < this.#submitted; i++) firstLsn += (this.#queue[i] as Pending).frames.length
      const path = segmentPath(this.dir, firstLsn)
      const file = await open(path, 'wx', 0o600)
      // The new name must survive a crash too, or its records would vanish with it.
      this.#writes.push(
        fsyncDir(this.dir).catch((err: Error) => {
          this.#writeError ??= err
        }),
      )
      this.#segments.push({ firstLsn, path })
      active = { file, firstLsn, size: 0 }
      this.#active = active
    }
    const buffers: Buffer[] = []
    for (let i = this.#submitted; i < end; i++) buffers.push(...(this.#queue[i] as Pending).frames)
    const offset = active.size
    active.size += bytes
    this.#submitted = end
    this.#unsubmittedBytes -= bytes
    this.#write(active.file, buffers, offset)
  }

  #fail(err: Error): void {
    this.#failure = err
    this.#logger?.error({ err, dir: this.dir }, 'write log: write or sync failed; refusing appends until reopened')
    const error = new VecshiftError(E.LOG_UNAVAILABLE, ['file', err.message], { cause: err, retryAfter: 1 })
    for (const p of this.#queue.splice(0)) p.reject(error)
    this.#queuedBytes = 0
    this.#submitted = 0
    this.#unsubmittedBytes = 0
  }

  protected async *readEntries(options: ReadOptions): AsyncGenerator<LogEntry> {
    const { signal } = options
    let lsn = options.after === undefined ? this.#headLsn() : Number(options.after) + 1
    if (lsn < this.#headLsn()) {
      throw new VecshiftError(E.LOG_CORRUPT, [
        formatLsn(lsn),
        `retention already deleted it; the oldest record is ${formatLsn(this.#headLsn())}`,
      ])
    }
    let cursor: FrameCursor | undefined
    let cursorSegment: SegmentRef | undefined
    let tailRetries = 0
    // Looked up again only once the reader has reached it: for a read-only reader every look
    // opens and reads the last segment, and one look per record made a follower reading a
    // backlog beside a busy writer slower than the writer (its reads queue behind the
    // writer's syncs on libuv's thread pool).
    let limit = 0
    try {
      for (;;) {
        // Ends as soon as close() is called, before the last appends are durable.
        if (signal?.aborted || this.state !== 'open') return
        if (lsn >= limit) limit = await this.#readableLimit()
        if (lsn < limit) {
          const segment = this.#segmentOf(lsn)
          // By path: a read-only reader's segment list is rebuilt on every poll, and reopening
          // the cursor would skip through the whole segment again each time.
          if (cursorSegment?.path !== segment.path || !cursor) {
            await cursor?.close()
            const [fromLsn, fromOffset] = this.#nearestOffset(segment, lsn)
            cursor = await FrameCursor.open(segment.path, fromOffset)
            cursorSegment = segment
            const skipped = await cursor.skip(lsn - fromLsn)
            if (skipped !== lsn - fromLsn)
              throw new VecshiftError(E.LOG_CORRUPT, [segment.path, `record ${formatLsn(lsn)} is missing`])
          }
          if (lsn % OFFSET_EVERY === 0) this.#learnOffset(segment.path, lsn, cursor.offset)
          const step = await cursor.next()
          if (step.kind === 'record') {
            yield { position: formatLsn(lsn), record: step.record }
            lsn++
            continue
          }
          if (step.kind === 'corrupt') {
            // Read-only, beside a live writer: the frame at the end of the last segment may be
            // half-written as we read it. Give it a few polls before calling it corrupt.
            const atTail = this.#options.readOnly && segment === this.#segments[this.#segments.length - 1]
            if (!atTail || ++tailRetries > TAIL_RETRIES) {
              throw new VecshiftError(E.LOG_CORRUPT, [`${segment.path}@${step.offset}`, step.reason])
            }
            await cursor.close()
            cursor = undefined
            await this.#waitForMore(signal)
            continue
          }
          tailRetries = 0
          // The segment ended before `limit`: the next record is in the next segment, or
          // (read-only, next to a writer) still being written.
          const following = this.#segments[this.#segments.indexOf(segment) + 1]
          if (following && lsn >= following.firstLsn) {
            cursorSegment = undefined
            continue
          }
        } else if (!options.follow) {
          return
        }
        await this.#waitForMore(signal)
        if (this.#options.readOnly) await this.#refreshSegments()
      }
    } finally {
      await cursor?.close()
    }
  }

  /** LSN one past the last record a reader may see: durable records for the writer's own
   *  readers; for a read-only opener, whatever whole frames the files hold. */
  #readableLimit(): Promise<number> {
    if (!this.#options.readOnly) return Promise.resolve(this.#durable)
    // One scan at a time: concurrent callers (the copy's workers asking for the tail while a
    // reader follows) would each count the same new frames into the shared scan state, and
    // the tail would run ahead of the log.
    const run = (this.#scanning ?? Promise.resolve(0)).catch(() => 0).then(() => this.#scanTail())
    this.#scanning = run
    return run
  }

  #scanning: Promise<number> | undefined

  async #scanTail(): Promise<number> {
    const last = this.#segments[this.#segments.length - 1]
    if (!last) return 0
    // Whole frames are counted from where the previous call stopped, not from the start of
    // the segment: a follower calls this for every poll and must not rescan what it has seen.
    let scan = this.#tailScan
    if (scan?.path !== last.path) scan = { path: last.path, offset: 0, records: 0 }
    const cursor = await FrameCursor.open(last.path, scan.offset)
    try {
      for (;;) {
        const step = await cursor.next()
        if (step.kind !== 'record') break
        scan.records++
        scan.offset = step.end
      }
    } finally {
      await cursor.close()
    }
    this.#tailScan = scan
    return last.firstLsn + scan.records
  }

  async #refreshSegments(): Promise<void> {
    const now = await listSegments(this.dir)
    this.#segments.splice(0, this.#segments.length, ...now)
  }

  async #waitForMore(signal: AbortSignal | undefined): Promise<void> {
    // Every wait is cancelled once one of them fires, so a reader that follows for hours
    // does not pile up listeners. The timer is not unref'ed: a following reader is live work
    // and keeps the process running until its signal aborts (a read-only `log tail -f` has
    // no other handle, and used to exit).
    const done = new AbortController()
    const opts = { signal: done.signal }
    const waits: Promise<unknown>[] = [
      sleep(this.#options.followPollMs, undefined, opts),
      once(this.#events, 'close', opts),
    ]
    if (!this.#options.readOnly) waits.push(once(this.#events, 'durable', opts))
    if (signal) waits.push(once(signal, 'abort', opts))
    await Promise.race(waits).catch(() => undefined)
    done.abort()
    await Promise.allSettled(waits)
  }

  /** The known frame start closest before `lsn` in its segment (the segment's start if none). */
  #nearestOffset(segment: SegmentRef, lsn: number): [number, number] {
    const known = this.#offsets.get(segment.path)
    let best: [number, number] = [segment.firstLsn, 0]
    if (!known) return best
    let lo = 0
    let hi = known.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const entry = known[mid] as [number, number]
      if (entry[0] <= lsn) {
        if (entry[0] >= segment.firstLsn) best = entry
        lo = mid + 1
      } else {
        hi = mid - 1
      }
    }
    return best
  }

  #learnOffset(path: string, lsn: number, offset: number): void {
    let known = this.#offsets.get(path)
    if (!known) {
      // Segments deleted by retention take their offsets with them.
      if (this.#offsets.size > this.#segments.length) {
        const live = new Set(this.#segments.map((s) => s.path))
        for (const p of this.#offsets.keys()) if (!live.has(p)) this.#offsets.delete(p)
      }
      known = []
      this.#offsets.set(path, known)
    }
    const last = known[known.length - 1]
    if (last === undefined || last[0] < lsn) known.push([lsn, offset])
    else if (!known.some((k) => k[0] === lsn)) {
      known.push([lsn, offset])
      known.sort((a, b) => a[0] - b[0])
    }
  }

  #segmentOf(lsn: number): SegmentRef {
    let found = this.#segments[0] as SegmentRef
    for (const s of this.#segments) {
      if (s.firstLsn <= lsn) found = s
      else break
    }
    return found
  }

  #headLsn(): number {
    return this.#segments[0]?.firstLsn ?? 0
  }

  protected async headPosition(): Promise<Position | undefined> {
    if (this.#options.readOnly) await this.#refreshSegments()
    const limit = await this.#readableLimit()
    return limit > this.#headLsn() ? formatLsn(this.#headLsn()) : undefined
  }

  protected async tailPosition(): Promise<Position | undefined> {
    if (this.#options.readOnly) await this.#refreshSegments()
    const limit = await this.#readableLimit()
    return limit > this.#headLsn() ? formatLsn(limit - 1) : undefined
  }

  protected async commitCheckpoint(consumer: string, position: Position): Promise<void> {
    // A reader in another process (the replayer beside the gateway) keeps the other
    // consumers' checkpoints as the file has them now.
    if (this.#options.readOnly)
      this.#checkpoints = (await readJson<Record<string, Position>>(join(this.dir, CHECKPOINTS))) ?? {}
    this.#checkpoints = { ...this.#checkpoints, [consumer]: position }
    await writeJsonAtomic(join(this.dir, CHECKPOINTS), this.#checkpoints)
  }

  protected async readCheckpoint(consumer: string): Promise<Position | undefined> {
    if (this.#options.readOnly)
      this.#checkpoints = (await readJson<Record<string, Position>>(join(this.dir, CHECKPOINTS))) ?? {}
    return this.#checkpoints[consumer]
  }

  protected async removePassed(): Promise<{ removed: number }> {
    const positions = Object.values(this.#checkpoints)
    if (positions.length === 0 || this.#options.readOnly) return { removed: 0 }
    // Every consumer has applied records up to and including `passed`.
    const passed = Math.min(...positions.map(Number))
    let removed = 0
    // The active (last) segment is never removed: it is being appended to.
    while (this.#segments.length > 1) {
      const next = this.#segments[1] as SegmentRef
      if (next.firstLsn - 1 > passed) break
      const gone = this.#segments.shift() as SegmentRef
      await unlink(gone.path)
      removed++
    }
    if (removed > 0) await fsyncDir(this.dir)
    return { removed }
  }

  protected async collectStats(): Promise<LogStats> {
    if (this.#options.readOnly) await this.#refreshSegments()
    let bytes = 0
    for (const s of this.#segments) bytes += (await stat(s.path)).size
    const limit = await this.#readableLimit()
    return {
      records: Math.max(0, limit - this.#headLsn()),
      bytes,
      head: await this.headPosition(),
      tail: await this.tailPosition(),
    }
  }

  protected async finishAppends(): Promise<void> {
    while (this.#flushing) await this.#flushing
  }

  protected async release(): Promise<void> {
    // Wakes the readers following the log, so that they see it closed and end.
    this.#events.emit('close')
    await this.#active?.file.close()
    this.#lock?.release()
  }
}

async function writeAll(file: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let offset = position
  let pending = buffers
  while (pending.length > 0) {
    const { bytesWritten } = await file.writev(pending, offset)
    offset += bytesWritten
    let skip = bytesWritten
    let i = 0
    while (i < pending.length && skip >= (pending[i] as Buffer).length) skip -= (pending[i++] as Buffer).length
    pending = pending.slice(i)
    if (skip > 0 && pending.length > 0) pending[0] = (pending[0] as Buffer).subarray(skip)
  }
}

/** Frames cut one after another from the same slab (codec.ts) are one run of memory: one
 *  buffer each, so a batch of small records is a handful of writes, not one per record. */
function coalesce(buffers: Buffer[]): Buffer[] {
  const out: Buffer[] = []
  let run: Buffer | undefined
  for (const b of buffers) {
    if (run && run.buffer === b.buffer && run.byteOffset + run.length === b.byteOffset) {
      run = Buffer.from(run.buffer, run.byteOffset, run.length + b.length)
    } else {
      if (run) out.push(run)
      run = b
    }
  }
  if (run) out.push(run)
  return out
}

export function openFileLog(options: FileLogOptions): Promise<FileWriteLog> {
  return FileWriteLog.open(options)
}
