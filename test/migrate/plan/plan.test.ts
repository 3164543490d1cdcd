// `vecshift plan` before anything moves: on a serverless emulator index (copy, list-fetch,
// sizes and a measured read rate), on a pod-like index with selective metadata indexing
// (the Pinecone limits that apply), towards pgvector, and with a dimension or an embedding
// model that differs (re-embed, with its tokens, cost and time). Nothing is written.
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { runPlan, type PlanSettings } from '../../../src/migrate/plan/planner.js'
import type { StoredVector } from '../../../src/stores/contract.js'
import { PgvectorStore } from '../../../src/stores/pgvector/store.js'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { startTestPostgres } from '../../helpers/pglite.js'
import { prng } from '../../helpers/prng.js'
import type { TestContext } from '../../helpers/tap.js'

const KEY = 'plan-key'
const CLI = new URL('../../../dist/cli/main.js', import.meta.url).pathname
const emu = await startTestEmulator(t, { apiKey: KEY })
let counter = 0

async function index(
  t: TestContext,
  dimension: number,
  spec: Record<string, unknown> = { serverless: { cloud: 'aws', region: 'us-east-1' } },
): Promise<PineconeStore> {
  const name = `pl-${++counter}`
  const res = await fetch(`${emu.url}/indexes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': KEY, 'x-pinecone-api-version': '2025-04' },
    body: JSON.stringify({ name, dimension, metric: 'dotproduct', spec }),
  })
  t.equal(res.status, 201, await res.text())
  const store = new PineconeStore({
    role: name,
    index: name,
    host: emu.indexHost(name),
    controllerHost: emu.url,
    apiKey: KEY,
  })
  t.teardown(() => store.close())
  return store
}

function records(n: number, dimension: number): StoredVector[] {
  const r = prng(n)
  return Array.from({ length: n }, (_, i) => ({
    id: `r${i}`,
    values: Float32Array.from({ length: dimension }, () => r() - 0.5),
    ...(i % 2 === 0 ? { metadata: { title: `title ${'x'.repeat(i % 50)}`, n: i } } : {}),
    ...(i % 5 === 0 ? { sparseValues: { indices: Uint32Array.of(1, 7), values: Float32Array.of(0.5, 0.25) } } : {}),
  }))
}

const settings: PlanSettings = {
  sampleRecords: 100,
  expectedWritesPerSec: 50,
  captureHours: 10,
  reembed: { tokensPerRecord: 300, pricePerMillionTokens: 0.02, recordsPerSec: 100 },
}
const copy = { strategy: 'auto' as const, createTarget: false, concurrency: 2, batchSize: 50 }

t.test(
  'plan: serverless -> serverless: copy with list-fetch, sizes and sparse use from a sample, a copy estimate, the log size',
  async (t) => {
    const source = await index(t, 16)
    const target = await index(t, 16)
    await source.upsert('', records(300, 16))
    await source.upsert('docs', records(40, 16))
    const p = await runPlan(source, target, copy, settings)
    t.match(p.decision, { action: 'copy', strategy: 'list-fetch' })
    t.equal(p.records, 340)
    t.match(p.namespaces, [
      { namespace: '', vectorCount: 300, target: 0 },
      { namespace: 'docs', vectorCount: 40, target: 0 },
    ])
    t.equal(p.sample.records, 100)
    t.ok(
      p.sample.withSparse > 0 && p.sample.withMetadata > 0,
      `sparse ${p.sample.withSparse}, metadata ${p.sample.withMetadata}`,
    )
    t.ok((p.sample.metadataBytes?.max ?? 0) > (p.sample.metadataBytes?.mean ?? 0), 'metadata sizes: mean below max')
    t.ok(
      (p.estimates.sourceReadPerSec ?? 0) > 0 && p.estimates.copySeconds !== undefined,
      `read rate ${p.estimates.sourceReadPerSec}/s`,
    )
    // 50 writes/s for 10 h of 16-d records: float32 values, metadata, headers and outcomes.
    t.ok(
      p.estimates.logBytes > 50 * 36_000 * (16 * 4) && p.estimates.logBytes < 50 * 36_000 * 1_000,
      `log ${p.estimates.logBytes} bytes`,
    )
    t.same(p.limits, [], 'no Pinecone limit bears on a serverless move')
    t.equal(p.estimates.reembed, undefined)
    t.equal((await target.stats()).length, 0, 'nothing was written to the target')
  },
)

t.test('plan: a pod-based source with selective metadata indexing: the limits that apply', async (t) => {
  const source = await index(t, 8, {
    pod: { environment: 'us-east-1-aws', pod_type: 'p1.x1', pods: 1, metadata_config: { indexed: ['genre'] } },
  })
  const target = await index(t, 8)
  await source.upsert('', records(30, 8))
  const p = await runPlan(source, target, copy, settings)
  t.equal(p.source.kind, 'pinecone-pod')
  t.same(p.source.metadataIndexed, ['genre'])
  const text = p.limits.join('\n')
  t.match(text, /pod indexes cannot list their ids, so the copy needs an ids file/)
  t.match(text, /below 25,000,000 records and 20,000 namespaces: this one has 30 and 1 — within them/)
  t.match(text, /selective metadata indexing is in use \(indexed: genre\)/)
  t.match(text, /describe_index_stats with a filter works on pod indexes only/)
  t.match(
    p.decision,
    { action: 'refused', reason: /pod-based and cannot list its ids; give an ids file/ },
    'an existing serverless target and no ids file: the copy could not start, and the plan says so',
  )
  t.match(p.sample.note, /cannot list its ids: no records were sampled/)
})

t.test('plan: a different dimension or embedding model means re-embedding, with tokens, cost and time', async (t) => {
  const source = await index(t, 16)
  const target = await index(t, 32)
  await source.upsert('', records(1000, 16))
  const p = await runPlan(source, target, copy, settings)
  t.match(p.decision, { action: 're-embed', reason: /dimension 16 and the target 32.*re-embedded/ })
  t.same(p.estimates.reembed, { tokens: 300_000, cost: 0.01, seconds: 10 })
  const same = await index(t, 16)
  const model = await runPlan(
    source,
    same,
    { ...copy, sourceEmbeddingModel: 'text-embedding-3-small', targetEmbeddingModel: 'voyage-3' },
    settings,
  )
  t.match(model.decision, {
    action: 're-embed',
    reason: /text-embedding-3-small embeddings and the target expects voyage-3/,
  })
})

t.test('plan: Pinecone -> pgvector (a table that does not exist yet), and the CLI', async (t) => {
  const pg = await startTestPostgres(t)
  const source = await index(t, 8)
  await source.upsert('', records(50, 8))
  const target = new PgvectorStore({ role: 'target', table: 'plan_items', pool: pg.poolConfig() })
  t.teardown(() => target.close())
  const p = await runPlan(source, target, { ...copy, createTarget: true }, settings)
  t.match(p.decision, { action: 'copy', strategy: 'list-fetch' })
  t.match(p.target, { exists: false })
  t.match(p.notes.join('\n'), /does not exist yet; the copy will create it/)
  t.match(p.limits.join('\n'), /pgvector sparsevec column: indices must be below 1,000,000,000/)

  // pgvector as the source, towards Pinecone (and a dimension that differs).
  const pgSource = new PgvectorStore({ role: 'source', table: 'plan_src', pool: pg.poolConfig() })
  t.teardown(() => pgSource.close())
  await pgSource.createSchema({ dimension: 8, metric: 'dotproduct' })
  await pgSource.upsert(
    '',
    records(60, 8).map(({ sparseValues: _s, ...v }) => v),
  )
  const toPinecone = await runPlan(pgSource, await index(t, 8), copy, settings)
  t.match(toPinecone.decision, { action: 'copy', strategy: 'list-fetch' })
  t.match(toPinecone.source, { kind: 'pgvector' })
  t.equal(toPinecone.sample.records, 60)
  t.ok((toPinecone.estimates.sourceReadPerSec ?? 0) > 0)
  t.match((await runPlan(pgSource, await index(t, 16), copy, settings)).decision, { action: 're-embed' })

  const dir = mkdtempSync(join(tmpdir(), 'vecshift-plan-'))
  const config = join(dir, 'vecshift.yaml')
  const name = source.label.match(/pl-\d+/)?.[0] as string
  writeFileSync(
    config,
    [
      'migration: { id: planning }',
      `source: { type: pinecone, index: ${name}, host: "${emu.indexHost(name)}", controllerHost: "${emu.url}" }`,
      `target: { type: pgvector, table: plan_cli, host: ${pg.host}, port: ${pg.port}, database: postgres, user: postgres, poolSize: 1 }`,
      'copy: { createTarget: true }',
      'plan: { expectedWritesPerSec: 10 }',
    ].join('\n'),
  )
  const out = await promisify(execFile)(process.execPath, [CLI, 'plan', '--config', config], {
    env: { ...process.env, VECSHIFT_SOURCE_API_KEY: KEY },
  })
  t.match(out.stdout, /decision {2}COPY the vectors/)
  t.match(out.stdout, /write log .* for the expected writes/)
  const json = JSON.parse(
    (
      await promisify(execFile)(process.execPath, [CLI, 'plan', '--config', config, '--json'], {
        env: { ...process.env, VECSHIFT_SOURCE_API_KEY: KEY },
      })
    ).stdout,
  ) as { records: number }
  t.equal(json.records, 50)
})

t.test(
  "the pgvector index layout: chosen from the source's namespaces by plan and copy alike; `vecshift index` gives grown namespaces a graph",
  async (t) => {
    const { chooseLayout } = await import('../../../src/stores/pgvector/layout.js')
    const ns = (counts: number[]) => counts.map((vectorCount, i) => ({ namespace: `n${i}`, vectorCount }))
    const settings = { minIndexedRows: 1_000, maxPartialIndexes: 3 }
    t.match(chooseLayout(ns([50_000]), settings), { layout: 'single', reason: /one namespace/ })
    t.match(chooseLayout(ns([5_000, 0, 0]), settings), { layout: 'single' }, 'empty namespaces do not count')
    t.match(chooseLayout(ns([5_000, 2_000, 10]), settings), {
      layout: 'per-namespace',
      indexed: ['n0', 'n1'],
      reason: /3 namespaces .*2 get a graph of their own, the 1 below 1,000 records are searched exactly/,
    })
    t.match(chooseLayout(ns([10, 20, 30]), settings), {
      layout: 'per-namespace',
      indexed: [],
      reason: /none reaches 1,000 records, so each is searched exactly/,
    })
    t.match(chooseLayout(ns([2_000, 2_000, 2_000, 2_000]), settings), {
      layout: 'single',
      reason: /4 namespaces hold 1,000 records or more, more than 3 partial indexes/,
    })

    const pg = await startTestPostgres(t)
    const source = await index(t, 8)
    await source.upsert('big', records(600, 8))
    await source.upsert('mid', records(300, 8))
    for (let i = 0; i < 5; i++) await source.upsert(`small-${i}`, records(40, 8))
    const name = source.label.match(/pl-\d+/)?.[0] as string
    const dir = mkdtempSync(join(tmpdir(), 'vecshift-layout-'))
    const config = join(dir, 'vecshift.yaml')
    writeFileSync(
      config,
      [
        'migration: { id: layout }',
        `source: { type: pinecone, index: ${name}, host: "${emu.indexHost(name)}", controllerHost: "${emu.url}" }`,
        `target: { type: pgvector, table: layout_t, host: ${pg.host}, port: ${pg.port}, database: postgres, user: postgres, ` +
          'poolSize: 1, minIndexedRows: 250 }',
        `copy: { createTarget: true, checkpointDir: "${join(dir, 'copy')}" }`,
        `replay: { dataDir: "${join(dir, 'replay')}" }`,
        `control: { dir: "${join(dir, 'control')}" }`,
      ].join('\n'),
    )
    const env = { ...process.env, VECSHIFT_SOURCE_API_KEY: KEY }
    const cli = async (...args: string[]) =>
      (await promisify(execFile)(process.execPath, [CLI, ...args, '--config', config], { env })).stdout
    const plan = JSON.parse(await cli('plan', '--json')) as {
      searchLayout?: { layout: string; indexed: number; exists: boolean; reason: string }
    }
    t.match(
      plan.searchLayout,
      { layout: 'per-namespace', indexed: 2, exists: false, reason: /7 namespaces/ },
      'plan: a graph for each of the two namespaces past 250 records',
    )
    t.match(
      await cli('plan'),
      /search {4}an HNSW graph per namespace of 250 records or more \(2 to build\), smaller ones searched exactly/,
    )

    await cli('copy', '--json', '--progress', 'none')
    const target = new PgvectorStore({ role: 'target', table: 'layout_t', pool: pg.poolConfig() })
    t.teardown(() => target.close())
    t.same(
      await target.searchLayout(),
      { layout: 'per-namespace', minIndexedRows: 250, indexed: ['big', 'mid'] },
      'the copy created the layout plan chose, and built its graphs',
    )
    t.match(
      JSON.parse(await cli('plan', '--json')).searchLayout,
      { layout: 'per-namespace', indexed: 2, exists: true },
      "plan reports an existing table's layout",
    )

    // A small namespace grows past the threshold after the copy (writes after the cutover).
    await target.upsert(
      'small-3',
      records(300, 8).map((v) => ({ ...v, id: `grown-${v.id}` })),
    )
    const built = JSON.parse(await cli('index', '--json')) as { built: boolean; layout: { indexed: string[] } }
    t.match(
      built,
      { built: true, layout: { indexed: ['big', 'mid', 'small-3'] } },
      "vecshift index builds the grown namespace's graph",
    )
    t.match(
      await cli('index'),
      new RegExp(
        String.raw`every index was there and ran ANALYZE in [\d.]+ s; ` +
          String.raw`layout: one HNSW graph per namespace of 250 records or more: 3 namespace\(s\) have one`,
      ),
    )
  },
)

t.test('plan reports strings not every store or URL carries as they are (issue 17)', async (t) => {
  const pg = await startTestPostgres(t)
  const source = await index(t, 2)
  await source.upsert('a\u0000b', [
    { id: 'x', values: Float32Array.of(1, 2), metadata: { 's\u0000': 'v\u0000', ok: 'fine' } },
    { id: 'y', values: Float32Array.of(2, 1), metadata: { ok: 'fine' } },
  ])
  await source.upsert('c370-\ud800', [{ id: 'z', values: Float32Array.of(1, 1) }])
  await source.upsert('plain', [{ id: 'p', values: Float32Array.of(1, 3), metadata: { t: '\ud800' } }])
  const target = new PgvectorStore({ role: 'target', table: 'plan_odd', pool: pg.poolConfig() })
  t.teardown(() => target.close())
  const p = await runPlan(source, target, { ...copy, createTarget: true }, settings)
  t.same(p.unusualStrings?.namespaces, ['a\u0000b', 'c370-\ud800'], 'the namespaces Postgres cannot hold as they are')
  t.equal(p.unusualStrings?.sampledRecords, 2, 'and the sampled records whose metadata it cannot')
  t.match(p.notes.join('\n'), /pgvector stores them escaped/)
  t.match(
    p.limits.join('\n'),
    /namespace\(s\) "c370-\\ud800" hold a lone surrogate, which a URL cannot carry/,
    'the namespace the copy cannot read is named',
  )
  t.equal(p.sample.records, 3, 'the rest was sampled')
  t.match(
    p.decision,
    {
      action: 'refused',
      reason: /namespace\(s\) "c370-\\ud800" .* hold a lone surrogate, which a URL cannot carry.*--namespace/,
    },
    'the copy refuses up front, as plan says, rather than half way through',
  )
  const one = await runPlan(source, target, { ...copy, createTarget: true, namespace: 'a\u0000b' }, settings)
  t.match(one.decision, { action: 'copy' }, 'one namespace at a time, the others can be copied')
})
