import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pinecone } from '@pinecone-database/pinecone'
import { loadConfig } from '../config/load.js'
import type { Config } from '../config/schema.js'
import { openControlStore } from '../control/open.js'
import { CheckpointFile } from '../migrate/copy/checkpoint.js'
import { runCollectionCopy } from '../migrate/copy/collection.js'
import { planCopy } from '../migrate/copy/plan.js'
import { Progress } from '../migrate/copy/progress.js'
import { runCopy, type CopySummary } from '../migrate/copy/copier.js'
import { runCutover } from '../migrate/cutover/coordinator.js'
import { runVerify } from '../migrate/verify/verifier.js'
import { Gateway } from '../proxy/server.js'
import { DirtySet } from '../replay/dirty.js'
import { replay } from '../replay/replayer.js'
import { ReplayStatusFile } from '../replay/status.js'
import { createLogger } from '../logger.js'
import { openStore } from '../stores/open.js'
import { PgvectorStore } from '../stores/pgvector/store.js'
import { mulberry32 } from '../prng.js'
import type { VectorStore } from '../stores/contract.js'
import { openFileLog } from '../writelog/file/file-log.js'
import { openWriteLog } from '../writelog/open.js'
import type { WriteLog } from '../writelog/contract.js'
import { startDemoPeers, type DemoPeers } from './demo-peers.js'
import { ledgerDifferences, Traffic } from './demo-traffic.js'
import { reverseLogConfig } from '../config/reverse-log.js'

// `vecshift demo`: a real migration end to end on embedded defaults, in one process, with
// the same modules the CLI commands use. An emulator holds a pod-like source index seeded
// with vectors in several namespaces; an app (the official SDK) writes and queries through
// the gateway the whole time; the gateway captures its writes in the file log; the copy
// moves the index (through a collection, Pinecone's own path, or into pgvector), the
// replayer follows the log, the verification compares both sides, and the cutover flips
// routing in a short write pause. At the end the new index is checked against the app's
// own ledger of acknowledged writes.

export interface DemoFlags {
  vectors: number
  dimension: number
  target: 'pinecone' | 'pgvector'
  afterSeconds: number
  pauseSeconds: number
  dir?: string
  keepRunning?: boolean
}

const NAMESPACES = ['', 'tenant-a', 'tenant-b']
const API_KEY = 'demo-key'
const MIGRATION = 'demo'

