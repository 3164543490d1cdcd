import { CopyObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { until } from '../helpers/until.js'
import { readFrame } from '../../src/writelog/codec.js'
import type { LogEntry, WriteLog } from '../../src/writelog/contract.js'
import type { DeleteRecord, LogRecord, UpsertRecord } from '../../src/writelog/record.js'
import { openS3Log, type S3LogOptions } from '../../src/writelog/s3/s3-log.js'
import type { TestContext } from '../helpers/tap.js'
import { startTestS3, type TestS3 } from '../helpers/s3.js'
import { runContract } from './contract.js'

// One s3rver for the tests that do not stop it (a bucket per test keeps them apart); fault
// tests start their own.
let shared: Promise<TestS3> | undefined
function server(): Promise<TestS3> {
  shared ??= startTestS3(t)
  return shared
}

async function fresh(t: TestContext, options: Partial<S3LogOptions> = {}, s3?: TestS3) {
  const srv = s3 ?? (await server())
  const bucket = s3 ? srv.bucket : await srv.newBucket()
  const logs: WriteLog[] = []
  const open = async (extra: Partial<S3LogOptions> = {}) => {
    const log = await openS3Log({
      bucket,
      prefix: 'migrations/m1',
      region: srv.region,
      endpoint: srv.endpoint,
      forcePathStyle: true,
      lingerMs: 2,
      appendTimeoutMs: 3000,
      ...options,
      ...extra,
    })
    logs.push(log)
    return log
  }
  t.teardown(async () => {
    for (const l of logs) await l.close()
  })
  return { srv, bucket, log: await open(), reopen: open }
}

runContract(t, { name: 's3', open: (t) => fresh(t) })

let seq = 5_000_000
function header(instance: string) {
  return { instance, seq: seq++, ts: Date.now(), apiVersion: '2025-04', requestId: `s-${seq}`, namespace: 'ns' }
}
function upsert(instance: string, id: string, value: number): UpsertRecord {
  return {
    ...header(instance),
    op: 'upsert',
    vectors: [{ id, values: new Float32Array([value, 1]), metadata: { v: value } }],
  }
}
function deleteAll(instance: string): DeleteRecord {
  return { ...header(instance), op: 'delete', deleteAll: true }
}

async function readAll(log: WriteLog, after?: string): Promise<LogEntry[]> {
  const out: LogEntry[] = []
  for await (const e of log.read(after === undefined ? {} : { after })) out.push(e)
  return out
}

async function keys(s3: TestS3, bucket: string, prefix: string): Promise<string[]> {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))
  return (out.Contents ?? []).map((o) => o.Key as string)
}

t.test(
  's3: concurrent appends are batched into bounded objects of concatenated frames, keyed in log order, encrypted on request',
  async (t) => {
    const { srv, bucket, log } = await fresh(t, { maxObjectRecords: 10, lingerMs: 20, sse: { type: 'AES256' } })
    const records = Array.from({ length: 45 }, (_, i) => upsert('gw', `id-${i % 7}`, i))
    const positions = (await Promise.all(records.map((r) => log.append([r])))).flat()
    const objects = await keys(srv, bucket, 'migrations/m1/log/')
    t.ok(objects.length >= 5 && objects.length < 45, `${objects.length} objects for 45 concurrent appends`)
    t.same(objects, [...objects].sort(), 'S3 lists them in key order')
    for (const key of objects) {
      t.match(key, /^migrations\/m1\/log\/\d{13}-[0-9a-f]{8}-\d{12}-\d{6}\.vlog$/)
      const count = Number(/-(\d{6})\.vlog$/.exec(key)?.[1])
      t.ok(count >= 1 && count <= 10, `${key} holds ${count} records`)
      const body = Buffer.from(
        await (
          await srv.client.send(new (await import('@aws-sdk/client-s3')).GetObjectCommand({ Bucket: bucket, Key: key }))
        ).Body!.transformToByteArray(),
      )
      let offset = 0
      let n = 0
      for (; offset < body.length; n++) {
        const f = readFrame(body, offset)
        if (f.kind !== 'record') break
        offset = f.next
      }
      t.equal(n, count, 'the body is exactly its records, frame after frame')
    }
    const read = await readAll(log)
    t.same(
      read.map((e) => e.position),
      [...positions].sort(),
      'positions come back in key order',
    )
    t.equal(read.length, 45)
  },
)

