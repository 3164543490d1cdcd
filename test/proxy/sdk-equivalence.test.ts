import { Pinecone, type Index, type QueryOptions } from '@pinecone-database/pinecone'
import t from 'tap'
import { startTestEmulator } from '../helpers/emulator.js'
import { startTestGateway } from '../helpers/gateway.js'

// The gateway's first promise: an app using the official SDK sees exactly what it saw
// against the index itself. Two identical emulators run the same scenario; one is reached
// directly, the other through the gateway (found via the control-plane shim, as an app
// that only changed its controller host would). Every result and every error must match.

const API_KEY = 'test-key'
const DIM = 8

type Outcome = { ok: unknown } | { error: string; message: string }

async function outcome(fn: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: await fn() }
  } catch (err) {
    const e = err as Error
    // The SDK quotes the URL it called; direct and gateway URLs differ by design.
    return { error: e.name, message: e.message.replace(/http:\/\/127\.0\.0\.1:\d+(\/data\/[\w-]+)?/g, '<host>') }
  }
}

function vec(seed: number): number[] {
  // Values that are not exact float32, so the shortest-float32 printing is exercised too.
  return Array.from({ length: DIM }, (_, i) => Math.sin(seed * 7.31 + i * 1.7) * 0.9 + 0.05)
}

/** One scenario over every data-plane call; returns each call's outcome in order. */
async function scenario(index: Index, denseIndexSparse: Index): Promise<Array<[string, Outcome]>> {
  const out: Array<[string, Outcome]> = []
  const step = async (name: string, fn: () => Promise<unknown>) => {
    out.push([name, await outcome(fn)])
  }
  const genres = ['drama', 'comedy', 'action', 'horror']

  await step('upsert default ns', () =>
    index.upsert({
      records: Array.from({ length: 40 }, (_, i) => ({
        id: `doc-${String(i).padStart(3, '0')}`,
        values: vec(i),
        metadata: {
          genre: genres[i % 4] as string,
          year: 1990 + i,
          tags: [`t${i % 3}`, `u${i % 5}`],
          draft: i % 2 === 0,
        },
      })),
    }),
  )
  await step('upsert ns-b', () =>
    index.namespace('ns-b').upsert({
      records: Array.from({ length: 15 }, (_, i) => ({ id: `b-${i}`, values: vec(100 + i), metadata: { n: i } })),
    }),
  )
  await step('upsert hybrid', () =>
    index.namespace('hybrid').upsert({
      records: [
        { id: 'h1', values: vec(1), sparseValues: { indices: [1, 5, 9], values: [0.5, 0.25, 0.125] } },
        { id: 'h2', values: vec(2), sparseValues: { indices: [2, 5], values: [0.3, 0.7] } },
      ],
    }),
  )
  await step('query by vector', () => index.query({ vector: vec(3), topK: 5, includeMetadata: true }))
  await step('query with values', () => index.query({ vector: vec(4), topK: 3, includeValues: true }))
  await step('query by id', () => index.query({ id: 'doc-007', topK: 4 }))
  await step('query filter $eq list-of-strings', () =>
    index.query({ vector: vec(5), topK: 10, filter: { tags: { $eq: 't1' } }, includeMetadata: true }),
  )
  await step('query filter $and/$or/$in/$gte', () =>
    index.query({
      vector: vec(6),
      topK: 10,
      filter: { $and: [{ year: { $gte: 2000 } }, { $or: [{ genre: { $in: ['drama', 'action'] } }, { draft: true }] }] },
    }),
  )
  await step('query hybrid', () =>
    index.namespace('hybrid').query({ vector: vec(1), sparseVector: { indices: [5], values: [1] }, topK: 2 }),
  )
  await step('query empty namespace', () => index.namespace('nothing-here').query({ vector: vec(1), topK: 3 }))
  await step('fetch', () => index.fetch({ ids: ['doc-001', 'doc-002', 'missing'] }))
  await step('fetch ns-b', () => index.namespace('ns-b').fetch({ ids: ['b-3'] }))
  await step('fetch by metadata', () => index.fetchByMetadata({ filter: { genre: 'comedy' }, limit: 4 }))
  await step('update by id', () =>
    index.update({ id: 'doc-001', values: vec(999), metadata: { genre: 'noir', extra: 'x' } }),
  )
  await step('fetch after update', () => index.fetch({ ids: ['doc-001'] }))
  await step('update by filter', () =>
    index.update({ filter: { genre: { $eq: 'horror' } }, metadata: { flagged: true } }),
  )
  await step('fetch after filter update', () => index.fetch({ ids: ['doc-003', 'doc-007'] }))
  await step('list page 1', () => index.listPaginated({ prefix: 'doc-0', limit: 7 }))
  await step('list page 2', async () => {
    const first = await index.listPaginated({ prefix: 'doc-0', limit: 7 })
    return index.listPaginated({ prefix: 'doc-0', limit: 7, paginationToken: first.pagination?.next as string })
  })
  await step('stats', () => index.describeIndexStats())
  await step('create namespace', () => index.createNamespace({ name: 'made-explicitly' }))
  await step('list namespaces', () => index.listNamespaces())
  await step('describe namespace', () => index.describeNamespace('ns-b'))
  await step('describe missing namespace', () => index.describeNamespace('no-such-ns'))
  await step('delete one', () => index.deleteOne({ id: 'doc-010' }))
  await step('delete many by ids', () => index.deleteMany({ ids: ['doc-011', 'doc-012', 'never-existed'] }))
  await step('delete many by filter', () => index.deleteMany({ filter: { genre: { $eq: 'comedy' } } }))
  await step('delete all ns-b', () => index.namespace('ns-b').deleteAll())
  await step('delete namespace', () => index.deleteNamespace('made-explicitly'))
  await step('stats after deletes', () => index.describeIndexStats())
  await step('list all after deletes', () => index.listPaginated({ limit: 100 }))
  // Errors must come back as the same SDK errors with the same messages.
  await step('bad dimension', () => index.upsert({ records: [{ id: 'bad', values: [1, 2, 3] }] }))
  await step('invalid filter', () => index.query({ vector: vec(1), topK: 3, filter: { year: { $gt: 'abc' } } }))
  await step('empty filter', () => index.query({ vector: vec(1), topK: 3, filter: {} }))
  await step('topK too large', () => index.query({ vector: vec(1), topK: 10001 }))
  await step('oversize request', () =>
    index.upsert({
      records: Array.from({ length: 300 }, (_, i) => ({
        id: `big-${i}`,
        values: vec(i),
        metadata: { blob: 'x'.repeat(8000) },
      })),
    }),
  )
  await step('metadata too large', () =>
    index.upsert({ records: [{ id: 'm', values: vec(1), metadata: { blob: 'y'.repeat(41_000) } }] }),
  )
  await step('sparse index upsert', () =>
    denseIndexSparse.upsert({ records: [{ id: 's1', sparseValues: { indices: [3, 70000], values: [0.2, 0.8] } }] }),
  )
  await step('sparse index query', () =>
    denseIndexSparse.query({
      sparseVector: { indices: [70000], values: [1] },
      topK: 1,
      includeValues: true,
    } as unknown as QueryOptions),
  )
  return out
}

