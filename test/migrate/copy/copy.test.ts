// The bulk copy between real stores: the emulator (Pinecone serverless and pod-like) and
// pgvector (PGlite over its socket server). Library-level here; the CLI, a SIGKILL and
// --resume are in copy-cli.test.ts.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import type { Emulator } from '../../../src/emulator/server.js'
import { CheckpointFile } from '../../../src/migrate/copy/checkpoint.js'
import { runCollectionCopy } from '../../../src/migrate/copy/collection.js'
import { planCopy, type CopyOptions } from '../../../src/migrate/copy/plan.js'
import { Progress } from '../../../src/migrate/copy/progress.js'
import { runCopy } from '../../../src/migrate/copy/copier.js'
import type { StoredVector, VectorStore } from '../../../src/stores/contract.js'
import { PgvectorStore } from '../../../src/stores/pgvector/store.js'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { startTestPostgres } from '../../helpers/pglite.js'
import type { TestContext } from '../../helpers/tap.js'

const KEY = 'copy-test-key'
const emu = await startTestEmulator(t, { apiKey: KEY })
const pg = await startTestPostgres(t)
let counter = 0

async function pineconeIndex(
  t: TestContext,
  e: Emulator,
  shape: { dimension: number; metric: string; pod?: boolean },
  key = KEY,
): Promise<PineconeStore> {
  const name = `copy-${++counter}`
  const spec = shape.pod
    ? { pod: { environment: 'us-east-1-aws', pod_type: 'p1.x1', pods: 1, replicas: 1, shards: 1 } }
    : { serverless: { cloud: 'aws', region: 'us-east-1' } }
  const res = await request(`${e.url}/indexes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': KEY, 'x-pinecone-api-version': '2025-04' },
    body: JSON.stringify({ name, dimension: shape.dimension, metric: shape.metric, spec }),
  })
  t.equal(res.statusCode, 201, `index ${name} created`)
  await res.body.dump()
  const store = new PineconeStore({
    role: 'test',
    index: name,
    host: e.indexHost(name),
    controllerHost: e.url,
    apiKey: key,
  })
  t.teardown(() => store.close())
  return store
}

function pgTable(t: TestContext): PgvectorStore {
  const store = new PgvectorStore({ role: 'test', table: `copy_${++counter}`, pool: pg.poolConfig(), search: 'exact' })
  t.teardown(() => store.close())
  return store
}

/** Records with every kind of content: dense, sparse, metadata of every allowed type. */
function dataset(n: number, dimension: number, sparse: boolean): StoredVector[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `doc-${String(i).padStart(5, '0')}`,
    values: Float32Array.from({ length: dimension }, (_, d) => Math.sin(i * 13 + d) / 3),
    ...(sparse && i % 3 === 0
      ? { sparseValues: { indices: new Uint32Array([i % 50, 100 + i]), values: new Float32Array([0.5, -i / 7]) } }
      : {}),
    ...(i % 4 === 0 ? {} : { metadata: { title: `t${i}`, n: i * 1.5, ok: i % 2 === 0, tags: [`a${i % 3}`, 'b'] } }),
  }))
}

async function seed(store: VectorStore, byNamespace: Record<string, StoredVector[]>): Promise<void> {
  for (const [ns, records] of Object.entries(byNamespace)) await store.upsert(ns, records)
}

/** Every record of every namespace on both sides, compared exactly; returns differences. */
async function differences(
  a: VectorStore,
  b: VectorStore,
  byNamespace: Record<string, StoredVector[]>,
): Promise<string[]> {
  const out: string[] = []
  for (const [ns, records] of Object.entries(byNamespace)) {
    const ids = records.map((r) => r.id)
    const [x, y] = [await a.fetch(ns, ids), await b.fetch(ns, ids)]
    for (const id of ids) {
      const l = JSON.stringify(norm(x.get(id)))
      const r = JSON.stringify(norm(y.get(id)))
      if (l !== r) out.push(`${ns}/${id}: ${l.slice(-160)} != ${r.slice(-160)}`)
    }
  }
  return out
}

function norm(v: StoredVector | undefined): unknown {
  if (!v) return null
  // pgvector's sparsevec does not keep explicit zeros (they add nothing to a dot product);
  // Pinecone does. Equal means equal once those are left out.
  const sparse = v.sparseValues
    ? Array.from(v.sparseValues.indices)
        .map((i, k) => [i, v.sparseValues?.values[k]])
        .filter((p) => p[1] !== 0)
        .sort((p, q) => (p[0] as number) - (q[0] as number))
    : null
  // Metadata is a map: key order is not part of it (jsonb, for one, stores keys sorted).
  const metadata = v.metadata
    ? Object.fromEntries(Object.entries(v.metadata).sort(([a], [b]) => (a < b ? -1 : 1)))
    : null
  return {
    id: v.id,
    values: v.values ? Array.from(v.values).map((f) => (Object.is(f, -0) ? '-0' : f)) : null,
    sparse,
    metadata,
  }
}

async function copy(
  _t: TestContext,
  source: VectorStore,
  target: VectorStore,
  options: Partial<CopyOptions> & { idsFile?: string } = {},
  run: { concurrency?: number; batchSize?: number } = {},
) {
  const plan = await planCopy(source, target, { strategy: 'auto', createTarget: false, ...options })
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-copy-'))
  const summary = await runCopy(source, target, plan, {
    migration: `m${counter}`,
    concurrency: run.concurrency ?? 4,
    batchSize: run.batchSize ?? 40,
    maxRequestsPerSec: 0,
    maxVectorsPerSec: 0,
    checkpoint: new CheckpointFile(dir, `m${counter}`),
    ...(options.idsFile === undefined ? {} : { idsFile: options.idsFile }),
  })
  return { plan, summary }
}

t.test(
  'copy: Pinecone serverless (emulator) -> pgvector, several namespaces, sparse values, metadata of every type',
  async (t) => {
    const source = await pineconeIndex(t, emu, { dimension: 12, metric: 'dotproduct' })
    const target = pgTable(t)
    await target.createSchema({ dimension: 12, metric: 'dotproduct' })
    const data = { '': dataset(230, 12, true), 'tenant-a': dataset(120, 12, true), 'tenant-b': dataset(7, 12, false) }
    await seed(source, data)
    const { plan, summary } = await copy(t, source, target)
    t.equal(plan.strategy, 'list-fetch')
    t.equal(plan.total, 357)
    t.equal(summary.copied, 357)
    t.same(summary.namespaces, [
      { namespace: '', copied: 230 },
      { namespace: 'tenant-a', copied: 120 },
      { namespace: 'tenant-b', copied: 7 },
    ])
    t.same(await differences(source, target, data), [], 'every record equal on both sides')
    t.same(await target.stats(), await source.stats(), 'same counts per namespace')
  },
)

t.test('copy: pgvector -> Pinecone serverless (emulator)', async (t) => {
  const source = pgTable(t)
  await source.createSchema({ dimension: 6, metric: 'cosine' })
  const data = { '': dataset(150, 6, false), docs: dataset(90, 6, false) }
  await seed(source, data)
  const target = await pineconeIndex(t, emu, { dimension: 6, metric: 'cosine' })
  const { summary } = await copy(t, source, target, {}, { batchSize: 64 })
  t.equal(summary.copied, 240)
  t.same(await differences(source, target, data), [])
})

t.test('copy: a pod-like index (no list) is copied from an ids file', async (t) => {
  const source = await pineconeIndex(t, emu, { dimension: 4, metric: 'euclidean', pod: true })
  const data = { '': dataset(60, 4, false), other: dataset(30, 4, false) }
  await seed(source, data)
  const target = pgTable(t)
  await target.createSchema({ dimension: 4, metric: 'euclidean' })
  await t.rejects(planCopy(source, target, { strategy: 'auto', createTarget: false }), {
    code: 'VECSHIFT_ERR_COPY_REFUSED',
    message: /cannot list its ids; give an ids file/,
  })
  const file = join(mkdtempSync(join(tmpdir(), 'vecshift-ids-')), 'ids.tsv')
  writeFileSync(
    file,
    [
      '# exported ids',
      ...data[''].map((r) => r.id),
      ...data.other.map((r) => `other\t${r.id}`),
      'gone-already',
      '',
    ].join('\n'),
  )
  const { plan, summary } = await copy(t, source, target, { idsFile: file }, { batchSize: 25 })
  t.equal(plan.strategy, 'ids-file')
  t.equal(summary.copied, 90)
  t.equal(summary.missing, 1, 'an id the source does not have is counted, not an error')
  t.same(await differences(source, target, data), [])
})

t.test('copy: 429 and 5xx from the source are ridden out and counted', async (t) => {
  const source = await pineconeIndex(t, emu, { dimension: 3, metric: 'cosine' })
  const data = { '': dataset(200, 3, false) }
  await seed(source, data)
  const target = await pineconeIndex(t, emu, { dimension: 3, metric: 'cosine' })
  emu.faults.add({ op: 'fetch', status: 429, times: 3 })
  emu.faults.add({ op: 'list', status: 503, times: 2 })
  emu.faults.add({ op: 'upsert', status: 500, times: 2 })
  t.teardown(() => emu.faults.clear())
  const { summary } = await copy(t, source, target)
  t.equal(summary.copied, 200)
  t.equal(summary.retries.source, 5, 'source retries counted')
  t.equal(summary.retries.target, 2, 'target retries counted')
  t.same(await differences(source, target, data), [])
})

t.test('copy: mismatches, a missing target and a bad key are refused before anything is written', async (t) => {
  const source = await pineconeIndex(t, emu, { dimension: 8, metric: 'cosine' })
  await seed(source, { '': dataset(10, 8, false) })
  const other = await pineconeIndex(t, emu, { dimension: 16, metric: 'cosine' })
  await t.rejects(planCopy(source, other, { strategy: 'auto', createTarget: false }), {
    code: 'VECSHIFT_ERR_COPY_REFUSED',
    message:
      /dimension 8 and the target 16: a different dimension means a different embedding model, so the vectors must be re-embedded/,
  })
  const metric = await pineconeIndex(t, emu, { dimension: 8, metric: 'euclidean' })
  await t.rejects(planCopy(source, metric, { strategy: 'auto', createTarget: false }), {
    code: 'VECSHIFT_ERR_COPY_REFUSED',
    message: /cosine metric and the target euclidean/,
  })
  const same = await pineconeIndex(t, emu, { dimension: 8, metric: 'cosine' })
  await t.rejects(
    planCopy(source, same, {
      strategy: 'auto',
      createTarget: false,
      sourceEmbeddingModel: 'text-embedding-ada-002',
      targetEmbeddingModel: 'text-embedding-3-small',
    }),
    {
      code: 'VECSHIFT_ERR_COPY_REFUSED',
      message: /must be re-embedded from the source text/,
    },
  )
  const missing = pgTable(t)
  await t.rejects(planCopy(source, missing, { strategy: 'auto', createTarget: false }), {
    code: 'VECSHIFT_ERR_COPY_REFUSED',
    message: /does not exist.*copy.createTarget: true/,
  })
  const plan = await planCopy(source, missing, { strategy: 'auto', createTarget: true })
  t.equal(plan.target, undefined, 'with createTarget the plan says it will be created')
  const badKey = new PineconeStore({
    role: 'source',
    index: 'copy-1',
    host: emu.indexHost('copy-1'),
    controllerHost: emu.url,
    apiKey: 'wrong',
    apiKeyEnv: 'VECSHIFT_SOURCE_API_KEY',
  })
  t.teardown(() => badKey.close())
  await t.rejects(planCopy(badKey, same, { strategy: 'auto', createTarget: false }), {
    code: 'VECSHIFT_ERR_STORE_AUTH',
    message: /check VECSHIFT_SOURCE_API_KEY/,
  })
  t.same(await other.stats(), [], 'nothing was written to any refused target')
  t.same(await same.stats(), [])
})

t.test("copy: a pod-like index -> a new serverless index through a collection (Pinecone's own path)", async (t) => {
  // Collections and restored indexes take a while, as on Pinecone.
  const e = await startTestEmulator(t, { apiKey: KEY, collectionDelayMs: 300, restoreDelayMs: 400 })
  const source = await pineconeIndex(t, e, { dimension: 12, metric: 'dotproduct', pod: true })
  const data = { '': dataset(140, 12, true), 'tenant-a': dataset(60, 12, true), 'tenant-b': dataset(5, 12, false) }
  await seed(source, data)
  // No host: the target does not exist yet, and Pinecone assigns its host on creation.
  const target = new PineconeStore({ role: 'target', index: 'restored-sl', controllerHost: e.url, apiKey: KEY })
  t.teardown(() => target.close())
  const where = { cloud: 'aws', region: 'us-east-1' }

  await t.rejects(
    planCopy(source, target, { strategy: 'auto', createTarget: false, collection: where }),
    {
      code: 'VECSHIFT_ERR_COPY_REFUSED',
      message: /does not exist.*copy.createTarget: true/,
    },
    'auto does not create a paid index unasked',
  )
  await t.rejects(planCopy(source, target, { strategy: 'collection', createTarget: false }), {
    code: 'VECSHIFT_ERR_COPY_REFUSED',
    message: /set copy.collection.cloud and copy.collection.region/,
  })
  await t.rejects(
    planCopy(source, target, { strategy: 'collection', createTarget: false, collection: where, namespace: 'tenant-a' }),
    {
      code: 'VECSHIFT_ERR_COPY_REFUSED',
      message: /--namespace cannot be used with strategy collection/,
    },
  )
  const existing = await pineconeIndex(t, e, { dimension: 12, metric: 'dotproduct' })
  await t.rejects(planCopy(source, existing, { strategy: 'collection', createTarget: false, collection: where }), {
    code: 'VECSHIFT_ERR_COPY_REFUSED',
    message: /creates the target index from the collection, and the test Pinecone index copy-\d+ exists already/,
  })

  const plan = await planCopy(source, target, { strategy: 'auto', createTarget: true, collection: where })
  t.equal(plan.strategy, 'collection')
  t.equal(plan.total, 205)
  t.match(plan.notes.join('\n'), /writes made after it is saved are not in it/)
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-copy-coll-'))
  const lines: string[] = []
  const progress = new Progress({ isTTY: false, write: (s: string) => lines.push(s) }, 'copy', { intervalMs: 20 })
  const summary = await runCollectionCopy(source, target, plan, {
    migration: 'coll',
    checkpoint: new CheckpointFile(dir, 'coll'),
    progress,
    collection: {
      name: 'vecshift-coll',
      ...where,
      deletionProtection: false,
      readyTimeoutMs: 10_000,
      pollIntervalMs: 25,
    },
  })
  t.match(summary, { strategy: 'collection', interrupted: false, copied: 205 })
  t.same(summary.namespaces, [
    { namespace: '', copied: 140 },
    { namespace: 'tenant-a', copied: 60 },
    { namespace: 'tenant-b', copied: 5 },
  ])
  const phases = new Set(lines.map((l) => (JSON.parse(l) as { phase?: string }).phase).filter(Boolean))
  t.ok(
    phases.has('saving collection') && phases.has('restoring index'),
    `progress names the steps (${[...phases].join(', ')})`,
  )
  t.match(JSON.parse(lines.at(-1) as string), { done: 205, total: 205, final: true })
  t.match(await target.describe(), { kind: 'pinecone-serverless', dimension: 12, metric: 'dotproduct' })
  t.same(await differences(source, target, data), [], 'every record equal on both sides')
  const saved = await new CheckpointFile(dir, 'coll').load()
  t.match(saved, {
    strategy: 'collection',
    collection: { name: 'vecshift-coll', created: true, indexCreated: true },
    finishedAt: String,
  })

  // A second copy with the same collection name must not reuse an old snapshot silently.
  const again = new PineconeStore({ role: 'target', index: 'restored-2', controllerHost: e.url, apiKey: KEY })
  t.teardown(() => again.close())
  const plan2 = await planCopy(source, again, { strategy: 'collection', createTarget: false, collection: where })
  await t.rejects(
    runCollectionCopy(source, again, plan2, {
      migration: 'coll2',
      checkpoint: new CheckpointFile(dir, 'coll2'),
      collection: {
        name: 'vecshift-coll',
        ...where,
        deletionProtection: false,
        readyTimeoutMs: 10_000,
        pollIntervalMs: 25,
      },
    }),
    {
      code: 'VECSHIFT_ERR_COPY_REFUSED',
      message: /collection named vecshift-coll exists already and may be an older snapshot/,
    },
  )
})
