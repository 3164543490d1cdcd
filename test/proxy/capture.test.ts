import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { request } from 'undici'
import { openFileLog, type FileWriteLog } from '../../src/writelog/file/file-log.js'
import type { LogRecord } from '../../src/writelog/record.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { confirmKey, startTestGateway } from '../helpers/gateway.js'
import type { TestContext } from '../helpers/tap.js'

// Phase capture: every write is in the log, with its outcome, before the client hears back;
// malformed writes are refused as Pinecone would refuse them and neither logged nor
// forwarded; a log that cannot take a write refuses it (fail closed).

const KEY = 'capture-key'
const HEADERS = { 'content-type': 'application/json', 'x-pinecone-api-version': '2025-04', 'api-key': KEY }

async function setup(t: TestContext, logOptions: { maxQueueBytes?: number } = {}) {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [{ name: 'cap', dimension: 4, metric: 'dotproduct' }],
  })
  const log = await openFileLog({ dir: mkdtempSync(join(tmpdir(), 'vecshift-capture-')), ...logOptions })
  t.teardown(() => log.close())
  const gw = await startTestGateway(t, {
    index: 'cap',
    host: emu.indexHost('cap'),
    controllerHost: emu.url,
    writeLog: log,
    config: { 'migration.phase': 'capture' },
    env: { VECSHIFT_SOURCE_API_KEY: KEY },
  })
  await confirmKey(gw.url, KEY)
  return { emu, log, gw }
}

async function records(log: FileWriteLog): Promise<LogRecord[]> {
  const out: LogRecord[] = []
  for await (const { record } of log.read()) out.push(record)
  return out
}

async function upstreamOps(emuUrl: string): Promise<Record<string, number>> {
  const res = await request(`${emuUrl}/_emulator/stats`, { headers: { 'api-key': KEY } })
  return ((await res.body.json()) as { ops: Record<string, number> }).ops
}

t.test('SDK writes through a capturing gateway: each intent and its outcome are logged, in order', async (t) => {
  const { emu, log, gw } = await setup(t)
  const index = new Pinecone({ apiKey: KEY, controllerHostUrl: gw.url }).index({ name: 'cap' })
  await index.namespace('ns1').upsert({
    records: [
      { id: 'a', values: [0.1, 0.2, 0.3, 0.4], metadata: { genre: 'drama' } },
      { id: 'b', values: [1, 0, 0, 0], sparseValues: { indices: [3], values: [0.5] } },
    ],
  })
  await index.namespace('ns1').update({ id: 'a', metadata: { genre: 'noir' } })
  await index.namespace('ns1').update({ filter: { genre: { $eq: 'noir' } }, metadata: { seen: true } })
  await index.namespace('ns1').deleteMany({ ids: ['b'] })
  await index.namespace('ns1').deleteMany({ filter: { seen: true } })
  await index.namespace('ns2').upsert({ records: [{ id: 'c', values: [1, 1, 1, 1] }] })
  await index.namespace('ns2').deleteAll()
  await index.namespace('ns3').upsert({ records: [{ id: 'd', values: [1, 2, 3, 4] }] })
  await index.deleteNamespace('ns3')
  const fetched = await index.namespace('ns2').fetch({ ids: ['c'] })
  t.same(fetched.records, {}, 'the source applied every write (reads are untouched)')

  const logged = await records(log)
  const intents = logged.filter((r) => r.op !== 'outcome')
  t.same(
    intents.map((r) => r.op),
    ['upsert', 'update', 'update', 'delete', 'delete', 'upsert', 'delete', 'upsert', 'delete'],
  )
  const first = intents[0]
  if (first?.op !== 'upsert') throw new Error('expected an upsert first')
  t.equal(first.namespace, 'ns1')
  t.same(
    first.vectors.map((v) => v.id),
    ['a', 'b'],
  )
  t.same(
    Array.from(first.vectors[0]?.values ?? []),
    Array.from(new Float32Array([0.1, 0.2, 0.3, 0.4])),
    'float32 values as Pinecone stores them',
  )
  t.same(first.vectors[0]?.metadata, { genre: 'drama' })
  t.same(first.vectors[1]?.sparseValues?.indices, new Uint32Array([3]))
  t.match(intents[2], { op: 'update', filter: { genre: { $eq: 'noir' } }, setMetadata: { seen: true } })
  t.match(intents[6], { op: 'delete', namespace: 'ns2', deleteAll: true })
  t.match(
    intents[8],
    { op: 'delete', namespace: 'ns3', deleteAll: true },
    'deleting a namespace is logged as deleteAll',
  )
  // Every intent is followed by its outcome before the next intent: the client waited.
  for (let i = 0; i < logged.length; i += 2) {
    const intent = logged[i] as LogRecord
    const outcome = logged[i + 1] as LogRecord
    t.match(
      outcome,
      { op: 'outcome', intentSeq: intent.seq, outcome: 'ok', status: 200 },
      `outcome of ${intent.op} ${intent.seq}`,
    )
    t.equal(outcome.instance, intent.instance)
  }
  t.equal((await upstreamOps(emu.url)).upsert, 3)
})

