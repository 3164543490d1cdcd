import { crc32 } from 'node:zlib'
import type {
  AbandonRecord,
  CreateNamespaceRecord,
  DeleteRecord,
  FenceRecord,
  LogRecord,
  Metadata,
  OutcomeKind,
  OutcomeRecord,
  RecordHeader,
  SparseValues,
  UpdateRecord,
  UpsertRecord,
  VectorRecord,
} from './record.js'
import { wellFormed } from '../unicode.js'

// The binary encoding of one log record, shared by every backend. docs/writelog-format.md
// is its specification for other tools; the layout here must stay in step with it.
//
//   frame   = u32 payloadLength | u32 crc32(payload) | payload
//   payload = u8 version(1; 2 when a string is in the UTF-16 form) | u8 op | u64 seq | f64 ts | str16 instance | str16 apiVersion
//             | str16 requestId | str16 namespace | body(op)
//
// All integers and floats are little-endian. Dense and sparse values are float32 exactly as
// Pinecone stores them, so a replayed vector is bit-for-bit the vector the client sent.

export const FORMAT_VERSION = 1
/** A record holding a string in the UTF-16 form (Writer.#utf16): readers from before that
 *  form refuse it as an unknown version instead of misreading it. */
export const FORMAT_VERSION_UTF16 = 2
export const FRAME_HEADER_BYTES = 8
/** A record larger than this is corrupt by definition (Pinecone caps requests at 2 MB;
 *  float32 values are smaller than their JSON). */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  // Float arrays are copied as raw bytes; a big-endian host would need byte swapping.
  throw new Error('vecshift write log requires a little-endian host')
}

const OP_CODES = { upsert: 1, update: 2, delete: 3, outcome: 4, fence: 5, create_namespace: 6, abandon: 7 } as const
const OPS = ['', 'upsert', 'update', 'delete', 'outcome', 'fence', 'create_namespace', 'abandon'] as const
const OUTCOME_CODES: Record<OutcomeKind, number> = { ok: 1, failed: 2, unknown: 3, unsent: 4 }
const OUTCOMES = ['', 'ok', 'failed', 'unknown', 'unsent'] as const

export class CodecError extends Error {
  override readonly name = 'CodecError'
}

// Frames are carved out of slabs instead of being allocated one by one: a fresh ArrayBuffer
// for a 6 KB frame costs about as much as checksumming it, and each one is external memory
// that makes V8 run full collections (a few ms each, several a second at the disk's rate).
// A frame is never written to after encodeRecord returns it.
const SLAB_BYTES = 1024 * 1024
/** Frames estimated above this get a buffer of their own, so one big record cannot keep a
 *  mostly empty slab alive. */
const SLAB_MAX_FRAME = SLAB_BYTES / 8

/**
 * Where frames are carved from. The default arena never reuses a slab (the garbage collector
 * frees it once no frame cut from it is reachable): right for backends that hand frames to
 * libraries. A writer that knows when its frames are done with (the file log, once they are
 * written and synced) gives them back with release(), and their slabs are reused.
 */
export class FrameArena {
  #slab: Buffer = Buffer.allocUnsafeSlow(SLAB_BYTES)
  #used = 0
  /** Frames not yet released, per slab (recycling arenas only). */
  readonly #live = new Map<ArrayBufferLike, number>()
  readonly #free: Buffer[] = []
  readonly #recycle: boolean
  /** Spare slabs kept for reuse; more are left to the garbage collector. */
  readonly #maxFree: number

  constructor(options: { recycle: boolean; maxFreeSlabs?: number }) {
    this.#recycle = options.recycle
    this.#maxFree = options.maxFreeSlabs ?? 16
  }

