// Issue 15, end to end: every kind of write (by id, by filter, delete-all, namespace deletion)
// races a slow copy, through a capturing gateway, from two SDK clients; then a cutover and a
// rollback while the writes go on. Each piece is its own process, as an operator runs them.
// After each flip the two stores are compared in full, every id of every namespace (values,
// sparse values, metadata, presence), not sampled.
//
// Two runs: the replayer following the log during the copy (each batch positioned in it,
// settle.ts) into a Pinecone target, and the replayer started only after the copy (nothing
// positioned: the cutover's pre-reconcile compares the touched namespaces in full) into a
// pgvector table.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { CheckpointFile } from '../../../src/migrate/copy/checkpoint.js'
import { TokenBucket } from '../../../src/migrate/copy/rate.js'
import { compareInFull } from '../../../src/migrate/verify/full.js'
import { ReplayStatusFile } from '../../../src/replay/status.js'
import type { VectorStore } from '../../../src/stores/contract.js'
import { PgvectorStore } from '../../../src/stores/pgvector/store.js'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import { openFileLog } from '../../../src/writelog/file/file-log.js'
import { cliDaemon, gatewayUrl, runCli } from '../../helpers/cli.js'
import { migrationYaml } from '../../helpers/config.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { startTestPostgres } from '../../helpers/pglite.js'
import { prng } from '../../helpers/prng.js'
import type { TestContext } from '../../helpers/tap.js'
import { until } from '../../helpers/until.js'

const KEY = 'filter-e2e-key'
const ENV = { ...process.env, VECSHIFT_SOURCE_API_KEY: KEY, VECSHIFT_TARGET_API_KEY: KEY }
const DIM = 4
const PER_NAMESPACE = 800
const NAMESPACES = ['', 'a', 'b']
/** Each client's writes per second (the copy is paced at 400 vectors/s). */
const WRITES_PER_SEC = 40

interface Load {
  /** Acknowledged writes by kind. */
  readonly done: Record<string, number>
  readonly errors: string[]
  /** Asks for one delete-all of namespace `b` (first client) or deletion of namespace `gone`
   *  (second client), sent with the client's next write. */
  fire(kind: 'deleteAll' | 'deleteNamespace'): void
  stop(): Promise<void>
}

/** Two clients writing every kind of write at random until stopped. */
function startLoad(url: string, seed: number): Load {
  const index = new Pinecone({ apiKey: KEY, controllerHostUrl: url }).index({ host: url })
  const done: Record<string, number> = {}
  const errors: string[] = []
  let stopping = false
  const fired = { deleteAll: false, deleteNamespace: false }
  const count = (kind: string) => {
    done[kind] = (done[kind] ?? 0) + 1
  }
  const writer = async (w: number) => {
    const pace = new TokenBucket(WRITES_PER_SEC)
    const r = prng(seed * 10 + w)
    const int = (n: number) => Math.floor(r() * n)
    for (let n = 0; !stopping; n++) {
      const ns = index.namespace(NAMESPACES[int(NAMESPACES.length)] as string)
      const pick = r()
      try {
        if (w === 0 && fired.deleteAll) {
          fired.deleteAll = false
          await index.namespace('b').deleteAll()
          count('deleteAll')
        } else if (w === 1 && fired.deleteNamespace) {
          fired.deleteNamespace = false
          await index.deleteNamespace('gone')
          count('deleteNamespace')
        } else if (pick < 0.4) {
          const sparse =
            r() < 0.3
              ? { sparseValues: { indices: [int(50), 50 + int(50)], values: [Math.fround(r()), Math.fround(r())] } }
              : {}
          await ns.upsert({
            records: [
              {
                id: `p-${int(PER_NAMESPACE + 100)}`,
                values: Array.from({ length: DIM }, () => Math.fround(r() - 0.5)),
                metadata: { g: int(10), h: int(100), n, w },
                ...sparse,
              },
            ],
          })
          count('upsert')
        } else if (pick < 0.55) {
          await ns.update({ id: `p-${int(PER_NAMESPACE)}`, metadata: { g: int(10), touched: n } })
          count('update by id')
        } else if (pick < 0.7) {
          await ns.deleteMany({ ids: [`p-${int(PER_NAMESPACE)}`, `p-${int(PER_NAMESPACE)}`] })
          count('delete by id')
        } else if (pick < 0.85) {
          await ns.deleteMany({
            filter: r() < 0.5 ? { h: { $eq: int(100) } } : { h: { $in: [int(100), int(100)] }, g: { $gte: int(10) } },
          })
          count('delete by filter')
        } else {
          await ns.update({ filter: { h: { $eq: int(100) } }, metadata: { g: int(10), tag: `u${w}-${n}` } })
          count('update by filter')
        }
      } catch (err) {
        errors.push(`${(err as Error).name}: ${(err as Error).message}`)
      }
      // Each write is followed by a read, as an app's traffic is.
      try {
        await ns.query({ topK: 3, vector: Array.from({ length: DIM }, () => r() - 0.5) })
      } catch (err) {
        errors.push(`query: ${(err as Error).name}: ${(err as Error).message}`)
      }
      // A steady rate, not as fast as the gateway answers: a replayer applies each write by
      // filter alone, and on a loaded 2-core machine an unpaced client outruns it, which the
      // cutover rightly refuses ("applies writes slower than they arrive").
      await pace.take(1)
    }
  }
  const writers = [writer(0), writer(1)]
  return {
    done,
    errors,
    fire(kind) {
      fired[kind] = true
    },
    async stop() {
      stopping = true
      await Promise.all(writers)
    },
  }
}