export async function runDemo(flags: DemoFlags): Promise<void> {
  const began = Date.now()
  const say = (line: string) => process.stdout.write(`${line}\n`)
  const elapsed = () => `${((Date.now() - began) / 1000).toFixed(1)} s`.padStart(7)
  const step = (name: string, line: string) => say(`${elapsed()}  ${name.padEnd(9)} ${line}`)
  const logger = createLogger({ level: 'warn', name: 'vecshift-demo' })
  const dir = flags.dir ?? mkdtempSync(join(tmpdir(), 'vecshift-demo-'))
  const peers = await startDemoPeers({
    apiKey: API_KEY,
    logger,
    pgvector: flags.target === 'pgvector',
    source: { name: 'demo-source', dimension: flags.dimension },
  })
  const closers: Array<() => Promise<unknown>> = []
  const cleanUp = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined)
  }
  try {
    const sourceIndex = new Pinecone({ apiKey: API_KEY, controllerHostUrl: peers.emulatorUrl }).index({
      host: peers.indexHost('demo-source'),
    })
    const seeded = await seed(sourceIndex, flags.vectors, flags.dimension)
    step(
      'seed',
      `${flags.vectors} vectors (dimension ${flags.dimension}) in ${NAMESPACES.length} namespaces ` +
        `of the pod-like index demo-source on the emulator ${peers.emulatorUrl}`,
    )

    // The admin token guards the status page's data; it is printed once, here, for you.
    const adminToken = randomBytes(12).toString('hex')
    const config = demoConfig(dir, peers, flags, adminToken)
    const control = await openControlStore(config, logger)
    closers.push(() => control.close())
    const writeLog = await openWriteLog(config.writelog, logger)
    closers.push(() => writeLog.close())
    const reverseLog = await openWriteLog(reverseLogConfig(config), logger)
    closers.push(() => reverseLog.close())
    const source = await openStore(config, 'source', logger)
    closers.push(() => source.close())
    const target = await openStore(config, 'target', logger)
    closers.push(() => target.close())
    const gateway = new Gateway(config, logger, {
      control,
      writeLog,
      reverseLog,
      ...(flags.target === 'pgvector' ? { targetStore: target } : {}),
    })
    closers.push(() => gateway.close())
    const { url, adminUrl } = await gateway.listen()
    step(
      'gateway',
      `${url} in phase capture: every write is in the file log ` +
        `(${config.writelog.backend === 'file' ? config.writelog.file?.dir : ''}) before it is acknowledged`,
    )
    step('status', `${adminUrl}/status#token=${adminToken}`)

    // The app's only change: its controller host is the gateway.
    const app = new Pinecone({ apiKey: API_KEY, controllerHostUrl: url }).index({ name: 'demo-source' })
    const traffic = new Traffic(app, {
      workers: 6,
      idsPerWorker: 40,
      dimension: flags.dimension,
      namespaces: NAMESPACES,
      pauseMs: 20,
    })
    traffic.start()
    closers.push(() => traffic.stop())
    step(
      'traffic',
      'the app (official SDK, 6 workers) upserts, updates, deletes and queries through the gateway from now to the end',
    )
    await sleep(500)

    const copy = await copyIndex(config, source, target, seeded, dir)
    step(
      'copy',
      `${copy.copied} records ` +
        `(${copy.namespaces.map((n) => `${n.namespace || '(default)'} ${n.copied}`).join(', ')}) ` +
        `by ${copy.strategy} in ${(copy.durationMs / 1000).toFixed(1)} s, ${copy.retries.source + copy.retries.target} retries`,
    )

    // The replayer follows the log from the start of capture: writes made during the copy
    // reach the target, in order, and again if the copy already had them (idempotent).
    const files = new ReplayStatusFile(config.replay.dataDir, MIGRATION, 'replay')
    const dirty = await DirtySet.open(files.dirtyPath)
    const replayLog = await openFileLog({ dir: join(dir, 'writelog'), readOnly: true, followPollMs: 10 })
    closers.push(() => replayLog.close())
    const stopReplay = new AbortController()
    const replaying = replay({
      log: replayLog,
      source,
      target,
      consumer: 'replay',
      follow: true,
      dryRun: false,
      batchSize: config.replay.batchSize,
      lingerMs: 5,
      outcomeWaitMs: config.replay.outcomeWaitMs,
      concurrency: config.replay.concurrency,
      dirty,
      signal: stopReplay.signal,
      logger,
      onStatus: (s) => files.save(s),
    })
    closers.push(async () => {
      stopReplay.abort()
      await replaying.catch(() => undefined)
    })
    const caughtUp = await waitForReplay(files, 30_000)
    step(
      'replay',
      `following the log: ${caughtUp.counts.applied} captured writes applied, lag ${caughtUp.lagRecords ?? '?'} records`,
    )

    const verify = await runVerify({
      source,
      target,
      sample: 500,
      queries: 100,
      topK: 10,
      tolerance: 1e-6,
      seed: 1,
      replayLag: caughtUp.lagRecords ?? 0,
      // Writes keep arriving while both sides are read: a record written, or deleted, between
      // the two reads differs, is missing or is on one side only, by the replay lag. The
      // cutover reconciles every written id anyway.
      thresholds: { ...config.verify.thresholds, maxMismatched: 5, maxMissing: 5, maxExtra: 5, maxCountDifference: 50 },
    })
    const recall = verify.search.all.meanRecall
    step(
      'verify',
      `${verify.records.equal} of ${verify.records.compared} sampled records equal; ` +
        `recall@10 ${recall.toFixed(3)} over ${verify.search.all.queries} queries: ` +
        `${verify.passed ? 'passed' : `FAILED (${verify.failures.join('; ')})`}`,
    )
    if (!verify.passed)
      throw new Error('the verification failed; the demo does not cut over (a real migration would stop here too)')

    if (flags.pauseSeconds > 0) {
      step(
        'waiting',
        `${flags.pauseSeconds} s before the cutover (--pause-seconds): writes are captured and replayed meanwhile`,
      )
      await sleep(flags.pauseSeconds * 1000)
    }
    traffic.mark(true)
    const cut = await runCutover({
      control,
      log: replayLog,
      source,
      target,
      replayStatus: () => files.load(),
      dirtyPath: files.dirtyPath,
      copy: await new CheckpointFile(config.copy.checkpointDir, MIGRATION).load(),
      maxPauseMs: config.cutover.maxPauseMs,
      maxLagRecords: config.cutover.maxLagRecords,
      barrierLagRecords: config.cutover.barrierLagRecords,
      catchUpTimeoutMs: config.cutover.catchUpTimeoutMs,
      replayStaleMs: config.cutover.replayStaleMs,
      by: 'vecshift demo',
      dryRun: false,
      logger,
    })
    await sleep(300)
    traffic.mark(false)
    step(
      'cutover',
      `${cut.outcome}${cut.reason ? ` (${cut.reason})` : ''}: ${cut.steps.map((s) => `${s.name} ${s.ms} ms`).join(', ')}`,
    )
    if (cut.outcome !== 'done') throw new Error(`the cutover ${cut.outcome}: ${cut.reason ?? ''}`)
    step('serving', `reads and writes now go to ${target.label}; writes are kept in the reverse log for a rollback`)
    await sleep(flags.afterSeconds * 1000)
    await traffic.stop()

    const wrong = await ledgerDifferences(target, traffic.ledger)
    const touched = [...traffic.ledger.values()].reduce((n, m) => n + m.size, 0)
    const record = await control.read()
    const replayed = (await files.load())?.counts.applied ?? caughtUp.counts.applied
    const [captured, reversed] = await Promise.all([countWrites(writeLog), countWrites(reverseLog)])
    const f = traffic.figures
    say('')
    say('summary')
    say(`  records copied           ${copy.copied}`)
    say(
      `  writes captured          ${captured} before the cutover, ${reversed} after it ` +
        `(in the reverse log, for a rollback); ${f.writes} acknowledged to the app`,
    )
    say(`  writes replayed          ${replayed} into the new index`)
    say(`  recall@10                ${recall.toFixed(3)}`)
    say(
      `  longest write pause      ${Math.round(f.markedLongestMs)} ms seen by the app during the cutover ` +
        `(writes held ${cut.pauseMs} ms by the control store)`,
    )
    say(`  client errors            ${f.errors.length}${f.errors.length ? `: ${f.errors.slice(0, 3).join('; ')}` : ''}`)
    say(
      '  new index vs app ledger  ' +
        (wrong.length === 0
          ? `all ${touched} ids the app wrote are as it was told`
          : `${wrong.length} ids differ: ${wrong.slice(0, 3).join('; ')}`),
    )
    say(`  phase                    ${record.phase} (epoch ${record.epoch}); ${f.queries} queries answered`)
    say(`  total time               ${((Date.now() - began) / 1000).toFixed(1)} s; files in ${dir}`)
    if (f.errors.length > 0 || wrong.length > 0) process.exitCode = 1

    if (flags.keepRunning) {
      say(`\nstill running: the status page is ${adminUrl}/status#token=${adminToken}; Ctrl-C to stop`)
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve())
        process.once('SIGTERM', () => resolve())
      })
    }
  } finally {
    await cleanUp()
    await peers.close()
  }
}

