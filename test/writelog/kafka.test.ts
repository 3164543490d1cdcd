import { Kafka, Partitioners, logLevel } from 'kafkajs'
import t from 'tap'
import { encodeRecord } from '../../src/writelog/codec.js'
import type { LogEntry, WriteLog } from '../../src/writelog/contract.js'
import { kafkaInternals } from '../../src/writelog/kafka/client.js'
import { PartitionFetcher } from '../../src/writelog/kafka/fetcher.js'
import { openKafkaLog, type KafkaLogOptions } from '../../src/writelog/kafka/kafka-log.js'
import { orderKey } from '../../src/writelog/kafka/messages.js'
import type { DeleteRecord, FenceRecord, LogRecord, OutcomeRecord, UpsertRecord } from '../../src/writelog/record.js'
import { DEFAULT_RETRY } from '../../src/retry.js'
import type { TestContext } from '../helpers/tap.js'
import { startTestKafka, uniqueTopic, type TestKafka } from '../helpers/kafka.js'
import { until } from '../helpers/until.js'
import { runContract } from './contract.js'

// One mock cluster for the contract tests (a topic per test keeps them apart); fault tests
// start their own, since they kill it.
let shared: Promise<TestKafka> | undefined
function cluster(): Promise<TestKafka> {
  shared ??= startTestKafka(t)
  return shared
}

async function fresh(t: TestContext, options: Partial<KafkaLogOptions> = {}, kafka?: TestKafka) {
  const k = kafka ?? (await cluster())
  const topic = uniqueTopic()
  const logs: Array<{ close(): Promise<void> }> = []
  const open = async () => {
    const log = await openKafkaLog({
      brokers: k.brokers,
      topic,
      lingerMs: 1,
      appendTimeoutMs: 4000,
      requestTimeoutMs: 2000,
      ...options,
    })
    logs.push(log)
    return log
  }
  t.teardown(async () => {
    for (const l of logs) await l.close()
  })
  return { topic, log: await open(), reopen: open }
}

runContract(t, { name: 'kafka', open: (t) => fresh(t) })

// ---- Kafka-specific behaviour -------------------------------------------------------

let seq = 1_000_000
function header(instance: string, namespace = 'ns') {
  return { instance, seq: seq++, ts: Date.now(), apiVersion: '2025-04', requestId: `k-${seq}`, namespace }
}
function batchUpsert(instance: string, ids: string[], value: number): UpsertRecord {
  return {
    ...header(instance),
    op: 'upsert',
    vectors: ids.map((id) => ({ id, values: new Float32Array([value]), metadata: { v: value } })),
  }
}
function deleteAll(instance: string): DeleteRecord {
  return { ...header(instance), op: 'delete', deleteAll: true }
}
function outcomeOf(intent: LogRecord): OutcomeRecord {
  return { ...header(intent.instance), op: 'outcome', intentSeq: intent.seq, outcome: 'ok', status: 200 }
}
function fence(instance: string, fenceId: string): FenceRecord {
  return { ...header(instance), op: 'fence', fenceId }
}

async function readAll(log: WriteLog): Promise<LogEntry[]> {
  const out: LogEntry[] = []
  for await (const e of log.read()) out.push(e)
  return out
}

