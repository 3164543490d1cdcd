import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { reconcile } from '../../../src/migrate/cutover/reconcile.js'
import { identicalRecords } from '../../../src/migrate/verify/equality.js'
import { DirtySet } from '../../../src/replay/dirty.js'
import { CheckpointFile } from '../../../src/migrate/copy/checkpoint.js'
import { planCopy } from '../../../src/migrate/copy/plan.js'
import { runCopy } from '../../../src/migrate/copy/copier.js'
import { Settler } from '../../../src/migrate/copy/settle.js'
import { replay } from '../../../src/replay/replayer.js'
import type { ReplayStatus } from '../../../src/replay/status.js'
import type { StoredVector, VectorStore } from '../../../src/stores/contract.js'
import { PgvectorStore } from '../../../src/stores/pgvector/store.js'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import { openFileLog } from '../../../src/writelog/file/file-log.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { confirmKey, startTestGateway } from '../../helpers/gateway.js'
import { startTestPostgres } from '../../helpers/pglite.js'
import type { TestContext } from '../../helpers/tap.js'
import { until } from '../../helpers/until.js'

// Issue 15: writes by metadata filter racing the copy. The interleaving from the report is
// forced: the copier fetches a batch, a delete by filter and an update by filter go through
// the capturing gateway and the replayer applies them to the target (where the batch is not
// yet), and only then the copier upserts what it fetched. Copied unpositioned, the batch puts
// back the deleted records and the old metadata, for good; positioned in the log (settle.ts),
// the copy sees the writes it raced and copies those ids again. Compared in full, every id.

const KEY = 'settle-key'
const N = 400

async function allRecords(store: VectorStore): Promise<Map<string, StoredVector>> {
  const ids: string[] = []
  let cursor: string | undefined
  for (;;) {
    const page = await store.list('', { limit: 100, ...(cursor === undefined ? {} : { cursor }) })
    ids.push(...page.ids)
    if (page.next === undefined) break
    cursor = page.next
  }
  return store.fetch('', ids)
}

async function differences(source: VectorStore, target: VectorStore): Promise<string[]> {
  const [a, b] = await Promise.all([allRecords(source), allRecords(target)])
  const out: string[] = []
  for (const [id, s] of a) {
    const x = b.get(id)
    if (!x) out.push(`${id}: missing on the target`)
    else if (!identicalRecords(s, x))
      out.push(`${id}: differs (source ${JSON.stringify(s.metadata)}, target ${JSON.stringify(x.metadata)})`)
  }
  for (const id of b.keys()) if (!a.has(id)) out.push(`${id}: on the target only (resurrected)`)
  return out.sort()
}

interface Raced {
  readonly source: VectorStore
  readonly target: VectorStore
  /** The replayer's dirty set. */
  readonly dirtyPath: string
}

interface RaceOptions {
  readonly target: 'pinecone' | 'pgvector'
  readonly positioned: boolean
  readonly copy?: { concurrency: number; batchSize: number; maxRequestsPerSec: number; maxVectorsPerSec: number }
  /** Milliseconds added to every target update and delete: a slow replayer. */
  readonly replayLatencyMs?: number
}

async function race(t: TestContext, options: RaceOptions): Promise<string[]> {
  const r = await raceCopy(t, options)
  return differences(r.source, r.target)
}

