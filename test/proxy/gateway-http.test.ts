import { Readable } from 'node:stream'
import t from 'tap'
import { Client, request } from 'undici'
import { startTestEmulator } from '../helpers/emulator.js'
import { confirmKey, startTestGateway } from '../helpers/gateway.js'
import type { TestContext } from '../helpers/tap.js'
import { until } from '../helpers/until.js'

// The gateway's own answers over raw HTTP, in the 2025-04 style of Pinecone's docs:
// limits, bad input, auth, the control-plane shim's refusals, and the admin port.

const KEY = 'upstream-secret-key-123'
const V2025 = { 'content-type': 'application/json', 'x-pinecone-api-version': '2025-04', 'api-key': KEY }

async function setup(t: TestContext, config: Record<string, unknown> = {}, env: Record<string, string> = {}) {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [{ name: 'docs', dimension: 3, metric: 'dotproduct' }],
  })
  const gw = await startTestGateway(t, {
    index: 'docs',
    host: emu.indexHost('docs'),
    controllerHost: emu.url,
    config,
    env,
  })
  return { emu, gw }
}

async function setupConfirmed(t: TestContext, config: Record<string, unknown> = {}, env: Record<string, string> = {}) {
  const s = await setup(t, config, env)
  if (config['gateway.auth.mode'] !== 'keys') await confirmKey(s.gw.url, KEY)
  return s
}