t.test(
  'kafka: a multi-id upsert is split per partition, each id keeps its order across writers, and barriers stay between',
  async (t) => {
    const { log, reopen } = await fresh(t)
    const other = await reopen()
    const ids = Array.from({ length: 12 }, (_, i) => `v${i}`)
    // Two gateways write batches over the same ids at once; each also writes a deleteAll
    // half-way. For every id, each gateway's values must come back in the order it wrote them,
    // and each gateway's deleteAll must come after all of its own earlier writes of every id
    // and before all of its later ones.
    const run = async (w: WriteLog, name: string) => {
      for (let i = 0; i < 10; i++) {
        const intent = batchUpsert(name, ids, i)
        await w.append([intent])
        await w.append([outcomeOf(intent)])
        if (i === 4) await w.append([deleteAll(name)])
      }
    }
    await Promise.all([run(log, 'gw-a'), run(other, 'gw-b')])
    const entries = await readAll(log)
    for (const name of ['gw-a', 'gw-b']) {
      const mine = entries.filter((e) => e.record.instance === name)
      const barrier = mine.findIndex((e) => e.record.op === 'delete')
      t.ok(barrier > 0, `${name}: its deleteAll is read`)
      for (const id of ids) {
        const values = mine.flatMap((e, i) =>
          e.record.op === 'upsert'
            ? e.record.vectors.filter((v) => v.id === id).map((v) => ({ i, v: (v.metadata as { v: number }).v }))
            : [],
        )
        t.same(
          values.map((x) => x.v),
          [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
          `${name}: ${id} in write order`,
        )
        t.ok(
          values.filter((x) => x.v <= 4).every((x) => x.i < barrier) &&
            values.filter((x) => x.v > 4).every((x) => x.i > barrier),
          `${name}: ${id} is split by the deleteAll exactly where it was written`,
        )
      }
      // Each intent's outcome is read after every part of that intent.
      for (const [i, e] of mine.entries()) {
        if (e.record.op !== 'outcome') continue
        const intentSeq = e.record.intentSeq
        const parts = mine.map((x, j) => ({ x, j })).filter(({ x }) => x.record.seq === intentSeq)
        t.ok(
          parts.length > 1 && parts.every(({ j }) => j < i),
          `${name}: outcome of ${intentSeq} after its ${parts.length} parts`,
        )
        const covered = parts
          .flatMap(({ x }) => (x.record.op === 'upsert' ? x.record.vectors.map((v) => v.id) : []))
          .sort()
        t.same(covered, [...ids].sort(), 'the parts together hold every vector once')
      }
    }
    // A fence is read after everything either writer appended before it.
    await log.append([fence('gw-a', 'cutover-1')])
    const after = await readAll(other)
    t.equal(after[after.length - 1]?.record.op, 'fence', 'the fence comes last')
    t.equal(after.length, entries.length + 1)
  },
)

t.test('kafka: copies left by a retried produce are read once', async (t) => {
  const kafka = await cluster()
  const { topic, log } = await fresh(t)
  const records = [batchUpsert('gw', ['a', 'b', 'c', 'd', 'e', 'f'], 1), deleteAll('gw'), batchUpsert('gw', ['a'], 2)]
  for (const r of records) await log.append([r])
  // Re-send every message of the topic as it is (same headers, same value), as a producer
  // does when it retries a produce whose acknowledgement was lost.
  const client = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING })
  const fetcher = new PartitionFetcher(kafkaInternals(client), topic, DEFAULT_RETRY)
  const producer = client.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  t.teardown(async () => {
    await producer.disconnect()
    await fetcher.disconnect()
  })
  let copies = 0
  for (let partition = 0; partition < 4; partition++) {
    // A fetch may return one record batch at a time: read to the end before copying.
    const messages = []
    for (let offset = 0; ; ) {
      const got = (await fetcher.fetch([{ partition, offset }], 0)).get(partition)
      if (!got || got.messages.length === 0) break
      messages.push(...got.messages)
      offset = Number(got.messages[got.messages.length - 1]?.offset) + 1
    }
    if (messages.length === 0) continue
    copies += messages.length
    await producer.send({
      topic,
      acks: -1,
      messages: messages.map((m) => ({ partition, value: m.value, headers: m.headers as Record<string, Buffer> })),
    })
  }
  t.ok(copies >= 6, `${copies} messages copied`)
  const read = await readAll(log)
  const identities = read.map(
    (e) => `${e.record.seq}/${e.record.op === 'upsert' ? e.record.vectors.map((v) => v.id).join(',') : ''}`,
  )
  t.equal(new Set(identities).size, identities.length, 'no record is read twice')
  t.same(
    [...new Set(read.map((e) => e.record.seq))],
    records.map((r) => r.seq),
    'every record is read, in order',
  )
})

