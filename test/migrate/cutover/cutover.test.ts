// The migration end to end under continuous load from the official SDK, through a gateway
// that takes its routing from the control store: capture, copy, replay (following), then a
// cutover. A client ledger records every write the SDK saw succeed; afterwards the stores
// hold exactly the ledger's state and no client request failed. One scenario per test, each
// on its own migration (startMigration below): a cutover that must abort (the target stops
// answering, so the replayer cannot drain), after which the source stays primary and a later
// cutover still goes through; one that succeeds; and a rollback after more writes, which ends
// with the source holding every write too.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TokenBucket } from '../../../src/migrate/copy/rate.js'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { FileControlStore } from '../../../src/control/file-store.js'
import { CheckpointFile } from '../../../src/migrate/copy/checkpoint.js'
import { planCopy } from '../../../src/migrate/copy/plan.js'
import { runCopy } from '../../../src/migrate/copy/copier.js'
import { runCutover, type CutoverOptions } from '../../../src/migrate/cutover/coordinator.js'
import { DirtySet } from '../../../src/replay/dirty.js'
import { replay } from '../../../src/replay/replayer.js'
import { ReplayStatusFile } from '../../../src/replay/status.js'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import type { WriteLog } from '../../../src/writelog/contract.js'
import { openFileLog } from '../../../src/writelog/file/file-log.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { startTestGateway } from '../../helpers/gateway.js'
import { differences, type Expected } from '../../helpers/ledger.js'
import { prng } from '../../helpers/prng.js'
import { untilReplayFollowing } from '../../helpers/replay-status.js'
import type { TestContext } from '../../helpers/tap.js'
import { until } from '../../helpers/until.js'

const KEY = 'cutover-key'
const WORKERS = 6
const IDS_PER_WORKER = 25
const OLD_RECORDS = 300

/** A replayer following a log into a store, with its status file and dirty set. */
interface Replaying {
  readonly files: ReplayStatusFile
  /** Stops it (idempotent) and closes its dirty set. */
  stop(): Promise<void>
}

/** Follows `log` from `from` into `into`, as `vecshift replay --follow` does; stopped on teardown. */
async function follow(
  t: TestContext,
  o: { dir: string; consumer: string; logDir: string; from: PineconeStore; into: PineconeStore },
): Promise<Replaying & { readonly log: WriteLog }> {
  const files = new ReplayStatusFile(join(o.dir, 'replay'), 'cut', o.consumer)
  const dirty = await DirtySet.open(files.dirtyPath)
  const log = await openFileLog({ dir: o.logDir, readOnly: true, followPollMs: 10 })
  t.teardown(() => log.close())
  const controller = new AbortController()
  const running = replay({
    log,
    source: o.from,
    target: o.into,
    consumer: o.consumer,
    follow: true,
    dryRun: false,
    batchSize: 50,
    lingerMs: 5,
    outcomeWaitMs: 30_000,
    concurrency: 4,
    dirty,
    signal: controller.signal,
    onStatus: (s) => files.save(s),
  })
  running.catch((err: unknown) => t.comment(`${o.consumer} failed: ${(err as Error).stack}`))
  let stopped: Promise<void> | undefined
  const stop = () => {
    stopped ??= (async () => {
      controller.abort()
      await running.catch(() => undefined)
      await dirty.close()
    })()
    return stopped
  }
  t.teardown(stop)
  return { files, log, stop }
}

/** The app's load through the gateway. Each worker owns its ids, so each id's writes are
 *  ordered; the ledger holds what each id must end as, from acknowledged writes only. */
