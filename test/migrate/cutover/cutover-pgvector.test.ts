// Pinecone -> pgvector, through the gateway, with the official SDK the whole time: capture,
// copy, replay, cutover, and then the gateway serves Pinecone's data plane from pgvector
// (PGlite + pgvector over its socket server) through the adapter. The same SDK queries, with
// filters, namespaces and metadata, must give the same ids and scores before the flip (the
// emulator answering) and after it (pgvector answering); fetch, list, stats and namespaces
// must answer alike; writes after the flip land in pgvector and in the reverse log; and what
// pgvector cannot do is refused in Pinecone's shape. The target search is exact here, so
// "alike" is exact; an HNSW target's recall is what `vecshift verify` measures.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { FileControlStore } from '../../../src/control/file-store.js'
import { CheckpointFile } from '../../../src/migrate/copy/checkpoint.js'
import { planCopy } from '../../../src/migrate/copy/plan.js'
import { runCopy } from '../../../src/migrate/copy/copier.js'
import { runCutover } from '../../../src/migrate/cutover/coordinator.js'
import { DirtySet } from '../../../src/replay/dirty.js'
import { replay } from '../../../src/replay/replayer.js'
import { ReplayStatusFile } from '../../../src/replay/status.js'
import type { StoredVector } from '../../../src/stores/contract.js'
import { PgvectorStore } from '../../../src/stores/pgvector/store.js'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import { openFileLog } from '../../../src/writelog/file/file-log.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { startTestGateway } from '../../helpers/gateway.js'
import { startTestPostgres } from '../../helpers/pglite.js'
import { prng } from '../../helpers/prng.js'
import { untilReplayFollowing } from '../../helpers/replay-status.js'
import { until } from '../../helpers/until.js'

const KEY = 'pg-cutover-key'
const DIM = 8
const GENRES = ['drama', 'comedy', 'documentary']

