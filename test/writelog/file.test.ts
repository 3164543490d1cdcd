import { appendFileSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { openFileLog } from '../../src/writelog/file/file-log.js'
import type { TestContext } from '../helpers/tap.js'
import type { LogRecord, UpsertRecord } from '../../src/writelog/record.js'
import { runContract, upsert } from './contract.js'

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'vecshift-filelog-'))
}

async function fresh(t: TestContext, options: { segmentBytes?: number; maxQueueBytes?: number } = {}) {
  const dir = tempDir()
  const logs: Array<{ close(): Promise<void> }> = []
  const open = async () => {
    const log = await openFileLog({ dir, ...options })
    logs.push(log)
    return log
  }
  t.teardown(async () => {
    for (const l of logs) await l.close()
  })
  return { dir, log: await open(), reopen: open }
}

runContract(t, { name: 'file', open: (t) => fresh(t, { segmentBytes: 4096 }) })

t.test('file: segments rotate, retention deletes whole passed segments, files are 0600', async (t) => {
  const { dir, log } = await fresh(t, { segmentBytes: 1024 })
  const positions: string[] = []
  for (let i = 0; i < 60; i++) positions.push(...(await log.append([upsert(`s${i}`)])))
  const segments = () => readdirSync(dir).filter((n) => n.endsWith('.log'))
  const before = segments()
  t.ok(before.length > 3, `${before.length} segments`)
  for (const name of [...before, 'LOCK']) t.equal(statSync(join(dir, name)).mode & 0o777, 0o600, `${name} is 0600`)
  await log.commit('replayer', positions[40] as string)
  t.equal(statSync(join(dir, 'checkpoints.json')).mode & 0o777, 0o600, 'checkpoints.json is 0600')
  const { removed } = await log.retain()
  t.ok(removed > 0, `${removed} segments removed`)
  t.equal(segments().length, before.length - removed)
  let first: string | undefined
  for await (const e of log.read()) {
    first = e.position
    break
  }
  t.ok(Number(first) <= 41, 'nothing after the checkpoint was removed')
  await t.rejects(
    async () => {
      for await (const _ of log.read({ after: '0000000000000000' })) break
    },
    { code: 'VECSHIFT_ERR_LOG_CORRUPT' },
  )
})

t.test(
  'file: concurrent big and small appends, written behind across segment rotations, read back in position order',
  async (t) => {
    // Records of ~300 KB start writes before their sync (write-behind); 1 MB segments make
    // rotations fall between those writes and the flushes that finish a batch.
    const { dir, log, reopen } = await fresh(t, { segmentBytes: 1024 * 1024 })
    const big = (i: number): UpsertRecord => ({
      op: 'upsert',
      instance: 'wb',
      seq: 1_000_000 + i,
      ts: Date.now(),
      apiVersion: '2026-07',
      requestId: `big-${i}`,
      namespace: 'ns',
      vectors: Array.from({ length: 50 }, (_, v) => ({
        id: `b${i}-${v}`,
        values: new Float32Array(1536).fill(i + v / 100),
      })),
    })
    const appended = new Map<string, string>()
    await Promise.all(
      Array.from({ length: 24 }, async (_, w) => {
        for (let k = 0; k < 6; k++) {
          const batch = k % 2 === 0 ? [big(w * 10 + k)] : [upsert(`w${w}-${k}-a`), upsert(`w${w}-${k}-b`)]
          const positions = await log.append(batch)
          t.equal(positions.length, batch.length)
          for (const [i, r] of batch.entries()) appended.set(positions[i] as string, r.requestId)
        }
      }),
    )
    const segments = readdirSync(dir)
      .filter((n) => n.endsWith('.log'))
      .sort()
    t.ok(segments.length >= 4, `${segments.length} segments`)
    const positions = [...appended.keys()].map(Number).sort((a, b) => a - b)
    t.same(
      positions,
      positions.map((_, i) => i),
      'positions are dense from 0, one per record',
    )
    const check = async (l: { read(): AsyncIterable<{ position: string; record: LogRecord }> }, label: string) => {
      let n = 0
      let wrong = 0
      for await (const e of l.read()) {
        if (Number(e.position) !== n || appended.get(e.position) !== e.record.requestId) wrong++
        n++
      }
      t.equal(n, appended.size, `${label}: every record is read`)
      t.equal(wrong, 0, `${label}: each position holds the record it was given to`)
    }
    await check(log, 'live')
    for (const name of segments) {
      const first = Number(name.replace('.log', ''))
      let seen: string | undefined
      for await (const e of log.read(first === 0 ? {} : { after: String(first - 1).padStart(16, '0') })) {
        seen = e.position
        break
      }
      t.equal(Number(seen), first, `segment ${name} starts with record ${first}`)
    }
    await log.close()
    await check(await reopen(), 'reopened')
  },
)