function startLoad(url: string) {
  const ledger = new Map<string, Expected>()
  const errors: string[] = []
  const counts = { writes: 0, reads: 0, longestWriteMs: 0 }
  let stopping = false
  const index = new Pinecone({ apiKey: KEY, controllerHostUrl: url }).index({ host: url })
  // A few hundred operations per second in all, the copy's own rate limiter pacing them.
  const pace = new TokenBucket(250)
  const workers = Array.from({ length: WORKERS }, async (_, w) => {
    const r = prng(1000 + w)
    let n = 0
    while (!stopping) {
      await pace.take(1)
      const id = `w${w}-${Math.floor(r() * IDS_PER_WORKER)}`
      const pick = r()
      const started = Date.now()
      try {
        if (pick < 0.5) {
          const values = Array.from({ length: 4 }, () => Math.fround(r() - 0.5))
          await index.upsert({ records: [{ id, values, metadata: { w, n } }] })
          ledger.set(id, { values, metadata: { w, n } })
        } else if (pick < 0.65) {
          await index.update({ id, metadata: { touched: n } })
          const before = ledger.get(id)
          if (before) ledger.set(id, { ...before, metadata: { ...before.metadata, touched: n } })
        } else if (pick < 0.8) {
          await index.deleteMany({ ids: [id] })
          ledger.set(id, null)
        } else {
          await index.query({ vector: Array.from({ length: 4 }, () => r() - 0.5), topK: 3 })
          counts.reads++
          continue
        }
        counts.writes++
        counts.longestWriteMs = Math.max(counts.longestWriteMs, Date.now() - started)
      } catch (err) {
        errors.push(`${id}: ${(err as Error).message}`)
      }
      n++
    }
  })
  return {
    ledger,
    errors,
    counts,
    /** Waits until `more` writes past the count at `from` were acknowledged. */
    writesPast: (from: number, more: number, what: string) =>
      until(() => counts.writes >= from + more, { timeoutMs: 30_000, what }),
    stop: async () => {
      stopping = true
      await Promise.all(workers)
    },
  }
}

/** A migration in phase capture under SDK load: 300 records from before it copied to the
 *  target while writes flow, and the replayer following the write log into the target. */
async function startMigration(t: TestContext) {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [
      { name: 'src', dimension: 4, metric: 'cosine' },
      { name: 'dst', dimension: 4, metric: 'cosine' },
    ],
  })
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-cutover-'))
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
  const rnd = prng(99)
  const vector = () => Array.from({ length: 4 }, () => rnd() - 0.5)
  // Records from before the migration: the copy's job.
  await source.upsert(
    '',
    Array.from({ length: OLD_RECORDS }, (_, i) => ({
      id: `old-${i}`,
      values: Float32Array.from(vector()),
      metadata: { old: true },
    })),
  )

  const log = await openFileLog({ dir: join(dir, 'log') })
  t.teardown(() => log.close())
  const reverseLog = await openFileLog({ dir: join(dir, 'reverse') })
  t.teardown(() => reverseLog.close())
  const control = await FileControlStore.open({ dir: join(dir, 'control'), migration: 'cut', initialPhase: 'capture' })
  t.teardown(() => control.close())
  const gw = await startTestGateway(t, {
    index: 'src',
    host: emu.indexHost('src'),
    controllerHost: emu.url,
    writeLog: log,
    config: {
      migration: { id: 'cut', phase: 'capture' },
      target: { type: 'pinecone', index: 'dst', host: emu.indexHost('dst'), controllerHost: emu.url },
      'control.dir': join(dir, 'control'),
      'control.leaseMs': 2000,
      'log.level': 'warn',
      'replay.dataDir': join(dir, 'replay'),
    },
    env: { VECSHIFT_SOURCE_API_KEY: KEY, VECSHIFT_TARGET_API_KEY: KEY },
    control,
    reverseLog,
  })
  const load = startLoad(gw.url)
  t.teardown(load.stop)

  // Copy while writes flow, then the replayer follows the log.
  await load.writesPast(0, 20, 'writes flowing through the gateway before the copy')
  const plan = await planCopy(source, target, { strategy: 'auto', createTarget: false })
  const copyCheckpoint = new CheckpointFile(join(dir, 'copy'), 'cut')
  await runCopy(source, target, plan, {
    migration: 'cut',
    concurrency: 2,
    batchSize: 50,
    maxRequestsPerSec: 0,
    maxVectorsPerSec: 0,
    checkpoint: copyCheckpoint,
  })
  const forward = await follow(t, { dir, consumer: 'replay', logDir: join(dir, 'log'), from: source, into: target })
  await untilReplayFollowing(() => forward.files.load(), { maxLagRecords: 10_000 })
  const copy = await copyCheckpoint.load()

  const cutoverOptions = (maxPauseMs: number): CutoverOptions => ({
    control,
    log: forward.log,
    source,
    target,
    copy,
    replayStatus: () => forward.files.load(),
    dirtyPath: forward.files.dirtyPath,
    maxPauseMs,
    maxLagRecords: 10_000,
    replayStaleMs: 10_000,
    by: 'test',
    dryRun: false,
  })
  return { emu, dir, source, target, log, control, gw, load, forward, cutoverOptions }
}

