// `vecshift verify --full` (issue 15): a sample misses a few differences among thousands of
// records; the full comparison walks both sides' listings page by page (several pages per
// namespace, ids interleaving across the two sides) and finds each one: missing, extra and
// changed records, in the namespaces asked for. The sample's report says what size of
// difference it could have seen.
import t from 'tap'
import { compareInFull, detectableRate } from '../../../src/migrate/verify/full.js'
import { runVerify } from '../../../src/migrate/verify/verifier.js'
import type { StoredVector } from '../../../src/stores/contract.js'
import { PgvectorStore } from '../../../src/stores/pgvector/store.js'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { startTestPostgres } from '../../helpers/pglite.js'
import { prng } from '../../helpers/prng.js'

const KEY = 'full-key'
const N = 1_500

function records(seed: number, prefix: string): StoredVector[] {
  const r = prng(seed)
  return Array.from({ length: N }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(5, '0')}`,
    values: Float32Array.from({ length: 4 }, () => r() - 0.5),
    metadata: { g: i % 10 },
  }))
}

t.test('verify --full finds each of three differences among 3,000 records that a sample of 50 misses', async (t) => {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [
      { name: 'fs', dimension: 4, metric: 'cosine' },
      { name: 'ft', dimension: 4, metric: 'cosine' },
    ],
  })
  const store = (name: string) =>
    new PineconeStore({ role: name, index: name, host: emu.indexHost(name), controllerHost: emu.url, apiKey: KEY })
  const source = store('fs')
  t.teardown(() => source.close())
  const pg = await startTestPostgres(t)
  const pgTarget = new PgvectorStore({ role: 'target', table: 'full_cmp', pool: pg.poolConfig(), search: 'exact' })
  t.teardown(() => pgTarget.close())
  await pgTarget.createSchema({ dimension: 4, metric: 'cosine' })
  const pcTarget = store('ft')
  t.teardown(() => pcTarget.close())
  for (const target of [pcTarget, pgTarget]) {
    const label = target === pcTarget ? 'pinecone target' : 'pgvector target'
    const a = records(1, 'a')
    const b = records(2, 'b')
    await source.upsert('alpha', a)
    await source.upsert('beta', b)
    // The target lacks one record, holds one the source does not, and has one stale value.
    await target.upsert(
      'alpha',
      a.filter((v) => v.id !== 'a-00777'),
    )
    await target.upsert('alpha', [{ id: 'a-00777x', values: new Float32Array([1, 0, 0, 0]) }])
    await target.upsert(
      'beta',
      b.map((v) => (v.id === 'b-01234' ? { ...v, metadata: { g: 99 } } : v)),
    )
    // The counts agree in alpha (one missing, one extra): only comparing ids shows them.
    const full = await compareInFull(source, target, ['alpha', 'beta'], 1e-6)
    t.match(full, { compared: 3_001, equal: 2_998, missing: 1, extra: 1, mismatched: 1 }, `${label}: every id compared`)
    t.same(
      full.differences.map((d) => `${d.namespace}/${d.id}:${d.side ?? d.what}`).sort(),
      ['alpha/a-00777:missing', 'alpha/a-00777x:target-only', 'beta/b-01234:metadata'],
      `${label}: each difference named`,
    )
    const only = await compareInFull(source, target, ['beta'], 1e-6)
    t.match(only, { compared: 1_500, mismatched: 1, missing: 0, extra: 0 }, `${label}: only the namespaces asked for`)

    const sampled = await runVerify({
      source,
      target,
      sample: 50,
      queries: 0,
      topK: 10,
      tolerance: 1e-6,
      seed: 3,
      thresholds: { minRecall: 0, maxMissing: 0, maxMismatched: 0, maxExtra: 0, maxCountDifference: 0 },
    })
    t.match(
      sampled.notes.join('\n'),
      new RegExp(
        String.raw`the sample of 50 records finds a difference that affects 5\.8 % of the records or more with 95 % probability; ` +
          String.raw`fewer can pass unseen \(vecshift verify --full compares every id\)`,
      ),
      `${label}: the sample says what it could see`,
    )
    const withFull = await runVerify({
      source,
      target,
      sample: 50,
      queries: 0,
      topK: 10,
      tolerance: 1e-6,
      seed: 3,
      full: 'all',
      thresholds: { minRecall: 0, maxMissing: 0, maxMismatched: 0, maxExtra: 0, maxCountDifference: 0 },
    })
    t.equal(withFull.passed, false, `${label}: --full fails the verification`)
    t.match(withFull.failures, [
      /full comparison: 1 of 3001 records are missing/,
      /full comparison: 1 of 3001 records differ/,
      /full comparison: 1 records are on the target only/,
    ])
    await target.delete('alpha', { deleteAll: true })
    await target.delete('beta', { deleteAll: true })
    await source.delete('alpha', { deleteAll: true })
    await source.delete('beta', { deleteAll: true })
  }
})

t.test('the detectable rate of a sample: 1 - (1 - p)^n = 95 %', async (t) => {
  t.equal(Math.round(detectableRate(1_000) * 1e5) / 1e5, 0.00299)
  t.equal(detectableRate(0), 1)
  t.ok(Math.abs(1 - (1 - detectableRate(200)) ** 200 - 0.95) < 1e-9)
})