t.test('Pinecone -> pgvector: after the flip the gateway answers the same SDK calls from pgvector', async (t) => {
  const emu = await startTestEmulator(t, { apiKey: KEY, indexes: [{ name: 'src', dimension: DIM, metric: 'cosine' }] })
  const pg = await startTestPostgres(t)
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-pgcut-'))
  const source = new PineconeStore({
    role: 'source',
    index: 'src',
    host: emu.indexHost('src'),
    controllerHost: emu.url,
    apiKey: KEY,
  })
  // One adapter for every role in this process (PGlite serves one session; see helpers/pglite.ts).
  const target = new PgvectorStore({ role: 'target', table: 'items', pool: pg.poolConfig(), search: 'exact' })
  t.teardown(() => Promise.all([source.close(), target.close()]))
  const rnd = prng(42)
  const vec = () => Float32Array.from({ length: DIM }, () => rnd() - 0.5)
  for (const ns of ['', 'films']) {
    await source.upsert(
      ns,
      Array.from(
        { length: 150 },
        (_, i): StoredVector => ({
          id: `${ns || 'd'}-${String(i).padStart(3, '0')}`,
          values: vec(),
          metadata: {
            genre: GENRES[i % 3] as string,
            year: 1990 + (i % 30),
            tags: [`t${i % 4}`, 'all'],
            ...(i % 5 === 0 ? { award: true } : {}),
          },
        }),
      ),
    )
  }

  const log = await openFileLog({ dir: join(dir, 'log') })
  const reverseLog = await openFileLog({ dir: join(dir, 'reverse') })
  t.teardown(async () => {
    await log.close()
    await reverseLog.close()
  })
  const control = await FileControlStore.open({ dir: join(dir, 'control'), migration: 'pgm', initialPhase: 'capture' })
  t.teardown(() => control.close())
  const gw = await startTestGateway(t, {
    index: 'src',
    host: emu.indexHost('src'),
    controllerHost: emu.url,
    writeLog: log,
    reverseLog,
    control,
    targetStore: target,
    config: {
      migration: { id: 'pgm', phase: 'capture' },
      target: {
        type: 'pgvector',
        table: 'items',
        host: pg.host,
        port: pg.port,
        database: 'postgres',
        user: 'postgres',
      },
      'control.dir': join(dir, 'control'),
      'control.leaseMs': 2000,
      'control.pollMs': 20,
      'log.level': 'warn',
    },
    env: { VECSHIFT_SOURCE_API_KEY: KEY },
  })
  const pc = new Pinecone({ apiKey: KEY, controllerHostUrl: gw.url })
  const index = pc.index({ name: 'src' })

  // The calls an application makes, answered by the emulator now and by pgvector later.
  const queries = Array.from({ length: 12 }, (_, i) => ({
    vector: Array.from(vec()),
    topK: 7,
    includeMetadata: true,
    includeValues: i % 3 === 0,
    ...(i % 2 === 0 ? { namespace: 'films' } : {}),
    ...(i % 4 === 1 ? { filter: { genre: { $eq: 'drama' } } } : {}),
    ...(i % 4 === 2 ? { filter: { $and: [{ year: { $gte: 2000 } }, { tags: { $in: ['t1', 't2'] } }] } } : {}),
    ...(i % 4 === 3
      ? { filter: { $or: [{ award: { $exists: true } }, { genre: { $nin: ['drama', 'comedy'] } }] } }
      : {}),
  }))
  const ask = async () => {
    const out = []
    for (const q of queries) {
      const { namespace, ...rest } = q as typeof q & { namespace?: string }
      const r = await (namespace ? index.namespace(namespace) : index).query(rest)
      out.push(r.matches.map((m) => ({ id: m.id, score: m.score, metadata: m.metadata, values: m.values })))
    }
    return out
  }
  const before = await ask()
  t.ok(
    before.every((r) => r.length > 0),
    'every query finds matches on the source',
  )
  const fetchIds = ['films-000', 'films-007', 'films-149', 'missing']
  const fetchedBefore = await index.namespace('films').fetch({ ids: fetchIds })
  const pageBefore = await index.namespace('films').listPaginated({ prefix: 'films-01', limit: 4 })

  // Live writes in their own namespace while the migration runs: the ledger says what each id must end as.
  const ledger = new Map<string, { values: number[]; metadata: Record<string, unknown> } | null>()
  const errors: string[] = []
  let stop = false
  const live = index.namespace('live')
  const workers = Array.from({ length: 3 }, async (_, w) => {
    const r = prng(7 + w)
    let n = 0
    while (!stop) {
      const id = `w${w}-${Math.floor(r() * 10)}`
      try {
        if (r() < 0.75) {
          const values = Array.from({ length: DIM }, () => Math.fround(r() - 0.5))
          await live.upsert({ records: [{ id, values, metadata: { w, n } }] })
          ledger.set(id, { values, metadata: { w, n } })
        } else {
          await live.deleteMany({ ids: [id] })
          ledger.set(id, null)
        }
      } catch (err) {
        errors.push(`${id}: ${(err as Error).message}`)
      }
      n++
      // The pace of the app's traffic, not a wait.
      await sleep(10)
    }
  })

  t.teardown(() => {
    stop = true
  })
  const plan = await planCopy(source, target, { strategy: 'auto', createTarget: true })
  // As `vecshift copy --create-target` does: the table in the source's shape.
  await target.createSchema({ dimension: DIM, metric: 'cosine' })
  const copyCheckpoint = new CheckpointFile(join(dir, 'copy'), 'pgm')
  await runCopy(source, target, plan, {
    migration: 'pgm',
    concurrency: 2,
    batchSize: 100,
    maxRequestsPerSec: 0,
    maxVectorsPerSec: 0,
    checkpoint: copyCheckpoint,
  })
  const files = new ReplayStatusFile(join(dir, 'replay'), 'pgm', 'replay')
  const dirty = await DirtySet.open(files.dirtyPath)
  const replayLog = await openFileLog({ dir: join(dir, 'log'), readOnly: true, followPollMs: 10 })
  t.teardown(() => replayLog.close())
  const stopReplay = new AbortController()
  const replaying = replay({
    log: replayLog,
    source,
    target,
    consumer: 'replay',
    follow: true,
    dryRun: false,
    batchSize: 50,
    lingerMs: 5,
    outcomeWaitMs: 30_000,
    concurrency: 2,
    dirty,
    signal: stopReplay.signal,
    onStatus: (s) => files.save(s),
  })
  replaying.catch((err: unknown) => t.comment(`replay failed: ${(err as Error).stack}`))
  await untilReplayFollowing(() => files.load(), { maxLagRecords: 10_000 })

  const done = await runCutover({
    control,
    log: replayLog,
    source,
    target,
    replayStatus: () => files.load(),
    dirtyPath: files.dirtyPath,
    copy: await copyCheckpoint.load(),
    maxPauseMs: 5_000,
    maxLagRecords: 10_000,
    replayStaleMs: 10_000,
    by: 'test',
    dryRun: false,
  })
  t.equal(done.outcome, 'done', done.reason ?? '')
  t.comment(
    `write pause (control side) ${done.pauseMs} ms; steps ${done.steps.map((s) => `${s.name} ${s.ms}`).join(', ')}`,
  )
  // The gateway acts on the flip at its next look at the control store.
  await until(() => (gw.gateway.status().routing as { reads: string }).reads === 'target', {
    timeoutMs: 5_000,
    intervalMs: 10,
    what: 'the gateway to read from the target after the flip',
  })
  t.equal((gw.gateway.status().routing as { reads: string }).reads, 'target')

  // Reads now come from pgvector, through the adapter.
  const after = await ask()
  for (const [i, q] of queries.entries()) {
    t.same(
      after[i]?.map((m) => m.id),
      before[i]?.map((m) => m.id),
      `query ${i} (${JSON.stringify(q.filter ?? 'no filter')}${'namespace' in q ? ', films' : ''}): same ids`,
    )
    const drift = Math.max(0, ...(after[i] ?? []).map((m, k) => Math.abs(m.score! - (before[i]?.[k]?.score as number))))
    t.ok(drift < 1e-5, `query ${i}: scores agree (max drift ${drift})`)
    t.same(
      after[i]?.map((m) => m.metadata),
      before[i]?.map((m) => m.metadata),
      `query ${i}: same metadata`,
    )
    if (q.includeValues)
      t.same(
        after[i]?.map((m) => m.values),
        before[i]?.map((m) => m.values),
        `query ${i}: same values`,
      )
  }
  t.same(
    await index.namespace('films').fetch({ ids: fetchIds }),
    fetchedBefore,
    'fetch answers alike (a missing id left out)',
  )
  const pageAfter = await index.namespace('films').listPaginated({ prefix: 'films-01', limit: 4 })
  t.same(
    pageAfter.vectors?.map((v) => v.id),
    pageBefore.vectors?.map((v) => v.id),
    'list: the same first page',
  )
  t.ok(pageAfter.pagination?.next, 'and a token for the next')
  const second = await index
    .namespace('films')
    .listPaginated({ prefix: 'films-01', limit: 4, paginationToken: pageAfter.pagination?.next as string })
  t.same(
    second.vectors?.map((v) => v.id),
    ['films-014', 'films-015', 'films-016', 'films-017'],
    'the token leads on in byte order',
  )
  const stats = await index.describeIndexStats()
  t.match(stats, { dimension: DIM, namespaces: { films: { recordCount: 150 } } }, 'stats from pgvector')
  t.equal(stats.namespaces?.__default__?.recordCount ?? stats.namespaces?.['']?.recordCount, 150)
  const names = await index.listNamespaces()
  t.ok(
    names.namespaces?.some((n) => n.name === 'films'),
    'namespaces listed from pgvector',
  )

  // Writes after the flip go to pgvector, captured in the reverse log for a rollback.
  await index
    .namespace('films')
    .upsert({ records: [{ id: 'new-1', values: Array.from(vec()), metadata: { genre: 'drama' } }] })
  await index.namespace('films').update({ id: 'films-000', metadata: { edited: true } })
  await index.namespace('films').deleteMany({ ids: ['films-001'] })
  const now = await target.fetch('films', ['new-1', 'films-000', 'films-001'])
  t.ok(now.has('new-1'), 'an upsert after the flip is in pgvector')
  t.match(now.get('films-000')?.metadata, { edited: true, genre: 'drama' }, 'an update merged its metadata there')
  t.notOk(now.has('films-001'), 'a delete removed it there')
  t.notOk((await source.fetch('films', ['new-1'])).has('new-1'), 'the source did not get it (only a rollback would)')
  t.ok(
    (await index.namespace('films').fetch({ ids: ['new-1'] })).records['new-1'],
    'and the SDK reads it back: reads come from pgvector',
  )
  const reverseOps: string[] = []
  for await (const e of reverseLog.read()) if (e.record.op !== 'outcome') reverseOps.push(e.record.op)
  t.ok(
    reverseOps.includes('upsert') && reverseOps.includes('update') && reverseOps.includes('delete'),
    `the reverse log holds them (${reverseOps.length} records)`,
  )

  // What pgvector cannot answer is refused in Pinecone's shape; bad input as Pinecone would.
  const raw = async (path: string, body: unknown) => {
    const res = await fetch(`${gw.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': KEY, 'x-pinecone-api-version': '2025-04' },
      body: JSON.stringify(body),
    })
    return {
      status: res.status,
      body: (await res.json()) as Record<string, unknown>,
      code: res.headers.get('x-vecshift-error'),
    }
  }
  t.match(await raw('/query', { vector: Array.from(vec()), topK: 0 }), {
    status: 400,
    body: { code: 3, message: /topK must be an integer/ },
  })
  t.match(await raw('/vectors/upsert', { vectors: [{ id: 'x', values: [1, 2] }] }), {
    status: 400,
    body: { code: 3, message: /dimension/i },
  })
  t.match(await raw('/vectors/fetch_by_metadata', { filter: { genre: 'drama' } }), {
    status: 501,
    code: 'VECSHIFT_ERR_TARGET_UNSUPPORTED',
    body: { message: /fetch_by_metadata is not served while the pgvector target/ },
  })

  stop = true
  await Promise.all(workers)
  t.same(errors, [], 'no client request failed')
  stopReplay.abort()
  await replaying
  await dirty.close()
  const liveNow = await target.fetch('live', [...ledger.keys()])
  const wrong = [...ledger].filter(([id, want]) =>
    want === null
      ? liveNow.has(id)
      : JSON.stringify(Array.from(liveNow.get(id)?.values ?? [])) !== JSON.stringify(want.values),
  )
  t.same(wrong, [], `pgvector holds every one of ${ledger.size} live ids as the ledger says`)
})