type Migration = Awaited<ReturnType<typeof startMigration>>

/** Stops the load: no client request may have failed. */
async function stopLoad(t: TestContext, m: Migration): Promise<void> {
  await m.load.stop()
  const { writes, reads, longestWriteMs } = m.load.counts
  t.same(
    m.load.errors,
    [],
    `no client request failed (${writes} writes, ${reads} queries; longest write ${longestWriteMs} ms)`,
  )
}

/** The target holds exactly what the ledger says, and the copied records. */
async function targetMatchesLedger(t: TestContext, m: Migration): Promise<void> {
  t.same(
    await differences(m.target, m.load.ledger),
    [],
    `target: every one of ${m.load.ledger.size} ids as the ledger says`,
  )
  const old = await m.target.fetch(
    '',
    Array.from({ length: OLD_RECORDS }, (_, i) => `old-${i}`),
  )
  t.equal(old.size, OLD_RECORDS, 'the copied records are there')
}

t.test('a cutover whose target stops answering in the pause aborts by itself; a later one goes through', async (t) => {
  const m = await startMigration(t)
  // The target stops answering once the pause has begun: the replayer cannot drain, and the
  // cutover aborts by itself at its budget.
  let fault: string | undefined
  const aborted = await runCutover({
    ...m.cutoverOptions(600),
    onStep: (s) => {
      if (s.name === 'catch-up') fault = m.emu.faults.add({ op: '*', index: 'dst', status: 503 })
    },
  })
  if (fault) m.emu.faults.remove(fault)
  t.equal(aborted.outcome, 'aborted', aborted.reason ?? '')
  t.match(aborted.reason, /did not finish within the 600 ms write-pause budget/)
  t.equal((await m.control.read()).phase, 'capture', 'the source is still primary')
  t.match((await m.control.read()).cutovers.at(-1), { outcome: 'aborted' })

  // The target answers again; the replayer catches up (its retries back off for a while),
  // and a cutover then succeeds.
  await untilReplayFollowing(() => m.forward.files.load(), {
    maxLagRecords: 50,
    what: 'the replayer to catch up once the target answers again',
  })
  const done = await runCutover(m.cutoverOptions(5_000))
  if (done.outcome !== 'done') t.comment(JSON.stringify(await m.forward.files.load()))
  t.equal(done.outcome, 'done', done.reason ?? '')
  const record = await m.control.read()
  t.equal(record.phase, 'target-primary')
  t.same(
    record.cutovers.map((c) => c.outcome),
    ['aborted', 'done'],
    'the aborted cutover, then the one that went through',
  )
  await stopLoad(t, m)
  await targetMatchesLedger(t, m)
})

