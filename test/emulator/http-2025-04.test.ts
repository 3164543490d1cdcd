import t from 'tap'
import { request } from 'undici'
import { startTestEmulator } from '../helpers/emulator.js'
import type { TestContext } from '../helpers/tap.js'

// Raw HTTP in the style of Pinecone's 2025-04 curl examples: exact statuses and bodies,
// including every limit and error shape of WIRE-NOTES.md.

const KEY = 'curl-key'
const H = { 'api-key': KEY, 'content-type': 'application/json', 'x-pinecone-api-version': '2025-04' }
/** Calls that API 2025-10 introduced (update by filter, fetch_by_metadata, create namespace). */
const H10 = { ...H, 'x-pinecone-api-version': '2025-10' }

async function call(url: string, method: string, body?: unknown, headers: Record<string, string> = H) {
  const res = await request(url, {
    method: method as 'GET',
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
  const text = await res.body.text()
  let json: unknown
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.statusCode, text, json, headers: res.headers }
}

async function setup(t: TestContext, indexes: Array<Record<string, unknown>> = []) {
  const emu = await startTestEmulator(t, { apiKey: KEY })
  for (const spec of indexes) {
    const r = await call(`${emu.url}/indexes`, 'POST', spec)
    t.equal(r.status, 201, `created ${String(spec.name)}`)
  }
  return emu
}

const serverless = (name: string, dimension: number, metric = 'cosine') => ({
  name,
  dimension,
  metric,
  spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
})

t.test('control plane statuses and bodies', async (t) => {
  const emu = await setup(t)
  const created = await call(`${emu.url}/indexes`, 'POST', serverless('docs-example', 3))
  t.equal(created.status, 201)
  t.same(created.json, {
    name: 'docs-example',
    dimension: 3,
    metric: 'cosine',
    host: emu.indexHost('docs-example'),
    deletion_protection: 'disabled',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
    status: { ready: true, state: 'Ready' },
    vector_type: 'dense',
  })
  const dup = await call(`${emu.url}/indexes`, 'POST', serverless('docs-example', 3))
  t.same(
    [dup.status, dup.json],
    [409, { error: { code: 'ALREADY_EXISTS', message: 'Resource already exists.' }, status: 409 }],
  )
  const missing = await call(`${emu.url}/indexes/example-index`, 'GET')
  t.same(
    [missing.status, missing.json],
    [404, { error: { code: 'NOT_FOUND', message: 'Index example-index not found.' }, status: 404 }],
  )
  const noSpec = await call(`${emu.url}/indexes`, 'POST', { name: 'x', dimension: 3 })
  t.same(
    [noSpec.status, noSpec.json],
    [
      422,
      {
        error: {
          code: 'UNPROCESSABLE_ENTITY',
          message: 'Failed to deserialize the JSON body into the target type: missing field `spec`',
        },
        status: 422,
      },
    ],
  )
  const badName = await call(`${emu.url}/indexes`, 'POST', serverless('Bad_Name', 3))
  t.match(
    [badName.status, badName.json],
    [400, { error: { code: 'INVALID_ARGUMENT', message: /lowercase alphanumeric/ }, status: 400 }],
  )
  const sparseCosine = await call(`${emu.url}/indexes`, 'POST', {
    name: 's',
    vector_type: 'sparse',
    metric: 'cosine',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  t.match(
    [sparseCosine.status, sparseCosine.json],
    [400, { error: { message: 'Sparse vector indexes must use the metric dotproduct.' } }],
  )
  const noDim = await call(`${emu.url}/indexes`, 'POST', {
    name: 'd',
    metric: 'cosine',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
  })
  t.equal(noDim.status, 400)
  const badMetric = await call(`${emu.url}/indexes`, 'POST', serverless('m', 3, 'manhattan'))
  t.equal(badMetric.status, 400)

  const protectedIdx = await call(`${emu.url}/indexes/docs-example`, 'PATCH', { deletion_protection: 'enabled' })
  t.match([protectedIdx.status, protectedIdx.json], [200, { deletion_protection: 'enabled' }])
  const refused = await call(`${emu.url}/indexes/docs-example`, 'DELETE')
  t.same(
    [refused.status, refused.json],
    [
      403,
      {
        error: {
          code: 'FORBIDDEN',
          message: 'Deletion protection is enabled for this index. Disable deletion protection before retrying.',
        },
        status: 403,
      },
    ],
  )
  const scaleServerless = await call(`${emu.url}/indexes/docs-example`, 'PATCH', { spec: { pod: { replicas: 2 } } })
  t.equal(scaleServerless.status, 400, 'serverless indexes cannot be scaled like pods')
  await call(`${emu.url}/indexes/docs-example`, 'PATCH', { deletion_protection: 'disabled' })
  const deleted = await call(`${emu.url}/indexes/docs-example`, 'DELETE')
  t.same([deleted.status, deleted.text], [202, ''], 'DELETE is 202 with no body')
  t.same((await call(`${emu.url}/indexes`, 'GET')).json, { indexes: [] })

  const noVersion = await call(`${emu.url}/indexes`, 'POST', serverless('nv', 2), {
    'api-key': KEY,
    'content-type': 'application/json',
  })
  t.match(
    noVersion.json,
    { spec: { serverless: {} }, vector_type: 'dense' },
    'no version header answers the oldest (spec) shape',
  )
  const v2026 = await call(`${emu.url}/indexes/nv`, 'GET', undefined, { ...H, 'x-pinecone-api-version': '2026-07' })
  t.same(
    v2026.json,
    {
      name: 'nv',
      host: emu.indexHost('nv'),
      status: { ready: true, state: 'Ready' },
      deployment: { deployment_type: 'managed', cloud: 'aws', region: 'us-east-1' },
      read_capacity: { mode: 'OnDemand', status: { state: 'Ready' } },
      schema: {
        fields: {
          _values: { type: 'dense_vector', dimension: 2, metric: 'cosine' },
          _sparse_values: { type: 'sparse_vector' },
        },
      },
      tags: null,
      deletion_protection: 'disabled',
    },
    'the 2026-07 shape SDK v9 reads',
  )
})

t.test('curl-style data plane round trip in 2025-04', async (t) => {
  const emu = await setup(t, [serverless('docs', 3)])
  const host = emu.indexHost('docs')
  const up = await call(`${host}/vectors/upsert`, 'POST', {
    vectors: [
      { id: 'vec1', values: [1.0, 1.5, 2.0], metadata: { genre: 'drama' } },
      { id: 'vec2', values: [0.4, 0.5, 0.6] },
    ],
    namespace: 'example-namespace',
  })
  t.same([up.status, up.json], [200, { upsertedCount: 2 }])
  await call(`${host}/vectors/upsert`, 'POST', { vectors: [{ id: 'd1', values: [1, 2, 3] }] })

  const q = await call(`${host}/query`, 'POST', {
    namespace: 'example-namespace',
    vector: [0.4, 0.5, 0.6],
    topK: 1,
    includeValues: true,
  })
  t.same(q.json, {
    matches: [{ id: 'vec2', score: 1, values: [0.4, 0.5, 0.6] }],
    namespace: 'example-namespace',
    usage: { readUnits: 1 },
  })
  const f = await call(`${host}/vectors/fetch?ids=vec1&ids=vec2&namespace=example-namespace`, 'GET')
  t.same(f.json, {
    vectors: {
      vec1: { id: 'vec1', values: [1, 1.5, 2], metadata: { genre: 'drama' } },
      vec2: { id: 'vec2', values: [0.4, 0.5, 0.6] },
    },
    namespace: 'example-namespace',
    usage: { readUnits: 1 },
  })
  const single = await call(`${host}/vectors/fetch?ids=d1`, 'GET')
  t.match(
    single.json,
    { vectors: { d1: { values: [1, 2, 3] } }, namespace: '' },
    'the default namespace is "" in 2025-04',
  )
  const l = await call(`${host}/vectors/list?namespace=example-namespace&limit=1`, 'GET')
  t.match(l.json, { vectors: [{ id: 'vec1' }], pagination: { next: String }, namespace: 'example-namespace' })
  const stats = await call(`${host}/describe_index_stats`, 'POST', {})
  t.same(stats.json, {
    namespaces: { '': { vectorCount: 1 }, 'example-namespace': { vectorCount: 2 } },
    dimension: 3,
    indexFullness: 0,
    totalVectorCount: 3,
    metric: 'cosine',
    vectorType: 'dense',
  })
  const statsGet = await call(`${host}/describe_index_stats`, 'GET')
  t.same(statsGet.json, stats.json, 'GET works too')
  const stats2510 = await call(
    `${host}/describe_index_stats`,
    'POST',
    {},
    { ...H, 'x-pinecone-api-version': '2025-10' },
  )
  t.match(stats2510.json, { namespaces: { __default__: { vectorCount: 1 } } }, 'and "__default__" from 2025-10')
  const ns = await call(`${host}/namespaces/example-namespace`, 'GET')
  t.same(ns.json, { name: 'example-namespace', record_count: 2 }, 'record_count is an integer before 2026-07')
  const nsList = await call(`${host}/namespaces`, 'GET')
  t.same(nsList.json, {
    namespaces: [
      { name: '', record_count: 1 },
      { name: 'example-namespace', record_count: 2 },
    ],
  })
  const page1 = (await call(`${host}/namespaces?limit=1`, 'GET')) as {
    json: { namespaces: Array<{ name: string }>; pagination: { next: string } }
  }
  t.same(
    page1.json.namespaces.map((n) => n.name),
    [''],
  )
  const page2 = await call(
    `${host}/namespaces?limit=1&paginationToken=${encodeURIComponent(page1.json.pagination.next)}`,
    'GET',
  )
  t.same(page2.json, { namespaces: [{ name: 'example-namespace', record_count: 2 }] }, 'last page has no pagination')
  const byFilter = { filter: { genre: 'drama' }, setMetadata: { seen: true }, namespace: 'example-namespace' }
  const old = await call(`${host}/vectors/update`, 'POST', byFilter)
  t.same(
    [old.status, (old.json as { message: string }).message],
    [
      400,
      'Invalid request: unknown field "filter" (update by metadata filter needs X-Pinecone-Api-Version 2025-10 or later)',
    ],
    'update by filter does not exist in 2025-04',
  )
  const upd = await call(`${host}/vectors/update`, 'POST', byFilter, H10)
  t.same(upd.json, { matchedRecords: 1 })
  const del = await call(`${host}/vectors/delete`, 'POST', { ids: ['vec1', 'nope'], namespace: 'example-namespace' })
  t.same([del.status, del.json], [200, {}], 'delete answers {} and ignores missing ids')
})

t.test('scores and order per metric', async (t) => {
  const emu = await setup(t, [
    serverless('cos', 2, 'cosine'),
    serverless('dot', 2, 'dotproduct'),
    serverless('euc', 2, 'euclidean'),
  ])
  const vectors = [
    { id: 'a', values: [1, 0] },
    { id: 'b', values: [3, 4] },
    { id: 'c', values: [-1, 1] },
  ]
  for (const name of ['cos', 'dot', 'euc']) await call(`${emu.indexHost(name)}/vectors/upsert`, 'POST', { vectors })
  const query = async (name: string) =>
    (
      (await call(`${emu.indexHost(name)}/query`, 'POST', { vector: [1, 1], topK: 3 })).json as {
        matches: Array<{ id: string; score: number }>
      }
    ).matches.map((m) => [m.id, m.score])
  // Scores are float32, sent in shortest form: 7/(5*sqrt 2) -> 0.98994946, 1/sqrt 2 -> 0.70710677.
  t.same(await query('cos'), [
    ['b', 0.98994946],
    ['a', 0.70710677],
    ['c', 0],
  ])
  t.same(await query('dot'), [
    ['b', 7],
    ['a', 1],
    ['c', 0],
  ])
  t.same(
    await query('euc'),
    [
      ['a', 1],
      ['c', 4],
      ['b', 13],
    ],
    'euclidean: squared distance, smallest first',
  )
})

t.test('limits and error bodies', async (t) => {
  const emu = await setup(t, [
    serverless('lim', 2),
    {
      name: 'sp',
      vector_type: 'sparse',
      metric: 'dotproduct',
      spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
    },
  ])
  const host = emu.indexHost('lim')
  const bad = async (
    path: string,
    body: unknown,
    message: RegExp | string,
    method = 'POST',
    h = host,
    headers: Record<string, string> = H,
  ) => {
    const r = await call(`${h}${path}`, method, body, headers)
    t.equal(r.status, 400, `${typeof message === 'string' ? message : message.source}: status`)
    t.match(r.json, { code: 3, message, details: [] })
  }
  await bad('/vectors/upsert', '{"vectors": [', /^Failed to parse the request body as JSON/)
  await bad(
    '/vectors/upsert',
    { vectors: [{ id: 'a', values: [1, 2, 3] }] },
    'Vector dimension 3 does not match the dimension of the index 2',
  )
  await bad(
    '/vectors/upsert',
    { vectors: [{ id: 'a', values: [0, 1e-9] }] },
    'Dense vectors must contain at least one non-zero value. Vector ID a contains only zeros.',
  )
  await bad('/vectors/upsert', { vectors: [] }, /at least one vector/)
  await bad(
    '/vectors/upsert',
    { vectors: Array.from({ length: 1001 }, (_, i) => ({ id: `${i}`, values: [1, 1] })) },
    /1001 vectors, which exceeds the limit of 1000/,
  )
  await bad('/vectors/upsert', { vectors: [{ id: 'x'.repeat(513), values: [1, 1] }] }, /maximum length of 512/)
  await bad('/vectors/upsert', { vectors: [{ id: '', values: [1, 1] }] }, /non-empty/)
  await bad('/vectors/upsert', { vectors: [{ id: 'caf\u00e9', values: [1, 1] }] }, /ASCII/)
  await bad('/vectors/upsert', { vectors: [{ id: 'a', values: [1, 'x'] }] }, /must be numbers/)
  await bad(
    '/vectors/upsert',
    { vectors: [{ id: 'a', values: [1, 1], metadata: { k: null } }] },
    /Metadata value must be a string, number, boolean or list of strings/,
  )
  await bad(
    '/vectors/upsert',
    { vectors: [{ id: 'a', values: [1, 1], metadata: { k: { nested: 1 } } }] },
    /Metadata value must be/,
  )
  await bad(
    '/vectors/upsert',
    { vectors: [{ id: 'a', values: [1, 1], metadata: { k: ['a', 1] } }] },
    /Metadata value must be/,
  )
  await bad(
    '/vectors/upsert',
    { vectors: [{ id: 'a', values: [1, 1], metadata: { $k: 'v' } }] },
    /must not start with '\$'/,
  )
  await bad(
    '/vectors/upsert',
    { vectors: [{ id: 'a', values: [1, 1], sparseValues: { indices: [1], values: [1] } }] },
    /dotproduct/,
  )
  await bad(
    '/vectors/upsert',
    { vectors: [{ id: 'a', values: [1, 1] }] },
    /sparse indexes accept only sparseValues/,
    'POST',
    emu.indexHost('sp'),
  )
  await bad(
    '/vectors/upsert',
    { vectors: [{ id: 'a', sparseValues: { indices: [1, 1], values: [1, 2] } }] },
    /duplicate index 1/,
    'POST',
    emu.indexHost('sp'),
  )
  await bad(
    '/vectors/upsert',
    { vectors: [{ id: 'a', sparseValues: { indices: [1, 2], values: [1] } }] },
    /size mismatch/,
    'POST',
    emu.indexHost('sp'),
  )
  const big = JSON.stringify({ vectors: [{ id: 'a', values: [1, 1], metadata: { t: 'x'.repeat(3 * 1024 * 1024) } }] })
  await bad('/vectors/upsert', big, 'Request size 4MB exceeds the maximum supported size of 2MB')

  await bad('/query', { vector: [1, 1] }, 'topK is required')
  await bad('/query', { vector: [1, 1], topK: 0 }, /topK must be an integer between 1 and 10000/)
  await bad(
    '/query',
    { vector: [1, 1], topK: 1001, includeMetadata: true },
    /at most 1000 when includeValues or includeMetadata/,
  )
  await bad('/query', { topK: 1 }, /provide one of vector, sparseVector or id/)
  await bad('/query', { id: 'a', vector: [1, 1], topK: 1 }, /Cannot provide both id and a query vector/)
  await bad('/query', { vector: [1, 1, 1], topK: 1 }, 'Vector dimension 3 does not match the dimension of the index 2')
  await bad('/query', { vector: [1, 1], topK: 1, filter: {} }, /^Invalid filter/)
  const ok = await call(`${host}/query`, 'POST', { vector: [1, 1], topK: 10_000 })
  t.equal(ok.status, 200, 'topK 10000 without values is fine')
  const byMissingId = await call(`${host}/query`, 'POST', { id: 'missing', topK: 3 })
  t.same([byMissingId.status, (byMissingId.json as { matches: unknown[] }).matches], [200, []])

  await bad(
    `/vectors/fetch?${Array.from({ length: 1001 }, (_, i) => `ids=${i}`).join('&')}`,
    undefined,
    /1001 IDs, which exceeds the limit of 1000/,
    'GET',
  )
  await bad('/vectors/fetch', undefined, /ids is required/, 'GET')
  await bad('/vectors/delete', {}, /must specify ids, filter or deleteAll/)
  await bad('/vectors/delete', { deleteAll: true, ids: ['a'] }, /deleteAll cannot be combined/)
  await bad('/vectors/delete', { ids: Array.from({ length: 1001 }, (_, i) => `${i}`) }, /exceeds the limit of 1000/)
  await bad('/vectors/update', { setMetadata: { a: 1 } }, /either id or filter/)
  await bad('/vectors/update', { filter: { a: 1 }, values: [1, 1] }, /can only set metadata/, 'POST', host, H10)
  await bad('/vectors/list?limit=101', undefined, /limit: 101 must be between 1 and 100/, 'GET')
  await bad('/vectors/list?paginationToken=garbage', undefined, 'Invalid pagination token', 'GET')
  await bad('/describe_index_stats', { filter: { genre: 'drama' } }, /Serverless and starter indexes do not support/)
  await bad('/vectors/fetch_by_metadata', { namespace: 'x' }, 'filter is required', 'POST', host, H10)
  await bad('/namespaces', { name: '__default__' }, /reserved/, 'POST', host, H10)
  for (const [path, body] of [
    ['/vectors/fetch_by_metadata', { namespace: 'x', filter: { a: 1 } }],
    ['/namespaces', { name: 'n' }],
  ] as const) {
    const r = await call(`${host}${path}`, 'POST', body)
    t.equal(r.status, 404, `${path} does not exist in 2025-04`)
  }
})

t.test('pod-like indexes: no list, no namespaces API, stats filter allowed', async (t) => {
  const emu = await setup(t, [
    {
      name: 'pod',
      dimension: 2,
      metric: 'dotproduct',
      spec: { pod: { environment: 'us-east-1-aws', pod_type: 's1.x1' } },
    },
  ])
  const host = emu.indexHost('pod')
  await call(`${host}/vectors/upsert`, 'POST', {
    vectors: [
      { id: 'a', values: [1, 1], metadata: { g: 'x' } },
      { id: 'b', values: [1, 2] },
    ],
  })
  const list = await call(`${host}/vectors/list`, 'GET')
  t.same(
    [list.status, list.json],
    [404, { code: 5, message: 'Not Found: list is supported only for serverless indexes', details: [] }],
  )
  const ns = await call(`${host}/namespaces`, 'GET')
  t.equal(ns.status, 404)
  const stats = await call(`${host}/describe_index_stats`, 'POST', { filter: { g: 'x' } })
  t.same(stats.json, {
    namespaces: { '': { vectorCount: 1 } },
    dimension: 2,
    indexFullness: 0,
    totalVectorCount: 2,
    metric: 'dotproduct',
    vectorType: 'dense',
  })
  const described = await call(`${emu.url}/indexes/pod`, 'GET')
  t.match(described.json, {
    spec: { pod: { environment: 'us-east-1-aws', pod_type: 's1.x1', replicas: 1, shards: 1, pods: 1 } },
  })
})

t.test('auth, unknown index and unknown route', async (t) => {
  const emu = await setup(t, [serverless('a', 2)])
  for (const url of [`${emu.url}/indexes`, `${emu.indexHost('a')}/vectors/list`, `${emu.url}/_emulator/stats`]) {
    const noKey = await call(url, 'GET', undefined, { 'x-pinecone-api-version': '2025-04' })
    t.same(
      [noKey.status, noKey.text, noKey.headers['content-type']],
      [401, 'Unauthorized', 'text/plain; charset=utf-8'],
      url,
    )
    const wrong = await call(url, 'GET', undefined, { ...H, 'api-key': 'nope' })
    t.equal(wrong.status, 401)
  }
  const unknown = await call(`${emu.indexHost('nope')}/query`, 'POST', { vector: [1, 1], topK: 1 })
  t.same([unknown.status, unknown.json], [404, { code: 5, message: 'Index nope not found.', details: [] }])
  const route = await call(`${emu.indexHost('a')}/bulk/imports`, 'GET')
  t.match([route.status, route.json], [404, { code: 5, details: [] }])
  const controlRoute = await call(`${emu.url}/backups`, 'GET')
  t.match([controlRoute.status, controlRoute.json], [404, { error: { code: 'NOT_FOUND' }, status: 404 }])
})
