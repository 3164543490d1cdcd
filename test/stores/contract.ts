// The VectorStore contract, as one suite every adapter must pass (run by
// test/stores/pinecone.test.ts against the emulator, and by the pgvector suite against
// PGlite). A store is opened fresh and empty for each test.
import { readFileSync } from 'node:fs'
import type { Metadata } from '../../src/wire/pinecone/types.js'
import type { QueryMatch, StoredVector, VectorStore } from '../../src/stores/contract.js'
import type { TestContext } from '../helpers/tap.js'
import { prng } from '../helpers/prng.js'

export interface StoreShape {
  readonly dimension: number
  readonly metric: 'cosine' | 'dotproduct' | 'euclidean'
}

export interface ContractTarget {
  readonly name: string
  /** A fresh, empty dense store of this shape; closed by the target on teardown. */
  open(t: TestContext, shape: StoreShape): Promise<VectorStore>
  /** Whether the adapter under test keeps sparse values next to dense ones (dotproduct). */
  readonly sparse: boolean
  /** The largest sparse index the store holds (Pinecone: 2^32 - 1; pgvector: 10^9 - 2). */
  readonly sparseMaxIndex: number
}

interface Corpus {
  records: Array<{ id: string; metadata: Metadata | null }>
  cases: Array<{ name: string; filter: Record<string, unknown>; ids: string[] }>
}
const corpus = JSON.parse(readFileSync(new URL('../fixtures/filters.json', import.meta.url), 'utf8')) as Corpus

function randomVectors(
  n: number,
  dimension: number,
  seed: number,
  idOf = (i: number) => `v${String(i).padStart(5, '0')}`,
): StoredVector[] {
  const next = prng(seed)
  return Array.from({ length: n }, (_, i) => ({
    id: idOf(i),
    values: Float32Array.from({ length: dimension }, () => next() * 2 - 1),
    metadata: { i, group: `g${i % 3}`, even: i % 2 === 0, tags: [`t${i % 5}`, 'all'] },
  }))
}

function sameFloats(a: Float32Array | undefined, b: Float32Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false
  return true
}

/** Pinecone's score for a metric (cosine similarity, dot product, squared L2 distance). */
function score(metric: StoreShape['metric'], a: Float32Array, b: Float32Array): number {
  let dot = 0
  let na = 0
  let nb = 0
  let l2 = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number
    const y = b[i] as number
    dot += x * y
    na += x * x
    nb += y * y
    l2 += (x - y) ** 2
  }
  return metric === 'cosine' ? dot / Math.sqrt(na * nb) : metric === 'dotproduct' ? dot : l2
}

function bruteForce(
  metric: StoreShape['metric'],
  records: StoredVector[],
  q: Float32Array,
  k: number,
): Array<{ id: string; score: number }> {
  const scored = records.map((r) => ({ id: r.id, score: score(metric, q, r.values as Float32Array) }))
  scored.sort((x, y) => (metric === 'euclidean' ? x.score - y.score : y.score - x.score))
  return scored.slice(0, k)
}