async function raceCopy(t: TestContext, options: RaceOptions): Promise<Raced> {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [
      { name: 'src', dimension: 4, metric: 'cosine' },
      { name: 'dst', dimension: 4, metric: 'cosine' },
    ],
  })
  if (options.replayLatencyMs)
    for (const op of ['update', 'delete'] as const)
      emu.faults.add({ op, index: 'dst', latencyMs: options.replayLatencyMs, times: Infinity })
  const pine = (name: string) =>
    new PineconeStore({ role: name, index: name, host: emu.indexHost(name), controllerHost: emu.url, apiKey: KEY })
  const source = pine('src')
  t.teardown(() => source.close())
  await source.upsert(
    '',
    Array.from({ length: N }, (_, i) => ({
      id: `a-${String(i).padStart(5, '0')}`,
      values: new Float32Array([1, (i % 7) + 1, (i % 5) + 1, 2]),
      metadata: { g: i % 10, i },
    })),
  )
  let target: VectorStore
  if (options.target === 'pinecone') {
    target = pine('dst')
  } else {
    const pg = await startTestPostgres(t)
    const store = new PgvectorStore({ role: 'target', table: 'settled', pool: pg.poolConfig(), search: 'exact' })
    await store.createSchema({ dimension: 4, metric: 'cosine' })
    target = store
  }
  t.teardown(() => target.close())

  const dir = mkdtempSync(join(tmpdir(), 'vecshift-settle-'))
  const log = await openFileLog({ dir })
  t.teardown(() => log.close())
  const gw = await startTestGateway(t, {
    index: 'src',
    host: emu.indexHost('src'),
    controllerHost: emu.url,
    writeLog: log,
    config: { 'migration.phase': 'capture' },
    env: { VECSHIFT_SOURCE_API_KEY: KEY },
  })
  await confirmKey(gw.url, KEY)
  const replayLog = await openFileLog({ dir, readOnly: true, followPollMs: 5 })
  const settleLog = await openFileLog({ dir, readOnly: true })
  t.teardown(() => Promise.all([replayLog.close(), settleLog.close()]))
  let status: ReplayStatus | undefined
  const stopReplay = new AbortController()
  const dirtyPath = join(dir, 'replay', 'dirty.jsonl')
  const dirty = await DirtySet.open(dirtyPath)
  const replaying = replay({
    log: replayLog,
    source,
    target,
    consumer: 'replay',
    dirty,
    follow: true,
    dryRun: false,
    batchSize: 100,
    lingerMs: 5,
    outcomeWaitMs: 60_000,
    concurrency: 4,
    signal: stopReplay.signal,
    onStatus: (s) => {
      status = s
    },
  })
  t.teardown(async () => {
    stopReplay.abort()
    await replaying.catch(() => undefined)
    await dirty.close()
  })
  await until(() => status !== undefined, { timeoutMs: 10_000, what: 'the replayer running' })

  const send = async (path: string, body: unknown) => {
    const res = await request(`${gw.url}${path}`, {
      method: 'POST',
      headers: { 'api-key': KEY, 'content-type': 'application/json', 'x-pinecone-api-version': '2025-10' },
      body: JSON.stringify(body),
    })
    const text = await res.body.text()
    if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode} ${text}`)
  }
  let raced = false
  const plan = await planCopy(source, target, { strategy: 'list-fetch', createTarget: false })
  const summary = await runCopy(source, target, plan, {
    migration: 'settle',
    ...(options.copy ?? { concurrency: 2, batchSize: 50, maxRequestsPerSec: 0, maxVectorsPerSec: 0 }),
    checkpoint: new CheckpointFile(join(dir, 'copy'), 'settle'),
    ...(options.positioned
      ? { settle: new Settler({ log: settleLog, consumer: 'replay', replayWaitMs: 10_000, maxRounds: 8, pollMs: 5 }) }
      : {}),
    // The race, forced once: between the first batch's fetch and its upsert, writes by filter
    // go through the gateway and the replayer applies them to the target.
    afterFetch: async () => {
      if (raced) return
      raced = true
      const before = status?.counts.filterWrites ?? 0
      await send('/vectors/delete', { filter: { g: { $eq: 9 } } })
      await send('/vectors/update', { filter: { g: { $eq: 3 } }, setMetadata: { seen: true } })
      await until(() => (status?.counts.filterWrites ?? 0) >= before + 2, {
        timeoutMs: 10_000,
        what: 'the replayer applying both writes by filter',
      })
    },
  })
  t.ok(raced, 'the interleaving was forced')
  t.equal(summary.copied + summary.missing >= N - N / 10, true, `copied ${summary.copied}, missing ${summary.missing}`)
  if (options.positioned)
    t.ok(
      (summary.settle?.extraRounds ?? 0) > 0,
      `the copy saw the writes it raced and copied those ids again (${JSON.stringify(summary.settle)})`,
    )
  // Everything logged is applied before the comparison.
  const tail = await log.tail()
  await until(
    () => status !== undefined && status.lagRecords === 0 && status.awaitingOutcome === 0 && status.checkpoint === tail,
    { timeoutMs: 20_000, onTimeout: () => JSON.stringify(status), what: 'the replayer caught up' },
  )
  return { source, target, dirtyPath }
}

for (const target of ['pinecone', 'pgvector'] as const) {
  t.test(
    `${target} target: a delete and an update by filter landing between the copy's fetch and upsert are not undone by it`,
    async (t) => {
      t.same(
        await race(t, { target, positioned: true }),
        [],
        'every id on the target equals the source (compared in full)',
      )
    },
  )
}