t.test('malformed writes get Pinecone-shaped 400s; nothing is logged or forwarded', async (t) => {
  const { emu, log, gw } = await setup(t)
  const before = await upstreamOps(emu.url)
  const vec = (id: string, values: unknown = [1, 2, 3, 4]) => ({ id, values })
  const cases: Array<[string, string, string, RegExp]> = [
    ['malformed JSON', '/vectors/upsert', '{"vectors": [', /Invalid JSON/],
    ['not an object', '/vectors/upsert', '[1,2]', /JSON object/],
    [
      'wrong dimension',
      '/vectors/upsert',
      JSON.stringify({ vectors: [vec('a', [1, 2, 3])] }),
      /Vector dimension 3 does not match the dimension of the index 4/,
    ],
    ['Infinity', '/vectors/upsert', '{"vectors":[{"id":"a","values":[1,2,3,1e999]}]}', /finite/],
    ['float32 overflow', '/vectors/upsert', '{"vectors":[{"id":"a","values":[1,2,3,1e39]}]}', /finite/],
    ['string value', '/vectors/upsert', JSON.stringify({ vectors: [vec('a', [1, 2, 3, 'x'])] }), /must be numbers/],
    ['empty id', '/vectors/upsert', JSON.stringify({ vectors: [vec('')] }), /non-empty/],
    [
      '1001 vectors',
      '/vectors/upsert',
      JSON.stringify({ vectors: Array.from({ length: 1001 }, (_, i) => vec(`v${i}`)) }),
      /exceeds the limit of 1000/,
    ],
    [
      'oversize metadata',
      '/vectors/upsert',
      JSON.stringify({ vectors: [{ ...vec('a'), metadata: { blob: 'x'.repeat(41_000) } }] }),
      /exceeds the limit of 40960 bytes/,
    ],
    [
      'nested metadata',
      '/vectors/upsert',
      JSON.stringify({ vectors: [{ ...vec('a'), metadata: { o: { p: 1 } } }] }),
      /Metadata value/,
    ],
    [
      'update with neither id nor filter',
      '/vectors/update',
      JSON.stringify({ setMetadata: { a: 1 } }),
      /either id or filter/,
    ],
    [
      'update by filter with values',
      '/vectors/update',
      JSON.stringify({ filter: { a: 1 }, values: [1, 2, 3, 4] }),
      /only set metadata/,
    ],
    ['invalid filter', '/vectors/delete', JSON.stringify({ filter: { year: { $gt: 'abc' } } }), /./],
    ['empty filter', '/vectors/delete', JSON.stringify({ filter: {} }), /./],
    [
      'deleteAll with ids',
      '/vectors/delete',
      JSON.stringify({ deleteAll: true, ids: ['a'] }),
      /deleteAll cannot be combined/,
    ],
    ['delete nothing', '/vectors/delete', '{}', /ids, filter or deleteAll/],
  ]
  for (const [name, path, body, message] of cases) {
    const res = await request(`${gw.url}${path}`, { method: 'POST', headers: HEADERS, body })
    t.equal(res.statusCode, 400, `${name}: 400`)
    const json = (await res.body.json()) as { code: number; message: string; details: unknown[] }
    t.equal(json.code, 3, `${name}: INVALID_ARGUMENT`)
    t.match(json.message, message, `${name}: ${json.message}`)
    t.same(json.details, [])
  }
  t.equal((await log.stats()).records, 0, 'nothing was logged')
  t.same(await upstreamOps(emu.url), before, 'nothing was forwarded')
  const ok = await request(`${gw.url}/vectors/upsert`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ vectors: [vec('fine')] }),
  })
  t.equal(ok.statusCode, 200, 'the gateway keeps serving')
  await ok.body.dump()
})

