// The pgvector adapter against Postgres + pgvector (PGlite over its socket server): the
// shared contract (exact search, so top-k is comparable with a brute force), then what is
// pgvector's own: schema creation, HNSW plans, parameterised filters, sparse limits.
import t from 'tap'
import { PgvectorStore } from '../../src/stores/pgvector/store.js'
import { startTestPostgres } from '../helpers/pglite.js'
import type { TestContext } from '../helpers/tap.js'
import { runStoreContract } from './contract.js'

const pg = await startTestPostgres(t)
let counter = 0

function storeFor(
  t: TestContext,
  table: string,
  extra: Partial<ConstructorParameters<typeof PgvectorStore>[0]> = {},
): PgvectorStore {
  const store = new PgvectorStore({ role: 'target', table, pool: pg.poolConfig(), search: 'exact', ...extra })
  t.teardown(() => store.close())
  return store
}

runStoreContract(t, {
  name: 'pgvector (PGlite)',
  sparse: true,
  sparseMaxIndex: 999_999_998,
  async open(t, shape) {
    const store = storeFor(t, `contract_${++counter}`)
    await store.createSchema({ dimension: shape.dimension, metric: shape.metric })
    return store
  },
})

t.test('pgvector: schema creation is explicit, idempotent, and refuses a table of another shape', async (t) => {
  const store = storeFor(t, 'shape_check')
  await t.rejects(store.describe(), {
    code: 'VECSHIFT_ERR_STORE_NOT_FOUND',
    message: /target pgvector table public.shape_check does not exist/,
  })
  await store.createSchema({ dimension: 3, metric: 'euclidean' })
  await store.createSchema({ dimension: 3, metric: 'euclidean' })
  t.match(await store.describe(), { kind: 'pgvector', dimension: 3, metric: 'euclidean', canList: true })
  const again = storeFor(t, 'shape_check')
  await t.rejects(again.createSchema({ dimension: 4, metric: 'euclidean' }), {
    code: 'VECSHIFT_ERR_STORE_REFUSED',
    message: /holds dense 3-d euclidean vectors, not dense 4-d euclidean/,
  })
  // A table vecshift did not create has no shape comment: refused rather than guessed.
  await rawQuery('CREATE TABLE not_ours (id text)')
  await t.rejects(storeFor(t, 'not_ours').describe(), {
    code: 'VECSHIFT_ERR_STORE_UNSUPPORTED',
    message: /a table vecshift did not create/,
  })
  t.throws(() => new PgvectorStore({ role: 'target', table: 'Bad-Name', pool: pg.poolConfig() }), {
    code: 'VECSHIFT_ERR_CONFIG_INVALID',
  })
})

t.test('pgvector: the HNSW index follows the metric, and hnsw-mode queries find what exact ones do', async (t) => {
  for (const metric of ['cosine', 'dotproduct', 'euclidean'] as const) {
    const table = `hnsw_${metric}`
    const exact = storeFor(t, table)
    await exact.createSchema({ dimension: 8, metric })
    const approx = storeFor(t, table, { search: 'hnsw' })
    const vectors = Array.from({ length: 200 }, (_, i) => ({
      id: `v${i}`,
      values: Float32Array.from({ length: 8 }, (_, d) => Math.sin(i * 7 + d * 3)),
    }))
    await exact.upsert('', vectors)
    const q = Float32Array.from({ length: 8 }, (_, d) => Math.cos(d))
    const want = (await exact.query('', { vector: q, topK: 10 })).map((m) => m.id)
    const got = (await approx.query('', { vector: q, topK: 10 })).map((m) => m.id)
    const overlap = got.filter((id) => want.includes(id)).length
    t.ok(overlap >= 9, `${metric}: hnsw top-10 overlaps exact top-10 in ${overlap}`)
  }
  const defs = await rawQuery(
    `SELECT indexdef FROM pg_indexes WHERE tablename LIKE 'hnsw_%' AND indexdef LIKE '%USING hnsw%' ORDER BY tablename`,
  )
  t.match(
    defs.map((r) => r.indexdef),
    [
      /USING hnsw \(embedding vector_cosine_ops\)/,
      /USING hnsw \(embedding vector_ip_ops\)/,
      /USING hnsw \(embedding vector_l2_ops\)/,
    ],
  )
})

