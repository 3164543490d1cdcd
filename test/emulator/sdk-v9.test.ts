import { Pinecone, type QueryOptions } from '@pinecone-database/pinecone'
import t from 'tap'
import { request } from 'undici'
import { startTestEmulator } from '../helpers/emulator.js'
import type { TestContext } from '../helpers/tap.js'

// The official SDK v9 (API 2026-07) against the emulator, for every call vecshift relies on.

const KEY = 'test-key'

async function setup(t: TestContext) {
  const emu = await startTestEmulator(t, { apiKey: KEY })
  const pc = new Pinecone({ apiKey: KEY, controllerHostUrl: emu.url })
  return { emu, pc }
}

async function errorOf(p: Promise<unknown>): Promise<Error & { name: string }> {
  try {
    await p
  } catch (err) {
    return err as Error
  }
  throw new Error('expected the call to fail')
}

t.test('control plane: create, describe, list, configure, delete', async (t) => {
  const { emu, pc } = await setup(t)
  const created = await pc.createIndex({
    name: 'dense',
    dimension: 3,
    metric: 'euclidean',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
    waitUntilReady: true,
  })
  t.ok(created, 'createIndex with waitUntilReady resolves')
  const sparse = await pc.createIndex({
    name: 'kw',
    vectorType: 'sparse',
    metric: 'dotproduct',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  t.equal(sparse?.name, 'kw')

  const d = await pc.describeIndex('dense')
  t.equal(d.host, emu.indexHost('dense'))
  t.equal(d.dimension, 3)
  t.equal(d.metric, 'euclidean')
  t.equal(d.vectorType, 'dense')
  t.same(d.status, { ready: true, state: 'Ready' })
  t.match(d.deployment, { deploymentType: 'managed', cloud: 'aws', region: 'us-east-1' })
  t.match(d.spec, { serverless: { cloud: 'aws', region: 'us-east-1' } })
  const s = await pc.describeIndex('kw')
  t.equal(s.vectorType, 'sparse')
  t.equal(s.metric, 'dotproduct')
  t.equal(s.dimension, undefined)

  const list = await pc.listIndexes()
  t.same(list.indexes?.map((i) => i.name).sort(), ['dense', 'kw'])

  const dup = await errorOf(
    pc.createIndex({
      name: 'dense',
      dimension: 3,
      metric: 'cosine',
      spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
    }),
  )
  t.equal(dup.name, 'PineconeConflictError', 'creating an existing index is 409')

  const configured = await pc.configureIndex({ name: 'dense', deletionProtection: 'enabled', tags: { team: 'search' } })
  t.equal(configured.deletionProtection, 'enabled')
  t.same(configured.tags, { team: 'search' })
  const refused = await errorOf(pc.deleteIndex('dense'))
  t.match(refused.message, /Deletion protection is enabled/)
  await pc.configureIndex({ name: 'dense', deletionProtection: 'disabled' })
  await pc.deleteIndex('dense')
  const gone = await errorOf(pc.describeIndex('dense'))
  t.equal(gone.name, 'PineconeNotFoundError')
  t.match(gone.message, /returned HTTP status 404/)
})

t.test('upsert, fetch and query round-trip values as the shortest float32', async (t) => {
  const { pc } = await setup(t)
  await pc.createIndex({
    name: 'docs',
    dimension: 2,
    metric: 'cosine',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  const index = pc.index({ name: 'docs' }) // resolves the host through describe_index
  await index.upsert({
    records: [
      { id: 'a', values: [0.5, 0.4], metadata: { genre: 'drama', year: 2020, tags: ['x', 'y'], ok: true } },
      { id: 'b', values: [0.1, 0.7] },
      { id: 'c', values: [-0.3, 0.123456789] },
    ],
  })
  const fetched = await index.fetch({ ids: ['a', 'b', 'c', 'missing'] })
  t.same(fetched.records.a, {
    id: 'a',
    values: [0.5, 0.4],
    metadata: { genre: 'drama', year: 2020, tags: ['x', 'y'], ok: true },
  })
  t.same(fetched.records.b?.values, [0.1, 0.7])
  // 0.123456789 is stored as the float32 0.12345679104328156; its shortest form is 0.12345679.
  t.same(fetched.records.c?.values, [-0.3, 0.12345679], 'float32 values in shortest form')
  t.notOk('missing' in fetched.records, 'missing ids are absent')
  t.equal(fetched.namespace, '__default__')
  t.ok((fetched.usage?.readUnits ?? 0) >= 1)

  const q = await index.query({ vector: [0.5, 0.4], topK: 2, includeValues: true, includeMetadata: true })
  t.same(
    q.matches.map((m) => m.id),
    ['a', 'b'],
  )
  t.equal(q.matches[0]?.score, 1)
  t.same(q.matches[0]?.values, [0.5, 0.4])
  t.same(q.matches[0]?.metadata, { genre: 'drama', year: 2020, tags: ['x', 'y'], ok: true })
  const byId = await index.query({ id: 'b', topK: 1 })
  t.same(
    byId.matches.map((m) => m.id),
    ['b'],
  )
  t.same(byId.matches[0]?.values, [], 'values is [] when not requested')
  const filtered = await index.query({ vector: [0.5, 0.4], topK: 3, filter: { tags: 'y' }, includeMetadata: true })
  t.same(
    filtered.matches.map((m) => m.id),
    ['a'],
  )
})

t.test('sparse and hybrid queries', async (t) => {
  const { pc } = await setup(t)
  await pc.createIndex({
    name: 'kw',
    vectorType: 'sparse',
    metric: 'dotproduct',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  await pc.createIndex({
    name: 'hy',
    dimension: 2,
    metric: 'dotproduct',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  const kw = pc.index({ name: 'kw' })
  await kw.upsert({
    records: [
      { id: 's1', sparseValues: { indices: [1, 5], values: [0.5, 0.25] } },
      { id: 's2', sparseValues: { indices: [5, 9], values: [1, 2] } },
    ],
  })
  // The SDK's types want a dense vector; at run time it sends a sparse-only query as is.
  const sparseOnly = {
    sparseVector: { indices: [5], values: [2] },
    topK: 2,
    includeValues: true,
  } as unknown as QueryOptions
  const sq = await kw.query(sparseOnly)
  t.same(
    sq.matches.map((m) => [m.id, m.score]),
    [
      ['s2', 2],
      ['s1', 0.5],
    ],
  )
  t.same(sq.matches[0]?.sparseValues, { indices: [5, 9], values: [1, 2] })
  const fetched = await kw.fetch({ ids: ['s1'] })
  t.same(fetched.records.s1?.sparseValues, { indices: [1, 5], values: [0.5, 0.25] })

  const hy = pc.index({ name: 'hy' })
  await hy.upsert({
    records: [
      { id: 'h1', values: [1, 0], sparseValues: { indices: [3], values: [1] } },
      { id: 'h2', values: [0.5, 0], sparseValues: { indices: [4], values: [1] } },
    ],
  })
  const hq = await hy.query({ vector: [1, 0], sparseVector: { indices: [4], values: [1] }, topK: 2 })
  t.same(
    hq.matches.map((m) => [m.id, m.score]),
    [
      ['h2', 1.5],
      ['h1', 1],
    ],
    'hybrid score = dense dot + sparse dot',
  )
})

t.test('update by id and by filter, delete by ids, filter and all', async (t) => {
  const { emu, pc } = await setup(t)
  await pc.createIndex({
    name: 'u',
    dimension: 2,
    metric: 'cosine',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  const index = pc.index({ host: emu.indexHost('u'), namespace: 'ns1' })
  await index.upsert({
    records: [
      { id: 'a', values: [1, 0], metadata: { color: 'red', n: 1 } },
      { id: 'b', values: [0, 1], metadata: { color: 'blue', n: 2 } },
      { id: 'c', values: [1, 1], metadata: { color: 'red', n: 3 } },
    ],
  })
  await index.update({ id: 'a', values: [0.25, 0.75], metadata: { n: 10, extra: 'yes' } })
  let got = await index.fetch({ ids: ['a'] })
  t.same(
    got.records.a,
    { id: 'a', values: [0.25, 0.75], metadata: { color: 'red', n: 10, extra: 'yes' } },
    'setMetadata merges',
  )
  await index.update({ filter: { color: 'red' }, metadata: { flagged: true } })
  got = await index.fetch({ ids: ['a', 'b', 'c'] })
  t.same(
    [got.records.a?.metadata?.flagged, got.records.b?.metadata?.flagged, got.records.c?.metadata?.flagged],
    [true, undefined, true],
  )
  await index.update({ id: 'does-not-exist', metadata: { x: 1 } })
  t.pass('updating a missing id is not an error')

  await index.deleteOne({ id: 'b' })
  await index.deleteMany({ ids: ['nope', 'also-nope'] })
  t.same(Object.keys((await index.fetch({ ids: ['a', 'b', 'c'] })).records).sort(), ['a', 'c'])
  await index.deleteMany({ filter: { n: { $lt: 5 } } })
  t.same(Object.keys((await index.fetch({ ids: ['a', 'b', 'c'] })).records), ['a'])
  await index.deleteAll()
  const stats = await index.describeIndexStats()
  t.equal(stats.totalRecordCount, 0)
  t.same(stats.namespaces, {}, 'a namespace emptied by deletes disappears')
})

t.test('list paginates in bytewise order, fetchByMetadata paginates', async (t) => {
  const { emu, pc } = await setup(t)
  await pc.createIndex({
    name: 'l',
    dimension: 2,
    metric: 'cosine',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  const index = pc.index({ host: emu.indexHost('l'), namespace: 'docs' })
  const ids = ['doc1#2', 'doc1#10', 'doc1#1', 'Doc1#1', 'doc2#1', 'doc1#3', 'a', 'doc1$']
  await index.upsert({ records: ids.map((id, i) => ({ id, values: [1, i + 1], metadata: { even: i % 2 === 0 } })) })

  const seen: string[] = []
  let token: string | undefined
  let pages = 0
  do {
    const page = await index.listPaginated({
      prefix: 'doc1#',
      limit: 2,
      ...(token === undefined ? {} : { paginationToken: token }),
    })
    seen.push(...(page.vectors ?? []).map((v) => v.id!))
    token = page.pagination?.next
    pages++
  } while (token !== undefined)
  t.same(seen, ['doc1#1', 'doc1#10', 'doc1#2', 'doc1#3'], 'prefix, bytewise order')
  t.equal(pages, 2, 'no pagination on the last page')
  const all = await index.listPaginated()
  t.same(
    all.vectors?.map((v) => v.id),
    [...ids].sort(),
  )
  t.equal(all.pagination, undefined)

  const first = await index.fetchByMetadata({ filter: { even: true }, limit: 3 })
  t.same(Object.keys(first.records), ['a', 'doc1#1', 'doc1#2'])
  t.ok(first.pagination?.next, 'more to come')
  const second = await index.fetchByMetadata({
    filter: { even: true },
    limit: 3,
    paginationToken: first.pagination!.next!,
  })
  t.same(Object.keys(second.records), ['doc2#1'])
  t.equal(second.pagination, undefined)
})

t.test('namespaces and stats', async (t) => {
  const { emu, pc } = await setup(t)
  await pc.createIndex({
    name: 'n',
    dimension: 2,
    metric: 'cosine',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  const index = pc.index({ host: emu.indexHost('n') })
  await index.upsert({ records: [{ id: 'x', values: [1, 2] }] }) // default namespace
  await index.namespace('alpha').upsert({
    records: [
      { id: 'y', values: [1, 2] },
      { id: 'z', values: [2, 1] },
    ],
  })
  const made = await index.createNamespace({ name: 'empty', schema: { fields: { genre: { filterable: true } } } })
  t.same(made, { name: 'empty', recordCount: '0', schema: { fields: { genre: { filterable: true } } } })
  const dup = await errorOf(index.createNamespace({ name: 'empty' }))
  t.equal(dup.name, 'PineconeConflictError')

  const listed = await index.listNamespaces()
  t.same(
    listed.namespaces?.map((n) => [n.name, n.recordCount]),
    [
      ['__default__', '1'],
      ['alpha', '2'],
      ['empty', '0'],
    ],
  )
  t.equal(listed.totalCount, 3)
  const page = await index.listNamespaces({ limit: 1, prefix: 'a' })
  t.same(
    page.namespaces?.map((n) => n.name),
    ['alpha'],
  )
  const d = await index.describeNamespace('alpha')
  t.same(d, { name: 'alpha', recordCount: '2' })

  const stats = await index.describeIndexStats()
  t.same(stats, {
    namespaces: { __default__: { recordCount: 1 }, alpha: { recordCount: 2 }, empty: { recordCount: 0 } },
    dimension: 2,
    indexFullness: 0,
    totalRecordCount: 3,
  })
  const statsFilter = await errorOf(index.describeIndexStats({ filter: { a: 1 } }))
  t.match(statsFilter.message, /Serverless and starter indexes do not support/)

  await index.deleteNamespace('alpha')
  const missing = await errorOf(index.describeNamespace('alpha'))
  t.equal(missing.name, 'PineconeNotFoundError')
  t.same(
    (await index.listNamespaces()).namespaces?.map((n) => n.name),
    ['__default__', 'empty'],
  )
})

t.test('collections from a pod index, and an index from a collection', async (t) => {
  const { emu, pc } = await setup(t)
  // SDK v9 cannot create pod indexes (2026-07 forbids it); create one the 2025-04 way.
  const res = await request(`${emu.url}/indexes`, {
    method: 'POST',
    headers: { 'api-key': KEY, 'content-type': 'application/json', 'x-pinecone-api-version': '2025-04' },
    body: JSON.stringify({
      name: 'legacy',
      dimension: 2,
      metric: 'dotproduct',
      spec: { pod: { environment: 'us-east-1-aws', pod_type: 'p1.x1' } },
    }),
  })
  t.equal(res.statusCode, 201)
  await res.body.dump()
  const pod = await pc.describeIndex('legacy')
  t.match(pod.deployment, {
    deploymentType: 'pod',
    environment: 'us-east-1-aws',
    podType: 'p1.x1',
    replicas: 1,
    shards: 1,
  })
  const legacy = pc.index({ name: 'legacy' })
  await legacy.upsert({
    records: [
      { id: 'p1', values: [1, 2], metadata: { k: 'v' } },
      { id: 'p2', values: [3, 4] },
    ],
  })
  const noList = await errorOf(legacy.listPaginated())
  t.equal(noList.name, 'PineconeNotFoundError', 'pod indexes have no list')
  const podStats = await legacy.describeIndexStats({ filter: { k: 'v' } })
  t.same(podStats.namespaces, { __default__: { recordCount: 1 } }, 'pod indexes accept a stats filter')
  t.equal(podStats.totalRecordCount, 2)

  const collection = await pc.createCollection({ name: 'snap', source: 'legacy' })
  t.match(collection, { name: 'snap', dimension: 2, vectorCount: 2, environment: 'us-east-1-aws' })
  t.same(
    (await pc.listCollections()).collections?.map((c) => c.name),
    ['snap'],
  )
  t.match(await pc.describeCollection('snap'), { name: 'snap', status: 'Ready', vectorCount: 2 })
  const notPod = await pc.createIndex({
    name: 'sl',
    dimension: 2,
    metric: 'cosine',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  t.ok(notPod)
  const refused = await errorOf(pc.createCollection({ name: 'bad', source: 'sl' }))
  t.match(refused.message, /only from pod-based indexes/)
  await pc.deleteCollection('snap')
  t.same((await pc.listCollections()).collections, [])
  const missing = await errorOf(pc.describeCollection('snap'))
  t.equal(missing.name, 'PineconeNotFoundError')
})

t.test('errors: dimension, oversize, metadata, invalid filter, missing index, bad key', async (t) => {
  const { emu, pc } = await setup(t)
  await pc.createIndex({
    name: 'e',
    dimension: 3,
    metric: 'cosine',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  const index = pc.index({ host: emu.indexHost('e') })
  const dim = await errorOf(index.upsert({ records: [{ id: 'a', values: [1, 2] }] }))
  t.equal(dim.name, 'PineconeBadRequestError')
  t.match(dim.message, 'Vector dimension 2 does not match the dimension of the index 3')
  const zeros = await errorOf(index.upsert({ records: [{ id: 'z', values: [0, 0, 0] }] }))
  t.match(zeros.message, /at least one non-zero value/)
  const big = Array.from({ length: 800 }, (_, i) => ({
    id: `v${i}`,
    values: [0.123456789, 0.23456789, 0.3456789],
    metadata: { text: 'x'.repeat(3000) },
  }))
  const oversize = await errorOf(index.upsert({ records: big }))
  t.equal(oversize.name, 'PineconeBadRequestError', 'a body over 2 MB is a 400, not a 413')
  t.match(oversize.message, /Request size 3MB exceeds the maximum supported size of 2MB/)
  const meta = await errorOf(
    index.upsert({ records: [{ id: 'm', values: [1, 2, 3], metadata: { text: 'x'.repeat(41_000) } }] }),
  )
  t.match(meta.message, /metadata size is 41011 bytes, which exceeds the limit of 40960 bytes per vector/)
  const badFilter = await errorOf(index.query({ vector: [1, 2, 3], topK: 1, filter: { year: { $gt: 'x' } } }))
  t.equal(badFilter.name, 'PineconeBadRequestError')
  t.match(badFilter.message, /Invalid filter/)
  const topK = await errorOf(index.query({ vector: [1, 2, 3], topK: 10_001 }))
  t.match(topK.message, /topK must be an integer between 1 and 10000/)

  const unknown = await errorOf(pc.index({ host: emu.indexHost('nope') }).query({ vector: [1, 2, 3], topK: 1 }))
  t.equal(unknown.name, 'PineconeNotFoundError')
  const unknownByName = await errorOf(pc.index({ name: 'nope' }).query({ vector: [1, 2, 3], topK: 1 }))
  t.equal(unknownByName.name, 'PineconeNotFoundError', 'resolving an unknown index by name is 404')

  const wrongKey = new Pinecone({ apiKey: 'wrong', controllerHostUrl: emu.url })
  const auth = await errorOf(wrongKey.listIndexes())
  t.equal(auth.name, 'PineconeAuthorizationError')
  const authData = await errorOf(wrongKey.index({ host: emu.indexHost('e') }).fetch({ ids: ['a'] }))
  t.equal(authData.name, 'PineconeAuthorizationError')
})
