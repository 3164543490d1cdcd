import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { request } from 'undici'
import { replay } from '../../src/replay/replayer.js'
import { PgvectorStore } from '../../src/stores/pgvector/store.js'
import { PineconeStore } from '../../src/stores/pinecone/store.js'
import { openFileLog, type FileWriteLog } from '../../src/writelog/file/file-log.js'
import type { LogRecord } from '../../src/writelog/record.js'
import { closedPort } from '../helpers/closed-port.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { confirmKey, startTestGateway } from '../helpers/gateway.js'
import { startTestPostgres } from '../helpers/pglite.js'
import type { TestContext } from '../helpers/tap.js'

// What a working app sends must keep working when it points at the gateway: routes the
// gateway does not model (the 2026-07 Documents API, namespace aliases) are forwarded, and
// refused fail-closed only while writes are captured; creating a namespace is captured and
// replayed; curl's `Expect: 100-continue`; a fetch of 1,000 UUIDs.

const KEY = 'routes-key'
const V = { 'api-key': KEY, 'content-type': 'application/json', 'x-pinecone-api-version': '2026-07' }
const exec = promisify(execFile)

async function setup(t: TestContext, phase: 'passthrough' | 'capture') {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [
      { name: 'rt', dimension: 3, metric: 'cosine' },
      { name: 'rt-target', dimension: 3, metric: 'cosine' },
    ],
  })
  const log = await openFileLog({ dir: mkdtempSync(join(tmpdir(), 'vecshift-routes-')) })
  t.teardown(() => log.close())
  const gw = await startTestGateway(t, {
    index: 'rt',
    host: emu.indexHost('rt'),
    controllerHost: emu.url,
    writeLog: log,
    config: { 'migration.phase': phase },
    env: { VECSHIFT_SOURCE_API_KEY: KEY },
  })
  await confirmKey(gw.url, KEY)
  return { emu, log, gw }
}

