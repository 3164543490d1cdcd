import t from 'tap'
import { request } from 'undici'
import { startTestEmulator } from '../helpers/emulator.js'

// What differs between API versions and limits that are easy to get wrong: the fields of
// describe_index_stats per version, Pinecone's sparse-value limit, namespaces that are not
// ASCII, and a fetch of 1,000 UUID ids (a 41 KB query string).

const KEY = 'fidelity-key'

async function call(url: string, method: string, version: string, body?: unknown) {
  const res = await request(url, {
    method: method as 'GET',
    headers: { 'api-key': KEY, 'content-type': 'application/json', 'x-pinecone-api-version': version },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.body.text()
  return { status: res.statusCode, json: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) }
}

t.test('describe_index_stats reports memory and storage fullness from 2025-10, camel case from 2026-07', async (t) => {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [
      { name: 'sv', dimension: 2, metric: 'cosine' },
      { name: 'pd', dimension: 2, metric: 'cosine', kind: 'pod' },
    ],
  })
  const fields = ['memory_fullness', 'storage_fullness', 'memoryFullness', 'storageFullness']
  const present = (json: Record<string, unknown> | undefined) => fields.filter((f) => json !== undefined && f in json)
  t.same(
    present((await call(`${emu.indexHost('sv')}/describe_index_stats`, 'POST', '2025-04', {})).json),
    [],
    '2025-04: none',
  )
  for (const version of ['2025-10', '2026-04']) {
    const r = await call(`${emu.indexHost('sv')}/describe_index_stats`, 'POST', version, {})
    t.same(present(r.json), ['memory_fullness', 'storage_fullness'], `${version}: snake case`)
    t.equal(r.json?.memory_fullness, 0, 'an on-demand index reports 0')
  }
  const r = await call(`${emu.indexHost('pd')}/describe_index_stats`, 'POST', '2026-07', {})
  t.same(present(r.json), ['memoryFullness', 'storageFullness'], '2026-07: camel case')
  t.equal(typeof r.json?.memoryFullness, 'number')
})

t.test('a sparse vector may hold 1,000 non-zero values, not more', async (t) => {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [{ name: 'sp', dimension: 0, metric: 'dotproduct', vectorType: 'sparse' }],
  })
  const sparse = (n: number) => ({
    indices: Array.from({ length: n }, (_, i) => i),
    values: Array.from({ length: n }, () => 0.5),
  })
  const ok = await call(`${emu.indexHost('sp')}/vectors/upsert`, 'POST', '2025-10', {
    vectors: [{ id: 'a', sparseValues: sparse(1000) }],
  })
  t.equal(ok.status, 200)
  const over = await call(`${emu.indexHost('sp')}/vectors/upsert`, 'POST', '2025-10', {
    vectors: [{ id: 'b', sparseValues: sparse(1001) }],
  })
  t.equal(over.status, 400)
  t.match(over.json, { code: 3, message: /1001 non-zero values, which exceeds the limit of 1000/ })
})

t.test('a namespace that is not ASCII can be described and deleted as it was written', async (t) => {
  const emu = await startTestEmulator(t, { apiKey: KEY, indexes: [{ name: 'ns', dimension: 2, metric: 'cosine' }] })
  const host = emu.indexHost('ns')
  for (const name of ['tenant-é', '名前空間', 'emoji-🚀']) {
    t.equal(
      (
        await call(`${host}/vectors/upsert`, 'POST', '2025-10', {
          namespace: name,
          vectors: [{ id: 'a', values: [1, 2] }],
        })
      ).status,
      200,
    )
    const described = await call(`${host}/namespaces/${encodeURIComponent(name)}`, 'GET', '2025-10')
    t.same([described.status, described.json], [200, { name, record_count: 1 }], `describe ${name}`)
    t.equal(
      (await call(`${host}/namespaces/${encodeURIComponent(name)}`, 'DELETE', '2025-10')).status,
      200,
      `delete ${name}`,
    )
    t.equal(
      (await call(`${host}/namespaces/${encodeURIComponent(name)}`, 'GET', '2025-10')).status,
      404,
      `${name} is gone`,
    )
  }
  const created = await call(`${host}/namespaces`, 'POST', '2025-10', { name: 'tenant-é' })
  t.equal(created.status, 400, 'a namespace created explicitly must be ASCII, as the API says')
})

t.test('a fetch of 1,000 UUID ids is answered', async (t) => {
  const emu = await startTestEmulator(t, { apiKey: KEY, indexes: [{ name: 'f', dimension: 2, metric: 'cosine' }] })
  const ids = Array.from({ length: 1000 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`)
  for (let i = 0; i < ids.length; i += 500) {
    await call(`${emu.indexHost('f')}/vectors/upsert`, 'POST', '2025-10', {
      vectors: ids.slice(i, i + 500).map((id) => ({ id, values: [1, 2] })),
    })
  }
  const query = ids.map((id) => `ids=${id}`).join('&')
  t.ok(query.length > 40_000, `a ${query.length}-byte query string`)
  const r = await call(`${emu.indexHost('f')}/vectors/fetch?${query}`, 'GET', '2025-10')
  t.equal(r.status, 200)
  t.equal(Object.keys(r.json?.vectors as object).length, 1000)
})
