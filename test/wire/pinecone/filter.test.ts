import { readFileSync } from 'node:fs'
import t from 'tap'
import { request } from 'undici'
import { isPineconeError } from '../../../src/wire/pinecone/errors.js'
import { compileFilter } from '../../../src/wire/pinecone/filter.js'
import type { Metadata } from '../../../src/emulator/records.js'
import { startTestEmulator } from '../../helpers/emulator.js'

// The filter corpus (test/fixtures/filters.json) is data so other stores can be held to the
// same semantics; here it is run against the compiled predicate and through the HTTP API.

interface Corpus {
  records: Array<{ id: string; metadata: Metadata | null }>
  cases: Array<{ name: string; filter: unknown; ids: string[] }>
  invalid: Array<{ name: string; filter: unknown; status: number }>
}
const corpus = JSON.parse(readFileSync(new URL('../../fixtures/filters.json', import.meta.url), 'utf8')) as Corpus
const HEADERS = { 'content-type': 'application/json', 'x-pinecone-api-version': '2025-10' }

t.test('every corpus case matches exactly its ids', async (t) => {
  for (const c of corpus.cases) {
    const p = compileFilter(c.filter)
    const ids = corpus.records.filter((r) => p(r.metadata)).map((r) => r.id)
    t.same(ids, c.ids, c.name)
  }
})

t.test('every invalid filter is refused with a Pinecone 400 (code 3)', async (t) => {
  for (const c of corpus.invalid) {
    try {
      compileFilter(c.filter)
      t.fail(`${c.name}: accepted`)
    } catch (err) {
      t.ok(isPineconeError(err), c.name)
      if (!isPineconeError(err)) continue
      t.equal(err.status, c.status, c.name)
      t.match(err.body, { code: 3, message: /^Invalid filter: /, details: [] }, c.name)
    }
  }
})

t.test('the corpus through the HTTP API: fetch_by_metadata, query and update dryRun', async (t) => {
  const emu = await startTestEmulator(t)
  const created = await request(`${emu.url}/indexes`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({
      name: 'filters',
      dimension: 2,
      metric: 'cosine',
      spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
    }),
  })
  t.equal(created.statusCode, 201)
  await created.body.dump()
  const host = emu.indexHost('filters')
  const vectors = corpus.records.map((r, i) => ({
    id: r.id,
    values: [1, i + 1],
    ...(r.metadata === null ? {} : { metadata: r.metadata }),
  }))
  const up = await request(`${host}/vectors/upsert`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ vectors, namespace: 'f' }),
  })
  t.same(await up.body.json(), { upsertedCount: corpus.records.length })

  for (const c of corpus.cases) {
    const res = await request(`${host}/vectors/fetch_by_metadata`, {
      method: 'POST',
      headers: HEADERS,
      body: JSON.stringify({ filter: c.filter, namespace: 'f', limit: 100 }),
    })
    t.equal(res.statusCode, 200, `${c.name}: status`)
    const body = (await res.body.json()) as { vectors: Record<string, unknown> }
    t.same(Object.keys(body.vectors).sort(), c.ids, `${c.name}: fetch_by_metadata`)

    const q = await request(`${host}/query`, {
      method: 'POST',
      headers: HEADERS,
      body: JSON.stringify({ vector: [1, 1], topK: 100, filter: c.filter, namespace: 'f' }),
    })
    const matches = ((await q.body.json()) as { matches: Array<{ id: string }> }).matches
    t.same(matches.map((m) => m.id).sort(), c.ids, `${c.name}: query`)

    const dry = await request(`${host}/vectors/update`, {
      method: 'POST',
      headers: HEADERS,
      body: JSON.stringify({ filter: c.filter, dryRun: true, namespace: 'f' }),
    })
    t.same(await dry.body.json(), { matchedRecords: c.ids.length }, `${c.name}: update dryRun`)
  }

  for (const c of corpus.invalid) {
    const res = await request(`${host}/query`, {
      method: 'POST',
      headers: HEADERS,
      body: JSON.stringify({ vector: [1, 1], topK: 1, filter: c.filter, namespace: 'f' }),
    })
    t.equal(res.statusCode, c.status, `${c.name}: status`)
    t.match(await res.body.json(), { code: 3, message: String, details: [] }, `${c.name}: body`)
  }
})