t.test("the source refusing or failing is recorded as the outcome; the client gets the source's answer", async (t) => {
  const { emu, log, gw } = await setup(t)
  const body = JSON.stringify({ vectors: [{ id: 'x', values: [1, 2, 3, 4] }] })
  const cases: Array<[number, string]> = [
    [429, 'failed'],
    [400, 'failed'],
    [500, 'unknown'],
    [503, 'unknown'],
  ]
  for (const [status, outcome] of cases) {
    emu.faults.add({ op: 'upsert', status, times: 1 })
    const res = await request(`${gw.url}/vectors/upsert`, { method: 'POST', headers: HEADERS, body })
    t.equal(res.statusCode, status, `client sees ${status}`)
    await res.body.dump()
    const last = (await records(log)).at(-1)
    t.match(last, { op: 'outcome', outcome, status }, `${status} is logged as ${outcome}`)
  }
  emu.faults.add({ op: 'upsert', reset: true, times: 1 })
  const reset = await request(`${gw.url}/vectors/upsert`, { method: 'POST', headers: HEADERS, body })
  t.ok(reset.statusCode >= 502 && reset.statusCode <= 504, `no answer from the source: ${reset.statusCode}`)
  await reset.body.dump()
  t.match((await records(log)).at(-1), { op: 'outcome', outcome: 'unknown', status: 0 })
})

t.test('a log that cannot take the write refuses it with 503 + Retry-After and does not forward it', async (t) => {
  const { emu, log, gw } = await setup(t)
  await log.close()
  const before = await upstreamOps(emu.url)
  const res = await request(`${gw.url}/vectors/upsert`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ vectors: [{ id: 'x', values: [1, 2, 3, 4] }] }),
  })
  t.equal(res.statusCode, 503)
  t.ok(res.headers['retry-after'], 'Retry-After is set')
  t.match(await res.body.json(), { code: 14, message: /closed/ })
  t.same(await upstreamOps(emu.url), before, 'the write did not reach the source')
  const read = await request(`${gw.url}/query`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ vector: [1, 2, 3, 4], topK: 1 }),
  })
  t.equal(read.statusCode, 200, 'reads are untouched')
  await read.body.dump()
})

t.test('writes the log cannot represent are refused during capture, not passed through', async (t) => {
  const { emu, gw } = await setup(t)
  const before = await upstreamOps(emu.url)
  const res = await request(`${gw.url}/records/namespaces/ns/upsert`, {
    method: 'POST',
    headers: HEADERS,
    body: '{"_id":"a","text":"hello"}',
  })
  t.equal(res.statusCode, 400)
  t.match(await res.body.json(), { code: 9, message: /cannot be captured/ })
  t.same(await upstreamOps(emu.url), before)
})

t.test('a full log queue pushes back with 503 instead of growing; refused writes never reach the source', async (t) => {
  const { emu, log, gw } = await setup(t, { maxQueueBytes: 64 * 1024 })
  const body = (i: number) =>
    JSON.stringify({
      vectors: Array.from({ length: 200 }, (_, j) => ({
        id: `q${i}-${j}`,
        values: [1, 2, 3, j + 1],
        metadata: { pad: 'p'.repeat(40) },
      })),
    })
  const results = await Promise.all(
    Array.from({ length: 24 }, async (_, i) => {
      const res = await request(`${gw.url}/vectors/upsert`, { method: 'POST', headers: HEADERS, body: body(i) })
      const text = await res.body.text()
      return {
        status: res.statusCode,
        code: res.headers['x-vecshift-error'],
        retryAfter: res.headers['retry-after'],
        text,
      }
    }),
  )
  const ok = results.filter((r) => r.status === 200)
  const refused = results.filter((r) => r.status === 503)
  t.equal(ok.length + refused.length, results.length, 'every write was either accepted or refused with 503')
  t.ok(refused.length > 0, `${refused.length} writes pushed back`)
  t.ok(ok.length > 0, `${ok.length} writes accepted`)
  for (const r of refused) t.match(r, { code: 'VECSHIFT_ERR_LOG_BACKPRESSURE', retryAfter: '1' })
  t.equal((await upstreamOps(emu.url)).upsert, ok.length, 'only accepted writes reached the source')
  const intents = (await records(log)).filter((r) => r.op === 'upsert')
  t.equal(intents.length, ok.length, 'and exactly they are logged')
  const metrics = await (await request(`${gw.adminUrl}/metrics`)).body.text()
  t.match(
    metrics,
    /vecshift_writelog_append_seconds_count\{[^}]*kind="intent"[^}]*\} [1-9]/,
    'append latency is exported',
  )
  t.match(
    metrics,
    /vecshift_capture_refused_total\{[^}]*reason="VECSHIFT_ERR_LOG_BACKPRESSURE"[^}]*\} [1-9]/,
    'refusals are counted',
  )
})
