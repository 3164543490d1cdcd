// Issue 17: what Pinecone accepts and Postgres cannot hold as it is — NUL (refused by jsonb
// as \u0000, and by text columns) and lone surrogates (refused by jsonb, turned into U+FFFD
// in text columns) — is stored reversibly by the pgvector adapter (src/stores/pgvector/
// escape.ts) and comes back exactly: namespaces, metadata keys and strings, in fetch, query,
// list, stats and filters. Without the encoding the upsert below fails with 22P05 and the
// namespace comes back as "c370-\uFFFD".
import t from 'tap'
import type { Metadata } from '../../src/wire/pinecone/types.js'
import { decodeText, encodeText } from '../../src/stores/pgvector/escape.js'
import { PgvectorStore } from '../../src/stores/pgvector/store.js'
import { startTestPostgres } from '../helpers/pglite.js'

const ODD = [
  'c370-\ud800',
  '\udfff',
  '\ude00\ud83d',
  '\uD800\u0041',
  'a\u0000b',
  '\u0000',
  '\uFDD0starts-with-the-mark',
  '__proto__',
  'constructor',
  'plain é 日本 😀',
]

t.test('encodeText/decodeText: exact for every string, and the identity on ordinary text', async (t) => {
  for (const s of [...ODD, '', 'x', '\uFDD0', '\\u0000', '"quoted"']) {
    const e = encodeText(s)
    t.equal(decodeText(e), s, JSON.stringify(s))
    t.notOk(e.includes('\u0000'), `${JSON.stringify(s)}: no NUL stored`)
    t.ok((e as unknown as { isWellFormed(): boolean }).isWellFormed(), `${JSON.stringify(s)}: well-formed`)
  }
  t.equal(encodeText('plain é 日本 😀'), 'plain é 日本 😀', 'ordinary text is stored as it is')
})

t.test(
  'pgvector stores every namespace, metadata key and string Pinecone accepts, and gives it back unchanged',
  async (t) => {
    const pg = await startTestPostgres(t)
    const store = new PgvectorStore({ role: 'target', table: 'odd_values', pool: pg.poolConfig(), search: 'exact' })
    t.teardown(() => store.close())
    await store.createSchema({ dimension: 2, metric: 'cosine' })
    for (const [i, ns] of ODD.entries()) {
      const metadata = JSON.parse(
        `{${JSON.stringify(ns)}: ${JSON.stringify(ns)}, "list": [${JSON.stringify(ns)}, "x"], "n": ${i}}`,
      ) as Metadata
      await store.upsert(ns, [
        { id: `v${i}`, values: Float32Array.of(1, i + 1), metadata },
        { id: 'other', values: Float32Array.of(i + 1, 1), metadata: { n: -1 } },
      ])
      const got = (await store.fetch(ns, [`v${i}`])).get(`v${i}`)
      // jsonb orders keys its own way (a map has no order); keys and values must be exact.
      const entries = (md: Metadata) => Object.entries(md).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      t.same(
        entries(got?.metadata ?? {}),
        entries(metadata),
        `${JSON.stringify(ns)}: metadata back as stored, keys and strings exact`,
      )
      t.same((await store.list(ns)).ids, ['other', `v${i}`], `${JSON.stringify(ns)}: listed in its own namespace`)
      const eq = await store.query(ns, {
        topK: 5,
        vector: Float32Array.of(1, 1),
        filter: { [ns]: { $eq: ns } },
        includeMetadata: true,
      })
      t.same(
        eq.map((m) => m.id),
        [`v${i}`],
        `${JSON.stringify(ns)}: a filter on that key and value matches it`,
      )
      const inList = await store.query(ns, { topK: 5, vector: Float32Array.of(1, 1), filter: { list: { $in: [ns] } } })
      t.same(
        inList.map((m) => m.id),
        [`v${i}`],
        `${JSON.stringify(ns)}: $in on a list of strings`,
      )
      const exists = await store.matching!(ns, { [ns]: { $exists: true } })
      t.same(exists.ids, [`v${i}`], `${JSON.stringify(ns)}: $exists on that key`)
      await store.update(ns, { filter: { [ns]: { $eq: ns } }, setMetadata: { [ns]: `${ns}!` } })
      t.equal(
        (await store.fetch(ns, [`v${i}`])).get(`v${i}`)?.metadata?.[ns],
        `${ns}!`,
        `${JSON.stringify(ns)}: update by filter merges under that key`,
      )
    }
    const stats = await store.stats()
    t.same(stats.map((s) => s.namespace).sort(), [...ODD].sort(), 'stats names every namespace exactly')
    t.ok(stats.every((s) => s.vectorCount === 2))
    await store.createNamespace('made-\u0000-\ud800', { fields: { 'k\u0000': { filterable: true } } })
    t.ok(
      (await store.stats()).some((s) => s.namespace === 'made-\u0000-\ud800'),
      'a created namespace with such a name is listed',
    )
    await store.delete('a\u0000b', { ids: ['other'] })
    await store.deleteNamespace('c370-\ud800')
    const after = new Map((await store.stats()).map((s) => [s.namespace, s.vectorCount]))
    t.equal(after.get('a\u0000b'), 1, 'delete by id in a NUL namespace')
    t.notOk(after.has('c370-\ud800'), 'deleteNamespace of a surrogate namespace')
    t.equal(after.get('c370-\ufffd'), undefined, 'and no U+FFFD namespace ever appeared')
  },
)