/** Every id of every namespace either store has (and `gone`), compared record by record. */
async function compareAll(t: TestContext, source: VectorStore, target: VectorStore, when: string): Promise<void> {
  const names = new Set(['gone', ...NAMESPACES])
  for (const s of [...(await source.stats()), ...(await target.stats())]) names.add(s.namespace)
  const r = await compareInFull(source, target, [...names].sort(), 0, { keep: 20 })
  t.same(
    { missing: r.missing, extra: r.extra, mismatched: r.mismatched, differences: r.differences },
    { missing: 0, extra: 0, mismatched: 0, differences: [] },
    `${when}: the target equals the source, all ${r.compared} ids of ${r.namespaces.length} namespaces compared`,
  )
  t.ok(r.compared > PER_NAMESPACE / 4, `${when}: the comparison saw the data (${r.compared} ids)`)
}

async function caughtUp(dir: string, logDir: string, consumer: 'replay' | 'rollback'): Promise<void> {
  const log = await openFileLog({ dir: logDir, readOnly: true })
  try {
    const tail = await log.tail()
    const files = new ReplayStatusFile(join(dir, 'replay'), 'e2e', consumer)
    let last: unknown
    await until(
      async () => {
        const s = await files.load()
        last = s
        return (
          s !== undefined &&
          s.awaitingOutcome === 0 &&
          (tail === undefined || (s.checkpoint !== undefined && log.compare(s.checkpoint, tail) >= 0))
        )
      },
      {
        timeoutMs: 60_000,
        what: `the ${consumer} replayer applying everything logged`,
        onTimeout: () => JSON.stringify(last),
      },
    )
  } finally {
    await log.close()
  }
}

