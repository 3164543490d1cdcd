import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { request } from 'undici'
import { startTestEmulator } from '../helpers/emulator.js'
import type { TestContext } from '../helpers/tap.js'
import { until } from '../helpers/until.js'

// Fault injection, in process (emu.faults) and over HTTP (/_emulator/faults), and the request
// counts at /_emulator/stats.

const KEY = 'fault-key'
const H = { 'api-key': KEY, 'content-type': 'application/json', 'x-pinecone-api-version': '2026-07' }

async function setup(t: TestContext) {
  const emu = await startTestEmulator(t, { apiKey: KEY })
  const res = await request(`${emu.url}/indexes`, {
    method: 'POST',
    headers: H,
    body: JSON.stringify({
      name: 'f',
      schema: { fields: { _values: { type: 'dense_vector', dimension: 2, metric: 'cosine' } } },
    }),
  })
  t.equal(res.statusCode, 201)
  await res.body.dump()
  return emu
}

const query = (host: string) =>
  request(`${host}/query`, { method: 'POST', headers: H, body: JSON.stringify({ vector: [1, 1], topK: 1 }) })

t.test("a status fault answers in the plane's error shape, with Retry-After, `times` times", async (t) => {
  const emu = await setup(t)
  emu.faults.add({ op: 'query', status: 429, retryAfter: 3, times: 2 })
  for (let i = 0; i < 2; i++) {
    const r = await query(emu.indexHost('f'))
    t.equal(r.statusCode, 429)
    t.equal(r.headers['retry-after'], '3')
    t.match(await r.body.json(), { code: 8, message: /Injected fault/, details: [] })
  }
  const ok = await query(emu.indexHost('f'))
  t.equal(ok.statusCode, 200, 'the rule is used up')
  await ok.body.dump()

  emu.faults.add({ op: 'control', status: 503, times: 1 })
  const ctl = await request(`${emu.url}/indexes/f`, { headers: H })
  t.equal(ctl.statusCode, 503)
  t.match(await ctl.body.json(), { error: { code: 'SERVICE_UNAVAILABLE', message: /Injected fault/ }, status: 503 })

  emu.faults.add({ op: '*', index: 'other', status: 500, times: Infinity })
  const unaffected = await query(emu.indexHost('f'))
  t.equal(unaffected.statusCode, 200, 'a rule for another index does not apply')
  await unaffected.body.dump()
  emu.faults.add({ op: 'upsert', status: 500, body: 'upstream exploded', times: 1 })
  const custom = await request(`${emu.indexHost('f')}/vectors/upsert`, {
    method: 'POST',
    headers: H,
    body: JSON.stringify({ vectors: [{ id: 'a', values: [1, 1] }] }),
  })
  t.same([custom.statusCode, await custom.body.text()], [500, 'upstream exploded'])
  emu.faults.clear()
  const fetched = await request(`${emu.indexHost('f')}/vectors/fetch?ids=a`, { headers: H })
  t.same(
    Object.keys(((await fetched.body.json()) as { vectors: object }).vectors),
    [],
    'a faulted upsert was not applied',
  )
})

t.test('latency faults delay and then serve; reset destroys the connection', async (t) => {
  const emu = await setup(t)
  emu.faults.add({ op: 'query', latencyMs: 1500, times: 1 })
  let slowAnswered = false
  const slowQuery = query(emu.indexHost('f')).then((res) => {
    slowAnswered = true
    return res
  })
  // The first query has met the rule and is being held.
  await until(() => emu.stats().faulted.query === 1, { timeoutMs: 10_000, what: 'the first query to be held' })
  const fast = await query(emu.indexHost('f'))
  t.equal(fast.statusCode, 200)
  await fast.body.dump()
  t.notOk(slowAnswered, 'a second query is answered while the first is still held: delayed, and only once')
  t.equal(emu.stats().faulted.query, 1, 'the rule applied to one request')
  const slow = await slowQuery
  t.equal(slow.statusCode, 200, 'the held query is then served')
  await slow.body.dump()

  emu.faults.add({ op: 'query', reset: true, times: 1 })
  const err = await query(emu.indexHost('f')).then(
    () => null,
    (e: Error & { code?: string }) => e,
  )
  t.ok(err, 'the request fails')
  t.match(err?.code, /UND_ERR_SOCKET|ECONNRESET/)
  const after = await query(emu.indexHost('f'))
  t.equal(after.statusCode, 200, 'the server keeps serving')
  await after.body.dump()
})

t.test('SDK v9 retries a 500 once and succeeds; a 429 is not retried', async (t) => {
  const emu = await setup(t)
  const pc = new Pinecone({ apiKey: KEY, controllerHostUrl: emu.url })
  const index = pc.index({ host: emu.indexHost('f') })
  await index.upsert({ records: [{ id: 'a', values: [0.5, 0.4] }] })
  emu.faults.add({ op: 'query', status: 500, times: 1 })
  const res = await index.query({ vector: [0.5, 0.4], topK: 1 })
  t.same(
    res.matches.map((m) => m.id),
    ['a'],
  )
  t.equal(emu.stats().ops.query, 2, 'one failed attempt, one retry')
  t.equal(emu.stats().faulted.query, 1)

  emu.faults.add({ op: 'query', status: 429, times: 1 })
  const limited = await index.query({ vector: [0.5, 0.4], topK: 1 }).then(
    () => null,
    (e: Error) => e,
  )
  t.ok(limited, '429 surfaces to the caller')
  t.equal(emu.stats().ops.query, 3, 'without a retry')
})

t.test('the HTTP fault and stats endpoints', async (t) => {
  const emu = await setup(t)
  const add = await request(`${emu.url}/_emulator/faults`, {
    method: 'POST',
    headers: H,
    body: JSON.stringify({ op: 'fetch', status: 503, times: 1 }),
  })
  t.equal(add.statusCode, 201)
  const { id } = (await add.body.json()) as { id: string }
  t.match(id, /^[0-9a-f-]{36}$/)
  const listed = await request(`${emu.url}/_emulator/faults`, { headers: H })
  t.match(await listed.body.json(), { faults: [{ id, op: 'fetch', status: 503, remaining: 1 }] })
  const bad = await request(`${emu.url}/_emulator/faults`, {
    method: 'POST',
    headers: H,
    body: JSON.stringify({ op: 'nope' }),
  })
  t.equal(bad.statusCode, 400)
  t.match(await bad.body.json(), { error: { message: /Invalid fault rule/ } })

  const f = await request(`${emu.indexHost('f')}/vectors/fetch?ids=a`, { headers: H })
  t.equal(f.statusCode, 503)
  await f.body.dump()
  const del = await request(`${emu.url}/_emulator/faults`, { method: 'DELETE', headers: H })
  t.equal(del.statusCode, 200)
  await del.body.dump()

  const stats = await request(`${emu.url}/_emulator/stats`, { headers: H })
  t.same(
    await stats.body.json(),
    {
      ops: { control: 1, fetch: 1 },
      byIndex: { f: { fetch: 1 } }, // POST /indexes names no index in its path
      faulted: { fetch: 1 },
    },
    'counts per operation and per index; /_emulator calls are not counted',
  )
  const noKey = await request(`${emu.url}/_emulator/stats`)
  t.equal(noKey.statusCode, 401, 'the endpoints need the API key')
  await noKey.body.dump()
  await (await request(`${emu.url}/_emulator/stats`, { method: 'DELETE', headers: H })).body.dump()
  t.same(emu.stats(), { ops: {}, byIndex: {}, faulted: {} })
})