t.test('pgvector: a bulk load can defer the HNSW index and build it once, idempotently', async (t) => {
  const store = storeFor(t, 'deferred', { maintenanceWorkMem: '128MB' })
  await store.createSchema({ dimension: 4, metric: 'cosine', deferIndex: true })
  const hnsw = async () =>
    (await rawQuery(`SELECT indexdef FROM pg_indexes WHERE tablename = 'deferred' AND indexdef LIKE '%USING hnsw%'`))
      .length
  t.equal(await hnsw(), 0, 'no HNSW index while loading')
  await store.upsert(
    '',
    Array.from({ length: 50 }, (_, i) => ({
      id: `d${i}`,
      values: Float32Array.from({ length: 4 }, (_, d) => Math.sin(i + d)),
    })),
  )
  let started = 0
  t.equal(
    await store.buildIndexes(() => {
      started++
    }),
    true,
    'built',
  )
  t.equal(started, 1, 'onStart called before the build')
  t.equal(await hnsw(), 1, 'the index exists after the build')
  t.equal(
    await storeFor(t, 'deferred').buildIndexes(() => {
      started++
    }),
    false,
    'a second call finds it and does nothing',
  )
  t.equal(started, 1)
  // maintenance_work_mem was raised for the build's transaction only.
  t.same(await rawQuery('SHOW maintenance_work_mem'), [{ maintenance_work_mem: '64MB' }])
  t.equal((await store.query('', { vector: Float32Array.of(1, 0, 0, 0), topK: 3 })).length, 3)
})

t.test('pgvector: filter fields and values are bind parameters, never SQL', async (t) => {
  const store = storeFor(t, 'injection')
  await store.createSchema({ dimension: 2, metric: 'cosine' })
  const evil = "x'); DROP TABLE injection; --"
  await store.upsert('', [
    { id: 'a', values: new Float32Array([1, 0]), metadata: { [evil]: evil } },
    { id: 'b', values: new Float32Array([0, 1]) },
  ])
  const hits = await store.query('', { vector: new Float32Array([1, 1]), topK: 5, filter: { [evil]: { $eq: evil } } })
  t.same(
    hits.map((m) => m.id),
    ['a'],
  )
  await store.delete('', { filter: { [evil]: { $in: [evil, '%'] } } })
  t.same(
    [...(await store.fetch('', ['a', 'b'])).keys()],
    ['b'],
    'the table is still there; only the matching record went',
  )
  await store.upsert(
    '',
    ['p%1', 'p_2', 'pa3'].map((id) => ({ id, values: new Float32Array([1, 1]) })),
  )
  t.same((await store.list('', { prefix: 'p%' })).ids, ['p%1'], 'a prefix is a prefix, not a LIKE pattern')
})

t.test('pgvector: sparse indices beyond what sparsevec holds are refused with the reason', async (t) => {
  const store = storeFor(t, 'sparse_limit')
  await store.createSchema({ dimension: 2, metric: 'dotproduct' })
  await t.rejects(
    store.upsert('', [
      {
        id: 's',
        values: new Float32Array([1, 1]),
        sparseValues: { indices: new Uint32Array([4294967295]), values: new Float32Array([1]) },
      },
    ]),
    {
      code: 'VECSHIFT_ERR_STORE_UNSUPPORTED',
      message: /sparse index 4294967295 of record s: pgvector's sparsevec holds indices below 1000000000/,
    },
  )
})

t.test('pgvector: an unreachable database ends in STORE_UNAVAILABLE after bounded retries', async (t) => {
  const store = new PgvectorStore({
    role: 'target',
    table: 'nowhere',
    pool: { host: '127.0.0.1', port: 1, user: 'postgres', database: 'postgres', max: 1 },
    retry: { baseMs: 10, maxMs: 50, deadlineMs: 300 },
  })
  t.teardown(() => store.close())
  await t.rejects(store.stats(), {
    code: 'VECSHIFT_ERR_STORE_UNAVAILABLE',
    message: /target pgvector table public.nowhere did not answer usably \(last: ECONNREFUSED\)/,
  })
  t.ok(store.counters.retries >= 1, `${store.counters.retries} retries`)
})

async function rawQuery(text: string): Promise<Array<Record<string, string>>> {
  const { default: pgModule } = await import('pg')
  const client = new pgModule.Client(pg.poolConfig())
  await client.connect()
  try {
    return (await client.query(text)).rows as Array<Record<string, string>>
  } finally {
    await client.end()
  }
}
