// The replayer against real peers: a file write log holding intents and outcomes as the
// gateway writes them, the emulator as source and target. The source is the model: every
// write whose outcome is ok is also applied to it, so after a replay into an empty target the
// two must hold exactly the same records.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { DirtySet, readDirty } from '../../src/replay/dirty.js'
import { replay, type ReplayOptions } from '../../src/replay/replayer.js'
import type { StoredVector, VectorStore } from '../../src/stores/contract.js'
import { PineconeStore } from '../../src/stores/pinecone/store.js'
import { openFileLog } from '../../src/writelog/file/file-log.js'
import type { LogRecord, OutcomeKind } from '../../src/writelog/record.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { prng } from '../helpers/prng.js'
import type { TestContext } from '../helpers/tap.js'

const KEY = 'replay-test-key'
const emu = await startTestEmulator(t, { apiKey: KEY })
let counter = 0

async function index(t: TestContext): Promise<PineconeStore> {
  const name = `rp-${++counter}`
  const res = await request(`${emu.url}/indexes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': KEY, 'x-pinecone-api-version': '2025-04' },
    body: JSON.stringify({
      name,
      dimension: 4,
      metric: 'dotproduct',
      spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
    }),
  })
  await res.body.dump()
  const store = new PineconeStore({
    role: 'test',
    index: name,
    host: emu.indexHost(name),
    controllerHost: emu.url,
    apiKey: KEY,
  })
  t.teardown(() => store.close())
  return store
}

/** Writes intents and outcomes to a log the way the gateway does, and mirrors ok ones on the source. */
class Writer {
  seq = 0
  readonly records: LogRecord[] = []
  constructor(
    readonly source: VectorStore,
    readonly instance = 'gw-1',
    public ts = Date.now() - 120_000,
  ) {}

  header(namespace: string) {
    return {
      instance: this.instance,
      seq: this.seq++,
      ts: this.ts++,
      apiVersion: '2025-04',
      requestId: `r${this.seq}`,
      namespace,
    }
  }

  outcome(intentSeq: number, outcome: OutcomeKind) {
    this.records.push({
      ...this.header(''),
      op: 'outcome',
      intentSeq,
      outcome,
      status: outcome === 'ok' ? 200 : outcome === 'failed' ? 400 : 0,
    })
  }

  /** An intent, its outcome, and (when the source applied it) the write on the source. */
  async write(record: LogRecord, outcome: OutcomeKind | 'none', appliedAtSource: boolean): Promise<void> {
    this.records.push(record)
    if (outcome !== 'none') this.outcome(record.seq, outcome)
    if (!appliedAtSource) return
    const ns = record.namespace
    if (record.op === 'upsert') await this.source.upsert(ns, record.vectors as StoredVector[])
    else if (record.op === 'update' && record.id !== undefined) {
      await this.source.update(ns, {
        id: record.id,
        ...(record.values ? { values: record.values } : {}),
        ...(record.setMetadata ? { setMetadata: record.setMetadata } : {}),
      })
    } else if (record.op === 'update')
      await this.source.update(ns, {
        filter: record.filter as Record<string, unknown>,
        setMetadata: record.setMetadata ?? {},
      })
    else if (record.op === 'delete' && record.ids) await this.source.delete(ns, { ids: record.ids })
    else if (record.op === 'delete' && record.deleteAll) await this.source.delete(ns, { deleteAll: true })
    else if (record.op === 'delete') await this.source.delete(ns, { filter: record.filter as Record<string, unknown> })
  }
}

const vec = (
  id: string,
  rnd: () => number,
  metadata?: Record<string, string | number | boolean | string[]>,
): StoredVector => ({
  id,
  values: Float32Array.from({ length: 4 }, () => rnd() - 0.5),
  ...(metadata ? { metadata } : {}),
})

async function everything(
  store: VectorStore,
  namespaces: readonly string[],
  ids: readonly string[],
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const ns of namespaces) {
    const got = await store.fetch(ns, ids)
    for (const [id, v] of [...got].sort(([a], [b]) => (a < b ? -1 : 1))) {
      out[`${ns}/${id}`] = { values: Array.from(v.values ?? []), metadata: v.metadata ?? null }
    }
  }
  return out
}

function options(
  log: ReplayOptions['log'],
  source: VectorStore,
  target: VectorStore,
  extra: Partial<ReplayOptions> = {},
): ReplayOptions {
  return {
    log,
    source,
    target,
    consumer: 'replay',
    follow: false,
    dryRun: false,
    batchSize: 7,
    lingerMs: 10,
    outcomeWaitMs: 30_000,
    concurrency: 4,
    ...extra,
  }
}

t.test('replay: every kind of write, coalesced in batches, ends with the target equal to the source', async (t) => {
  const source = await index(t)
  const target = await index(t)
  const log = await openFileLog({ dir: mkdtempSync(join(tmpdir(), 'vecshift-replay-')) })
  t.teardown(() => log.close())
  const w = new Writer(source)
  const rnd = prng(7)
  const ids = Array.from({ length: 30 }, (_, i) => `id-${i}`)
  const h = (ns: string) => w.header(ns)
  await w.write(
    { ...h(''), op: 'upsert', vectors: ids.map((id, i) => vec(id, rnd, { n: i, color: i % 2 ? 'red' : 'blue' })) },
    'ok',
    true,
  )
  await w.write(
    { ...h('other'), op: 'upsert', vectors: ids.slice(0, 10).map((id) => vec(id, rnd, { kind: 'x' })) },
    'ok',
    true,
  )
  // Several writes to one id inside one batch: upsert, update (values + metadata merge), update.
  await w.write({ ...h(''), op: 'upsert', vectors: [vec('id-3', rnd, { a: 1 })] }, 'ok', true)
  await w.write(
    { ...h(''), op: 'update', id: 'id-3', values: Float32Array.of(1, 2, 3, 4), setMetadata: { b: 'two' } },
    'ok',
    true,
  )
  await w.write({ ...h(''), op: 'update', id: 'id-3', setMetadata: { a: 9 } }, 'ok', true)
  // Update of an id no one wrote in this batch, then an update of a deleted id (no record).
  await w.write({ ...h(''), op: 'update', id: 'id-20', setMetadata: { touched: true } }, 'ok', true)
  await w.write({ ...h(''), op: 'delete', ids: ['id-21', 'id-22'] }, 'ok', true)
  await w.write({ ...h(''), op: 'update', id: 'id-21', setMetadata: { ghost: true } }, 'ok', true)
  // A write the source refused never reaches the target.
  await w.write({ ...h(''), op: 'upsert', vectors: [vec('refused', rnd)] }, 'failed', false)
  await w.write({ ...h(''), op: 'delete', ids: ['id-5'] }, 'failed', false)
  // By filter and delete-all, in order with the writes around them.
  await w.write(
    { ...h(''), op: 'update', filter: { color: { $eq: 'red' } }, setMetadata: { flagged: true } },
    'ok',
    true,
  )
  await w.write({ ...h(''), op: 'upsert', vectors: [vec('id-7', rnd, { color: 'red' })] }, 'ok', true)
  await w.write({ ...h(''), op: 'delete', filter: { n: { $gte: 25 } } }, 'ok', true)
  await w.write({ ...h('other'), op: 'delete', deleteAll: true }, 'ok', true)
  await w.write({ ...h('other'), op: 'upsert', vectors: [vec('id-1', rnd, { kind: 'after-delete-all' })] }, 'ok', true)
  // No usable outcome: the source did apply one, did not apply the other; both are repaired.
  await w.write({ ...h(''), op: 'upsert', vectors: [vec('maybe-1', rnd)] }, 'unknown', true)
  await w.write({ ...h(''), op: 'upsert', vectors: [vec('maybe-2', rnd)] }, 'unknown', false)
  // Outcome logged much later, after other writes: still applied, in its place.
  const late = h('')
  const lateVector = vec('late', rnd, { late: true })
  w.records.push({ ...late, op: 'upsert', vectors: [lateVector] })
  await source.upsert('', [lateVector])
  await w.write({ ...h(''), op: 'update', id: 'id-0', setMetadata: { last: true } }, 'ok', true)
  w.outcome(late.seq, 'ok')
  await log.append(w.records)

  const dir = mkdtempSync(join(tmpdir(), 'vecshift-replay-dirty-'))
  const dirty = await DirtySet.open(join(dir, 'dirty.jsonl'))
  const status = await replay(options(log, source, target, { dirty }))
  await dirty.close()
  const all = [...ids, 'refused', 'maybe-1', 'maybe-2', 'late']
  t.same(
    await everything(target, ['', 'other'], all),
    await everything(source, ['', 'other'], all),
    'target equals the source',
  )
  t.notOk((await target.fetch('', ['refused'])).has('refused'), 'the refused upsert is not applied')
  t.ok((await target.fetch('', ['id-5'])).has('id-5'), 'the refused delete is not applied')
  t.match(status.counts, { skippedFailed: 2, repaired: 2, filterWrites: 3, uncertainFilterWrites: 0 })
  t.ok(status.counts.batches >= 2, `several batches (${status.counts.batches})`)
  t.equal(status.lagRecords, 0, 'caught up')
  t.equal(status.checkpoint, await log.tail(), 'the checkpoint is at the end of the log')
  t.equal(await log.checkpoint('replay'), status.checkpoint, 'and saved in the log')
  const entries = []
  for await (const e of readDirty(join(dir, 'dirty.jsonl'))) entries.push(e)
  t.ok(
    entries.some((e) => 'id' in e && e.id === 'id-3'),
    'written ids are in the dirty set',
  )
  t.ok(
    entries.some((e) => 'id' in e && e.id === 'maybe-2'),
    'repaired ids too',
  )
  t.ok(
    entries.some((e) => 'filter' in e && e.namespace === ''),
    'writes by filter mark their namespace',
  )
  t.ok(entries.some((e) => 'deleteAll' in e && e.namespace === 'other'))
  t.notOk(
    entries.some((e) => 'id' in e && e.id === 'refused'),
    'a refused write is not dirty',
  )

  // Replaying again from the start changes nothing (idempotent).
  const again = await replay(options(log, source, target, { consumer: 'again' }))
  t.equal(again.counts.applied, status.counts.applied)
  t.same(
    await everything(target, ['', 'other'], all),
    await everything(source, ['', 'other'], all),
    'still equal after a second pass',
  )
})

t.test('replay: an intent whose outcome may still come holds everything after it', async (t) => {
  const source = await index(t)
  const target = await index(t)
  const log = await openFileLog({ dir: mkdtempSync(join(tmpdir(), 'vecshift-replay-')) })
  t.teardown(() => log.close())
  const rnd = prng(3)
  // Written "now": the gateway may still be waiting for the source's answer.
  const w = new Writer(source, 'gw-2', Date.now())
  await w.write({ ...w.header(''), op: 'upsert', vectors: [vec('a', rnd)] }, 'ok', true)
  const pending = w.header('')
  w.records.push({ ...pending, op: 'upsert', vectors: [vec('b', rnd)] })
  await w.write({ ...w.header(''), op: 'upsert', vectors: [vec('c', rnd)] }, 'ok', true)
  await log.append(w.records)
  const first = await replay(options(log, source, target))
  t.equal(first.awaitingOutcome, 2, 'b waits for its outcome, c waits behind it')
  t.same([...(await target.fetch('', ['a', 'b', 'c'])).keys()], ['a'], 'only what came before is applied')
  const afterA = await log.checkpoint('replay')
  t.ok(
    afterA !== undefined && log.compare(afterA, (await log.tail()) as string) < 0,
    'the checkpoint stops before the waiting intent',
  )

  // The outcome arrives: the next run applies b and c.
  const b = (w.records.find((r) => r.seq === pending.seq) as unknown as { vectors: StoredVector[] }).vectors
  await source.upsert('', b)
  await log.append([{ ...w.header(''), op: 'outcome', intentSeq: pending.seq, outcome: 'ok', status: 200 }])
  const second = await replay(options(log, source, target))
  t.equal(second.awaitingOutcome, 0)
  t.same([...(await target.fetch('', ['a', 'b', 'c'])).keys()].sort(), ['a', 'b', 'c'])

  // An intent whose outcome never comes is repaired once the wait has run out.
  const w2 = new Writer(source, 'gw-3', Date.now() - 10_000)
  const lost = w2.header('')
  await log.append([{ ...lost, op: 'delete', ids: ['a'] }])
  const held = await replay(options(log, source, target, { outcomeWaitMs: 60_000 }))
  t.equal(held.awaitingOutcome, 1, 'younger than the wait: held')
  const repaired = await replay(options(log, source, target, { outcomeWaitMs: 5_000 }))
  t.equal(repaired.awaitingOutcome, 0)
  t.equal(repaired.counts.repaired, 1, 'older than the wait: repaired from the source')
  t.ok((await target.fetch('', ['a'])).has('a'), 'the source still has a, so the target keeps it')
})

// Regression: a replayer behind the log (here lingerMs 0, as a busy process would see every
// batch as old) applied a batch per write, each with its syncs and target calls, and fell
// ever further behind. A backlog must go in whole batches; fresh writes near the tail still
// go after lingerMs.
t.test('replay: a backlog is applied in whole batches, however old each batch looks', async (t) => {
  const source = await index(t)
  const target = await index(t)
  const log = await openFileLog({ dir: mkdtempSync(join(tmpdir(), 'vecshift-replay-')) })
  t.teardown(() => log.close())
  const rnd = prng(21)
  const w = new Writer(source, 'gw-backlog', Date.now() - 60_000)
  const ids: string[] = []
  for (let i = 0; i < 200; i++) {
    ids.push(`b${i}`)
    await w.write({ ...w.header(''), op: 'upsert', vectors: [vec(`b${i}`, rnd)] }, 'ok', true)
  }
  await log.append(w.records)
  const old = await replay(options(log, source, target, { batchSize: 50, lingerMs: 0 }))
  t.equal(old.counts.batches, 4, '200 old writes in batches of 50')
  t.same(await everything(target, [''], ids), await everything(source, [''], ids))

  // Writes stamped now are at the tail: the linger applies them without waiting for a full batch.
  const fresh = new Writer(source, 'gw-fresh', Date.now())
  for (let i = 0; i < 3; i++)
    await fresh.write({ ...fresh.header(''), op: 'upsert', vectors: [vec(`f${i}`, rnd)] }, 'ok', true)
  await log.append(fresh.records)
  const tail = await replay(options(log, source, target, { batchSize: 50, lingerMs: 0 }))
  t.equal(tail.counts.batches, 3, 'each fresh write goes once the (zero) linger has passed')
})

// Regression: on the S3 log (positions that do not count records) the replayer reported its
// lag as unknown even when caught up, and a cutover could never start.
t.test('replay on the S3 log: caught up reads as lag 0, behind as unknown', async (t) => {
  const { startTestS3 } = await import('../helpers/s3.js')
  const { openS3Log } = await import('../../src/writelog/s3/s3-log.js')
  const s3 = await startTestS3(t)
  const log = await openS3Log({
    bucket: s3.bucket,
    prefix: 'replay-lag',
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    lingerMs: 2,
    appendTimeoutMs: 3000,
  })
  t.teardown(() => log.close())
  const source = await index(t)
  const target = await index(t)
  const rnd = prng(31)
  const w = new Writer(source, 'gw-s3')
  for (let i = 0; i < 5; i++) await w.write({ ...w.header(''), op: 'upsert', vectors: [vec(`s${i}`, rnd)] }, 'ok', true)
  await log.append(w.records)
  const done = await replay(options(log, source, target))
  t.equal(done.lagRecords, 0, 'at the tail: lag 0')
  t.equal((await target.fetch('', ['s0', 's4'])).size, 2)
  // A write logged after: the replayer, run only up to its old checkpoint, is behind.
  const w2 = new Writer(source, 'gw-s3b')
  await w2.write({ ...w2.header(''), op: 'upsert', vectors: [vec('s9', rnd)] }, 'ok', true)
  await log.append(w2.records)
  const behind = await replay(options(log, source, target, { until: done.checkpoint as string }))
  t.equal(behind.lagRecords, undefined, 'behind the tail: unknown (S3 positions do not count records)')
})

t.test('replay --dry-run prints what it would apply and changes nothing', async (t) => {
  const source = await index(t)
  const target = await index(t)
  const log = await openFileLog({ dir: mkdtempSync(join(tmpdir(), 'vecshift-replay-')) })
  t.teardown(() => log.close())
  const w = new Writer(source)
  const rnd = prng(11)
  await w.write({ ...w.header('ns'), op: 'upsert', vectors: [vec('x', rnd, { k: 'v' })] }, 'ok', true)
  await w.write({ ...w.header('ns'), op: 'delete', filter: { k: 'v' } }, 'ok', false)
  await log.append(w.records)
  const lines: string[] = []
  const status = await replay(options(log, source, target, { dryRun: true, print: (l) => lines.push(l) }))
  t.same(
    lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    [
      { op: 'upsert', namespace: 'ns', id: 'x', dimension: 4, metadata: { k: 'v' } },
      { op: 'delete', namespace: 'ns', filter: { k: 'v' } },
    ],
  )
  t.equal(status.counts.batches, 0)
  t.same(await target.stats(), [], 'nothing written')
  t.equal(await log.checkpoint('replay'), undefined, 'no checkpoint moved')
})

t.test(
  'replay: a batch that fails is applied again by the next run, and nothing after the checkpoint is lost',
  async (t) => {
    const source = await index(t)
    const target = await index(t)
    const log = await openFileLog({ dir: mkdtempSync(join(tmpdir(), 'vecshift-replay-')) })
    t.teardown(() => log.close())
    const rnd = prng(5)
    const w = new Writer(source)
    // The first intent's outcome comes last, so all ten are released at once and the first
    // batch (5 ids) is applied while the second is still being built.
    const first = w.header('')
    const firstVector = vec('v0', rnd)
    w.records.push({ ...first, op: 'upsert', vectors: [firstVector] })
    await source.upsert('', [firstVector, vec('doomed', rnd)])
    await target.upsert('', [(await source.fetch('', ['doomed'])).get('doomed') as StoredVector])
    for (let i = 1; i < 9; i++)
      await w.write({ ...w.header(''), op: 'upsert', vectors: [vec(`v${i}`, rnd)] }, 'ok', true)
    await w.write({ ...w.header(''), op: 'delete', ids: ['doomed'] }, 'ok', true)
    w.outcome(first.seq, 'ok')
    await log.append(w.records)
    // Refused twice: the batch, then the same delete sent alone (the replayer narrows a
    // refused batch down to its record); a third try succeeds.
    const fault = emu.faults.add({
      op: 'delete',
      status: 400,
      times: 2,
      body: { code: 3, message: 'injected', details: [] },
    })
    t.teardown(() => emu.faults.remove(fault))
    await t.rejects(
      replay(options(log, source, target, { batchSize: 5 })),
      { code: 'VECSHIFT_ERR_REPLAY_REFUSED', message: /apply a batch: namespace "", id "doomed"/ },
      'the target refuses the second batch, and the replayer names the record',
    )
    const ids = ['v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8', 'doomed']
    t.ok((await target.fetch('', ['doomed'])).has('doomed'), 'the failed delete did not happen')
    const again = await replay(options(log, source, target, { batchSize: 5 }))
    t.equal(again.lagRecords, 0)
    t.same(
      await everything(target, [''], ids),
      await everything(source, [''], ids),
      'the next run applies the failed batch again',
    )
    t.notOk((await target.fetch('', ['doomed'])).has('doomed'))
  },
)

t.test(
  'replay: a refusal that does not come back when the batch is sent one record at a time leaves the batch applied',
  async (t) => {
    const source = await index(t)
    const target = await index(t)
    const log = await openFileLog({ dir: mkdtempSync(join(tmpdir(), 'vecshift-replay-')) })
    t.teardown(() => log.close())
    const rnd = prng(6)
    const w = new Writer(source)
    for (let i = 0; i < 4; i++)
      await w.write({ ...w.header('ns'), op: 'upsert', vectors: [vec(`v${i}`, rnd)] }, 'ok', true)
    await log.append(w.records)
    const fault = emu.faults.add({
      op: 'upsert',
      status: 400,
      times: 1,
      body: { code: 3, message: 'injected once', details: [] },
    })
    t.teardown(() => emu.faults.remove(fault))
    const done = await replay(options(log, source, target, { batchSize: 10 }))
    t.equal(done.lagRecords, 0, 'replay went on')
    t.equal(done.failed, undefined, 'nothing recorded as refused')
    const ids = ['v0', 'v1', 'v2', 'v3']
    t.same(await everything(target, ['ns'], ids), await everything(source, ['ns'], ids), 'every record applied')
  },
)

t.test('the dirty set: entries read from a byte offset, a line still being written left for later', async (t) => {
  const { readDirtyFrom } = await import('../../src/replay/dirty.js')
  const { appendFileSync } = await import('node:fs')
  const path = join(mkdtempSync(join(tmpdir(), 'vecshift-dirty-')), 'd.jsonl')
  const set = await DirtySet.open(path)
  set.addId('', 'a')
  set.addId('ns', 'é\tb')
  set.addWhole({ namespace: 'ns', deleteAll: true })
  await set.sync()
  await set.close()
  const first = []
  for await (const e of readDirtyFrom(path, 0)) first.push(e)
  t.same(
    first.map((e) => e.entry),
    [
      { namespace: '', id: 'a' },
      { namespace: 'ns', id: 'é\tb' },
      { namespace: 'ns', deleteAll: true },
    ],
  )
  appendFileSync(path, '["", "c"]\n["", "d"')
  const next = []
  for await (const e of readDirtyFrom(path, first.at(-1)?.end ?? 0)) next.push(e)
  t.same(
    next.map((e) => e.entry),
    [{ namespace: '', id: 'c' }],
    'only whole lines after the offset',
  )
  appendFileSync(path, ']\n')
  const last = []
  for await (const e of readDirtyFrom(path, next.at(-1)?.end ?? 0)) last.push(e)
  t.same(
    last.map((e) => e.entry),
    [{ namespace: '', id: 'd' }],
    'the finished line is read from where the last pass stopped',
  )
  // A torn line left by a crash is ended on open, so the next one starts clean.
  appendFileSync(path, '["", "tor')
  const reopened = await DirtySet.open(path)
  reopened.addId('', 'e')
  await reopened.close()
  const all = []
  for await (const e of readDirty(path)) all.push(e)
  t.same(all.at(-1), { namespace: '', id: 'e' })
  t.equal(reopened.size, 5, 'ids already in the file are remembered')
})
