// The binary snapshot of an index's (or a collection's) records. Vectors are most of the bytes,
// so they are written as raw little-endian float32 rather than JSON (4 bytes a value instead of
// ~10 characters, and no float formatting on the way out).
//
//   "VSNAP001"                                   8-byte magic
//   u32 LE headerLength, header JSON             {"dimension", "namespaces": [[name, count], ...],
//                                                "explicit": [[name, schema], ...]}
//   then, namespace by namespace, `count` records:
//     u16 idLength, id (ASCII)
//     u8 flags                                   1 dense, 2 sparse, 4 metadata
//     dense:    dimension x f32
//     sparse:   u32 n, n x u32 indices, n x f32 values
//     metadata: u32 length, UTF-8 JSON
import { endianness } from 'node:os'
import type { RecordSet } from './index-store.js'
import { l2norm, type Metadata, type StoredRecord } from './records.js'

const MAGIC = Buffer.from('VSNAP001', 'ascii')
const DENSE = 1
const SPARSE = 2
const METADATA = 4

if (endianness() !== 'LE') {
  // Float32Array views are in host order; the format is little-endian.
  throw new Error('the emulator snapshot format needs a little-endian host')
}

/** Namespaces created explicitly (POST /namespaces) exist while empty, with their schema. */
export type ExplicitNamespaces = Array<[name: string, schema: unknown]>

interface Header {
  dimension: number | null
  namespaces: Array<[string, number]>
  explicit?: ExplicitNamespaces
}

export interface Snapshot {
  readonly data: RecordSet
  readonly explicit: ExplicitNamespaces
}

export function encodeSnapshot(data: RecordSet, dimension: number | null, explicit: ExplicitNamespaces = []): Buffer {
  const header: Header = { dimension, namespaces: [...data].map(([ns, recs]) => [ns, recs.size]), explicit }
  const headerBytes = Buffer.from(JSON.stringify(header))
  const metaJson = new Map<StoredRecord, Buffer>()
  let size = MAGIC.length + 4 + headerBytes.length
  for (const recs of data.values()) {
    for (const r of recs.values()) {
      size += 2 + r.id.length + 1
      if (r.values !== null) size += r.values.byteLength
      if (r.sparse !== null) size += 4 + r.sparse.indices.byteLength + r.sparse.values.byteLength
      if (r.metadata !== null) {
        const m = Buffer.from(JSON.stringify(r.metadata))
        metaJson.set(r, m)
        size += 4 + m.length
      }
    }
  }
  const out = Buffer.allocUnsafe(size)
  let o = MAGIC.copy(out, 0)
  o = out.writeUInt32LE(headerBytes.length, o)
  o += headerBytes.copy(out, o)
  const raw = (view: ArrayBufferView): void => {
    o += Buffer.from(view.buffer, view.byteOffset, view.byteLength).copy(out, o)
  }
  for (const recs of data.values()) {
    for (const r of recs.values()) {
      o = out.writeUInt16LE(r.id.length, o)
      o += out.write(r.id, o, 'latin1')
      const m = metaJson.get(r)
      o = out.writeUInt8(
        (r.values !== null ? DENSE : 0) | (r.sparse !== null ? SPARSE : 0) | (m !== undefined ? METADATA : 0),
        o,
      )
      if (r.values !== null) raw(r.values)
      if (r.sparse !== null) {
        o = out.writeUInt32LE(r.sparse.indices.length, o)
        raw(r.sparse.indices)
        raw(r.sparse.values)
      }
      if (m !== undefined) {
        o = out.writeUInt32LE(m.length, o)
        o += m.copy(out, o)
      }
    }
  }
  return out
}

export function decodeSnapshot(buf: Buffer): Snapshot {
  if (buf.length < MAGIC.length + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new Error('not an emulator snapshot (bad magic)')
  }
  let o = MAGIC.length
  const headerLength = buf.readUInt32LE(o)
  o += 4
  const header = JSON.parse(buf.toString('utf8', o, o + headerLength)) as Header
  o += headerLength
  // Copy each array out of the file buffer: typed arrays need aligned offsets.
  const f32 = (n: number): Float32Array => {
    const a = new Float32Array(n)
    buf.copy(Buffer.from(a.buffer), 0, o, o + n * 4)
    o += n * 4
    return a
  }
  const u32 = (n: number): Uint32Array => {
    const a = new Uint32Array(n)
    buf.copy(Buffer.from(a.buffer), 0, o, o + n * 4)
    o += n * 4
    return a
  }
  const out = new Map<string, Map<string, StoredRecord>>()
  for (const [ns, count] of header.namespaces) {
    const records = new Map<string, StoredRecord>()
    for (let i = 0; i < count; i++) {
      const idLength = buf.readUInt16LE(o)
      o += 2
      const id = buf.toString('latin1', o, o + idLength)
      o += idLength
      const flags = buf.readUInt8(o++)
      const values = flags & DENSE ? f32(header.dimension ?? 0) : null
      let sparse: StoredRecord['sparse'] = null
      if (flags & SPARSE) {
        const n = buf.readUInt32LE(o)
        o += 4
        const indices = u32(n)
        sparse = { indices, values: f32(n) }
      }
      let metadata: Metadata | null = null
      if (flags & METADATA) {
        const n = buf.readUInt32LE(o)
        o += 4
        metadata = JSON.parse(buf.toString('utf8', o, o + n)) as Metadata
        o += n
      }
      records.set(id, { id, values, norm: values === null ? 0 : l2norm(values), sparse, metadata })
    }
    out.set(ns, records)
  }
  if (o !== buf.length) throw new Error(`snapshot has ${buf.length - o} trailing bytes`)
  return { data: out, explicit: header.explicit ?? [] }
}
