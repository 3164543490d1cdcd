import type { WriteLog } from '../../src/writelog/contract.js'
import type { LogRecord, UpsertRecord } from '../../src/writelog/record.js'
import type { TestContext } from '../helpers/tap.js'
import { until } from '../helpers/until.js'

// The write-log contract, run against every backend. `open` gives a fresh, empty log for
// the test (and may be called again to reopen the same log after close).

export interface ContractTarget {
  readonly name: string
  open(t: TestContext): Promise<{ log: WriteLog; reopen: () => Promise<WriteLog> }>
}

let seq = 0
export function upsert(id: string, namespace = 'ns', value = 1): UpsertRecord {
  return {
    op: 'upsert',
    instance: 'contract',
    seq: seq++,
    ts: Date.now(),
    apiVersion: '2026-07',
    requestId: `r-${seq}`,
    namespace,
    vectors: [{ id, values: new Float32Array([value, value / 2, 0.25]), metadata: { n: value } }],
  }
}

async function collect(log: WriteLog, after?: string): Promise<Array<{ position: string; record: LogRecord }>> {
  const out: Array<{ position: string; record: LogRecord }> = []
  for await (const entry of log.read(after === undefined ? {} : { after })) out.push(entry)
  return out
}

const closed = { code: 'VECSHIFT_ERR_LOG_CLOSED' }