// The same forced race at other copy settings, and with a replayer slower than the copy.
for (const [name, copy] of [
  [
    'one worker, batches of 7, at most 2,000 vectors/s',
    { concurrency: 1, batchSize: 7, maxRequestsPerSec: 0, maxVectorsPerSec: 2_000 },
  ],
  [
    '8 workers, batches of 200, at most 40 requests/s',
    { concurrency: 8, batchSize: 200, maxRequestsPerSec: 40, maxVectorsPerSec: 0 },
  ],
] as const) {
  t.test(`pinecone target, ${name}: the race is not undone`, async (t) => {
    t.same(
      await race(t, { target: 'pinecone', positioned: true, copy }),
      [],
      'every id on the target equals the source (compared in full)',
    )
  })
}
t.test('pinecone target, a slow replayer (300 ms per target update or delete): the race is not undone', async (t) => {
  t.same(
    await race(t, { target: 'pinecone', positioned: true, replayLatencyMs: 300 }),
    [],
    'every id on the target equals the source (compared in full)',
  )
})

t.test(
  'control: copied without its position in the log, the same race resurrects records and leaves stale metadata',
  async (t) => {
    const diffs = await race(t, { target: 'pinecone', positioned: false })
    t.ok(
      diffs.some((d) => d.includes('resurrected')),
      `a deleted record came back (${diffs.length} differences)`,
    )
    t.ok(
      diffs.some((d) => d.includes('differs')),
      'an update by filter was undone',
    )
  },
)

// When the copy could not be positioned (no replayer followed it, or a collection copy), the
// cutover's pre-reconcile repairs what writes by filter touched: by their filters on both
// sides where the copy was positioned elsewhere, by a whole-namespace comparison where not.
for (const target of ['pinecone', 'pgvector'] as const) {
  for (const mode of ['by filter', 'in full'] as const) {
    t.test(
      `${target} target, unpositioned copy: the pre-reconcile repairs what the race broke (${mode})`,
      async (t) => {
        const r = await raceCopy(t, { target, positioned: false })
        const broken = await differences(r.source, r.target)
        t.ok(broken.length > 0, `the race broke ${broken.length} records`)
        const result = await reconcile(r.source, r.target, r.dirtyPath, {
          wholeWrites: 'reconcile',
          unpositioned: mode === 'in full' ? 'all' : new Set(),
        })
        t.equal(result.filterWrites, 2, 'both writes by filter read from the dirty set')
        t.same(result.wholeNamespaces, [''])
        t.same(result.comparedInFull, mode === 'in full' ? [''] : [])
        if (mode === 'by filter') t.ok(result.matched > 0, `${result.matched} records matched the filters`)
        t.equal(result.repaired, broken.length, `${result.repaired} repaired`)
        t.same(await differences(r.source, r.target), [], 'every id on the target equals the source (compared in full)')
      },
    )
  }
}
