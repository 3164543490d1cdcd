import { mkdtempSync } from 'node:fs'
import { createServer as createHttpServer, type ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { openFileLog } from '../../src/writelog/file/file-log.js'
import { closedPort } from '../helpers/closed-port.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { startTestGateway } from '../helpers/gateway.js'
import type { TestContext } from '../helpers/tap.js'
import { until } from '../helpers/until.js'

// docs/architecture.md invariant 7, "nothing before the key": in auth mode passthrough the gateway
// holds no keys, so it confirms each key once with the source before it parses, validates,
// logs or forwards anything of a request. A missing, wrong or revoked key gets Pinecone's
// 401 and leaves the log empty; a source that cannot be asked means 503, not "let in".

const KEY = 'the-real-key'
const JSON_HEADERS = { 'content-type': 'application/json', 'x-pinecone-api-version': '2025-10' }

async function setup(t: TestContext, config: Record<string, unknown> = {}) {
  const emu = await startTestEmulator(t, { apiKey: KEY, indexes: [{ name: 'auth', dimension: 3, metric: 'cosine' }] })
  const log = await openFileLog({ dir: mkdtempSync(join(tmpdir(), 'vecshift-auth-')) })
  t.teardown(() => log.close())
  const gw = await startTestGateway(t, {
    index: 'auth',
    host: emu.indexHost('auth'),
    controllerHost: emu.url,
    writeLog: log,
    config: { 'migration.phase': 'capture', ...config },
    env: { VECSHIFT_SOURCE_API_KEY: KEY },
  })
  return { emu, log, gw }
}

async function send(url: string, path: string, key: string | undefined, body: unknown) {
  const res = await request(`${url}${path}`, {
    method: 'POST',
    headers: { ...JSON_HEADERS, ...(key === undefined ? {} : { 'api-key': key }) },
    body: JSON.stringify(body),
  })
  return { status: res.statusCode, text: await res.body.text(), vecshift: res.headers['x-vecshift-error'] }
}

async function metric(adminUrl: string, name: string, labels = ''): Promise<number> {
  const res = await request(`${adminUrl}/metrics`)
  const text = await res.body.text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
}

// A body that is wrong for the index (2 values, the index has 3): answered 400 for a good key,
// so a 401 for it proves nothing of the body was looked at.
const WRONG_SHAPE = { vectors: [{ id: 'a', values: [1, 2] }] }

t.test(
  'a missing key gets 401 before the body is looked at; nothing is logged, nothing reaches the source',
  async (t) => {
    const { emu, log, gw } = await setup(t)
    const before = emu.stats().ops
    for (const path of ['/vectors/upsert', '/query', '/vectors/delete', '/namespaces/x/documents/upsert']) {
      const r = await send(gw.url, path, undefined, WRONG_SHAPE)
      t.same([r.status, r.text, r.vecshift], [401, 'Unauthorized', 'VECSHIFT_ERR_UNAUTHORIZED'], path)
    }
    t.equal((await send(gw.url, '/vectors/upsert', '', WRONG_SHAPE)).status, 401, 'an empty key too')
    t.equal((await log.stats()).records, 0, 'the log is empty')
    t.same(emu.stats().ops, before, 'the source saw nothing, not even a key check')
    t.equal(await metric(gw.adminUrl, 'vecshift_gateway_key_checks_total'), 0, 'no key check was made')
  },
)

t.test('a wrong key is confirmed once with the source, refused with 401, and leaves no trace in the log', async (t) => {
  const { emu, log, gw } = await setup(t)
  const before = emu.stats().ops
  for (let i = 0; i < 5; i++) {
    const r = await send(gw.url, '/vectors/upsert', 'not-the-key', WRONG_SHAPE)
    t.same([r.status, r.text], [401, 'Unauthorized'], "no dimension error leaks the index's shape")
  }
  const valid = await send(gw.url, '/vectors/upsert', 'not-the-key', { vectors: [{ id: 'a', values: [1, 2, 3] }] })
  t.equal(valid.status, 401, 'a valid body fares no better')
  t.equal((await log.stats()).records, 0, 'no intent, no failed/401 outcome')
  t.same(emu.stats().ops, before, "nothing passed the source's own key check")
  t.equal(
    await metric(gw.adminUrl, 'vecshift_gateway_key_checks_total', 'result="refused"'),
    1,
    'one key check for six requests: the refusal is cached',
  )

  const good = await send(gw.url, '/vectors/upsert', KEY, WRONG_SHAPE)
  t.equal(good.status, 400, 'the right key gets the validation answer')
  t.match(good.text, /dimension/)
  t.equal((await send(gw.url, '/vectors/upsert', KEY, { vectors: [{ id: 'a', values: [1, 2, 3] }] })).status, 200)
  t.equal((await log.stats()).records, 2, 'the good write: intent and outcome')
  t.equal(
    emu.stats().ops.describe_index_stats,
    (before.describe_index_stats ?? 0) + 1,
    'the good key was confirmed once, for both requests',
  )
  t.equal(await metric(gw.adminUrl, 'vecshift_gateway_key_checks_total', 'result="confirmed"'), 1)
})

t.test(
  'a revoked key is refused: at once after the source refuses one of its requests, else within cacheTtlMs',
  async (t) => {
    const { emu, log, gw } = await setup(t)
    t.equal((await send(gw.url, '/vectors/upsert', KEY, { vectors: [{ id: 'a', values: [1, 2, 3] }] })).status, 200)
    const logged = (await log.stats()).records
    emu.setApiKey('rotated-key')
    // A read is forwarded with the cached key; the source's 401 reaches the client and drops
    // the gateway's verdict.
    const read = await send(gw.url, '/query', KEY, { topK: 1, vector: [1, 2, 3] })
    t.same([read.status, read.vecshift], [401, undefined], "the source's own 401")
    const write = await send(gw.url, '/vectors/upsert', KEY, { vectors: [{ id: 'b', values: [1, 2, 3] }] })
    t.same(
      [write.status, write.vecshift],
      [401, 'VECSHIFT_ERR_UNAUTHORIZED'],
      'the next write is refused by the gateway itself',
    )
    t.equal((await log.stats()).records, logged, 'and not logged')
    t.equal(
      (await send(gw.url, '/vectors/upsert', 'rotated-key', { vectors: [{ id: 'c', values: [1, 2, 3] }] })).status,
      200,
      'the new key works',
    )
  },
)

t.test('a source that cannot confirm a key means 503, never "let in"', async (t) => {
  const emu = await startTestEmulator(t, { apiKey: KEY, indexes: [{ name: 'auth', dimension: 3, metric: 'cosine' }] })
  // A data-plane host where nothing listens: the key cannot be confirmed.
  const closed = await closedPort()
  const gw = await startTestGateway(t, { index: 'auth', host: `http://127.0.0.1:${closed}`, controllerHost: emu.url })
  const r = await send(gw.url, '/query', KEY, { topK: 1, vector: [1, 2, 3] })
  t.same([r.status, r.vecshift], [503, 'VECSHIFT_ERR_UPSTREAM_UNAVAILABLE'], "no answer: the upstream's own error")
  t.match(JSON.parse(r.text), { code: 14, message: /upstream source is unavailable \(ECONNREFUSED\)/ })
  t.equal(await metric(gw.adminUrl, 'vecshift_gateway_key_checks_total', 'result="unavailable"'), 1)

  // An answer that says nothing of the key: 5xx, 429, or the index gone (404).
  const { emu: emu2, gw: gw2 } = await setup(t)
  for (const status of [500, 429, 404]) {
    emu2.faults.add({ op: 'describe_index_stats', status, times: 1 })
    const a = await send(gw2.url, '/query', KEY, { topK: 1, vector: [1, 2, 3] })
    t.same([a.status, a.vecshift], [503, 'VECSHIFT_ERR_AUTH_UNAVAILABLE'], `the source answered ${status}`)
    t.match(JSON.parse(a.text), {
      code: 14,
      message: new RegExp(`could not be confirmed with the source index \\(it answered ${status}\\)`),
    })
  }
  t.equal(emu.stats().ops.query, undefined, 'no query was forwarded')
  t.equal(emu2.stats().ops.query, undefined, 'no query was forwarded')
})

t.test('a flood of distinct bad keys keeps the verdict cache within maxCachedKeys', async (t) => {
  const { log, gw } = await setup(t, { 'gateway.auth.maxCachedKeys': 64 })
  const FLOOD = 1_000
  let refused = 0
  for (let i = 0; i < FLOOD; i += 50) {
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, j) => send(gw.url, '/vectors/upsert', `bad-key-${i + j}`, WRONG_SHAPE)),
    )
    refused += answers.filter((a) => a.status === 401).length
  }
  t.equal(refused, FLOOD, 'every one refused')
  t.equal(
    await metric(gw.adminUrl, 'vecshift_gateway_key_cache_entries'),
    64,
    'at most maxCachedKeys verdicts are kept',
  )
  t.equal((await log.stats()).records, 0, 'the log is empty')
  t.notMatch(gw.logText(), 'bad-key-', 'no key appears in the logs')
})