t.test(
  "s3: writers sharing a prefix are read in key order, another writer's fresh objects only once settled",
  async (t) => {
    const { log: a, reopen } = await fresh(t, { settleMs: 1500 })
    const b = await reopen()
    // Each append in a later millisecond than the one before, so key order is append order.
    const nextMillisecond = async () => {
      const at = Date.now()
      await until(() => Date.now() > at, { timeoutMs: 1_000, intervalMs: 1, what: 'the next millisecond' })
    }
    await a.append([upsert('gw-a', 'x', 1)])
    await nextMillisecond()
    await b.append([upsert('gw-b', 'x', 2)])
    await nextMillisecond()
    await a.append([deleteAll('gw-a')])
    const early = await readAll(a)
    t.same(
      early.map((e) => e.record.instance),
      ['gw-a'],
      "a stops before b's unsettled object (and so before its own later one)",
    )
    // b's object becomes readable to a once it is settleMs (1.5 s) old.
    await until(async () => (await readAll(a)).length === 3, {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: "b's object to settle and a's reads to take in all three records",
    })
    const settled = await readAll(a)
    t.same(
      settled.map((e) => `${e.record.instance}:${e.record.op}`),
      ['gw-a:upsert', 'gw-b:upsert', 'gw-a:delete'],
      'settled: all, in key (time) order',
    )
    // A closed writer's objects are final at once.
    const c = await reopen({ settleMs: 60_000 })
    await c.append([upsert('gw-c', 'y', 3)])
    await c.close()
    const withClosed = await readAll(a)
    t.equal(withClosed[withClosed.length - 1]?.record.instance, 'gw-c', 'readable at once after its writer closed')
  },
)

t.test('s3: a second copy of an object (a put that landed after its retry) is read once', async (t) => {
  const { srv, bucket, log } = await fresh(t)
  await log.append([upsert('gw', 'a', 1), upsert('gw', 'b', 2)])
  const [key] = await keys(srv, bucket, 'migrations/m1/log/')
  const m = /log\/(\d{13})-(.*)$/.exec(key as string) as RegExpExecArray
  // The retry went under a later key; the first attempt completed anyway.
  const copy = `migrations/m1/log/${String(Number(m[1]) + 7).padStart(13, '0')}-${m[2]}`
  await srv.client.send(new CopyObjectCommand({ Bucket: bucket, Key: copy, CopySource: `${bucket}/${key}` }))
  await log.append([upsert('gw', 'c', 3)])
  const read = await readAll(log)
  t.same(
    read.map((e) => (e.record as UpsertRecord).vectors[0]?.id),
    ['a', 'b', 'c'],
  )
})

t.test(
  's3: retention deletes objects every checkpoint passed; a reader asked to start earlier fails loudly',
  async (t) => {
    const { srv, bucket, log } = await fresh(t, { lingerMs: 0 })
    const positions: string[] = []
    for (let i = 0; i < 12; i++) positions.push(...(await log.append([upsert('gw', `r${i}`, i)])))
    await log.commit('replayer', positions[7] as string)
    await log.commit('verifier', positions[9] as string)
    const { removed } = await log.retain()
    t.equal(removed, 8, 'the 8 objects up to the slowest checkpoint')
    t.equal((await keys(srv, bucket, 'migrations/m1/log/')).length, 4)
    t.same(
      (await readAll(log, positions[7])).map((e) => e.position),
      positions.slice(8),
    )
    t.equal(await log.head(), positions[8])
    await t.rejects(readAll(log, positions[3]), { code: 'VECSHIFT_ERR_LOG_CORRUPT' })
    t.same(await keys(srv, bucket, 'migrations/m1/checkpoints/'), [
      'migrations/m1/checkpoints/replayer.json',
      'migrations/m1/checkpoints/verifier.json',
    ])
  },
)

t.test('s3: listings that span pages are read whole (continuation tokens)', async (t) => {
  const { log } = await fresh(t, { lingerMs: 0, listPageSize: 3 })
  const positions: string[] = []
  for (let i = 0; i < 10; i++) positions.push(...(await log.append([upsert('gw', `p${i}`, i)])))
  t.same(
    (await readAll(log)).map((e) => e.position),
    positions,
  )
  t.same(
    (await readAll(log, positions[4])).map((e) => e.position),
    positions.slice(5),
  )
  t.equal((await log.stats()).records, 10)
  t.equal(await log.tail(), positions[9])
})

