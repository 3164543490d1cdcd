// Two gateway replicas, as on two hosts: each its own process state, its own Kafka writer
// and its own connection to a postgres control store they share (Debian's PostgreSQL 15),
// and the SDK's load spread over both. Capture, copy, replay (following the one Kafka log
// both replicas write), then a cutover whose barrier must hold writes on both replicas and
// drain to both replicas' fences. A client ledger records every write the SDK saw succeed:
// no client request may fail, and the target must end exactly in the ledger's state.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TokenBucket } from '../../../src/migrate/copy/rate.js'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { PostgresControlStore } from '../../../src/control/postgres-store.js'
import { CheckpointFile } from '../../../src/migrate/copy/checkpoint.js'
import { planCopy } from '../../../src/migrate/copy/plan.js'
import { runCopy } from '../../../src/migrate/copy/copier.js'
import { runCutover } from '../../../src/migrate/cutover/coordinator.js'
import { DirtySet } from '../../../src/replay/dirty.js'
import { until } from '../../helpers/until.js'
import { replay } from '../../../src/replay/replayer.js'
import { ReplayStatusFile } from '../../../src/replay/status.js'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import { openKafkaLog } from '../../../src/writelog/kafka/kafka-log.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { startTestGateway } from '../../helpers/gateway.js'
import { startTestKafka, uniqueTopic } from '../../helpers/kafka.js'
import { startTestPostgresServer } from '../../helpers/postgres-server.js'
import { differences, type Expected } from '../../helpers/ledger.js'
import { prng } from '../../helpers/prng.js'

const KEY = 'replicas-key'
const WORKERS = 4
const IDS_PER_WORKER = 20

