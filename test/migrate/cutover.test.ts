// The migration end to end under continuous load from the official SDK, through a gateway
// that takes its routing from the control store: capture, copy, replay (following), then a
// cutover. A client ledger records every write the SDK saw succeed; afterwards the target
// holds exactly the ledger's state and no client request failed. First a cutover that must
// abort (the target stops answering, so the replayer cannot drain): no client error, the
// source stays primary; then one that succeeds; then a rollback after more writes, which
// ends with the source holding every write too.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { FileControlStore } from '../../src/control/file-store.js'
import { CheckpointFile } from '../../src/migrate/copy/checkpoint.js'
import { planCopy } from '../../src/migrate/copy/plan.js'
import { runCopy } from '../../src/migrate/copy/copier.js'
import { runCutover, type CutoverOptions } from '../../src/migrate/cutover/coordinator.js'
import { DirtySet } from '../../src/replay/dirty.js'
import { replay } from '../../src/replay/replayer.js'
import { ReplayStatusFile } from '../../src/replay/status.js'
import { PineconeStore } from '../../src/stores/pinecone/store.js'
import { openFileLog } from '../../src/writelog/file/file-log.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { startTestGateway } from '../helpers/gateway.js'
import { differences, type Expected } from '../helpers/ledger.js'
import { prng } from '../helpers/prng.js'

const KEY = 'cutover-key'
const WORKERS = 6
const IDS_PER_WORKER = 25