async function call(url: string, method: string, body?: unknown) {
  const res = await request(url, {
    method: method as 'GET',
    headers: V,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.body.text()
  return { status: res.statusCode, text, vecshift: res.headers['x-vecshift-error'] }
}

async function records(log: FileWriteLog): Promise<LogRecord[]> {
  const out: LogRecord[] = []
  for await (const { record } of log.read()) out.push(record)
  return out
}

const UNMODELLED_WRITES: Array<[string, string, unknown]> = [
  ['POST', '/namespaces/docs/documents/upsert', { documents: [{ _id: 'd1', text: 'hello' }] }],
  ['POST', '/namespaces/docs/documents/update', { _id: 'd1', text: 'bye' }],
  ['POST', '/namespaces/docs/documents/delete', { ids: ['d1'] }],
  ['POST', '/namespace-aliases', { name: 'latest', namespace: 'docs' }],
  ['PATCH', '/namespace-aliases/latest', { namespace: 'docs-2' }],
  ['DELETE', '/namespace-aliases/latest', undefined],
]
const UNMODELLED_READS: Array<[string, string, unknown]> = [
  ['POST', '/namespaces/docs/documents/search', { query: { text: 'hello' }, topK: 3 }],
  ['POST', '/namespaces/docs/documents/fetch', { ids: ['d1'] }],
  ['POST', '/namespaces/docs/documents/list', {}],
  ['GET', '/namespace-aliases', undefined],
  ['GET', '/namespace-aliases/latest', undefined],
]

t.test('passthrough: every route the gateway does not model is forwarded as sent', async (t) => {
  const { emu, gw } = await setup(t, 'passthrough')
  for (const [method, path, body] of [...UNMODELLED_WRITES, ...UNMODELLED_READS]) {
    const via = await call(`${gw.url}${path}`, method, body)
    const direct = await call(`${emu.indexHost('rt')}${path}`, method, body)
    // The emulator does not serve these routes: its own 404 proves the request reached it.
    t.same([via.status, via.vecshift], [direct.status, undefined], `${method} ${path}: the source's answer`)
    t.equal(via.text, direct.text, `${method} ${path}: its body`)
  }
})

t.test('capture: unmodelled reads are forwarded, unmodelled writes refused fail-closed, nothing logged', async (t) => {
  const { emu, log, gw } = await setup(t, 'capture')
  for (const [method, path, body] of UNMODELLED_READS) {
    const via = await call(`${gw.url}${path}`, method, body)
    t.same([via.status, via.vecshift], [404, undefined], `${method} ${path} is forwarded`)
  }
  const before = emu.stats()
  for (const [method, path, body] of UNMODELLED_WRITES) {
    const via = await call(`${gw.url}${path}`, method, body)
    t.same([via.status, via.vecshift], [400, 'VECSHIFT_ERR_ROUTE_UNMODELLED'], `${method} ${path} is refused`)
    t.match(JSON.parse(via.text), {
      code: 9,
      message: new RegExp(
        `${method} ${path.replace(/[/-]/g, '\\$&')} is a write this vecshift version does not model.*not forwarded`,
      ),
    })
  }
  t.same(emu.stats(), before, 'none reached the source')
  t.equal((await log.stats()).records, 0, 'none was logged')
})

t.test('creating a namespace is captured and replayed: a Pinecone target and a pgvector target get it', async (t) => {
  const { emu, log, gw } = await setup(t, 'capture')
  const schema = { fields: { genre: { filterable: true } } }
  const created = await call(`${gw.url}/namespaces`, 'POST', { name: 'tenant-7', schema })
  t.equal(created.status, 200, created.text)
  const again = await call(`${gw.url}/namespaces`, 'POST', { name: 'tenant-7' })
  t.equal(again.status, 409, 'a second create is refused by the source')
  const bad = await call(`${gw.url}/namespaces`, 'POST', { name: '__default__' })
  t.equal(bad.status, 400, 'a create Pinecone would refuse is refused before it is logged')
  // A second namespace, created and deleted: the delete takes the namespace, not just its records.
  t.equal((await call(`${gw.url}/namespaces`, 'POST', { name: 'tenant-8' })).status, 200)
  t.equal((await call(`${gw.url}/namespaces/tenant-8`, 'DELETE')).status, 200)
  const logged = await records(log)
  t.match(
    logged.map((r) => [r.op, r.namespace, r.op === 'outcome' ? r.outcome : undefined]),
    [
      ['create_namespace', 'tenant-7', undefined],
      ['outcome', 'tenant-7', 'ok'],
      ['create_namespace', 'tenant-7', undefined],
      ['outcome', 'tenant-7', 'failed'],
      ['create_namespace', 'tenant-8', undefined],
      ['outcome', 'tenant-8', 'ok'],
      ['delete', 'tenant-8', undefined],
      ['outcome', 'tenant-8', 'ok'],
    ],
  )
  t.match(logged[6], { op: 'delete', deleteAll: true, deleteNamespace: true })
  t.same((logged[0] as { schema?: unknown }).schema, schema)

  const source = new PineconeStore({
    role: 'source',
    index: 'rt',
    host: emu.indexHost('rt'),
    controllerHost: emu.url,
    apiKey: KEY,
  })
  const target = new PineconeStore({
    role: 'target',
    index: 'rt-target',
    host: emu.indexHost('rt-target'),
    controllerHost: emu.url,
    apiKey: KEY,
  })
  t.teardown(() => Promise.all([source.close(), target.close()]))
  for (const to of [target, target]) {
    // Twice: a replay after a crash applies it again, and that is fine.
    await replay({
      log,
      source,
      target: to,
      consumer: `pc-${Math.random()}`,
      follow: false,
      dryRun: false,
      batchSize: 10,
      lingerMs: 0,
      outcomeWaitMs: 60_000,
      concurrency: 1,
    })
  }
  const described = await call(`${emu.indexHost('rt-target')}/namespaces/tenant-7`, 'GET')
  t.same(
    [described.status, JSON.parse(described.text)],
    [200, { name: 'tenant-7', record_count: '0', schema }],
    'the Pinecone target has it, with its schema',
  )
  t.equal(
    (await call(`${emu.indexHost('rt-target')}/namespaces/tenant-8`, 'GET')).status,
    404,
    'and not the deleted one',
  )

  const pg = await startTestPostgres(t)
  const pgTarget = new PgvectorStore({ role: 'target', table: 'ns_create', pool: pg.poolConfig(), search: 'exact' })
  t.teardown(() => pgTarget.close())
  await pgTarget.createSchema({ dimension: 3, metric: 'cosine' })
  await replay({
    log,
    source,
    target: pgTarget,
    consumer: 'pg',
    follow: false,
    dryRun: false,
    batchSize: 10,
    lingerMs: 0,
    outcomeWaitMs: 60_000,
    concurrency: 1,
  })
  t.same(
    await pgTarget.stats(),
    [{ namespace: 'tenant-7', vectorCount: 0 }],
    'the pgvector target lists it, empty, and not the deleted one',
  )
})

t.test(
  'Expect: 100-continue (curl, bodies over 1 MiB): a 1.99 MB upsert succeeds through passthrough and capture, logged ok',
  async (t) => {
    for (const phase of ['passthrough', 'capture'] as const) {
      const { log, gw } = await setup(t, phase)
      const vectors = []
      let size = 0
      for (let i = 0; size < 1.95 * 1024 * 1024; i++) {
        const v = { id: `big-${i}`, values: [0.123456789, 0.987654321, 0.5], metadata: { text: 'x'.repeat(2000) } }
        size += JSON.stringify(v).length + 1
        vectors.push(v)
      }
      const body = JSON.stringify({ vectors: vectors.slice(0, 1000), namespace: 'big' })
      t.ok(body.length > 1024 * 1024 && body.length < 2 * 1024 * 1024, `${phase}: a ${body.length}-byte body`)
      const file = join(mkdtempSync(join(tmpdir(), 'vecshift-expect-')), 'body.json')
      writeFileSync(file, body)
      const { stdout, stderr } = await exec('curl', [
        '-sS',
        '-v',
        '-o',
        '-',
        '-w',
        '\n%{http_code}',
        '-X',
        'POST',
        `${gw.url}/vectors/upsert`,
        '-H',
        `Api-Key: ${KEY}`,
        '-H',
        'Content-Type: application/json',
        '-H',
        'X-Pinecone-Api-Version: 2025-10',
        '--data-binary',
        `@${file}`,
      ])
      t.match(stderr, /Expect: 100-continue/i, `${phase}: curl sent the expectation`)
      const [answer, code] = stdout.trim().split('\n')
      t.equal(code, '200', `${phase}: ${answer}`)
      t.same(JSON.parse(answer as string), { upsertedCount: Math.min(1000, vectors.length) })
      const logged = await records(log)
      if (phase === 'capture')
        t.match(
          logged.map((r) => (r.op === 'outcome' ? r.outcome : r.op)),
          ['upsert', 'ok'],
          'capture: logged, outcome ok',
        )
      else t.equal(logged.length, 0, 'passthrough logs nothing')
    }
  },
)

t.test('a write the gateway could not send at all is logged "unsent", not "unknown"', async (t) => {
  const emu = await startTestEmulator(t, { apiKey: KEY, indexes: [{ name: 'rt', dimension: 3, metric: 'cosine' }] })
  const closed = await closedPort()
  const log = await openFileLog({ dir: mkdtempSync(join(tmpdir(), 'vecshift-unsent-')) })
  t.teardown(() => log.close())
  // Auth mode keys: the gateway knows the client's key itself, so the write reaches the
  // capture path with its data plane unreachable.
  const gw = await startTestGateway(t, {
    index: 'rt',
    host: `http://127.0.0.1:${closed}`,
    controllerHost: emu.url,
    writeLog: log,
    config: { 'migration.phase': 'capture', 'gateway.auth.mode': 'keys' },
    env: { VECSHIFT_SOURCE_API_KEY: KEY, VECSHIFT_GATEWAY_API_KEYS: 'client-key' },
  })
  const res = await request(`${gw.url}/vectors/upsert`, {
    method: 'POST',
    headers: { ...V, 'api-key': 'client-key' },
    body: JSON.stringify({ vectors: [{ id: 'a', values: [1, 2, 3] }] }),
  })
  t.equal(res.statusCode, 503)
  await res.body.dump()
  const logged = await records(log)
  t.match(
    logged.map((r) => (r.op === 'outcome' ? [r.op, r.outcome, r.status] : [r.op])),
    [['upsert'], ['outcome', 'unsent', 0]],
  )
})

t.test('a fetch of 1,000 UUID ids works through the gateway with the SDK', async (t) => {
  const { gw } = await setup(t, 'passthrough')
  const index = new Pinecone({ apiKey: KEY, controllerHostUrl: gw.url }).index({ name: 'rt' }).namespace('uuids')
  const ids = Array.from({ length: 1000 }, (_, i) => `3f2c8a1e-5b7d-4c9e-a0f1-${String(i).padStart(12, '0')}`)
  for (let i = 0; i < ids.length; i += 250)
    await index.upsert({ records: ids.slice(i, i + 250).map((id, j) => ({ id, values: [1, j + 1, 2] })) })
  const fetched = await index.fetch({ ids })
  t.equal(Object.keys(fetched.records).length, 1000)
  t.equal(fetched.records[ids[999] as string]?.id, ids[999])
})