t.test(
  'two gateway replicas on a postgres control store and one Kafka log: cutover under SDK load spread over both',
  async (t) => {
    const emu = await startTestEmulator(t, {
      apiKey: KEY,
      indexes: [
        { name: 'src', dimension: 4, metric: 'cosine' },
        { name: 'dst', dimension: 4, metric: 'cosine' },
      ],
    })
    const db = await startTestPostgresServer(t)
    const kafka = await startTestKafka(t)
    const dir = mkdtempSync(join(tmpdir(), 'vecshift-replicas-'))
    const store = (name: string) =>
      new PineconeStore({
        role: name === 'src' ? 'source' : 'target',
        index: name,
        host: emu.indexHost(name),
        controllerHost: emu.url,
        apiKey: KEY,
      })
    const source = store('src')
    const target = store('dst')
    t.teardown(() => Promise.all([source.close(), target.close()]))
    const rnd = prng(7)
    await source.upsert(
      '',
      Array.from({ length: 200 }, (_, i) => ({
        id: `old-${i}`,
        values: Float32Array.from({ length: 4 }, () => rnd() - 0.5),
        metadata: { old: true },
      })),
    )

    // Every process opens its own writer on the one topic and its own control connection.
    const topic = uniqueTopic('replicas')
    const kafkaLog = async () => {
      const log = await openKafkaLog({
        brokers: kafka.brokers,
        topic,
        lingerMs: 1,
        appendTimeoutMs: 5_000,
        requestTimeoutMs: 3_000,
        followPollMs: 20,
      })
      t.teardown(() => log.close())
      return log
    }
    const controlStore = async (who: string) => {
      const c = await PostgresControlStore.open({
        migration: 'rep',
        initialPhase: 'capture',
        schema: 'vecshift',
        label: `postgres (${who})`,
        connection: { ...db.poolConfig(), connectionTimeoutMillis: 2_000, query_timeout: 3_000 },
      })
      t.teardown(() => c.close())
      return c
    }
    const logA = await kafkaLog()
    const logB = await kafkaLog()
    const gatewayConfig = {
      migration: { id: 'rep', phase: 'capture' },
      target: { type: 'pinecone', index: 'dst', host: emu.indexHost('dst'), controllerHost: emu.url },
      'control.leaseMs': 2000,
      'control.pollMs': 20,
      'log.level': 'warn',
    }
    const env = { VECSHIFT_SOURCE_API_KEY: KEY, VECSHIFT_TARGET_API_KEY: KEY }
    const gwA = await startTestGateway(t, {
      index: 'src',
      host: emu.indexHost('src'),
      controllerHost: emu.url,
      writeLog: logA,
      control: await controlStore('gateway a'),
      config: gatewayConfig,
      env,
    })
    const gwB = await startTestGateway(t, {
      index: 'src',
      host: emu.indexHost('src'),
      controllerHost: emu.url,
      writeLog: logB,
      control: await controlStore('gateway b'),
      config: gatewayConfig,
      env,
    })
    const control = await controlStore('operator')
    t.equal((await control.read()).phase, 'capture')

    const ledger = new Map<string, Expected>()
    const errors: string[] = []
    const perGateway = [0, 0]
    let longestWriteMs = 0
    let stop = false
    const indexes = [gwA, gwB].map((gw) =>
      new Pinecone({ apiKey: KEY, controllerHostUrl: gw.url }).index({ host: gw.url }),
    )
    // 60 operations a second in all: this test is about correctness across replicas, and
    // shares the machine with the rest of the suite (the replayer on the mock Kafka cluster
    // must keep up).
    const pace = new TokenBucket(60)
    const workers = Array.from({ length: WORKERS }, async (_, w) => {
      const r = prng(500 + w)
      let n = 0
      while (!stop) {
        await pace.take(1)
        // Each worker owns its ids (so each id's writes are ordered) and sends every other
        // request to the other replica: one id's writes go through both.
        const g = n % 2
        const index = indexes[g] as (typeof indexes)[number]
        const id = `w${w}-${Math.floor(r() * IDS_PER_WORKER)}`
        const pick = r()
        const started = Date.now()
        try {
          if (pick < 0.55) {
            const values = Array.from({ length: 4 }, () => Math.fround(r() - 0.5))
            await index.upsert({ records: [{ id, values, metadata: { w, n } }] })
            ledger.set(id, { values, metadata: { w, n } })
          } else if (pick < 0.7) {
            await index.update({ id, metadata: { touched: n } })
            const before = ledger.get(id)
            if (before) ledger.set(id, { ...before, metadata: { ...before.metadata, touched: n } })
          } else if (pick < 0.85) {
            await index.deleteMany({ ids: [id] })
            ledger.set(id, null)
          } else {
            await index.query({ vector: Array.from({ length: 4 }, () => r() - 0.5), topK: 3 })
          }
          perGateway[g]! += 1
          longestWriteMs = Math.max(longestWriteMs, Date.now() - started)
        } catch (err) {
          errors.push(`${id} via ${g === 0 ? 'a' : 'b'}: ${(err as Error).message}`)
        }
        n++
      }
    })

    // The copy starts once both replicas are serving the load.
    await until(() => (perGateway[0] as number) >= 10 && (perGateway[1] as number) >= 10, {
      timeoutMs: 30_000,
      what: 'requests served through both replicas before the copy',
    })
    const plan = await planCopy(source, target, { strategy: 'auto', createTarget: false })
    const copyCheckpoint = new CheckpointFile(join(dir, 'copy'), 'rep')
    await runCopy(source, target, plan, {
      migration: 'rep',
      concurrency: 2,
      batchSize: 50,
      maxRequestsPerSec: 0,
      maxVectorsPerSec: 0,
      checkpoint: copyCheckpoint,
    })
    const files = new ReplayStatusFile(join(dir, 'replay'), 'rep', 'replay')
    const dirty = await DirtySet.open(files.dirtyPath)
    const replayLog = await kafkaLog()
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
      concurrency: 4,
      dirty,
      signal: stopReplay.signal,
      onStatus: (s) => files.save(s),
    })
    replaying.catch((err: unknown) => t.comment(`replay failed: ${(err as Error).stack}`))
    // The cutover refuses without a replayer's report; on a busy machine the first one can take
    // longer than any fixed sleep.
    await until(async () => (await files.load()) !== undefined, {
      timeoutMs: 30_000,
      what: "the replayer's first status report",
    })

    const live = (await control.replicas()).filter((l) => Date.parse(l.expiresAt) > Date.now())
    t.equal(live.length, 2, 'both replicas hold a lease in the shared store')
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
    if (done.outcome !== 'done') t.comment(JSON.stringify(await files.load()))
    t.equal(done.outcome, 'done', done.reason ?? '')
    t.same(
      done.steps.map((s) => s.name),
      ['preconditions', 'pre-reconcile', 'catch-up', 'barrier', 'drain', 'reconcile', 'flip'],
    )
    const barrierEpoch = done.record.epoch - 1
    const fenced = (await control.replicas()).filter((l) => l.fence?.epoch === barrierEpoch)
    t.equal(fenced.length, 2, 'both replicas appended a fence at the barrier, and the drain waited for both')
    t.match(done.record, { phase: 'target-primary', routing: { reads: 'target', writes: 'target' } })
    t.comment(
      `write pause (control side) ${done.pauseMs} ms; steps ${done.steps.map((s) => `${s.name} ${s.ms}`).join(', ')}`,
    )

    // Both replicas now send writes to the target.
    const before = [...perGateway]
    await until(
      () =>
        (perGateway[0] as number) >= (before[0] as number) + 10 &&
        (perGateway[1] as number) >= (before[1] as number) + 10,
      { timeoutMs: 30_000, what: 'requests served through both replicas after the flip' },
    )
    stop = true
    await Promise.all(workers)
    t.ok(
      (perGateway[0] as number) > (before[0] as number) && (perGateway[1] as number) > (before[1] as number),
      `both replicas served requests after the flip (${perGateway.join(' / ')} in all)`,
    )
    t.same(errors, [], `no client request failed (longest ${longestWriteMs} ms)`)

    stopReplay.abort()
    await replaying
    await dirty.close()
    t.same(await differences(target, ledger), [], `target: every one of ${ledger.size} ids as the ledger says`)
    t.equal(
      (
        await target.fetch(
          '',
          Array.from({ length: 200 }, (_, i) => `old-${i}`),
        )
      ).size,
      200,
      'the copied records are there',
    )
  },
)