function demoConfig(dir: string, peers: DemoPeers, flags: DemoFlags, adminToken: string): Config {
  const target =
    flags.target === 'pgvector'
      ? {
          type: 'pgvector',
          table: 'demo_target',
          host: '127.0.0.1',
          port: peers.pgPort,
          database: 'postgres',
          user: 'postgres',
          poolSize: 1,
        }
      : {
          type: 'pinecone',
          index: 'demo-target',
          host: peers.indexHost('demo-target'),
          controllerHost: peers.emulatorUrl,
        }
  return loadConfig({
    env: { VECSHIFT_SOURCE_API_KEY: API_KEY, VECSHIFT_TARGET_API_KEY: API_KEY, VECSHIFT_ADMIN_TOKEN: adminToken },
    overrides: {
      migration: { id: MIGRATION, phase: 'capture' },
      source: {
        type: 'pinecone',
        index: 'demo-source',
        host: peers.indexHost('demo-source'),
        controllerHost: peers.emulatorUrl,
      },
      target,
      writelog: { backend: 'file', file: { dir: join(dir, 'writelog') } },
      'rollback.logDir': join(dir, 'writelog-reverse'),
      'control.dir': join(dir, 'control'),
      'replay.dataDir': join(dir, 'replay'),
      'copy.checkpointDir': join(dir, 'copy'),
      'copy.createTarget': true,
      'copy.collection': { cloud: 'aws', region: 'us-east-1', pollIntervalMs: 50 },
      'cutover.maxPauseMs': 5_000,
      // A quarter of the app's queries are also asked of the new index and the answers
      // compared, as an operator would before trusting it (the status page shows them).
      'gateway.shadow': { percent: 25, maxConcurrent: 4 },
      'gateway.listen.port': 0,
      'admin.listen.port': 0,
      'log.level': 'warn',
    },
  })
}

