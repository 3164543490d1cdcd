import t from 'tap'
import { encodeRecord, FrameArena, FRAME_HEADER_BYTES, readFrame } from '../../src/writelog/codec.js'
import type { Metadata } from '../../src/wire/pinecone/types.js'
import type { LogRecord } from '../../src/writelog/record.js'

const header = {
  instance: 'gw-1a2b',
  ts: 1795000000123.5,
  apiVersion: '2026-07',
  requestId: 'req-42',
  namespace: 'tenant-é',
}

const records: LogRecord[] = [
  {
    ...header,
    seq: 0,
    op: 'upsert',
    vectors: [
      {
        id: 'a',
        values: new Float32Array([0.1, -0.5, 3.4028234663852886e38, 1e-45]),
        metadata: { genre: 'drama', year: 2001, tags: ['x', 'y'], ok: true },
      },
      {
        id: 'sparse-only',
        sparseValues: { indices: new Uint32Array([1, 4294967295]), values: new Float32Array([0.25, -2]) },
      },
      {
        id: 'both',
        values: new Float32Array([1, 2]),
        sparseValues: { indices: new Uint32Array([7]), values: new Float32Array([0.5]) },
      },
    ],
  },
  { ...header, seq: 1, op: 'update', id: 'a', values: new Float32Array([9, 8, 7, 6]), setMetadata: { genre: 'noir' } },
  { ...header, seq: 2, op: 'update', filter: { genre: { $eq: 'drama' } }, setMetadata: { flagged: true } },
  {
    ...header,
    seq: 3,
    op: 'update',
    id: 'b',
    sparseValues: { indices: new Uint32Array([3]), values: new Float32Array([0.3]) },
  },
  { ...header, seq: 4, op: 'delete', ids: ['a', 'b', 'ünï'] },
  { ...header, seq: 5, op: 'delete', filter: { $or: [{ a: 1 }, { b: { $in: ['x'] } }] } },
  { ...header, seq: 6, op: 'delete', deleteAll: true, namespace: '' },
  { ...header, seq: 7, op: 'outcome', intentSeq: 6, outcome: 'failed', status: 400 },
  { ...header, seq: 2 ** 40 + 3, op: 'outcome', intentSeq: 2 ** 40 + 2, outcome: 'unknown', status: 0 },
  { ...header, seq: 9, op: 'fence', fenceId: 'cutover-2026-11-22T02:00:00Z' },
  { ...header, seq: 10, op: 'outcome', intentSeq: 9, outcome: 'unsent', status: 0 },
  {
    ...header,
    seq: 11,
    op: 'create_namespace',
    namespace: 'tenant-9',
    schema: { fields: { genre: { filterable: true } } },
  },
  { ...header, seq: 12, op: 'create_namespace', namespace: 'tenant-10' },
  { ...header, seq: 13, op: 'abandon', abandoned: 'gw-dead-1234-abcd' },
]

t.test('every kind of record survives a round trip exactly', async (t) => {
  for (const record of records) {
    const frame = encodeRecord(record)
    const result = readFrame(frame, 0)
    t.equal(result.kind, 'record', `${record.op} ${record.seq}`)
    if (result.kind !== 'record') continue
    t.equal(result.next, frame.length)
    t.same(result.record, record, `${record.op} ${record.seq} decodes to what was encoded`)
  }
})

t.test('float32 values come back bit for bit', async (t) => {
  const values = new Float32Array(1536).map((_, i) => Math.sin(i) / 3)
  const frame = encodeRecord({ ...header, seq: 1, op: 'upsert', vectors: [{ id: 'v', values }] })
  const result = readFrame(frame, 0)
  if (result.kind !== 'record' || result.record.op !== 'upsert') throw new Error('expected an upsert')
  t.same(Array.from(result.record.vectors[0]?.values ?? []), Array.from(values))
})

t.test('frames concatenate and are read one after another', async (t) => {
  const buf = Buffer.concat(records.map((r) => encodeRecord(r)))
  const seqs: number[] = []
  let offset = 0
  for (;;) {
    const r = readFrame(buf, offset)
    if (r.kind !== 'record') {
      t.equal(r.kind, 'incomplete', 'the end of the buffer reads as incomplete, not corrupt')
      break
    }
    seqs.push(r.record.seq)
    offset = r.next
  }
  t.same(
    seqs,
    records.map((r) => r.seq),
  )
})

t.test('a torn frame is incomplete; a flipped bit or bad length is corrupt', async (t) => {
  const frame = encodeRecord(records[0] as LogRecord)
  t.equal(readFrame(frame.subarray(0, frame.length - 1), 0).kind, 'incomplete')
  t.equal(readFrame(frame.subarray(0, 5), 0).kind, 'incomplete')
  const flipped = Buffer.from(frame)
  flipped[FRAME_HEADER_BYTES + 20] = (flipped[FRAME_HEADER_BYTES + 20] as number) ^ 0x10
  t.match(readFrame(flipped, 0), { kind: 'corrupt', reason: 'checksum mismatch' })
  const zero = Buffer.alloc(64)
  t.match(readFrame(zero, 0), { kind: 'corrupt', reason: /implausible record length 0/ })
  const huge = Buffer.from(frame)
  huge.writeUInt32LE(0xfffffff0, 0)
  t.match(readFrame(huge, 0), { kind: 'corrupt' })
})