  /** Room for `size` bytes: the slab and the offset to write at, or undefined (too big). */
  take(size: number): { buf: Buffer; start: number } | undefined {
    if (size > SLAB_MAX_FRAME) return undefined
    if (this.#used + size > SLAB_BYTES) {
      const full = this.#slab
      this.#slab = this.#free.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES)
      this.#used = 0
      if (this.#recycle && (this.#live.get(full.buffer) ?? 0) === 0) this.#retire(full)
    }
    return { buf: this.#slab, start: this.#used }
  }

  /** The frame [start, end) of `buf` is finished: the slab's space up to `end` is taken. */
  commit(buf: Buffer, end: number): void {
    if (buf !== this.#slab) return
    this.#used = end
    if (this.#recycle) this.#live.set(buf.buffer, (this.#live.get(buf.buffer) ?? 0) + 1)
  }

  /** A frame from this arena is no longer referenced anywhere (recycling arenas). Call it
   *  once per frame: the slab is reused when every frame cut from it has been released. */
  release(frame: Buffer): void {
    if (!this.#recycle) return
    const count = this.#live.get(frame.buffer)
    if (count === undefined) return
    if (count > 1) {
      this.#live.set(frame.buffer, count - 1)
      return
    }
    this.#live.delete(frame.buffer)
    // The current slab stays current; a full one goes back to the free list.
    if (frame.buffer !== this.#slab.buffer) this.#retire(Buffer.from(frame.buffer, 0, SLAB_BYTES))
  }

  #retire(slab: Buffer): void {
    this.#live.delete(slab.buffer)
    if (this.#free.length < this.#maxFree) this.#free.push(slab)
  }
}

const SHARED_ARENA = new FrameArena({ recycle: false })

class Writer {
  buf: Buffer
  /** Where this frame starts in buf (non-zero inside a slab). */
  readonly start: number
  pos: number
  /** End of the space this writer may use; past it, the frame moves to a buffer of its own. */
  limit: number
  readonly arena: FrameArena
  /** Whether a string went in the UTF-16 form (the record then says version 2). */
  utf16 = false
  constructor(size: number, arena: FrameArena) {
    this.arena = arena
    const room = arena.take(size)
    if (room) {
      this.buf = room.buf
      this.start = room.start
    } else {
      this.buf = Buffer.allocUnsafe(size)
      this.start = 0
    }
    this.pos = this.start
    this.limit = this.start + size
  }
  ensure(n: number): void {
    if (this.pos + n <= this.limit) return
    const used = this.pos - this.start
    const next = Buffer.allocUnsafe(Math.max((this.limit - this.start) * 2, used + n))
    this.buf.copy(next, 0, this.start, this.pos)
    this.buf = next
    ;(this as { start: number }).start = 0
    this.pos = used
    this.limit = next.length
  }
  /** The finished frame. Frames follow each other in a slab without gaps, so the file log
   *  can write a run of them as one buffer; decoding copies values out, so no alignment. */
  finish(): Buffer {
    this.arena.commit(this.buf, this.pos)
    return this.buf.subarray(this.start, this.pos)
  }
  u8(v: number): void {
    this.ensure(1)
    this.buf[this.pos++] = v
  }
  u16(v: number): void {
    this.ensure(2)
    this.buf.writeUInt16LE(v, this.pos)
    this.pos += 2
  }
  u32(v: number): void {
    this.ensure(4)
    this.buf.writeUInt32LE(v, this.pos)
    this.pos += 4
  }
  u64(v: number): void {
    this.ensure(8)
    this.buf.writeUInt32LE(v % 0x1_0000_0000, this.pos)
    this.buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), this.pos + 4)
    this.pos += 8
  }
  f64(v: number): void {
    this.ensure(8)
    this.buf.writeDoubleLE(v, this.pos)
    this.pos += 8
  }
  str16(s: string): void {
    if (!wellFormed(s)) {
      this.#utf16(s, 0xffff, (n) => this.u16(n))
      return
    }
    const n = Buffer.byteLength(s)
    if (n > 0xffff) throw new CodecError(`string of ${n} bytes is too long for the log (max 65535)`)
    this.u16(n)
    this.ensure(n)
    this.pos += this.buf.write(s, this.pos)
  }
  str32(s: string): void {
    if (!wellFormed(s)) {
      this.#utf16(s, 0xffff_ffff, (n) => this.u32(n))
      return
    }
    const n = Buffer.byteLength(s)
    this.u32(n)
    this.ensure(n)
    this.pos += this.buf.write(s, this.pos)
  }
  /** A string with a lone surrogate (which JSON and the source accept, and UTF-8 cannot
   *  hold: it would come back as U+FFFD) goes as 0xFF then its UTF-16LE code units. No UTF-8
   *  text starts with the byte 0xFF, so readers tell the two apart, and strings logged
   *  before this form existed read as they always did (docs/writelog-format.md). */
  #utf16(s: string, max: number, length: (n: number) => void): void {
    const n = 1 + s.length * 2
    if (n > max) throw new CodecError(`string of ${n} bytes is too long for the log (max ${max})`)
    length(n)
    this.ensure(n)
    this.utf16 = true
    this.buf[this.pos] = UTF16_MARK
    this.pos += 1 + this.buf.write(s, this.pos + 1, 'utf16le')
  }
  bytes(view: ArrayBufferView): void {
    const src = new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
    this.ensure(src.length)
    this.buf.set(src, this.pos)
    this.pos += src.length
  }
}

/** Marks a string stored as UTF-16LE code units (Writer.#utf16). */
const UTF16_MARK = 0xff

class Reader {
  pos: number
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start
  }
  need(n: number): void {
    if (this.pos + n > this.end) throw new CodecError('record ends early')
  }
  u8(): number {
    this.need(1)
    return this.buf[this.pos++] as number
  }
  u16(): number {
    this.need(2)
    const v = this.buf.readUInt16LE(this.pos)
    this.pos += 2
    return v
  }
  u32(): number {
    this.need(4)
    const v = this.buf.readUInt32LE(this.pos)
    this.pos += 4
    return v
  }
  u64(): number {
    this.need(8)
    const v = this.buf.readUInt32LE(this.pos) + this.buf.readUInt32LE(this.pos + 4) * 0x1_0000_0000
    this.pos += 8
    return v
  }
  f64(): number {
    this.need(8)
    const v = this.buf.readDoubleLE(this.pos)
    this.pos += 8
    return v
  }
  str(n: number): string {
    this.need(n)
    const s =
      n > 0 && this.buf[this.pos] === UTF16_MARK
        ? this.buf.toString('utf16le', this.pos + 1, this.pos + n)
        : this.buf.toString('utf8', this.pos, this.pos + n)
    this.pos += n
    return s
  }
  str16(): string {
    return this.str(this.u16())
  }
  str32(): string {
    return this.str(this.u32())
  }
  json<T>(): T {
    return JSON.parse(this.str32()) as T
  }
  /** Copies into a fresh, aligned buffer: typed arrays need 4-byte alignment. */
  f32(n: number): Float32Array {
    this.need(n * 4)
    const out = new Float32Array(n)
    new Uint8Array(out.buffer).set(this.buf.subarray(this.pos, this.pos + n * 4))
    this.pos += n * 4
    return out
  }
  u32s(n: number): Uint32Array {
    this.need(n * 4)
    const out = new Uint32Array(n)
    new Uint8Array(out.buffer).set(this.buf.subarray(this.pos, this.pos + n * 4))
    this.pos += n * 4
    return out
  }
}

function writeSparse(w: Writer, s: SparseValues): void {
  w.u32(s.indices.length)
  w.bytes(s.indices)
  w.bytes(s.values)
}

function readSparse(r: Reader): SparseValues {
  const n = r.u32()
  return { indices: r.u32s(n), values: r.f32(n) }
}

function writeVector(w: Writer, v: VectorRecord): void {
  w.str16(v.id)
  w.u8((v.values ? 1 : 0) | (v.sparseValues ? 2 : 0) | (v.metadata ? 4 : 0))
  if (v.values) {
    w.u32(v.values.length)
    w.bytes(v.values)
  }
  if (v.sparseValues) writeSparse(w, v.sparseValues)
  if (v.metadata) w.str32(JSON.stringify(v.metadata))
}

function readVector(r: Reader): VectorRecord {
  const id = r.str16()
  const flags = r.u8()
  const v: { id: string; values?: Float32Array; sparseValues?: SparseValues; metadata?: Metadata } = { id }
  if (flags & 1) v.values = r.f32(r.u32())
  if (flags & 2) v.sparseValues = readSparse(r)
  if (flags & 4) v.metadata = r.json<Metadata>()
  return v
}

function writeBody(w: Writer, record: LogRecord): void {
  switch (record.op) {
    case 'upsert':
      w.u32(record.vectors.length)
      for (const v of record.vectors) writeVector(w, v)
      return
    case 'update':
      w.u8(
        (record.id !== undefined ? 1 : 0) |
          (record.values ? 2 : 0) |
          (record.sparseValues ? 4 : 0) |
          (record.setMetadata ? 8 : 0) |
          (record.filter ? 16 : 0),
      )
      if (record.id !== undefined) w.str16(record.id)
      if (record.values) {
        w.u32(record.values.length)
        w.bytes(record.values)
      }
      if (record.sparseValues) writeSparse(w, record.sparseValues)
      if (record.setMetadata) w.str32(JSON.stringify(record.setMetadata))
      if (record.filter) w.str32(JSON.stringify(record.filter))
      return
    case 'delete':
      w.u8(
        (record.ids ? 1 : 0) | (record.filter ? 2 : 0) | (record.deleteAll ? 4 : 0) | (record.deleteNamespace ? 8 : 0),
      )
      if (record.ids) {
        w.u32(record.ids.length)
        for (const id of record.ids) w.str16(id)
      }
      if (record.filter) w.str32(JSON.stringify(record.filter))
      return
    case 'outcome':
      w.u64(record.intentSeq)
      w.u8(OUTCOME_CODES[record.outcome])
      w.u16(record.status)
      return
    case 'fence':
      w.str16(record.fenceId)
      return
    case 'create_namespace':
      w.u8(record.schema ? 1 : 0)
      if (record.schema) w.str32(JSON.stringify(record.schema))
      return
    case 'abandon':
      w.str16(record.abandoned)
  }
}

/** Encodes one record as a complete frame (length, checksum, payload), carved from `arena`
 *  (by default one whose slabs are never reused). */
export function encodeRecord(record: LogRecord, arena: FrameArena = SHARED_ARENA): Buffer {
  const estimate =
    record.op === 'upsert' ? 128 + record.vectors.reduce((n, v) => n + 64 + (v.values?.length ?? 0) * 4, 0) : 256
  const w = new Writer(estimate, arena)
  w.pos = w.start + FRAME_HEADER_BYTES
  w.u8(FORMAT_VERSION)
  w.u8(OP_CODES[record.op])
  w.u64(record.seq)
  w.f64(record.ts)
  w.str16(record.instance)
  w.str16(record.apiVersion)
  w.str16(record.requestId)
  w.str16(record.namespace)
  writeBody(w, record)
  const frame = w.finish()
  if (w.utf16) frame[FRAME_HEADER_BYTES] = FORMAT_VERSION_UTF16
  const length = frame.length - FRAME_HEADER_BYTES
  frame.writeUInt32LE(length, 0)
  frame.writeUInt32LE(crc32(frame.subarray(FRAME_HEADER_BYTES)), 4)
  return frame
}

/** Decodes a payload (the bytes after a frame header). Throws CodecError when malformed. */
export function decodePayload(buf: Buffer, start = 0, end = buf.length): LogRecord {
  const r = new Reader(buf, start, end)
  const version = r.u8()
  if (version !== FORMAT_VERSION && version !== FORMAT_VERSION_UTF16)
    throw new CodecError(`unknown record format version ${version}`)
  const op = OPS[r.u8()]
  if (!op) throw new CodecError('unknown operation code')
  const header: RecordHeader = {
    seq: r.u64(),
    ts: r.f64(),
    instance: r.str16(),
    apiVersion: r.str16(),
    requestId: r.str16(),
    namespace: r.str16(),
  }
  let record: LogRecord
  switch (op) {
    case 'upsert': {
      const n = r.u32()
      const vectors: VectorRecord[] = new Array(n)
      for (let i = 0; i < n; i++) vectors[i] = readVector(r)
      record = { ...header, op, vectors } satisfies UpsertRecord
      break
    }
    case 'update': {
      const flags = r.u8()
      const u: { -readonly [K in keyof UpdateRecord]: UpdateRecord[K] } = { ...header, op }
      if (flags & 1) u.id = r.str16()
      if (flags & 2) u.values = r.f32(r.u32())
      if (flags & 4) u.sparseValues = readSparse(r)
      if (flags & 8) u.setMetadata = r.json<Metadata>()
      if (flags & 16) u.filter = r.json<Record<string, unknown>>()
      record = u
      break
    }
    case 'delete': {
      const flags = r.u8()
      const d: { -readonly [K in keyof DeleteRecord]: DeleteRecord[K] } = { ...header, op }
      if (flags & 1) {
        const n = r.u32()
        const ids: string[] = new Array(n)
        for (let i = 0; i < n; i++) ids[i] = r.str16()
        d.ids = ids
      }
      if (flags & 2) d.filter = r.json<Record<string, unknown>>()
      if (flags & 4) d.deleteAll = true
      if (flags & 8) d.deleteNamespace = true
      record = d
      break
    }
    case 'outcome': {
      const intentSeq = r.u64()
      const outcome = OUTCOMES[r.u8()]
      if (!outcome) throw new CodecError('unknown outcome code')
      record = { ...header, op, intentSeq, outcome, status: r.u16() } satisfies OutcomeRecord
      break
    }
    case 'fence':
      record = { ...header, op, fenceId: r.str16() } satisfies FenceRecord
      break
    case 'create_namespace': {
      const flags = r.u8()
      record = {
        ...header,
        op,
        ...(flags & 1 ? { schema: r.json<Record<string, unknown>>() } : {}),
      } satisfies CreateNamespaceRecord
      break
    }
    case 'abandon':
      record = { ...header, op, abandoned: r.str16() } satisfies AbandonRecord
      break
  }
  if (r.pos !== end) throw new CodecError(`${end - r.pos} unexpected bytes after the record`)
  return record
}

export type FrameResult =
  | { readonly kind: 'record'; readonly record: LogRecord; readonly next: number }
  /** Not enough bytes for a whole frame: a torn tail, or more data still to come. */
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'corrupt'; readonly reason: string }

/** Reads the frame starting at `offset`, verifying its length and checksum. */
export function readFrame(buf: Buffer, offset: number): FrameResult {
  if (offset + FRAME_HEADER_BYTES > buf.length) return { kind: 'incomplete' }
  const length = buf.readUInt32LE(offset)
  if (length === 0 || length > MAX_PAYLOAD_BYTES)
    return { kind: 'corrupt', reason: `implausible record length ${length}` }
  const start = offset + FRAME_HEADER_BYTES
  const end = start + length
  if (end > buf.length) return { kind: 'incomplete' }
  const expected = buf.readUInt32LE(offset + 4)
  if (crc32(buf.subarray(start, end)) !== expected) return { kind: 'corrupt', reason: 'checksum mismatch' }
  try {
    return { kind: 'record', record: decodePayload(buf, start, end), next: end }
  } catch (err) {
    return { kind: 'corrupt', reason: (err as Error).message }
  }
}