t.test('kafka: a full queue pushes back with a retriable 503 instead of growing', async (t) => {
  const { log } = await fresh(t, { maxQueueBytes: 4096 })
  const big = () => batchUpsert('gw', ['big'], 0.5)
  const bigger = () => ({ ...big(), vectors: [{ id: 'big', values: new Float32Array(800).fill(0.5) }] })
  const results = await Promise.allSettled(Array.from({ length: 20 }, () => log.append([bigger()])))
  const refused = results.filter((r) => r.status === 'rejected')
  t.ok(refused.length > 0 && results.some((r) => r.status === 'fulfilled'), `${refused.length} of 20 refused`)
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

t.test('kafka: close() makes every accepted append durable before it returns', async (t) => {
  const { log, reopen } = await fresh(t, { lingerMs: 50 })
  const pending = Array.from({ length: 30 }, (_, i) => log.append([batchUpsert('gw', [`c${i}`, `d${i}`], i)]))
  await log.close()
  const settled = await Promise.allSettled(pending)
  t.ok(
    settled.every((s) => s.status === 'fulfilled'),
    'all accepted appends resolved',
  )
  await t.rejects(log.append([deleteAll('gw')]), { code: 'VECSHIFT_ERR_LOG_CLOSED' })
  const again = await reopen()
  const seqs = new Set((await readAll(again)).map((e) => e.record.seq))
  t.equal(seqs.size, 30, 'all 30 records are in the topic')
})

t.test('kafka: a sequenced record whose writer died before its markers is released by the next writer', async (t) => {
  const kafka = await cluster()
  const { topic, log, reopen } = await fresh(t)
  await log.append([batchUpsert('gw', ['p', 'q', 'r', 's'], 1)])
  // Phase one of a deleteAll with no phase two: what a writer that died in between leaves.
  const client = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING })
  const producer = client.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  t.teardown(() => producer.disconnect())
  const orphan = deleteAll('dead-gw')
  await producer.send({
    topic,
    acks: -1,
    messages: [
      {
        partition: 0,
        value: encodeRecord(orphan),
        headers: { vx: 's', 'vx-t': '1,2,3', 'vx-o': orderKey(Date.now(), 'deadbeef', 0) },
      },
    ],
  })
  const before = await readAll(log)
  t.notOk(
    before.some((e) => e.record.seq === orphan.seq),
    'not readable while its markers are missing',
  )
  const next = await reopen()
  await next.append([batchUpsert('gw', ['p', 'q'], 2)])
  const after = await readAll(next)
  t.ok(
    after.some((e) => e.record.seq === orphan.seq),
    'readable once a new writer sealed the topic',
  )
  t.equal(after[after.length - 1]?.record.op, 'upsert', 'and later writes follow it')
})

t.test(
  'kafka: with the cluster gone, appends fail loudly and in bounded time; every acknowledged append was readable',
  async (t) => {
    const kafka = await startTestKafka(t)
    const { log } = await fresh(t, { appendTimeoutMs: 1500, requestTimeoutMs: 1000 }, kafka)
    const resolved: LogRecord[] = []
    let stop = false
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const r = batchUpsert(`gw-${w}`, [`w${w}-${i % 3}`, `x${i % 5}`], i)
        await log.append([r])
        resolved.push(r)
      }
    })
    await until(() => resolved.length > 20, { timeoutMs: 10_000, what: 'appends acknowledged under load' })
    stop = true
    await Promise.all(writers)
    t.ok(resolved.length > 20, `${resolved.length} appends acknowledged under load`)
    const seen = new Set((await readAll(log)).map((e) => `${e.record.instance}/${e.record.seq}`))
    t.ok(
      resolved.every((r) => seen.has(`${r.instance}/${r.seq}`)),
      'every acknowledged append is readable',
    )

    // Now take the cluster away in the middle of more load (an append every 5 ms: the pace of
    // the load, not a wait).
    const outcomes: Array<Promise<unknown>> = []
    const load = setInterval(() => {
      outcomes.push(
        log.append([batchUpsert('gw-late', ['y', 'z'], 0)]).then(
          () => 'resolved',
          (err: unknown) => err,
        ),
      )
    }, 5)
    await until(() => outcomes.length >= 10, { timeoutMs: 10_000, what: 'appends in flight before the kill' })
    await kafka.kill()
    const atKill = outcomes.length
    await until(() => outcomes.length >= atKill + 5, { timeoutMs: 10_000, what: 'appends started after the kill' })
    clearInterval(load)
    // The cluster is gone for good, so an append can only end by giving up by itself: each
    // must end, rejected, while the cluster is away (the wait fails naming them if one hangs).
    let ended = 0
    const afterKill = Array.from({ length: 5 }, () =>
      log
        .append([batchUpsert('gw-late', ['y'], 1)])
        .then(
          () => ({ status: 'fulfilled', reason: undefined }),
          (reason: unknown) => ({ status: 'rejected', reason }),
        )
        .finally(() => {
          ended++
        }),
    )
    await until(() => ended === afterKill.length, {
      timeoutMs: 15_000,
      what: 'the appends made after the kill to end while the cluster is gone',
      onTimeout: () => `${ended} of ${afterKill.length} ended`,
    })
    const settled = await Promise.all(afterKill)
    t.ok(
      settled.every((s) => s.status === 'rejected'),
      'appends made after the kill all reject',
    )
    for (const s of settled)
      t.match(s.reason, {
        code: 'VECSHIFT_ERR_LOG_UNAVAILABLE',
        statusCode: 503,
        retriable: true,
      })
    const inFlight = await Promise.allSettled(outcomes)
    t.ok(inFlight.length > 0, `${inFlight.length} appends were in flight around the kill, and all of them settled`)
  },
)