export function runStoreContract(t: TestContext, target: ContractTarget): void {
  const name = target.name

  t.test(`${name}: describe names the shape; an empty store has no namespaces`, async (t) => {
    const store = await target.open(t, { dimension: 8, metric: 'cosine' })
    const d = await store.describe()
    t.match(d, { dimension: 8, metric: 'cosine', vectorType: 'dense' })
    t.same(await store.stats(), [])
  })

  t.test(`${name}: upsert and fetch round-trip exactly, in several namespaces, metadata of every type`, async (t) => {
    const store = await target.open(t, { dimension: 5, metric: 'dotproduct' })
    const values = new Float32Array([0.1, -0.5, 3.4028234663852886e38, 1.401298464324817e-45, -0])
    const records: StoredVector[] = [
      {
        id: 'all-types',
        values,
        metadata: { s: 'text é 日本', n: 42.5, neg: -7, b: false, list: ['x', 'y', 'z'], empty: [] },
      },
      { id: 'no-metadata', values: new Float32Array([1, 2, 3, 4, 5]) },
      { id: 'odd/id #1?&=+%', values: new Float32Array([5, 4, 3, 2, 1]), metadata: { k: 'v' } },
      ...(target.sparse
        ? [
            {
              id: 'with-sparse',
              values: new Float32Array([1, 0, 0, 0, 0]),
              sparseValues: {
                indices: new Uint32Array([3, target.sparseMaxIndex]),
                values: new Float32Array([0.25, -2]),
              },
            },
          ]
        : []),
    ]
    await store.upsert('', records)
    await store.upsert('tenant-a', [
      { id: 'all-types', values: new Float32Array([9, 9, 9, 9, 9]), metadata: { other: 'ns' } },
    ])
    const got = await store.fetch('', [...records.map((r) => r.id), 'missing'])
    t.equal(got.size, records.length, 'missing ids are absent')
    for (const r of records) {
      const g = got.get(r.id)
      t.ok(g, `${r.id} fetched`)
      t.ok(sameFloats(g?.values, r.values), `${r.id}: dense values bit for bit`)
      if (r.sparseValues) {
        t.same(
          Array.from(g?.sparseValues?.indices ?? []),
          Array.from(r.sparseValues.indices),
          `${r.id}: sparse indices`,
        )
        t.ok(sameFloats(g?.sparseValues?.values, r.sparseValues.values), `${r.id}: sparse values`)
      }
      // An empty list is a list; a record without metadata has none.
      t.same(g?.metadata ?? {}, r.metadata ?? {}, `${r.id}: metadata`)
    }
    const other = await store.fetch('tenant-a', ['all-types'])
    t.same(other.get('all-types')?.metadata, { other: 'ns' }, 'namespaces are separate')
    t.same(await store.stats(), [
      { namespace: '', vectorCount: records.length },
      { namespace: 'tenant-a', vectorCount: 1 },
    ])
  })

  t.test(`${name}: calls larger than one request's limits are batched`, async (t) => {
    const store = await target.open(t, { dimension: 4, metric: 'cosine' })
    const records = randomVectors(2500, 4, 3)
    await store.upsert('big', records)
    const got = await store.fetch(
      'big',
      records.map((r) => r.id),
    )
    t.equal(got.size, 2500, 'every record of a 2500-record upsert is there, fetched in one call')
    await store.delete('big', { ids: records.slice(0, 1500).map((r) => r.id) })
    t.same(await store.stats(), [{ namespace: 'big', vectorCount: 1000 }], 'a 1500-id delete removed them all')
  })

  t.test(`${name}: list pages through every id in byte order, with a prefix`, async (t) => {
    const store = await target.open(t, { dimension: 3, metric: 'cosine' })
    const d = await store.describe()
    if (!d.canList) {
      await t.rejects(store.list(''), { code: 'VECSHIFT_ERR_STORE_UNSUPPORTED' })
      return
    }
    const ids = [
      'a',
      'b',
      'B',
      'a-1',
      'a-10',
      'a-2',
      '~tilde',
      'z',
      'doc#1',
      'doc#2',
      ...Array.from({ length: 230 }, (_, i) => `bulk-${i}`),
    ]
    await store.upsert(
      '',
      ids.map((id, i) => ({ id, values: new Float32Array([1, i, 2]) })),
    )
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await store.list('', { limit: 50, ...(cursor ? { cursor } : {}) })
      seen.push(...page.ids)
      cursor = page.next
      pages++
    } while (cursor && pages < 100)
    const bytewise = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    t.same(seen, bytewise, 'every id once, in bytewise order')
    t.ok(pages >= 5, `${pages} pages`)
    const prefixed = await store.list('', { prefix: 'a-' })
    t.same(prefixed.ids, ['a-1', 'a-10', 'a-2'])
    t.same((await store.list('nothing-here')).ids, [])
  })

  for (const metric of ['cosine', 'dotproduct', 'euclidean'] as const) {
    t.test(`${name}: query (${metric}) returns the exact top-k with Pinecone's scores`, async (t) => {
      const store = await target.open(t, { dimension: 16, metric })
      const records = randomVectors(300, 16, 11)
      await store.upsert('q', records)
      const next = prng(5)
      for (let i = 0; i < 5; i++) {
        const q = Float32Array.from({ length: 16 }, () => next() * 2 - 1)
        const want = bruteForce(metric, records, q, 10)
        const got = await store.query('q', { vector: q, topK: 10 })
        t.same(
          got.map((m) => m.id),
          want.map((m) => m.id),
          `query ${i}: ids in order`,
        )
        const drift = Math.max(...got.map((m, j) => Math.abs(m.score - (want[j]?.score ?? NaN))))
        t.ok(drift < 1e-4, `query ${i}: scores within 1e-4 (${drift})`)
      }
      const byId = await store.query('q', { id: 'v00007', topK: 3, includeValues: true, includeMetadata: true })
      t.equal(byId[0]?.id, 'v00007', 'query by id finds the record itself first')
      t.ok(sameFloats(byId[0]?.values, records[7]?.values), 'includeValues')
      t.same(byId[0]?.metadata, records[7]?.metadata, 'includeMetadata')
      const bare = await store.query('q', { id: 'v00007', topK: 3 })
      t.equal(bare[0]?.values, undefined, 'no values unless asked')
      t.equal(bare[0]?.metadata, undefined, 'no metadata unless asked')
    })
  }

  t.test(`${name}: the whole filter corpus selects exactly its ids`, async (t) => {
    const store = await target.open(t, { dimension: 2, metric: 'cosine' })
    await store.upsert(
      'f',
      corpus.records.map((r, i) => ({
        id: r.id,
        values: new Float32Array([1, i + 1]),
        ...(r.metadata ? { metadata: r.metadata } : {}),
      })),
    )
    for (const c of corpus.cases) {
      const got: QueryMatch[] = await store.query('f', {
        vector: new Float32Array([1, 1]),
        topK: 100,
        filter: c.filter,
      })
      t.same(got.map((m) => m.id).sort(), c.ids, c.name)
    }
  })

  t.test(`${name}: update by id replaces values and merges metadata; by filter merges into every match`, async (t) => {
    const store = await target.open(t, { dimension: 3, metric: 'cosine' })
    await store.upsert('', [
      { id: 'a', values: new Float32Array([1, 0, 0]), metadata: { genre: 'drama', year: 2001 } },
      { id: 'b', values: new Float32Array([0, 1, 0]), metadata: { genre: 'drama' } },
      { id: 'c', values: new Float32Array([0, 0, 1]), metadata: { genre: 'comedy' } },
    ])
    await store.update('', {
      id: 'a',
      values: new Float32Array([0.5, 0.5, 0]),
      setMetadata: { year: 2002, extra: true },
    })
    const a = (await store.fetch('', ['a'])).get('a')
    t.ok(sameFloats(a?.values, new Float32Array([0.5, 0.5, 0])), 'values replaced')
    t.same(a?.metadata, { genre: 'drama', year: 2002, extra: true }, 'metadata merged')
    const r = await store.update('', { filter: { genre: 'drama' }, setMetadata: { flagged: 'yes' } })
    if (r.matched !== undefined) t.equal(r.matched, 2, 'matched count')
    const all = await store.fetch('', ['a', 'b', 'c'])
    t.equal(all.get('a')?.metadata?.flagged, 'yes')
    t.equal(all.get('b')?.metadata?.flagged, 'yes')
    t.equal(all.get('c')?.metadata?.flagged, undefined, 'non-matching record untouched')
  })

  t.test(`${name}: delete by ids, by filter and all; deleting what is not there is no error`, async (t) => {
    const store = await target.open(t, { dimension: 2, metric: 'cosine' })
    await store.upsert('d', [
      { id: 'a', values: new Float32Array([1, 0]), metadata: { k: 1 } },
      { id: 'b', values: new Float32Array([0, 1]), metadata: { k: 2 } },
      { id: 'c', values: new Float32Array([1, 1]), metadata: { k: 2 } },
      { id: 'd', values: new Float32Array([1, 2]), metadata: { k: 3 } },
    ])
    await store.upsert('keep', [{ id: 'a', values: new Float32Array([1, 0]) }])
    await store.delete('d', { ids: ['a', 'never-was'] })
    t.same([...(await store.fetch('d', ['a', 'b', 'c', 'd'])).keys()].sort(), ['b', 'c', 'd'])
    await store.delete('d', { filter: { k: 2 } })
    t.same([...(await store.fetch('d', ['a', 'b', 'c', 'd'])).keys()], ['d'])
    await store.delete('d', { deleteAll: true })
    t.equal((await store.fetch('d', ['d'])).size, 0)
    await store.delete('no-such-namespace', { deleteAll: true })
    await store.delete('no-such-namespace', { ids: ['x'] })
    t.equal((await store.fetch('keep', ['a'])).size, 1, 'other namespaces untouched')
  })

  t.test(
    `${name}: a created namespace exists before it holds a record; creating it again is fine; ` +
      'it outlives deleteAll, not a namespace delete',
    async (t) => {
      const store = await target.open(t, { dimension: 2, metric: 'cosine' })
      t.ok(store.createNamespace, 'the adapter creates namespaces')
      await store.createNamespace?.('made', { fields: { genre: { filterable: true } } })
      await store.createNamespace?.('made')
      t.same(await store.stats(), [{ namespace: 'made', vectorCount: 0 }])
      await store.upsert('made', [{ id: 'a', values: new Float32Array([1, 0]) }])
      t.same(await store.stats(), [{ namespace: 'made', vectorCount: 1 }])
      await store.delete('made', { deleteAll: true })
      t.same(await store.stats(), [{ namespace: 'made', vectorCount: 0 }], 'deleteAll empties it')
      t.ok(store.deleteNamespace, 'the adapter deletes namespaces')
      await store.deleteNamespace?.('made')
      t.same(await store.stats(), [], 'a namespace delete removes it')
      await store.deleteNamespace?.('made')
      await store.upsert('implicit', [{ id: 'a', values: new Float32Array([1, 0]) }])
      await store.deleteNamespace?.('implicit')
      t.same(await store.stats(), [], 'one that exists only through its records goes too')
    },
  )
}