t.test('capture, copy, replay and cutover under SDK load: no client error, the target equals the ledger', async (t) => {
  const m = await startMigration(t)
  const done = await runCutover(m.cutoverOptions(5_000))
  if (done.outcome !== 'done') t.comment(JSON.stringify(await m.forward.files.load()))
  t.equal(done.outcome, 'done', done.reason ?? '')
  t.same(
    done.steps.map((s) => s.name),
    ['preconditions', 'pre-reconcile', 'catch-up', 'barrier', 'drain', 'reconcile', 'flip'],
  )
  t.match(await m.control.read(), { phase: 'target-primary', routing: { reads: 'target', writes: 'target' } })
  t.comment(
    `write pause (control side) ${done.pauseMs} ms; steps ${done.steps.map((s) => `${s.name} ${s.ms}`).join(', ')}`,
  )
  // The replayer's lag, as the gateway's admin port shows it (metrics and status).
  const metrics = await (await fetch(`${m.gw.adminUrl}/metrics`)).text()
  t.match(
    metrics,
    /vecshift_replay_lag_records\{[^}]*consumer="replay"[^}]*\} \d+/,
    'replay lag in records in /metrics',
  )
  t.match(metrics, /vecshift_replay_lag_seconds\{[^}]*consumer="replay"[^}]*\} [\d.]+/, 'and in seconds')
  t.match(metrics, /vecshift_replay_retrying\{[^}]*consumer="replay"[^}]*\} 0/)
  const adminStatus = (await (await fetch(`${m.gw.adminUrl}/admin/status`)).json()) as {
    replay: Array<{ consumer: string; lagRecords: number }>
  }
  t.match(adminStatus.replay, [{ consumer: 'replay', lagRecords: Number }], 'and in /admin/status')

  // Writes keep flowing, now to the target.
  const afterFlip = m.load.counts.writes
  await m.load.writesPast(afterFlip, 20, 'writes after the flip')
  t.ok(m.load.counts.writes > afterFlip, `writes went on after the flip (${m.load.counts.writes - afterFlip})`)
  await stopLoad(t, m)
  await targetMatchesLedger(t, m)
})

t.test('a rollback after more writes: the source, then the target again, hold every write', async (t) => {
  const m = await startMigration(t)
  const done = await runCutover(m.cutoverOptions(5_000))
  t.equal(done.outcome, 'done', done.reason ?? '')

  // Writes keep flowing to the target after the flip, captured in the reverse log; a
  // replayer takes them back to the source, and a rollback flips back.
  const afterFlip = m.load.counts.writes
  const back = await follow(t, {
    dir: m.dir,
    consumer: 'rollback',
    logDir: join(m.dir, 'reverse'),
    from: m.target,
    into: m.source,
  })
  await m.load.writesPast(afterFlip, 20, 'writes after the flip')
  await untilReplayFollowing(() => back.files.load(), {
    maxLagRecords: 10_000,
    what: 'the reverse replayer to follow the reverse log',
  })
  t.ok(m.load.counts.writes > afterFlip, `writes went on after the flip (${m.load.counts.writes - afterFlip})`)
  const rolledBack = await runCutover({
    direction: 'rollback',
    control: m.control,
    log: back.log,
    source: m.target,
    target: m.source,
    copy: undefined,
    replayStatus: () => back.files.load(),
    dirtyPath: back.files.dirtyPath,
    maxPauseMs: 5_000,
    maxLagRecords: 10_000,
    replayStaleMs: 10_000,
    by: 'test',
    dryRun: false,
  })
  t.equal(rolledBack.outcome, 'done', rolledBack.reason ?? '')
  t.match(await m.control.read(), { phase: 'source-primary', routing: { reads: 'source', writes: 'source' } })
  t.comment(
    `rollback write pause ${rolledBack.pauseMs} ms; steps ${rolledBack.steps.map((s) => `${s.name} ${s.ms}`).join(', ')}`,
  )
  const afterRollback = m.load.counts.writes
  await m.load.writesPast(afterRollback, 20, 'writes after the rollback')
  await stopLoad(t, m)
  t.ok(
    m.load.counts.writes > afterRollback,
    `writes went on after the rollback (${m.load.counts.writes - afterRollback})`,
  )

  // The source holds exactly what the ledger says: writes made before the cutover, on the
  // target after it (replayed back), and after the rollback.
  t.same(
    await differences(m.source, m.load.ledger),
    [],
    `source: every one of ${m.load.ledger.size} ids as the ledger says`,
  )
  // The forward replayer carries the writes made after the rollback to the target too.
  const end = await m.log.tail()
  await until(
    async () => {
      const s = await m.forward.files.load().catch(() => undefined)
      return s?.checkpoint !== undefined && end !== undefined && m.log.compare(s.checkpoint, end) >= 0
    },
    { timeoutMs: 20_000, intervalMs: 50, what: 'the forward replayer to reach the end of the log' },
  )
  await Promise.all([m.forward.stop(), back.stop()])
  await targetMatchesLedger(t, m)
})