t.test('capture, copy, replay and cutover under SDK load: no client error, the target equals the ledger', async (t) => {
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
    Array.from({ length: 300 }, (_, i) => ({
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

  // The load: each worker owns its ids, so each id's writes are ordered; the ledger holds
  // what each id must end as, from acknowledged writes only.
  const ledger = new Map<string, Expected>()
  const errors: string[] = []
  let longestWriteMs = 0
  let writes = 0
  let reads = 0
  let stop = false
  const index = new Pinecone({ apiKey: KEY, controllerHostUrl: gw.url }).index({ host: gw.url })
  const workers = Array.from({ length: WORKERS }, async (_, w) => {
    const r = prng(1000 + w)
    let n = 0
    while (!stop) {
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
          reads++
          continue
        }
        writes++
        longestWriteMs = Math.max(longestWriteMs, Date.now() - started)
      } catch (err) {
        errors.push(`${id}: ${(err as Error).message}`)
      }
      n++
      // A few hundred operations per second in all.
      await sleep(15)
    }
  })

  // Copy while writes flow, then the replayer follows the log.
  await sleep(200)
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
  const files = new ReplayStatusFile(join(dir, 'replay'), 'cut', 'replay')
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
    concurrency: 4,
    dirty,
    signal: stopReplay.signal,
    onStatus: (s) => files.save(s),
  })
  replaying.catch((err: unknown) => t.comment(`replay failed: ${(err as Error).stack}`))
  await sleep(500)

  const cutoverOptions = (maxPauseMs: number): Omit<CutoverOptions, 'copy'> => ({
    control,
    log: replayLog,
    source,
    target,
    replayStatus: () => files.load(),
    dirtyPath: files.dirtyPath,
    maxPauseMs,
    maxLagRecords: 10_000,
    replayStaleMs: 10_000,
    by: 'test',
    dryRun: false,
  })
  const copyDone = await copyCheckpoint.load()

  // 1. The target stops answering once the pause has begun: the replayer cannot drain, and
  // the cutover aborts by itself at its budget.
  let fault: string | undefined
  const aborted = await runCutover({
    ...cutoverOptions(600),
    copy: copyDone,
    onStep: (s) => {
      if (s.name === 'catch-up') fault = emu.faults.add({ op: '*', index: 'dst', status: 503 })
    },
  })
  if (fault) emu.faults.remove(fault)
  t.equal(aborted.outcome, 'aborted', aborted.reason ?? '')
  t.match(aborted.reason, /did not finish within the 600 ms write-pause budget/)
  t.equal((await control.read()).phase, 'capture', 'the source is still primary')
  t.match((await control.read()).cutovers.at(-1), { outcome: 'aborted' })
  // The target answers again; the replayer catches up (its retries back off for a while).
  for (let i = 0; i < 300; i++) {
    const s = await files.load()
    if (s && s.retrying === undefined && s.lagRecords !== undefined && s.lagRecords < 50) break
    await sleep(100)
  }

  // 2. Then a cutover that succeeds.
  const done = await runCutover({ ...cutoverOptions(5_000), copy: copyDone })
  if (done.outcome !== 'done') t.comment(JSON.stringify(await files.load()))
  t.equal(done.outcome, 'done', done.reason ?? '')
  t.same(
    done.steps.map((s) => s.name),
    ['preconditions', 'pre-reconcile', 'catch-up', 'barrier', 'drain', 'reconcile', 'flip'],
  )
  t.match(await control.read(), { phase: 'target-primary', routing: { reads: 'target', writes: 'target' } })
  t.comment(
    `write pause (control side) ${done.pauseMs} ms; steps ${done.steps.map((s) => `${s.name} ${s.ms}`).join(', ')}`,
  )
  // The replayer's lag, as the gateway's admin port shows it (metrics and status).
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  t.match(
    metrics,
    /vecshift_replay_lag_records\{[^}]*consumer="replay"[^}]*\} \d+/,
    'replay lag in records in /metrics',
  )
  t.match(metrics, /vecshift_replay_lag_seconds\{[^}]*consumer="replay"[^}]*\} [\d.]+/, 'and in seconds')
  t.match(metrics, /vecshift_replay_retrying\{[^}]*consumer="replay"[^}]*\} 0/)
  const adminStatus = (await (await fetch(`${gw.adminUrl}/admin/status`)).json()) as {
    replay: Array<{ consumer: string; lagRecords: number }>
  }
  t.match(adminStatus.replay, [{ consumer: 'replay', lagRecords: Number }], 'and in /admin/status')

  // Writes keep flowing to the target after the flip, captured in the reverse log; a
  // replayer takes them back to the source, and a rollback flips back.
  const afterFlip = writes
  const rollbackFiles = new ReplayStatusFile(join(dir, 'replay'), 'cut', 'rollback')
  const rollbackDirty = await DirtySet.open(rollbackFiles.dirtyPath)
  const reverseReader = await openFileLog({ dir: join(dir, 'reverse'), readOnly: true, followPollMs: 10 })
  t.teardown(() => reverseReader.close())
  const stopReverse = new AbortController()
  const reversing = replay({
    log: reverseReader,
    source: target,
    target: source,
    consumer: 'rollback',
    follow: true,
    dryRun: false,
    batchSize: 50,
    lingerMs: 5,
    outcomeWaitMs: 30_000,
    concurrency: 4,
    dirty: rollbackDirty,
    signal: stopReverse.signal,
    onStatus: (s) => rollbackFiles.save(s),
  })
  reversing.catch((err: unknown) => t.comment(`reverse replay failed: ${(err as Error).stack}`))
  await sleep(600)
  t.ok(writes > afterFlip, `writes went on after the flip (${writes - afterFlip})`)
  const back = await runCutover({
    direction: 'rollback',
    control,
    log: reverseReader,
    source: target,
    target: source,
    copy: undefined,
    replayStatus: () => rollbackFiles.load(),
    dirtyPath: rollbackFiles.dirtyPath,
    maxPauseMs: 5_000,
    maxLagRecords: 10_000,
    replayStaleMs: 10_000,
    by: 'test',
    dryRun: false,
  })
  t.equal(back.outcome, 'done', back.reason ?? '')
  t.match(await control.read(), { phase: 'source-primary', routing: { reads: 'source', writes: 'source' } })
  t.comment(`rollback write pause ${back.pauseMs} ms; steps ${back.steps.map((s) => `${s.name} ${s.ms}`).join(', ')}`)
  const afterRollback = writes
  await sleep(400)
  stop = true
  await Promise.all(workers)
  t.ok(writes > afterRollback, `writes went on after the rollback (${writes - afterRollback})`)
  t.same(
    errors,
    [],
    `no client request failed (${writes} writes, ${reads} queries; longest write ${longestWriteMs} ms)`,
  )

  // The source holds exactly what the ledger says: writes made before the cutover, on the
  // target after it (replayed back), and after the rollback.
  t.same(await differences(source, ledger), [], `source: every one of ${ledger.size} ids as the ledger says`)
  // The forward replayer carries the writes made after the rollback to the target too.
  const end = await log.tail()
  for (let i = 0; i < 200; i++) {
    const s = await files.load()
    if (s?.checkpoint !== undefined && end !== undefined && log.compare(s.checkpoint, end) >= 0) break
    await sleep(50)
  }
  stopReplay.abort()
  stopReverse.abort()
  await Promise.all([replaying, reversing])
  await Promise.all([dirty.close(), rollbackDirty.close()])
  t.same(await differences(target, ledger), [], 'target: every id as the ledger says')
  t.equal(
    (
      await target.fetch(
        '',
        Array.from({ length: 300 }, (_, i) => `old-${i}`),
      )
    ).size,
    300,
    'the copied records are there',
  )
})