async function createIndexes(pc: Pinecone): Promise<void> {
  // dotproduct: the only metric Pinecone allows hybrid (dense + sparse) records with.
  await pc.createIndex({
    name: 'eq',
    dimension: DIM,
    metric: 'dotproduct',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  await pc.createIndex({
    name: 'eq-sparse',
    metric: 'dotproduct',
    vectorType: 'sparse',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
}

t.test('every data-plane call gives the same result directly and through the gateway', async (t) => {
  const direct = await startTestEmulator(t, { apiKey: API_KEY })
  const behind = await startTestEmulator(t, { apiKey: API_KEY })
  await createIndexes(new Pinecone({ apiKey: API_KEY, controllerHostUrl: direct.url }))
  await createIndexes(new Pinecone({ apiKey: API_KEY, controllerHostUrl: behind.url }))
  const gw = await startTestGateway(t, { index: 'eq', host: behind.indexHost('eq'), controllerHost: behind.url })
  const gwSparse = await startTestGateway(t, {
    index: 'eq-sparse',
    host: behind.indexHost('eq-sparse'),
    controllerHost: behind.url,
  })

  const pcDirect = new Pinecone({ apiKey: API_KEY, controllerHostUrl: direct.url })
  const pcGateway = new Pinecone({ apiKey: API_KEY, controllerHostUrl: gw.url })
  const pcGatewaySparse = new Pinecone({ apiKey: API_KEY, controllerHostUrl: gwSparse.url })

  const expected = await scenario(pcDirect.index({ name: 'eq' }), pcDirect.index({ name: 'eq-sparse' }))
  const actual = await scenario(pcGateway.index({ name: 'eq' }), pcGatewaySparse.index({ name: 'eq-sparse' }))

  t.equal(actual.length, expected.length)
  for (let i = 0; i < expected.length; i++) {
    const [name, want] = expected[i] as [string, Outcome]
    t.same(actual[i]?.[1], want, name)
  }
  // Guard against a vacuous pass: the scenario must have done real work and hit real errors.
  const failures = expected.filter(([, o]) => 'error' in o).map(([n]) => n)
  t.same(
    failures.sort(),
    [
      'bad dimension',
      'describe missing namespace',
      'empty filter',
      'invalid filter',
      'metadata too large',
      'oversize request',
      'topK too large',
    ].sort(),
    'exactly the expected calls failed',
  )
  const fetched = expected.find(([n]) => n === 'fetch after update')?.[1] as {
    ok: { records: Record<string, { metadata: unknown }> }
  }
  t.same(fetched.ok.records['doc-001']?.metadata, {
    genre: 'noir',
    year: 1991,
    tags: ['t1', 'u1'],
    draft: false,
    extra: 'x',
  })

  // The describe call went through the shim: the host it answers is the gateway's own.
  const described = await pcGateway.describeIndex('eq')
  t.equal(described.host, gw.url)
  const listed = await pcGateway.listIndexes()
  t.equal(listed.indexes?.find((i) => i.name === 'eq')?.host, gw.url)
  t.equal(
    listed.indexes?.find((i) => i.name === 'eq-sparse')?.host,
    behind.indexHost('eq-sparse'),
    'other indexes keep their own host',
  )
})

t.test('a missing index is reported the same way through the gateway', async (t) => {
  const emu = await startTestEmulator(t, { apiKey: API_KEY })
  await createIndexes(new Pinecone({ apiKey: API_KEY, controllerHostUrl: emu.url }))
  const gw = await startTestGateway(t, { index: 'eq', host: emu.indexHost('eq'), controllerHost: emu.url })
  const direct = await outcome(() =>
    new Pinecone({ apiKey: API_KEY, controllerHostUrl: emu.url }).describeIndex('nope'),
  )
  const via = await outcome(() => new Pinecone({ apiKey: API_KEY, controllerHostUrl: gw.url }).describeIndex('nope'))
  t.match(direct, { error: 'PineconeNotFoundError' })
  t.same(via, direct)
})

t.test('a wrong API key is answered 401 by the upstream, unchanged', async (t) => {
  const emu = await startTestEmulator(t, { apiKey: API_KEY })
  await createIndexes(new Pinecone({ apiKey: API_KEY, controllerHostUrl: emu.url }))
  const gw = await startTestGateway(t, { index: 'eq', host: emu.indexHost('eq'), controllerHost: emu.url })
  const bad = new Pinecone({ apiKey: 'wrong', controllerHostUrl: gw.url }).index({ host: gw.url })
  const result = await outcome(() => bad.query({ vector: vec(1), topK: 1 }))
  t.match(result, { error: 'PineconeAuthorizationError' })
})

t.test('the SDK retries a 5xx through the gateway and succeeds', async (t) => {
  const emu = await startTestEmulator(t, { apiKey: API_KEY })
  await createIndexes(new Pinecone({ apiKey: API_KEY, controllerHostUrl: emu.url }))
  const gw = await startTestGateway(t, { index: 'eq', host: emu.indexHost('eq'), controllerHost: emu.url })
  const index = new Pinecone({ apiKey: API_KEY, controllerHostUrl: gw.url }).index({ host: gw.url })
  await index.upsert({ records: [{ id: 'a', values: vec(1) }] })
  emu.faults.add({ op: 'query', status: 503, times: 2 })
  const res = await index.query({ vector: vec(1), topK: 1 })
  t.equal(res.matches[0]?.id, 'a', 'the third attempt succeeded')
  const statuses = (await gw.gateway.metrics.requests.get()).values
    .filter((v) => v.labels.op === 'query')
    .map((v) => [v.labels.status, v.value])
  t.same(
    statuses.sort(),
    [
      ['200', 1],
      ['503', 2],
    ],
    'the gateway passed both 503s through and then the 200',
  )
})