for (const variant of [
  { target: 'pinecone', replayer: 'during the copy' },
  { target: 'pgvector', replayer: 'after the copy' },
] as const) {
  t.test(
    `every kind of write races a slow copy, a cutover and a rollback (${variant.target} target, ` +
      `replayer ${variant.replayer}): equal in full after each`,
    async (t) => {
      const emu = await startTestEmulator(t, {
        apiKey: KEY,
        indexes: [
          { name: 'src', dimension: DIM, metric: 'dotproduct' },
          { name: 'dst', dimension: DIM, metric: 'dotproduct' },
        ],
      })
      const source = new PineconeStore({
        role: 'source',
        index: 'src',
        host: emu.indexHost('src'),
        controllerHost: emu.url,
        apiKey: KEY,
      })
      t.teardown(() => source.close())
      const r = prng(variant.target === 'pinecone' ? 15 : 16)
      for (const ns of [...NAMESPACES, 'gone']) {
        const n = ns === 'gone' ? 300 : PER_NAMESPACE
        await source.upsert(
          ns,
          Array.from({ length: n }, (_, i) => ({
            id: `p-${i}`,
            values: Float32Array.from({ length: DIM }, () => r() - 0.5),
            ...(i % 5 === 0
              ? { sparseValues: { indices: Uint32Array.of(i % 50, 50 + (i % 7)), values: Float32Array.of(r(), r()) } }
              : {}),
            metadata: { g: i % 10, h: i % 100, i },
          })),
        )
      }
      const dir = mkdtempSync(join(tmpdir(), 'vecshift-filter-e2e-'))
      let target: VectorStore
      /** The pgvector target's section; the Pinecone one is the helper's default. */
      let targetYaml: string | undefined
      if (variant.target === 'pinecone') {
        target = new PineconeStore({
          role: 'target',
          index: 'dst',
          host: emu.indexHost('dst'),
          controllerHost: emu.url,
          apiKey: KEY,
        })
      } else {
        const pg = await startTestPostgres(t)
        const table = new PgvectorStore({ role: 'target', table: 'moved', pool: pg.poolConfig(), search: 'exact' })
        // Made before the gateway starts, which serves it after the flip.
        await table.createSchema({ dimension: DIM, metric: 'dotproduct' })
        target = table
        // Each process holds one connection (helpers/pglite.ts).
        targetYaml = `{ type: pgvector, table: moved, host: 127.0.0.1, port: ${pg.port}, database: postgres, user: postgres, poolSize: 1 }`
      }
      t.teardown(() => target.close())
      const config = join(dir, 'vecshift.yaml')
      writeFileSync(
        config,
        migrationYaml(
          dir,
          { id: 'e2e', phase: 'capture', source: { emu, index: 'src' }, target: { emu, index: 'dst' } },
          {
            ...(targetYaml === undefined ? {} : { target: targetYaml }),
            control: `{ dir: "${join(dir, 'control')}", leaseMs: 2000 }`,
            replay: `{ dataDir: "${join(dir, 'replay')}", lingerMs: 5 }`,
            // Slow on purpose: the writes land between the copy's fetches and upserts.
            copy:
              `{ checkpointDir: "${join(dir, 'copy')}", batchSize: 50, concurrency: 2, maxVectorsPerSec: 400, createTarget: true, ` +
              `settle: { replayWaitMs: ${variant.replayer === 'during the copy' ? 10_000 : 200} } }`,
            cutover: '{ maxPauseMs: 5000 }',
          },
        ),
      )

      const gateway = cliDaemon(t, ['gateway', '--config', config, '--log-level', 'info'], ENV)
      const url = await gatewayUrl(gateway)
      await new Pinecone({ apiKey: KEY, controllerHostUrl: url }).index({ host: url }).describeIndexStats()

      const replayer = () => cliDaemon(t, ['replay', '--config', config, '--follow'], ENV)
      if (variant.replayer === 'during the copy') replayer()
      const load = startLoad(url, variant.target === 'pinecone' ? 1 : 2)
      // The delete-all and the namespace deletion land while the copy is in those namespaces:
      // the copy's checkpoint names a namespace once its first batch is done.
      const checkpoint = new CheckpointFile(join(dir, 'copy'), 'e2e')
      const started = async (ns: string) =>
        (await checkpoint.load().catch(() => undefined))?.namespaces[ns] !== undefined
      let copying = true
      const trigger = (async () => {
        await until(() => !copying || started('b'), { timeoutMs: 120_000, what: 'the copy reaching namespace b' })
        load.fire('deleteAll')
        await until(() => !copying || started('gone'), { timeoutMs: 120_000, what: 'the copy reaching namespace gone' })
        load.fire('deleteNamespace')
      })()
      const copy = await runCli(['copy', '--config', config, '--json', '--progress', 'none'], ENV, t)
      copying = false
      await trigger
      t.equal(copy.code, 0, copy.err)
      const summary = JSON.parse(copy.out) as {
        copied: number
        settle?: { extraRounds: number; unpositionedBatches: number }
      }
      t.comment(`copy: ${JSON.stringify(summary)}; writes during it: ${JSON.stringify(load.done)}`)
      t.ok(
        (load.done['delete by filter'] ?? 0) + (load.done['update by filter'] ?? 0) > 10,
        'writes by filter raced the copy',
      )
      t.equal(load.done.deleteAll, 1, 'a delete-all raced the copy')
      await until(() => load.done.deleteNamespace === 1, { timeoutMs: 10_000, what: 'the namespace deletion' })
      if (variant.replayer === 'after the copy') {
        t.ok((summary.settle?.unpositionedBatches ?? 0) > 0, 'no batch could be positioned')
        replayer()
        const files = new ReplayStatusFile(join(dir, 'replay'), 'e2e', 'replay')
        await until(async () => (await files.load()) !== undefined, {
          timeoutMs: 30_000,
          what: 'the replayer reporting',
        })
      } else {
        // A replayer this busy machine starves for longer than replayWaitMs leaves a few
        // batches unpositioned; their namespaces are compared in full below.
        t.ok(
          (summary.settle?.unpositionedBatches ?? 0) < 40,
          `batches positioned in the log (${JSON.stringify(summary.settle)})`,
        )
      }

      // The cutover, while the writes go on.
      const cut = await runCli(['cutover', '--config', config, '--json'], ENV, t)
      t.equal(cut.code, 0, `${cut.out}\n${cut.err}`)
      const cutover = JSON.parse(cut.out) as { outcome: string; steps: Array<{ name: string; detail?: string }> }
      t.equal(cutover.outcome, 'done', cut.out)
      const pre = cutover.steps.find((s) => s.name === 'pre-reconcile')?.detail ?? ''
      t.comment(`pre-reconcile: ${pre}`)
      t.match(
        pre,
        /writes by filter or delete-all in \d+ namespace\(s\) reconciled/,
        'the pre-reconcile reconciled the writes by filter',
      )
      t.match(pre, /namespace\(s\) reconciled \([^;]*"b"[^;]*;/, 'and names the namespaces it reconciled whole')
      t.match(pre, /compared in full: .*"b"/, 'the namespace emptied by delete-all was compared in full')
      if (variant.replayer === 'after the copy')
        t.match(pre, /compared in full: "", "a"/, 'namespaces copied unpositioned were compared in full')
      else if (summary.settle?.unpositionedBatches === 0)
        t.notMatch(
          pre,
          /compared in full: "", "a"/,
          'positioned namespaces were reconciled by their filters, not in full',
        )
      cliDaemon(t, ['replay', '--config', config, '--follow', '--reverse'], ENV)
      const total = (l: Load) => Object.values(l.done).reduce((a, b) => a + b, 0)
      const atFlip = total(load)
      await until(() => total(load) >= atFlip + 30, { timeoutMs: 30_000, what: 'writes after the flip' })
      await load.stop()
      t.same(load.errors, [], `no client write failed (${JSON.stringify(load.done)})`)
      await caughtUp(dir, join(dir, 'reverse'), 'rollback')
      await compareAll(t, source, target, 'after the cutover')

      // The rollback, while writes of every kind go on (to the target, carried back).
      const again = startLoad(url, variant.target === 'pinecone' ? 3 : 4)
      await until(() => (again.done['delete by filter'] ?? 0) + (again.done['update by filter'] ?? 0) >= 5, {
        timeoutMs: 30_000,
        what: 'writes by filter on the target',
      })
      const back = await runCli(['rollback', '--config', config, '--json'], ENV, t)
      t.equal(back.code, 0, `${back.out}\n${back.err}`)
      t.match(JSON.parse(back.out), { outcome: 'done', record: { phase: 'source-primary' } })
      await until(() => (again.done['update by filter'] ?? 0) >= 8, {
        timeoutMs: 30_000,
        what: 'writes after the rollback',
      })
      await again.stop()
      t.same(again.errors, [], `no client write failed (${JSON.stringify(again.done)})`)
      await caughtUp(dir, join(dir, 'log'), 'replay')
      await compareAll(t, source, target, 'after the rollback')

      gateway.kill('SIGTERM')
    },
  )
}
