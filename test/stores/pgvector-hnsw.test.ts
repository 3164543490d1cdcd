// Issue 16, first step: queries served from pgvector's HNSW index return the full topK, in
// score order, at a size where Postgres answers from the index. Without the per-query
// settings (iterative scan, ef_search >= topK) the index yields ef_search (40) candidates
// and the namespace or filter condition drops most of them: on this table a filtered query
// in one of 40 namespaces returned 0 rows and a topK 500 query 13.
import t from 'tap'
import { PgvectorStore } from '../../src/stores/pgvector/store.js'
import { startTestPostgres } from '../helpers/pglite.js'
import { prng } from '../helpers/prng.js'

const DIM = 32
const NAMESPACES = 40
const PER_NAMESPACE = 200
const BIG = 5_000

t.test('pgvector under HNSW: every query returns min(topK, matching rows), in score order', async (t) => {
  const pg = await startTestPostgres(t)
  const store = new PgvectorStore({ role: 'target', table: 'hnsw_sized', pool: pg.poolConfig() })
  const exact = new PgvectorStore({ role: 'target', table: 'hnsw_sized', pool: pg.poolConfig(), search: 'exact' })
  t.teardown(async () => { await store.close(); await exact.close() })
  await store.createSchema({ dimension: DIM, metric: 'cosine', deferIndex: true })
  const r = prng(16)
  const vec = () => Float32Array.from({ length: DIM }, () => r() - 0.5)
  for (let ns = 0; ns < NAMESPACES; ns++) {
    await store.upsert(`ns${ns}`, Array.from({ length: PER_NAMESPACE }, (_, i) => ({ id: `n${ns}-${i}`, values: vec(), metadata: { g: i % 10 } })))
  }
  await store.upsert('big', Array.from({ length: BIG }, (_, i) => ({ id: `b-${i}`, values: vec(), metadata: { g: i % 10 } })))
  t.ok(await store.buildIndexes(), 'the HNSW index is built after the load')

  const cases = [
    { namespace: 'ns5', topK: 10 },
    { namespace: 'ns42', topK: 10, note: 'no such namespace' },
    { namespace: 'ns17', topK: 10, filter: { g: { $eq: 3 } } },
    { namespace: 'ns33', topK: 50, filter: { g: { $in: [1, 2] } } },
    { namespace: 'ns8', topK: 500 },
    { namespace: 'big', topK: 10 },
    { namespace: 'big', topK: 500 },
    { namespace: 'big', topK: 1_000 },
    { namespace: 'big', topK: 2_000, filter: { g: { $lt: 5 } } },
    { namespace: 'big', topK: 5_000 },
    { namespace: 'big', topK: 10_000 },
  ] as const
  for (const c of cases) {
    const vector = vec()
    const request = { topK: c.topK, vector, ...('filter' in c ? { filter: c.filter } : {}) }
    const [served, truth] = await Promise.all([store.query(c.namespace, request), exact.query(c.namespace, request)])
    const what = `${c.namespace} topK ${c.topK}${'filter' in c ? ` filter ${JSON.stringify(c.filter)}` : ''}`
    t.equal(served.length, truth.length, `${what}: ${served.length} results, as many as match (${truth.length})`)
    t.ok(served.every((m, i) => i === 0 || (served[i - 1]?.score ?? Infinity) >= m.score), `${what}: in score order`)
    if (truth.length > 0) {
      const want = new Set(truth.map((m) => m.id))
      const recall = served.filter((m) => want.has(m.id)).length / truth.length
      t.ok(recall >= 0.9, `${what}: recall ${recall.toFixed(3)} against exact search`)
    }
  }
})