/** The seeded ids, namespace by namespace (the pgvector path copies by ids file). */
async function seed(
  index: ReturnType<Pinecone['index']>,
  count: number,
  dimension: number,
): Promise<Map<string, string[]>> {
  const ids = new Map<string, string[]>(NAMESPACES.map((ns) => [ns, []]))
  const rnd = mulberry32(1)
  const batch = 200
  for (let start = 0; start < count; start += batch) {
    const ns = NAMESPACES[(start / batch) % NAMESPACES.length] as string
    const records = Array.from({ length: Math.min(batch, count - start) }, (_, i) => ({
      id: `item-${start + i}`,
      values: Array.from({ length: dimension }, () => rnd() - 0.5),
      metadata: { category: ['books', 'music', 'film'][(start + i) % 3] as string, price: (start + i) % 100 },
    }))
    await index.namespace(ns).upsert({ records })
    ids.get(ns)?.push(...records.map((r) => r.id))
  }
  return ids
}

/** Pinecone target: the pod index is saved as a collection and the serverless index created
 *  from it. pgvector target: a pod index cannot list its ids, so the demo gives the ids it
 *  seeded as an ids file (writes made since are the replayer's). */
async function copyIndex(
  config: Config,
  source: VectorStore,
  target: VectorStore,
  seeded: Map<string, string[]>,
  dir: string,
): Promise<CopySummary> {
  const checkpoint = new CheckpointFile(config.copy.checkpointDir, MIGRATION)
  const progress = new Progress(
    { isTTY: process.stderr.isTTY, write: (s: string) => process.stderr.write(s) },
    'copy',
    { intervalMs: process.stderr.isTTY ? 200 : 2_000 },
  )
  if (config.target?.type === 'pgvector') {
    const idsFile = join(dir, 'ids.tsv')
    const idLines = [...seeded].flatMap(([ns, ids]) => ids.map((id) => `${ns}\t${id}`))
    writeFileSync(idsFile, `${idLines.join('\n')}\n`)
    const plan = await planCopy(source, target, { strategy: 'ids-file', idsFile, createTarget: true })
    if (!(target instanceof PgvectorStore)) throw new Error('the pgvector target is not a pgvector store')
    await target.createSchema({ dimension: plan.source.dimension, metric: plan.source.metric })
    return runCopy(source, target, plan, {
      migration: MIGRATION,
      concurrency: 2,
      batchSize: 200,
      maxRequestsPerSec: 0,
      maxVectorsPerSec: 0,
      idsFile,
      checkpoint,
      progress,
    })
  }
  const plan = await planCopy(source, target, {
    strategy: 'collection',
    createTarget: true,
    collection: config.copy.collection,
  })
  return runCollectionCopy(source, target, plan, {
    migration: MIGRATION,
    checkpoint,
    progress,
    collection: {
      name: 'vecshift-demo',
      cloud: 'aws',
      region: 'us-east-1',
      deletionProtection: false,
      readyTimeoutMs: 60_000,
      pollIntervalMs: 50,
    },
  })
}

/** Writes in a log (upserts, updates, deletes; not their outcomes nor fences). */
async function countWrites(log: WriteLog): Promise<number> {
  let n = 0
  for await (const { record } of log.read()) if (record.op !== 'outcome' && record.op !== 'fence') n++
  return n
}

async function waitForReplay(files: ReplayStatusFile, timeoutMs: number) {
  const until = Date.now() + timeoutMs
  for (;;) {
    const s = await files.load()
    if (s && s.lagRecords !== undefined && s.lagRecords < 100 && s.retrying === undefined) return s
    if (Date.now() > until)
      throw new Error(`the replayer did not catch up within ${timeoutMs} ms (${JSON.stringify(s)})`)
    await sleep(100)
  }
}