t.test('a recycling arena reuses released slabs and never overwrites a frame still held', async (t) => {
  const arena = new FrameArena({ recycle: true })
  const big = (seq: number): LogRecord => ({
    ...header,
    seq,
    op: 'upsert',
    vectors: [{ id: `v${seq}`, values: new Float32Array(1536).fill(seq) }],
  })
  // ~6 KB frames: a 1 MiB slab holds about 170. Hold every 10th frame, release the rest.
  const held = new Map<number, Buffer>()
  const slabs = new Set<ArrayBufferLike>()
  for (let seq = 0; seq < 3000; seq++) {
    const frame = encodeRecord(big(seq), arena)
    slabs.add(frame.buffer)
    if (seq % 10 === 0) held.set(seq, frame)
    else arena.release(frame)
  }
  // Slabs with a held frame are never reused, so there is one per ~170 frames; but slabs
  // whose frames were all released would be, so once holding stops, few new ones appear.
  const before = slabs.size
  for (let seq = 3000; seq < 6000; seq++) {
    const frame = encodeRecord(big(seq), arena)
    slabs.add(frame.buffer)
    arena.release(frame)
  }
  t.ok(slabs.size - before <= 2, `released slabs are reused (${slabs.size - before} new slabs for 3000 more frames)`)
  let intact = 0
  for (const [seq, frame] of held) {
    const r = readFrame(frame, 0)
    if (
      r.kind === 'record' &&
      r.record.seq === seq &&
      r.record.op === 'upsert' &&
      r.record.vectors[0]?.values?.[100] === seq
    )
      intact++
  }
  t.equal(intact, held.size, 'every held frame still decodes to its own record')
  // A frame from another arena is not this arena's to recycle.
  arena.release(encodeRecord(big(1)))
  t.equal((readFrame(held.get(0) as Buffer, 0) as { kind: string }).kind, 'record')
})

t.test(
  'strings the source accepts and UTF-8 cannot hold come back exactly (lone surrogates, NUL, __proto__)',
  async (t) => {
    const odd = [
      'c370-\ud800',
      '\udfff',
      '\ude00\ud83d',
      '\uD800\u0041',
      'a\u0000b',
      '__proto__',
      'constructor',
      '\uFEFFbom',
      '😀\ud83d',
    ]
    for (const s of odd) {
      const record: LogRecord = {
        ...header,
        seq: 1,
        op: 'upsert',
        namespace: s,
        vectors: [
          {
            id: 'v',
            values: new Float32Array([0.5]),
            metadata: JSON.parse(
              `{${JSON.stringify(s)}: ${JSON.stringify(s)}, "k": [${JSON.stringify(s)}]}`,
            ) as Metadata,
          },
        ],
      }
      const result = readFrame(encodeRecord(record), 0)
      t.equal(result.kind, 'record')
      if (result.kind !== 'record' || result.record.op !== 'upsert') continue
      t.equal(result.record.namespace, s, `namespace ${JSON.stringify(s)} is logged unchanged`)
      t.same(
        Object.entries(result.record.vectors[0]?.metadata ?? {}),
        Object.entries(record.op === 'upsert' ? (record.vectors[0]?.metadata ?? {}) : {}),
        `metadata keyed ${JSON.stringify(s)} unchanged, as an own key`,
      )
      const del = readFrame(encodeRecord({ ...header, seq: 2, op: 'delete', namespace: s, ids: [s] }), 0)
      t.match(del, { kind: 'record', record: { namespace: s, ids: [s] } }, `ids ${JSON.stringify(s)} unchanged`)
    }
    // A record holding the UTF-16 form says version 2, so older readers refuse it; others say 1.
    t.equal(
      encodeRecord({ ...header, seq: 4, op: 'delete', namespace: 'c370-\ud800', ids: ['a'] })[FRAME_HEADER_BYTES],
      2,
    )
    t.equal(encodeRecord({ ...header, seq: 5, op: 'delete', namespace: 'plain', ids: ['a'] })[FRAME_HEADER_BYTES], 1)
    // A well-formed string is still UTF-8 in the frame (the format older readers know).
    const plain = encodeRecord({ ...header, seq: 3, op: 'delete', namespace: 'tenant-é', ids: ['a'] })
    t.ok(Buffer.from(plain).includes(Buffer.from('tenant-é', 'utf8')), 'well-formed strings keep their UTF-8 form')
  },
)
