import t from 'tap'
import { request } from 'undici'
import { startTestEmulator } from '../helpers/emulator.js'
import { prng } from '../helpers/prng.js'

// The emulator's query against a brute-force reference written here, on seeded random data,
// for every metric and a few hundred random filters. The reference scores in float64 over the
// float32 values the emulator stores, and filters with its own straightforward interpreter.

const H = { 'content-type': 'application/json', 'x-pinecone-api-version': '2026-07' }

type Meta = Record<string, string | number | boolean | string[]>
type Filter = Record<string, unknown>
interface Rec {
  id: string
  values: number[]
  metadata?: Meta
}

const CATS = ['a', 'b', 'c', 'd', 'e']
const TAGS = ['x', 'y', 'z', 'w']

function makeRecords(rand: () => number, n: number, dim: number): Rec[] {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!
  return Array.from({ length: n }, (_, i) => {
    const values = Array.from({ length: dim }, () => rand() * 2 - 1)
    const metadata: Meta = {}
    if (rand() < 0.85) metadata.cat = pick(CATS)
    if (rand() < 0.85) metadata.num = Math.floor(rand() * 20)
    if (rand() < 0.7) metadata.price = Math.round(rand() * 1000) / 10
    if (rand() < 0.7) metadata.tags = TAGS.filter(() => rand() < 0.4)
    if (rand() < 0.7) metadata.flag = rand() < 0.5
    return { id: `id-${String(i).padStart(4, '0')}`, values, ...(Object.keys(metadata).length ? { metadata } : {}) }
  })
}

function randomLeaf(rand: () => number): Filter {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!
  const field = pick(['cat', 'num', 'price', 'tags', 'flag', 'missing'])
  const scalar = (): string | number | boolean =>
    field === 'cat' || field === 'tags' || field === 'missing'
      ? pick([...CATS, ...TAGS])
      : field === 'flag'
        ? rand() < 0.5
        : Math.floor(rand() * 20)
  const op = pick(['bare', '$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists'])
  switch (op) {
    case 'bare':
      return { [field]: scalar() }
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte':
      return { [field]: { [op]: Math.floor(rand() * 100) / 5 } }
    case '$in':
    case '$nin': {
      const values =
        field === 'num' || field === 'price'
          ? [1, 3, 5, 8, 13].filter(() => rand() < 0.6)
          : [...CATS, ...TAGS].filter(() => rand() < 0.3)
      return { [field]: { [op]: values } }
    }
    case '$exists':
      return { [field]: { $exists: rand() < 0.5 } }
    default: {
      const v = scalar()
      return { [field]: { [op]: v } }
    }
  }
}

function randomFilter(rand: () => number, depth = 0): Filter {
  const r = rand()
  if (depth < 2 && r < 0.2) return { $and: [randomFilter(rand, depth + 1), randomFilter(rand, depth + 1)] }
  if (depth < 2 && r < 0.4)
    return { $or: [randomFilter(rand, depth + 1), randomFilter(rand, depth + 1), randomFilter(rand, depth + 1)] }
  if (r < 0.55) {
    const a = randomLeaf(rand)
    const b = randomLeaf(rand)
    if (Object.keys(a)[0] !== Object.keys(b)[0]) return { ...a, ...b } // two fields ANDed
  }
  return randomLeaf(rand)
}

// The reference interpreter: the documented semantics, written plainly.
function matches(md: Meta | undefined, filter: Filter): boolean {
  return Object.entries(filter).every(([key, cond]) => {
    if (key === '$and') return (cond as Filter[]).every((f) => matches(md, f))
    if (key === '$or') return (cond as Filter[]).some((f) => matches(md, f))
    const v = md?.[key]
    const ops =
      cond !== null && typeof cond === 'object' && !Array.isArray(cond)
        ? (cond as Record<string, unknown>)
        : { $eq: cond }
    return Object.entries(ops).every(([op, x]) => {
      const list = Array.isArray(v) ? v : v === undefined ? [] : [v]
      switch (op) {
        case '$eq':
          return list.some((e) => e === x)
        case '$ne':
          return !list.some((e) => e === x)
        case '$in':
          return list.some((e) => (x as unknown[]).includes(e))
        case '$nin':
          return !list.some((e) => (x as unknown[]).includes(e))
        case '$gt':
          return typeof v === 'number' && v > (x as number)
        case '$gte':
          return typeof v === 'number' && v >= (x as number)
        case '$lt':
          return typeof v === 'number' && v < (x as number)
        case '$lte':
          return typeof v === 'number' && v <= (x as number)
        case '$exists':
          return (v !== undefined) === x
        default:
          throw new Error(`reference does not know ${op}`)
      }
    })
  })
}