t.test(
  'file: reads from any position deep in a large segment, by the writer and by a read-only opener, return exactly the records after it',
  async (t) => {
    const { dir, log } = await fresh(t)
    const N = 5_000
    for (let i = 0; i < N; i += 250) await log.append(Array.from({ length: 250 }, (_, k) => upsert(`deep-${i + k}`)))
    t.equal(readdirSync(dir).filter((f) => /^\d+\.log$/.test(f)).length, 1, 'one segment')
    const reader = await openFileLog({ dir, readOnly: true })
    t.teardown(() => reader.close())
    const all: Array<{ position: string; id: string }> = []
    for await (const { position, record } of log.read())
      all.push({ position, id: (record as UpsertRecord).vectors[0]?.id as string })
    t.equal(all.length, N)
    // Windows read the way the copy reads them (a few records after a position), in an order
    // that jumps back and forth, before and after the readers have learnt where frames start.
    const starts = [0, 62, 63, 64, 65, 127, 128, 1_000, 4_998, 2_047, 2_048, 3_333, 1, 640, 4_900, 64, 0]
    for (const store of [log, reader]) {
      for (const from of starts) {
        const got: string[] = []
        for await (const { position, record } of store.read({ after: all[from]?.position as string })) {
          got.push(`${position}:${(record as UpsertRecord).vectors[0]?.id}`)
          if (got.length === 3) break
        }
        t.same(
          got,
          all.slice(from + 1, from + 4).map((r) => `${r.position}:${r.id}`),
          `${store === log ? 'writer' : 'read-only'}: after record ${from}`,
        )
      }
    }
  },
)

t.test('file: a read-only opener asked for its tail by many callers at once counts each record once', async (t) => {
  const { dir, log } = await fresh(t)
  await log.append([upsert('first')])
  const reader = await openFileLog({ dir, readOnly: true })
  t.teardown(() => reader.close())
  let last: string | undefined
  let appended = 1
  for (let round = 0; round < 20; round++) {
    const positions = await log.append(Array.from({ length: 1 + (round % 4) }, (_, k) => upsert(`tail-${round}-${k}`)))
    appended += positions.length
    last = positions.at(-1)
    // The copy's workers ask at once, and a reader reads meanwhile (a tail counted too far
    // would make it wait for records that do not exist: the timeout ends it, the count fails).
    const reading = (async () => {
      let n = 0
      for await (const _ of reader.read({ signal: AbortSignal.timeout(5_000) })) n++
      return n
    })()
    const tails = await Promise.all(Array.from({ length: 8 }, () => reader.tail()))
    t.same(new Set(tails), new Set([last]), `round ${round}: every caller sees the last record`)
    t.equal(await reading, appended, `round ${round}: the reader read each record once`)
  }
})

t.test('file: a second writer on the same directory is refused, naming the holder', async (t) => {
  const { dir } = await fresh(t)
  await t.rejects(openFileLog({ dir }), {
    code: 'VECSHIFT_ERR_LOG_LOCKED',
    message: new RegExp(`in use by process ${process.pid}`),
  })
})

t.test(
  'file: a lock left by a dead writer is taken over: same pid after a container restart, or another host gone quiet',
  async (t) => {
    const { hostname } = await import('node:os')
    const { utimesSync } = await import('node:fs')
    // A container restarted after kill -9 runs as the same pid: the lock names this pid and
    // host, but another process's token.
    const dir1 = mkdtempSync(join(tmpdir(), 'vecshift-lock-'))
    writeFileSync(
      join(dir1, 'LOCK'),
      JSON.stringify({ pid: process.pid, host: hostname(), token: 'an-earlier-incarnation' }),
      { mode: 0o600 },
    )
    const log1 = await openFileLog({ dir: dir1 })
    t.ok(log1, 'same pid, another token: taken over')
    await log1.close()
    // A pod replaced after a crash has a new host name: another host's lock is taken over
    // once nobody has touched it for 30 s, and refused while it is fresh.
    const dir2 = mkdtempSync(join(tmpdir(), 'vecshift-lock-'))
    const lock = join(dir2, 'LOCK')
    writeFileSync(lock, JSON.stringify({ pid: 1, host: 'vecshift-gateway-7d9f-old', token: 'x' }), { mode: 0o600 })
    await t.rejects(
      openFileLog({ dir: dir2 }),
      { code: 'VECSHIFT_ERR_LOG_LOCKED', message: /in use by process 1 on vecshift-gateway-7d9f-old/ },
      'a fresh lock from another host is refused',
    )
    const old = new Date(Date.now() - 31_000)
    utimesSync(lock, old, old)
    const log2 = await openFileLog({ dir: dir2 })
    t.match(JSON.parse(readFileSync(lock, 'utf8')), { pid: process.pid, host: hostname() }, 'a stale one is taken over')
    await log2.close()
    t.throws(() => statSync(lock), 'and released on close')
  },
)

