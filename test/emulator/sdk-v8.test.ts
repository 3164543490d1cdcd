import t from 'tap'
import { Pinecone as PineconeV8 } from 'pinecone-v8'
import { request } from 'undici'
import { startTestEmulator } from '../helpers/emulator.js'
import { until } from '../helpers/until.js'

// SDK v8 speaks API 2026-04: indexes are created and described with `spec`, pod indexes can
// still be created, and an index can be created from a collection.

const KEY = 'v8-key'

t.test('SDK v8 creates and describes serverless, sparse and pod indexes in the spec shape', async (t) => {
  const emu = await startTestEmulator(t, { apiKey: KEY })
  const pc = new PineconeV8({ apiKey: KEY, controllerHostUrl: emu.url })
  const dense = await pc.createIndex({
    name: 'dense',
    dimension: 4,
    metric: 'dotproduct',
    spec: { serverless: { cloud: 'gcp', region: 'us-central1' } },
    deletionProtection: 'enabled',
    tags: { env: 'test' },
  })
  t.match(dense, {
    name: 'dense',
    dimension: 4,
    metric: 'dotproduct',
    host: emu.indexHost('dense'),
    deletionProtection: 'enabled',
    tags: { env: 'test' },
    vectorType: 'dense',
    status: { ready: true, state: 'Ready' },
    spec: { serverless: { cloud: 'gcp', region: 'us-central1', readCapacity: { mode: 'OnDemand' } } },
  })
  const sparse = await pc.createIndex({
    name: 'kw',
    vectorType: 'sparse',
    metric: 'dotproduct',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  t.match(sparse, { name: 'kw', vectorType: 'sparse', metric: 'dotproduct' })
  t.notOk(sparse && 'dimension' in sparse && sparse.dimension !== undefined, 'sparse indexes have no dimension')
  const pod = await pc.createIndex({
    name: 'pod',
    dimension: 4,
    metric: 'cosine',
    spec: { pod: { environment: 'us-east-1-aws', podType: 'p1.x2', replicas: 2 } },
  })
  t.match(pod, {
    name: 'pod',
    spec: { pod: { environment: 'us-east-1-aws', podType: 'p1.x2', replicas: 2, shards: 1, pods: 2 } },
  })

  const described = await pc.describeIndex('pod')
  t.equal(described.host, emu.indexHost('pod'))
  t.notOk(described.privateHost, 'no private host: the SDK would prefer it')
  const scaled = await pc.configureIndex({ name: 'pod', podReplicas: 3 })
  t.match(scaled.spec, { pod: { replicas: 3, pods: 3 } })
  const listed = await pc.listIndexes()
  t.same(listed.indexes?.map((i) => i.name).sort(), ['dense', 'kw', 'pod'])
})

t.test('SDK v8 creates an index from a collection of a pod index', async (t) => {
  const emu = await startTestEmulator(t, { apiKey: KEY, restoreDelayMs: 100 })
  const pc = new PineconeV8({ apiKey: KEY, controllerHostUrl: emu.url })
  await pc.createIndex({
    name: 'source',
    dimension: 2,
    metric: 'cosine',
    spec: { pod: { environment: 'us-east-1-aws', podType: 'p1.x1' } },
  })
  const source = pc.index({ host: emu.indexHost('source') })
  await source.namespace('a').upsert({
    records: [
      { id: '1', values: [0.5, 0.4], metadata: { k: 'v' } },
      { id: '2', values: [0.1, 0.2] },
    ],
  })
  await source.namespace('b').upsert({ records: [{ id: '3', values: [0.3, 0.3] }] })
  const collection = await pc.createCollection({ name: 'snap', source: 'source' })
  t.match(collection, { name: 'snap', dimension: 2, vectorCount: 3 })
  // Writes after the snapshot do not reach the collection.
  await source.namespace('a').upsert({ records: [{ id: 'late', values: [1, 1] }] })

  const restored = await pc.createIndex({
    name: 'restored',
    dimension: 2,
    metric: 'cosine',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1', sourceCollection: 'snap' } },
  })
  t.match(restored, {
    name: 'restored',
    spec: { serverless: { sourceCollection: 'snap' } },
    status: { ready: false, state: 'Initializing' },
  })
  await until(async () => (await pc.describeIndex('restored')).status?.ready === true, {
    timeoutMs: 10_000,
    what: 'the index restored from the collection to be ready',
  })
  t.match(await pc.describeIndex('restored'), { status: { ready: true, state: 'Ready' } })
  const index = pc.index({ host: emu.indexHost('restored') })
  const stats = await index.describeIndexStats()
  t.same(stats.namespaces, { a: { recordCount: 2 }, b: { recordCount: 1 } })
  const fetched = await index.namespace('a').fetch({ ids: ['1'] })
  t.same(fetched.records['1'], { id: '1', values: [0.5, 0.4], metadata: { k: 'v' } })

  const podFromCollection = await pc.createIndex({
    name: 'pod2',
    dimension: 2,
    metric: 'cosine',
    spec: { pod: { environment: 'us-east-1-aws', podType: 'p1.x1', sourceCollection: 'snap' } },
  })
  t.match(podFromCollection, { spec: { pod: { sourceCollection: 'snap' } } })

  const wrongDim = await pc
    .createIndex({
      name: 'bad',
      dimension: 3,
      metric: 'cosine',
      spec: { serverless: { cloud: 'aws', region: 'us-east-1', sourceCollection: 'snap' } },
    })
    .then(
      () => null,
      (e: Error) => e,
    )
  t.match(wrongDim?.message, /does not match the dimension of collection snap/)
  const missing = await pc
    .createIndex({
      name: 'bad',
      dimension: 2,
      metric: 'cosine',
      spec: { serverless: { cloud: 'aws', region: 'us-east-1', sourceCollection: 'nope' } },
    })
    .then(
      () => null,
      (e: Error) => e,
    )
  t.equal(missing?.name, 'PineconeNotFoundError')
})

t.test('2026-07 refuses pod indexes and source_collection on create', async (t) => {
  const emu = await startTestEmulator(t)
  const post = async (body: unknown) => {
    const res = await request(`${emu.url}/indexes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-pinecone-api-version': '2026-07' },
      body: JSON.stringify(body),
    })
    return { status: res.statusCode, body: await res.body.json() }
  }
  const fields = { _values: { type: 'dense_vector', dimension: 2, metric: 'cosine' } }
  t.match(
    await post({
      name: 'p',
      schema: { fields },
      deployment: { deployment_type: 'pod', environment: 'us-east-1-aws', pod_type: 'p1.x1' },
    }),
    {
      status: 400,
      body: {
        error: { code: 'INVALID_ARGUMENT', message: /Pod-based indexes cannot be created with API version 2026-07/ },
        status: 400,
      },
    },
  )
  t.match(await post({ name: 'c', schema: { fields }, source_collection: 'snap' }), {
    status: 422,
    body: { error: { code: 'UNPROCESSABLE_ENTITY', message: /unknown field `source_collection`/ }, status: 422 },
  })
  t.match(await post({ name: 'fts', schema: { fields: { body: { type: 'string', full_text_search: {} } } } }), {
    status: 400,
    body: { error: { message: /vectors-API indexes/ } },
  })
  const auto = await post({ schema: { fields } })
  t.equal(auto.status, 201)
  t.match(auto.body, {
    name: /^index-[0-9a-f]{8}$/,
    deployment: { deployment_type: 'managed', cloud: 'aws', region: 'us-east-1' },
  })
})