t.test('s3: a corrupt object is reported, not skipped', async (t) => {
  const { srv, bucket, log } = await fresh(t)
  await log.append([upsert('gw', 'a', 1)])
  await srv.client.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: 'migrations/m1/log/0000000000001-00000000-000000000000-000001.vlog',
      Body: Buffer.from('garbage, not a frame'),
    }),
  )
  await t.rejects(readAll(log), { code: 'VECSHIFT_ERR_LOG_CORRUPT' })
})

t.test(
  's3: with the server stopped appends reject in bounded time; restarted, appends succeed and every acknowledged one is readable',
  async (t) => {
    const s3 = await startTestS3(t)
    const { log } = await fresh(t, { appendTimeoutMs: 1500, requestTimeoutMs: 500 }, s3)
    const acknowledged: LogRecord[] = []
    const write = async (r: LogRecord) => {
      await log.append([r])
      acknowledged.push(r)
    }
    await Promise.all(Array.from({ length: 20 }, (_, i) => write(upsert('gw', `k${i % 4}`, i))))
    await s3.stop()
    // The server comes back only once every append made while it is down has ended: each must
    // end by itself, rejected, rather than hang until it returns (the wait fails naming them).
    let ended = 0
    const appends = Array.from({ length: 5 }, (_, i) =>
      write(upsert('gw', `k${i}`, 100 + i))
        .then(
          () => ({ status: 'fulfilled', reason: undefined }),
          (reason: unknown) => ({ status: 'rejected', reason }),
        )
        .finally(() => {
          ended++
        }),
    )
    await until(() => ended === appends.length, {
      timeoutMs: 15_000,
      what: 'the appends made while the server is down to end',
      onTimeout: () => `${ended} of ${appends.length} ended`,
    })
    const down = await Promise.all(appends)
    t.ok(
      down.every((s) => s.status === 'rejected'),
      'every append while the server is down rejects',
    )
    for (const s of down)
      t.match(s.reason, {
        code: 'VECSHIFT_ERR_LOG_UNAVAILABLE',
        statusCode: 503,
        retriable: true,
      })
    await s3.start()
    await Promise.all(Array.from({ length: 10 }, (_, i) => write(upsert('gw', `k${i % 4}`, 200 + i))))
    const seen = new Set((await readAll(log)).map((e) => e.record.seq))
    t.equal(acknowledged.length, 30)
    t.ok(
      acknowledged.every((r) => seen.has(r.seq)),
      'every acknowledged append is readable after the restart',
    )
  },
)

t.test(
  's3: a put cut off by the server dying leaves nothing readers stop at (s3rver writes objects in place; S3 never shows a partial one)',
  async (t) => {
    const s3 = await startTestS3(t)
    const { log } = await fresh(t, { appendTimeoutMs: 1500, requestTimeoutMs: 2000 }, s3)
    await log.append([upsert('gw', 'first', 1)])
    const files = () => {
      const out: Array<{ path: string; size: number }> = []
      const walk = (d: string) => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          const p = join(d, e.name)
          if (e.isDirectory()) walk(p)
          else out.push({ path: p, size: statSync(p).size })
        }
      }
      walk(s3.directory)
      return out
    }
    const before = new Set(files().map((f) => f.path))
    // A large append (48 MB of values); the server is killed once the object's file has begun
    // to fill on its disk, so its file is left torn.
    const big: LogRecord[] = Array.from({ length: 6 }, (_, r) => ({
      ...header('gw'),
      op: 'upsert',
      vectors: Array.from({ length: 200 }, (_, i) => ({
        id: `big-${r}-${i}`,
        values: new Float32Array(10_000).fill(i),
      })),
    }))
    const pending = log.append(big).then(
      () => 'acknowledged',
      () => 'refused',
    )
    await until(() => files().some((f) => !before.has(f.path) && f.path.endsWith('._S3rver_object') && f.size > 0), {
      timeoutMs: 10_000,
      intervalMs: 1,
      what: 'the big object to start landing',
    })
    await s3.stop()
    const torn = files().filter((f) => !before.has(f.path) && f.path.endsWith('._S3rver_object'))
    t.comment(`object files after the kill: ${JSON.stringify(torn.map((f) => f.size))}`)
    const outcome = await pending
    await s3.start()
    await log.append([upsert('gw', 'after', 3)])
    const seen = (await readAll(log)).map((e) => (e.record.op === 'upsert' ? e.record.vectors[0]?.id : e.record.op))
    t.ok(seen.includes('first') && seen.includes('after'), `the log reads through (the big append was ${outcome})`)
    t.equal(
      seen.includes('big-0-0'),
      outcome === 'acknowledged',
      'the big append is there exactly when it was acknowledged',
    )
  },
)
