import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { startEmulator } from '../../src/emulator/server.js'
import { until } from '../helpers/until.js'

// --data-dir: indexes, collections and records survive a restart; files are written
// atomically with mode 0600 and deleted indexes leave no file behind.

const H = { 'content-type': 'application/json', 'x-pinecone-api-version': '2025-04' }

async function call(url: string, method: string, body?: unknown) {
  const res = await request(url, {
    method: method as 'GET',
    headers: H,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.body.text()
  return { status: res.statusCode, json: text === '' ? undefined : (JSON.parse(text) as unknown) }
}

t.test('indexes, collections and records survive a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vecshift-emu-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))

  const first = await startEmulator({ dataDir: dir })
  await call(`${first.url}/indexes`, 'POST', {
    name: 'dense',
    dimension: 3,
    metric: 'euclidean',
    deletion_protection: 'enabled',
    tags: { a: 'b' },
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  await call(`${first.url}/indexes`, 'POST', {
    name: 'pod',
    dimension: 2,
    metric: 'cosine',
    spec: { pod: { environment: 'us-east-1-aws', pod_type: 'p1.x1' } },
  })
  await call(`${first.url}/indexes`, 'POST', {
    name: 'kw',
    vector_type: 'sparse',
    metric: 'dotproduct',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  await call(`${first.url}/indexes`, 'POST', {
    name: 'doomed',
    dimension: 2,
    metric: 'cosine',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  await call(`${first.indexHost('dense')}/vectors/upsert`, 'POST', {
    vectors: [
      { id: 'a', values: [0.5, 0.4, 0.123456789], metadata: { genre: 'drama', tags: ['x'], n: 1.5, ok: false } },
      { id: 'b', values: [1, 2, 3] },
    ],
    namespace: 'ns',
  })
  await call(`${first.indexHost('dense')}/vectors/upsert`, 'POST', { vectors: [{ id: 'c', values: [3, 2, 1] }] })
  await call(`${first.indexHost('dense')}/namespaces`, 'POST', { name: 'empty-but-created' })
  await call(`${first.indexHost('pod')}/vectors/upsert`, 'POST', { vectors: [{ id: 'p', values: [1, 1] }] })
  await call(`${first.indexHost('kw')}/vectors/upsert`, 'POST', {
    vectors: [{ id: 's', sparseValues: { indices: [7, 2], values: [0.5, 0.25] }, metadata: { k: 'v' } }],
  })
  await call(`${first.url}/collections`, 'POST', { name: 'snap', source: 'pod' })
  await call(`${first.url}/indexes/doomed`, 'DELETE')
  const before = {
    dense: await call(`${first.indexHost('dense')}/vectors/fetch?ids=a&ids=b&namespace=ns`, 'GET'),
    stats: await call(`${first.indexHost('dense')}/describe_index_stats`, 'POST', {}),
    kw: await call(`${first.indexHost('kw')}/vectors/fetch?ids=s`, 'GET'),
    indexes: await call(`${first.url}/indexes`, 'GET'),
    collections: await call(`${first.url}/collections`, 'GET'),
  }
  await first.close()
  await first.close() // idempotent

  const files = (await readdir(dir)).sort()
  t.same(
    files,
    ['catalog.json', 'collection-snap.vsnap', 'index-dense.vsnap', 'index-kw.vsnap', 'index-pod.vsnap'],
    'no temporary files, no file for the deleted index',
  )
  for (const f of files) t.equal((await stat(join(dir, f))).mode & 0o777, 0o600, `${f} is 0600`)

  const second = await startEmulator({ dataDir: dir })
  t.teardown(() => second.close())
  t.same(
    await call(`${second.indexHost('dense')}/vectors/fetch?ids=a&ids=b&namespace=ns`, 'GET'),
    before.dense,
    'records, float32 values and metadata',
  )
  t.same(
    await call(`${second.indexHost('dense')}/describe_index_stats`, 'POST', {}),
    before.stats,
    'namespaces, including an explicitly created empty one',
  )
  t.same(await call(`${second.indexHost('kw')}/vectors/fetch?ids=s`, 'GET'), before.kw, 'sparse values')
  const indexes = await call(`${second.url}/indexes`, 'GET')
  const hostless = (j: unknown) =>
    JSON.parse(JSON.stringify(j).replaceAll(first.url, 'URL').replaceAll(second.url, 'URL')) as unknown
  t.same(
    hostless(indexes.json),
    hostless(before.indexes.json),
    'index configurations (deletion protection, tags, pod spec)',
  )
  t.same(await call(`${second.url}/collections`, 'GET'), before.collections)
  const q = await call(`${second.indexHost('dense')}/query`, 'POST', { vector: [1, 2, 3], topK: 1, namespace: 'ns' })
  t.match(q.json, { matches: [{ id: 'b', score: 0 }] }, 'queries work on loaded data (norms recomputed)')

  // An index restored from the persisted collection carries its records.
  const restored = await call(`${second.url}/indexes`, 'POST', {
    name: 'restored',
    dimension: 2,
    metric: 'cosine',
    spec: { pod: { environment: 'us-east-1-aws', pod_type: 'p1.x1', source_collection: 'snap' } },
  })
  t.equal(restored.status, 201)
  t.match(await call(`${second.indexHost('restored')}/vectors/fetch?ids=p`, 'GET'), {
    json: { vectors: { p: { values: [1, 1] } } },
  })
})

t.test('a snapshot is written while running, not only on close', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vecshift-emu-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const emu = await startEmulator({ dataDir: dir })
  t.teardown(() => emu.close())
  await call(`${emu.url}/indexes`, 'POST', {
    name: 'live',
    dimension: 2,
    metric: 'cosine',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  await call(`${emu.indexHost('live')}/vectors/upsert`, 'POST', { vectors: [{ id: 'x', values: [1, 2] }] })
  await until(async () => (await readdir(dir)).includes('index-live.vsnap'), {
    timeoutMs: 5000,
    intervalMs: 50,
    what: 'the snapshot index-live.vsnap, written while the emulator runs',
  })
  t.ok((await readdir(dir)).includes('index-live.vsnap'), 'written within the debounce window')
})