function referenceQuery(records: Rec[], metric: string, query: number[], topK: number, filter?: Filter) {
  const q = query.map(Math.fround)
  const qn = Math.sqrt(q.reduce((s, x) => s + x * x, 0))
  const scored = records
    .filter((r) => filter === undefined || matches(r.metadata, filter))
    .map((r) => {
      const v = r.values.map(Math.fround)
      let dot = 0
      let dist = 0
      let vn = 0
      for (let i = 0; i < v.length; i++) {
        dot += q[i]! * v[i]!
        dist += (q[i]! - v[i]!) ** 2
        vn += v[i]! * v[i]!
      }
      const score = metric === 'cosine' ? dot / (qn * Math.sqrt(vn)) : metric === 'dotproduct' ? dot : dist
      return { id: r.id, score }
    })
  scored.sort((a, b) => (metric === 'euclidean' ? a.score - b.score : b.score - a.score) || (a.id < b.id ? -1 : 1))
  return scored.slice(0, topK)
}

async function post(url: string, body: unknown): Promise<unknown> {
  const res = await request(url, { method: 'POST', headers: H, body: JSON.stringify(body) })
  const json = await res.body.json()
  if (res.statusCode !== 200 && res.statusCode !== 201)
    throw new Error(`${url}: ${res.statusCode} ${JSON.stringify(json)}`)
  return json
}

for (const [metric, dim, n, seed] of [
  ['cosine', 24, 800, 1],
  ['dotproduct', 24, 800, 2],
  ['euclidean', 24, 800, 3],
  ['cosine', 1536, 300, 4],
] as const) {
  t.test(
    `${metric}, dim ${dim}: top-k ids and scores equal the brute-force reference under random filters`,
    async (t) => {
      const emu = await startTestEmulator(t)
      const rand = prng(seed)
      await post(`${emu.url}/indexes`, {
        name: 'ref',
        schema: { fields: { _values: { type: 'dense_vector', dimension: dim, metric } } },
      })
      const records = makeRecords(rand, n, dim)
      // 50 at a time: 100 random 1536-dim vectors as JSON exceed Pinecone's 2 MB request limit.
      for (let i = 0; i < records.length; i += 50) {
        await post(`${emu.indexHost('ref')}/vectors/upsert`, { vectors: records.slice(i, i + 50), namespace: 'r' })
      }
      let compared = 0
      let nonEmpty = 0
      const queries = dim > 100 ? 20 : 80
      for (let qi = 0; qi < queries; qi++) {
        const vector = Array.from({ length: dim }, () => rand() * 2 - 1)
        const topK = 1 + Math.floor(rand() * 25)
        const filter = qi % 4 === 0 ? undefined : randomFilter(rand)
        const got = (await post(`${emu.indexHost('ref')}/query`, {
          vector,
          topK,
          namespace: 'r',
          ...(filter ? { filter } : {}),
        })) as { matches: Array<{ id: string; score: number }> }
        const want = referenceQuery(records, metric, vector, topK, filter)
        const label = `query ${qi} ${JSON.stringify(filter ?? null)}`
        if (JSON.stringify(got.matches.map((m) => m.id)) !== JSON.stringify(want.map((m) => m.id))) {
          t.same(
            got.matches.map((m) => m.id),
            want.map((m) => m.id),
            label,
          )
          continue
        }
        for (let i = 0; i < want.length; i++) {
          // The emulator answers float32 scores; compare with the reference rounded the same way.
          if (
            Math.fround(got.matches[i]!.score) !== Math.fround(want[i]!.score) &&
            Math.abs(got.matches[i]!.score - want[i]!.score) > 1e-6 * Math.max(1, Math.abs(want[i]!.score))
          ) {
            t.equal(got.matches[i]!.score, Math.fround(want[i]!.score), `${label}: score of ${want[i]!.id}`)
          }
        }
        compared++
        if (want.length > 0) nonEmpty++
      }
      t.equal(compared, queries, 'every query agreed with the reference')
      t.ok(nonEmpty > queries / 2, `most queries matched something (${nonEmpty}/${queries})`)
    },
  )
}

t.test('sparse index: dot product over shared indices equals the reference', async (t) => {
  const emu = await startTestEmulator(t)
  const rand = prng(9)
  await post(`${emu.url}/indexes`, { name: 'sp', schema: { fields: { _sparse_values: { type: 'sparse_vector' } } } })
  const sparse = () => {
    const indices = [...new Set(Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 50)))]
    return { indices, values: indices.map(() => rand()) }
  }
  const records = Array.from({ length: 300 }, (_, i) => ({
    id: `s${String(i).padStart(3, '0')}`,
    sparseValues: sparse(),
  }))
  await post(`${emu.indexHost('sp')}/vectors/upsert`, { vectors: records })
  for (let qi = 0; qi < 30; qi++) {
    const q = sparse()
    const want = records
      .map((r) => {
        let s = 0
        r.sparseValues.indices.forEach((idx, k) => {
          const j = q.indices.indexOf(idx)
          if (j >= 0) s += Math.fround(q.values[j]!) * Math.fround(r.sparseValues.values[k]!)
        })
        return { id: r.id, score: s }
      })
      .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
      .slice(0, 10)
    const got = (await post(`${emu.indexHost('sp')}/query`, { sparseVector: q, topK: 10 })) as {
      matches: Array<{ id: string; score: number }>
    }
    // Scores come back as float32 in shortest form: compare as float32.
    t.same(
      got.matches.map((m) => [m.id, Math.fround(m.score)]),
      want.map((m) => [m.id, Math.fround(m.score)]),
      `sparse query ${qi}`,
    )
  }
})