/** The value of one Prometheus sample whose labels include `labels`, in any order. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    const set = line.slice(name.length + 1, line.lastIndexOf('}'))
    if (Object.entries(labels).every(([k, v]) => set.split(',').includes(`${k}="${v}"`)))
      return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return undefined
}

async function stats(emuUrl: string): Promise<Record<string, number>> {
  const res = await request(`${emuUrl}/_emulator/stats`, { headers: { 'api-key': KEY } })
  return (await res.body.json()) as Record<string, number>
}

t.test('2025-04 style calls give the same status and body directly and through the gateway', async (t) => {
  const { emu, gw } = await setup(t)
  const calls: Array<[string, string, string | undefined]> = [
    [
      'POST',
      '/vectors/upsert',
      JSON.stringify({
        vectors: [
          { id: 'vec1', values: [1, 0.5, 0.25], metadata: { genre: 'drama' } },
          { id: 'vec2', values: [0.1, 0.2, 0.3] },
        ],
        namespace: 'example-namespace',
      }),
    ],
    [
      'POST',
      '/query',
      JSON.stringify({
        namespace: 'example-namespace',
        vector: [0.3, 0.3, 0.3],
        topK: 2,
        includeValues: true,
        includeMetadata: true,
      }),
    ],
    ['GET', '/vectors/fetch?ids=vec1&ids=vec2&namespace=example-namespace', undefined],
    ['GET', '/vectors/list?namespace=example-namespace&limit=1', undefined],
    ['POST', '/describe_index_stats', '{}'],
    ['GET', '/namespaces', undefined],
    [
      'POST',
      '/vectors/update',
      JSON.stringify({ id: 'vec1', setMetadata: { genre: 'comedy' }, namespace: 'example-namespace' }),
    ],
    ['POST', '/vectors/delete', JSON.stringify({ ids: ['vec2'], namespace: 'example-namespace' })],
    ['POST', '/query', '{"topK": 2, "vector": [1,2'],
    ['POST', '/query', JSON.stringify({ topK: 2, vector: [1, 2] })],
  ]
  let twoHundreds = 0
  for (const [method, path, body] of calls) {
    // Through the gateway first: the direct call then sees the same state, because both
    // reach the same index and every call but the last three is idempotent.
    const via = await request(`${gw.url}${path}`, { method: method as 'GET', headers: V2025, body })
    const viaBody = await via.body.text()
    const direct = await request(`${emu.indexHost('docs')}${path}`, { method: method as 'GET', headers: V2025, body })
    const directBody = await direct.body.text()
    t.equal(via.statusCode, direct.statusCode, `${method} ${path} status`)
    t.equal(viaBody, directBody, `${method} ${path} body`)
    t.equal(via.headers['content-type'], direct.headers['content-type'], `${method} ${path} content-type`)
    if (via.statusCode === 200) twoHundreds++
  }
  t.equal(twoHundreds, calls.length - 2, 'all but the two malformed calls succeeded')
})

t.test('a body over the gateway limit is refused with 413 before it reaches the upstream', async (t) => {
  const { emu, gw } = await setupConfirmed(t, { 'gateway.limits.maxBodyBytes': 64 * 1024 })
  const before = await stats(emu.url)
  const big = JSON.stringify({ vectors: [{ id: 'a', values: [1, 2, 3], metadata: { blob: 'x'.repeat(100_000) } }] })
  const res = await request(`${gw.url}/vectors/upsert`, { method: 'POST', headers: V2025, body: big })
  t.equal(res.statusCode, 413)
  t.match(await res.body.json(), { code: 8, message: /exceeds the gateway limit of 65536 bytes/, details: [] })

  const chunked = await request(`${gw.url}/vectors/upsert`, {
    method: 'POST',
    headers: V2025,
    body: Readable.from([Buffer.from(big.slice(0, 50_000)), Buffer.from(big.slice(50_000))]),
  })
  t.equal(chunked.statusCode, 413, 'also without a Content-Length')
  await chunked.body.dump()
  t.same(await stats(emu.url), before, 'the upstream saw neither request')

  const ok = await request(`${gw.url}/describe_index_stats`, { method: 'POST', headers: V2025, body: '{}' })
  t.equal(ok.statusCode, 200, 'the gateway keeps serving')
  await ok.body.dump()
})

t.test(
  'paths with dot segments are refused and not forwarded; other unknown paths are forwarded in passthrough',
  async (t) => {
    const { emu, gw } = await setup(t)
    await confirmKey(gw.url, KEY)
    const before = await stats(emu.url)
    // A raw client, so the dot segments reach the gateway as sent instead of being resolved
    // by URL parsing on the client side.
    const raw = new Client(gw.url)
    t.teardown(() => raw.close())
    for (const path of [
      '/../../etc/passwd',
      '/vectors/upsert/../../indexes',
      '/vectors/%2e%2e/query',
      '/namespaces/a%2F..%2F..%2Fx/documents/upsert',
    ]) {
      const res = await raw.request({ path, method: 'POST', headers: V2025, body: '{}' })
      t.equal(res.statusCode, 400, path)
      t.match(await res.body.json(), { code: 3, message: /"\." or "\.\." segments/, details: [] }, path)
    }
    t.same(await stats(emu.url), before, 'none reached the upstream')
    for (const path of ['/vectors/nope', '/data/docs/query']) {
      const res = await raw.request({ path, method: 'POST', headers: V2025, body: '{}' })
      t.equal(res.statusCode, 404, `${path}: the upstream's answer`)
      t.equal(res.headers['x-vecshift-error'], undefined, `${path}: not the gateway's own`)
      await res.body.dump()
    }
  },
)

t.test('the control-plane shim refuses to configure or delete the index under migration', async (t) => {
  const { emu, gw } = await setup(t)
  for (const method of ['DELETE', 'PATCH'] as const) {
    const res = await request(`${gw.url}/indexes/docs`, {
      method,
      headers: V2025,
      body: method === 'PATCH' ? '{"deletion_protection":"enabled"}' : undefined,
    })
    t.equal(res.statusCode, 403, method)
    t.match(await res.body.json(), {
      error: { code: 'FORBIDDEN', message: /not allowed through the vecshift gateway/ },
      status: 403,
    })
  }
  const still = await request(`${emu.url}/indexes/docs`, { headers: V2025 })
  t.equal(still.statusCode, 200, 'the index is still there')
  t.match(await still.body.json(), { name: 'docs', host: emu.indexHost('docs') })
  const viaShim = await request(`${gw.url}/indexes/docs`, { headers: V2025 })
  t.match(
    await viaShim.body.json(),
    { name: 'docs', host: gw.url, dimension: 3, metric: 'dotproduct' },
    '2025-04 shape, gateway host',
  )
  const collections = await request(`${gw.url}/collections`, { headers: V2025 })
  t.equal(collections.statusCode, 200, 'other control-plane reads are forwarded')
  t.match(await collections.body.json(), { collections: [] })
})

t.test('auth mode keys: clients present gateway keys, the upstream key never leaves the gateway', async (t) => {
  const { gw } = await setup(
    t,
    { 'gateway.auth.mode': 'keys' },
    {
      VECSHIFT_GATEWAY_API_KEYS: 'client-key-1,client-key-2',
      VECSHIFT_SOURCE_API_KEY: KEY,
    },
  )
  const body = JSON.stringify({ vector: [1, 1, 1], topK: 1 })
  for (const key of ['client-key-1', 'client-key-2']) {
    const ok = await request(`${gw.url}/query`, { method: 'POST', headers: { ...V2025, 'api-key': key }, body })
    t.equal(ok.statusCode, 200, `${key} accepted and replaced by the upstream key`)
    await ok.body.dump()
  }
  for (const key of [KEY, 'wrong', undefined]) {
    const headers: Record<string, string> = { ...V2025 }
    if (key === undefined) delete headers['api-key']
    else headers['api-key'] = key
    const res = await request(`${gw.url}/query`, { method: 'POST', headers, body })
    t.equal(res.statusCode, 401, `key ${key === KEY ? 'upstream' : String(key)} refused`)
    t.equal(await res.body.text(), 'Unauthorized', 'plain-text body, as Pinecone sends it')
  }
  const describe = await request(`${gw.url}/indexes/docs`, { headers: { ...V2025, 'api-key': 'client-key-1' } })
  t.equal(describe.statusCode, 200, 'the control-plane shim uses the upstream key too')
  await describe.body.dump()
  t.notMatch(gw.logText(), KEY, 'the upstream key is not in the logs')
  t.notMatch(gw.logText(), 'client-key-1', 'client keys are not in the logs')
})

t.test('concurrent requests over the limit get 429, the rest are served', async (t) => {
  const { emu, gw } = await setup(t, { 'gateway.limits.maxConcurrentRequests': 2 })
  emu.faults.add({ op: 'query', latencyMs: 1500, times: 2 })
  const body = JSON.stringify({ vector: [1, 1, 1], topK: 1 })
  const send = async () => {
    const res = await request(`${gw.url}/query`, { method: 'POST', headers: V2025, body })
    const text = await res.body.text()
    return { status: res.statusCode, text }
  }
  const slow = [send(), send()]
  for (const p of slow) p.catch(() => undefined) // awaited below; a failure is seen there
  // The two slow ones are in flight (held at the source) before the others arrive.
  await until(() => emu.stats().faulted.query === 2, { timeoutMs: 10_000, what: 'two queries held at the source' })
  const over = await Promise.all([send(), send(), send()])
  const results = [...(await Promise.all(slow)), ...over]
  t.same(results.map((r) => r.status).sort(), [200, 200, 429, 429, 429])
  t.match(JSON.parse((results.find((r) => r.status === 429) as { text: string }).text), {
    code: 8,
    message: /limit of 2 concurrent requests/,
  })
})

t.test('oversized headers are refused with 431', async (t) => {
  const { gw } = await setup(t, { 'gateway.limits.maxHeaderBytes': 4096 })
  const res = await request(`${gw.url}/describe_index_stats`, {
    method: 'POST',
    headers: { ...V2025, 'x-pad': 'p'.repeat(8000) },
    body: '{}',
  })
  t.equal(res.statusCode, 431)
  await res.body.dump()
})

t.test('admin port: health, readiness, metrics open; status behind the bearer token', async (t) => {
  const { gw } = await setup(t, {}, { VECSHIFT_ADMIN_TOKEN: 'admin-token-xyz' })
  const q = await request(`${gw.url}/query`, {
    method: 'POST',
    headers: V2025,
    body: JSON.stringify({ vector: [1, 1, 1], topK: 1 }),
  })
  await q.body.dump()
  const health = await request(`${gw.adminUrl}/healthz`)
  t.equal(health.statusCode, 200)
  await health.body.dump()
  const ready = await request(`${gw.adminUrl}/readyz`)
  t.equal(ready.statusCode, 200)
  t.match(await ready.body.json(), { ready: true })
  const metrics = await request(`${gw.adminUrl}/metrics`)
  const text = await metrics.body.text()
  t.equal(
    sample(text, 'vecshift_gateway_requests_total', { op: 'query', method: 'POST', status: '200', migration: 'test' }),
    1,
  )
  t.equal(
    sample(text, 'vecshift_upstream_request_duration_seconds_count', {
      upstream: 'source',
      op: 'query',
      migration: 'test',
    }),
    1,
  )
  const denied = await request(`${gw.adminUrl}/admin/status`)
  t.equal(denied.statusCode, 401)
  t.match(await denied.body.json(), { error: { message: /Bearer/ } })
  const wrong = await request(`${gw.adminUrl}/admin/status`, { headers: { authorization: 'Bearer nope' } })
  t.equal(wrong.statusCode, 401)
  await wrong.body.dump()
  const status = await request(`${gw.adminUrl}/admin/status`, { headers: { authorization: 'Bearer admin-token-xyz' } })
  t.equal(status.statusCode, 200)
  t.match(await status.body.json(), { migration: 'test', phase: 'passthrough', source: { index: 'docs' } })
})
