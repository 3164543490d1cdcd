import t from 'tap'
import { KeyCheck } from '../../src/proxy/key-check.js'
import { Upstream } from '../../src/proxy/upstream.js'
import { startTestEmulator } from '../helpers/emulator.js'
import type { TestContext } from '../helpers/tap.js'

// The key cache's bounds, on a clock the test moves: a good verdict lasts cacheTtlMs and a
// refusal refusedTtlMs, after which the source is asked again; so a key revoked at the source
// is refused within cacheTtlMs even when none of its requests reached the source meanwhile.

const KEY = 'k-1'

async function setup(t: TestContext) {
  const emu = await startTestEmulator(t, { apiKey: KEY, indexes: [{ name: 'kc', dimension: 2, metric: 'cosine' }] })
  const upstream = new Upstream({
    name: 'source',
    url: emu.indexHost('kc'),
    connections: 2,
    pipelining: 1,
    connectTimeoutMs: 1000,
    requestTimeoutMs: 5000,
    keepAliveTimeoutMs: 1000,
    tlsVerify: true,
  })
  t.teardown(() => upstream.close())
  let now = 1_000_000
  const probes: string[] = []
  const check = new KeyCheck({
    ttlMs: 60_000,
    refusedTtlMs: 10_000,
    maxEntries: 100,
    maxConcurrent: 8,
    authority: () => upstream,
    now: () => now,
    onProbe: (r) => probes.push(r),
  })
  return {
    emu,
    check,
    probes,
    advance: (ms: number) => {
      now += ms
    },
  }
}

const outcome = async (p: Promise<void> | undefined): Promise<string> => {
  try {
    await p
    return 'in'
  } catch (err) {
    return (err as { code: string }).code
  }
}

t.test('a revoked key is refused once its verdict is older than cacheTtlMs', async (t) => {
  const { emu, check, probes, advance } = await setup(t)
  t.equal(await outcome(check.confirm(KEY)), 'in')
  t.equal(check.confirm(KEY), undefined, 'a cached verdict lets the next request in synchronously')
  emu.setApiKey('k-2')
  advance(59_999)
  t.equal(check.confirm(KEY), undefined, 'still trusted within cacheTtlMs')
  advance(2)
  t.equal(await outcome(check.confirm(KEY)), 'VECSHIFT_ERR_UNAUTHORIZED', 'asked again past it, and refused')
  t.same(probes, ['confirmed', 'refused'])
})

t.test('a refusal is cached for refusedTtlMs, then the key is asked about again', async (t) => {
  const { emu, check, probes, advance } = await setup(t)
  t.equal(await outcome(check.confirm('k-2')), 'VECSHIFT_ERR_UNAUTHORIZED')
  t.throws(() => check.confirm('k-2'), { code: 'VECSHIFT_ERR_UNAUTHORIZED' }, 'refused from the cache, synchronously')
  emu.setApiKey('k-2')
  advance(10_001)
  t.equal(await outcome(check.confirm('k-2')), 'in', 'the key was made valid meanwhile')
  t.same(probes, ['refused', 'confirmed'])
})

t.test(
  'concurrent first requests of one key share one probe; the upstream refusing a request drops the verdict',
  async (t) => {
    const { check, probes } = await setup(t)
    const all = await Promise.all(Array.from({ length: 20 }, () => outcome(check.confirm(KEY))))
    t.same(new Set(all), new Set(['in']))
    t.same(probes, ['confirmed'], 'one probe')
    check.refused(KEY)
    t.not(check.confirm(KEY), undefined, 'the next request asks again')
  },
)

t.test('the cache never holds more than maxEntries verdicts', async (t) => {
  const { check } = await setup(t)
  for (let i = 0; i < 300; i++) await outcome(check.confirm(`bad-${i}`))
  t.equal(check.size, 100)
})