t.test('keys being confirmed at once are bounded: past maxConcurrentChecks, 503 and nothing forwarded', async (t) => {
  const emu = await startTestEmulator(t, { apiKey: KEY, indexes: [{ name: 'auth', dimension: 3, metric: 'cosine' }] })
  // A source that holds every request until released, so that key checks stay in flight.
  const held: Array<ServerResponse> = []
  const source = createHttpServer((_req, res) => {
    held.push(res)
  })
  await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise((resolve) => {
        source.closeAllConnections()
        source.close(resolve)
      }),
  )
  const gw = await startTestGateway(t, {
    index: 'auth',
    host: `http://127.0.0.1:${(source.address() as { port: number }).port}`,
    controllerHost: emu.url,
    config: { 'gateway.auth.maxConcurrentChecks': 2 },
  })
  const early: number[] = []
  const answers = [0, 1, 2, 3].map((i) =>
    send(gw.url, '/query', `slow-key-${i}`, { topK: 1, vector: [1, 2, 3] }).then((a) => {
      early.push(a.status)
      return a
    }),
  )
  await until(() => held.length === 2 && early.length === 2, {
    timeoutMs: 10_000,
    what: 'two key checks at the source and two answers',
  })
  t.same(early, [503, 503], 'the requests that found no room were answered while the checks were in flight')
  for (const res of held) res.writeHead(401, { 'content-type': 'text/plain' }).end('Unauthorized')
  const all = await Promise.all(answers)
  t.same(all.map((a) => a.status).sort(), [401, 401, 503, 503], 'two checks ran (refused), two found no room')
  t.same(
    all.filter((a) => a.status === 503).map((a) => a.vecshift),
    ['VECSHIFT_ERR_AUTH_UNAVAILABLE', 'VECSHIFT_ERR_AUTH_UNAVAILABLE'],
  )
  t.equal(held.length, 2, 'only two requests reached the source')
})
