import { createServer } from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { startTestEmulator } from '../helpers/emulator.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startHoldingUpstream } from '../helpers/holding-upstream.js'
import type { TestContext } from '../helpers/tap.js'
import { until } from '../helpers/until.js'

// What a client sees when the source index is down, slow, or refusing: an answer in
// Pinecone's error shape with the right status, never a hang or a crash, and the gateway
// keeps serving.

const QUERY = JSON.stringify({ vector: [0.1, 0.2, 0.3, 0.4], topK: 1, namespace: '__default__' })
const JSON_HEADERS = { 'content-type': 'application/json', 'x-pinecone-api-version': '2026-07', 'api-key': 'k' }

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function emulatorWithIndex(t: TestContext) {
  const emu = await startTestEmulator(t, { apiKey: 'k', indexes: [{ name: 'idx', dimension: 4, metric: 'cosine' }] })
  return emu
}

t.test('upstream down: 503 in Pinecone shape with Retry-After, cause logged, gateway still serving', async (t) => {
  const port = await closedPort()
  const gw = await startTestGateway(t, {
    index: 'idx',
    host: `http://127.0.0.1:${port}/data/idx`,
    controllerHost: `http://127.0.0.1:${port}`,
  })
  const res = await request(`${gw.url}/query`, { method: 'POST', headers: JSON_HEADERS, body: QUERY })
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '1')
  t.equal(res.headers['x-vecshift-error'], 'VECSHIFT_ERR_UPSTREAM_UNAVAILABLE')
  const body = (await res.body.json()) as { code: number; message: string; details: unknown[] }
  t.equal(body.code, 14)
  t.match(body.message, /upstream source is unavailable \(ECONNREFUSED\)/)
  t.same(body.details, [])
  t.ok(
    gw.logs.some((l) => l.level === 40 && /unavailable/.test(String(l.msg))),
    'a warning was logged',
  )

  const ready = await request(`${gw.adminUrl}/readyz`)
  t.equal(ready.statusCode, 503, 'not ready while the source is unreachable')
  t.match(await ready.body.json(), { ready: false })
  const health = await request(`${gw.url}/healthz`)
  t.equal(health.statusCode, 200, 'alive all the same')
  await health.body.dump()

  const describe = await request(`${gw.url}/indexes/idx`, { headers: JSON_HEADERS })
  t.equal(describe.statusCode, 503)
  t.match(
    await describe.body.json(),
    { error: { code: 'UNAVAILABLE' }, status: 503 },
    'control-plane shape on control paths',
  )
})

t.test('upstream slow: 504 after the configured deadline, then normal service', async (t) => {
  const emu = await emulatorWithIndex(t)
  // The source's queries are held until the test lets them go: an answer the client gets
  // meanwhile came from the gateway's deadline, not from the source finishing.
  const upstream = await startHoldingUpstream(t, emu.url)
  const gw = await startTestGateway(t, {
    index: 'idx',
    host: `${upstream.url}/data/idx`,
    controllerHost: emu.url,
    config: { 'gateway.upstream.requestTimeoutMs': 300 },
  })
  upstream.hold(/\/query$/)
  let answered = false
  const answer = request(`${gw.url}/query`, { method: 'POST', headers: JSON_HEADERS, body: QUERY }).finally(() => {
    answered = true
  })
  answer.catch(() => undefined) // awaited below; a failure is seen there
  await until(() => answered, { timeoutMs: 10_000, what: 'the gateway to answer while the source holds the query' })
  t.equal(upstream.holding, 1, 'answered while the source still held the query')
  const res = await answer
  t.equal(res.statusCode, 504)
  t.match(await res.body.json(), { code: 4, message: /did not answer within 300 ms/, details: [] })
  upstream.release()
  const again = await request(`${gw.url}/query`, { method: 'POST', headers: JSON_HEADERS, body: QUERY })
  t.equal(again.statusCode, 200)
  t.match(await again.body.json(), { matches: [] })
})

t.test('upstream 429 and 5xx are passed through unchanged, with Retry-After', async (t) => {
  const emu = await emulatorWithIndex(t)
  const gw = await startTestGateway(t, { index: 'idx', host: emu.indexHost('idx'), controllerHost: emu.url })
  for (const status of [429, 500, 503]) {
    emu.faults.add({ op: 'query', status, retryAfter: 7, times: 1 })
    const direct = await request(`${emu.indexHost('idx')}/query`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: QUERY,
    })
    const directBody = await direct.body.text()
    emu.faults.add({ op: 'query', status, retryAfter: 7, times: 1 })
    const via = await request(`${gw.url}/query`, { method: 'POST', headers: JSON_HEADERS, body: QUERY })
    t.equal(via.statusCode, status, `${status} status`)
    t.equal(via.headers['retry-after'], '7', `${status} retry-after`)
    t.equal(via.headers['x-vecshift-error'], undefined, `${status} is the upstream's answer, not the gateway's`)
    t.equal(await via.body.text(), directBody, `${status} body byte for byte`)
  }
})

t.test('upstream resetting the connection: 503, and the next request succeeds', async (t) => {
  const emu = await emulatorWithIndex(t)
  const gw = await startTestGateway(t, { index: 'idx', host: emu.indexHost('idx'), controllerHost: emu.url })
  emu.faults.add({ op: 'query', reset: true, times: 1 })
  const res = await request(`${gw.url}/query`, { method: 'POST', headers: JSON_HEADERS, body: QUERY })
  t.ok([502, 503].includes(res.statusCode), `status ${res.statusCode}`)
  t.match(await res.body.json(), { code: 14, details: [] })
  const again = await request(`${gw.url}/query`, { method: 'POST', headers: JSON_HEADERS, body: QUERY })
  t.equal(again.statusCode, 200)
  await again.body.dump()
})