export function runContract(t: TestContext, target: ContractTarget): void {
  t.test(`${target.name}: an empty log has no head or tail and reads nothing`, async (t) => {
    const { log } = await target.open(t)
    t.equal(await log.head(), undefined)
    t.equal(await log.tail(), undefined)
    t.same(await collect(log), [])
  })

  t.test(`${target.name}: appends are read back in order, with increasing positions`, async (t) => {
    const { log } = await target.open(t)
    const records = Array.from({ length: 25 }, (_, i) => upsert(`id-${i % 5}`, 'ns', i))
    const positions: string[] = []
    for (let i = 0; i < records.length; i += 5) positions.push(...(await log.append(records.slice(i, i + 5))))
    t.equal(positions.length, 25)
    for (let i = 1; i < positions.length; i++)
      t.ok(log.compare(positions[i - 1] as string, positions[i] as string) < 0, `position ${i} increases`)
    const read = await collect(log)
    t.same(
      read.map((e) => e.record),
      records,
    )
    t.same(
      read.map((e) => e.position),
      positions,
    )
    t.equal(await log.head(), positions[0])
    t.equal(await log.tail(), positions[24])
  })

  t.test(`${target.name}: reading after a position returns exactly what followed it`, async (t) => {
    const { log } = await target.open(t)
    const positions = await log.append(Array.from({ length: 10 }, (_, i) => upsert(`k${i}`)))
    const rest = await collect(log, positions[6])
    t.same(
      rest.map((e) => e.position),
      positions.slice(7),
    )
    t.same(await collect(log, positions[9]), [])
  })

  t.test(`${target.name}: concurrent appends all become durable, each id's writes in order`, async (t) => {
    const { log } = await target.open(t)
    // 64 concurrent writers, 8 writes each, to 16 ids: per-id order must be append order.
    const expected = new Map<string, number[]>()
    await Promise.all(
      Array.from({ length: 64 }, async (_, w) => {
        for (let i = 0; i < 8; i++) {
          const id = `id-${w % 16}`
          const value = w * 100 + i
          await log.append([upsert(id, 'ns', value)])
          // Recorded after the append resolved: appends to one id are sequential per writer,
          // and writers sharing an id interleave in the order their appends resolved.
          expected.set(id, [...(expected.get(id) ?? []), value])
        }
      }),
    )
    const seen = new Map<string, number[]>()
    for (const { record } of await collect(log)) {
      if (record.op !== 'upsert') continue
      const v = record.vectors[0]
      if (!v) continue
      seen.set(v.id, [...(seen.get(v.id) ?? []), (v.metadata as { n: number }).n])
    }
    t.equal(
      [...seen.values()].reduce((n, l) => n + l.length, 0),
      512,
      'every append is there once',
    )
    for (const [id, values] of expected) t.same(seen.get(id), values, `${id} in order`)
  })

  t.test(`${target.name}: a following reader sees records appended later, and stops on abort`, async (t) => {
    const { log } = await target.open(t)
    await log.append([upsert('a')])
    const controller = new AbortController()
    const got: string[] = []
    const reading = (async () => {
      for await (const { record } of log.read({ follow: true, signal: controller.signal })) {
        if (record.op === 'upsert') got.push(record.vectors[0]?.id ?? '')
        if (got.length === 3) controller.abort()
      }
    })()
    // Each append waits until the reader has caught up, so that it arrives while the reader
    // follows the tail rather than before the reader has looked.
    await until(() => got.length === 1, { timeoutMs: 15_000, what: 'the reader to see the first record' })
    await log.append([upsert('b')])
    await until(() => got.length === 2, { timeoutMs: 15_000, what: 'the reader to see the second record' })
    await log.append([upsert('c')])
    await reading
    t.same(got, ['a', 'b', 'c'])
  })

  t.test(`${target.name}: checkpoints are durable across reopen; retention keeps what is not passed`, async (t) => {
    const { log, reopen } = await target.open(t)
    const positions: string[] = []
    for (let i = 0; i < 40; i++) positions.push(...(await log.append([upsert(`r${i}`, 'ns', i)])))
    t.equal(await log.checkpoint('replayer'), undefined)
    await log.commit('replayer', positions[29] as string)
    await log.commit('verifier', positions[34] as string)
    t.equal(await log.checkpoint('replayer'), positions[29])
    await log.retain()
    const kept = await collect(log, positions[29])
    t.same(
      kept.map((e) => e.position),
      positions.slice(30),
      'everything after the slowest checkpoint is kept',
    )
    await log.close()
    const again = await reopen()
    t.equal(await again.checkpoint('replayer'), positions[29])
    t.equal(await again.checkpoint('verifier'), positions[34])
    t.same(
      (await collect(again, positions[29])).map((e) => e.position),
      positions.slice(30),
    )
    const more = await again.append([upsert('after-reopen')])
    t.ok(again.compare(positions[39] as string, more[0] as string) < 0, 'positions keep increasing after reopen')
  })

  t.test(`${target.name}: stats count records`, async (t) => {
    const { log } = await target.open(t)
    await log.append([upsert('a'), upsert('b'), upsert('c')])
    const s = await log.stats()
    t.equal(s.records, 3)
    t.ok(s.bytes > 0)
    t.equal(s.head, await log.head())
    t.equal(s.tail, await log.tail())
  })

  t.test(`${target.name}: close is idempotent and later appends are refused`, async (t) => {
    const { log } = await target.open(t)
    await log.append([upsert('a')])
    await log.close()
    await log.close()
    await t.rejects(log.append([upsert('b')]), { code: 'VECSHIFT_ERR_LOG_CLOSED' })
  })

  t.test(`${target.name}: close finishes accepted appends; every call after it is refused`, async (t) => {
    const { log, reopen } = await target.open(t)
    const [first] = await log.append([upsert('before')])
    // Accepted before close: its caller may be about to acknowledge a client.
    const accepted = log.append([upsert('accepted')])
    const closing = log.close()
    const closingAgain = log.close()
    await t.rejects(log.append([upsert('while-closing')]), closed, 'an append while closing is refused')
    await Promise.all([closing, closingAgain])
    t.equal((await accepted).length, 1, 'the append accepted before close became durable')
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['append', () => log.append([upsert('after')])],
      ['read', () => collect(log)],
      ['head', () => log.head()],
      ['tail', () => log.tail()],
      ['stats', () => log.stats()],
      ['commit', () => log.commit('replayer', first as string)],
      ['checkpoint', () => log.checkpoint('replayer')],
      ['retain', () => log.retain()],
    ]
    for (const [name, call] of calls) await t.rejects(call(), closed, `${name} after close`)
    const again = await reopen()
    t.same(
      (await collect(again)).map((e) => (e.record.op === 'upsert' ? e.record.vectors[0]?.id : e.record.op)),
      ['before', 'accepted'],
      'reopened: what was accepted is there, what was refused is not',
    )
  })
}