t.test('file: a torn tail (half a record) is cut on open and reported, never read', async (t) => {
  const { dir, log } = await fresh(t)
  await log.append([upsert('a'), upsert('b')])
  await log.close()
  const segment = join(dir, readdirSync(dir).find((n) => n.endsWith('.log')) as string)
  const whole = statSync(segment).size
  // Half of a real frame, as a crash in the middle of a write leaves it.
  const { encodeRecord } = await import('../../src/writelog/codec.js')
  const frame = encodeRecord(upsert('torn'))
  appendFileSync(segment, frame.subarray(0, frame.length >> 1))
  const reopened = await openFileLog({ dir })
  t.teardown(() => reopened.close())
  t.match(reopened.recovery, { truncatedBytes: frame.length >> 1, reason: /partial record/ })
  t.equal(statSync(segment).size, whole, 'the file is back to its last whole record')
  const ids: string[] = []
  for await (const { record } of reopened.read()) if (record.op === 'upsert') ids.push(record.vectors[0]?.id ?? '')
  t.same(ids, ['a', 'b'])
  await reopened.append([upsert('c')])
  const after: string[] = []
  for await (const { record } of reopened.read()) if (record.op === 'upsert') after.push(record.vectors[0]?.id ?? '')
  t.same(after, ['a', 'b', 'c'], 'appends continue cleanly after the cut')
})

t.test('file: garbage at the tail is detected as corrupt and cut', async (t) => {
  const { dir, log } = await fresh(t)
  await log.append([upsert('a')])
  await log.close()
  const segment = join(dir, readdirSync(dir).find((n) => n.endsWith('.log')) as string)
  const whole = statSync(segment).size
  appendFileSync(segment, Buffer.from('this is not a frame, just garbage bytes after a crash'))
  const reopened = await openFileLog({ dir })
  t.teardown(() => reopened.close())
  t.match(reopened.recovery, { reason: /implausible record length|checksum/ })
  t.equal(statSync(segment).size, whole)
  t.equal((await reopened.stats()).records, 1)
})

t.test('file: a damaged last record is cut on open; the records before it remain', async (t) => {
  const { dir, log } = await fresh(t)
  await log.append([upsert('a'), upsert('b'), upsert('c')])
  await log.close()
  const segment = join(dir, readdirSync(dir).find((n) => n.endsWith('.log')) as string)
  truncateSync(segment, statSync(segment).size - 3)
  const reopened = await openFileLog({ dir })
  t.teardown(() => reopened.close())
  t.equal((await reopened.stats()).records, 2)
})

t.test('file: a corrupt record inside the log (not at its tail) stops readers loudly', async (t) => {
  const { dir, log } = await fresh(t, { segmentBytes: 1024 })
  for (let i = 0; i < 30; i++) await log.append([upsert(`m${i}`)])
  await log.close()
  const first = join(
    dir,
    readdirSync(dir)
      .filter((n) => n.endsWith('.log'))
      .sort()[0] as string,
  )
  const bytes = readFileSync(first)
  bytes[40] = (bytes[40] as number) ^ 0xff
  writeFileSync(first, bytes)
  const reopened = await openFileLog({ dir })
  t.teardown(() => reopened.close())
  t.equal(reopened.recovery, undefined, 'only the last segment is a tail; this one is not cut')
  await t.rejects(
    async () => {
      for await (const _ of reopened.read()) {
        /* read on */
      }
    },
    { code: 'VECSHIFT_ERR_LOG_CORRUPT', message: /checksum mismatch/ },
  )
})

t.test('file: a full queue pushes back with a retriable 503 instead of growing', async (t) => {
  const { log } = await fresh(t, { maxQueueBytes: 4096 })
  const big = () => ({ ...upsert('big'), vectors: [{ id: 'big', values: new Float32Array(800).fill(0.5) }] })
  const results = await Promise.allSettled(Array.from({ length: 20 }, () => log.append([big()])))
  const refused = results.filter((r) => r.status === 'rejected')
  t.ok(refused.length > 0, `${refused.length} appends refused`)
  t.ok(
    results.some((r) => r.status === 'fulfilled'),
    'others were accepted',
  )
  t.match((refused[0] as PromiseRejectedResult).reason, {
    code: 'VECSHIFT_ERR_LOG_BACKPRESSURE',
    statusCode: 503,
    retriable: true,
  })
  t.equal(
    (await log.stats()).records,
    results.filter((r) => r.status === 'fulfilled').length,
    'exactly the accepted appends are in the log',
  )
})
