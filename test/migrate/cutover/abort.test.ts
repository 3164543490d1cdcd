// An aborted cutover writes nothing to the target afterwards. The reconcile inside the pause
// repairs ids on the target from the source; if it went on after the abort released the
// writes, it could put the source's old state of an id over a newer write the replayer made.
// Each test makes the in-pause reconcile long (thousands of ids to repair, each upsert to the
// target slowed), aborts it in the middle (the operator's Ctrl-C at a known point, or the
// pause budget running out), and checks, through a recorder around the real target store:
// no write to the target was still in flight when the cutover returned, none started after,
// and the target holds only part of the repairs.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { ControlStore } from '../../../src/control/contract.js'
import type { MigrationRecord } from '../../../src/control/record.js'
import { FileControlStore } from '../../../src/control/file-store.js'
import type { CopyCheckpoint } from '../../../src/migrate/copy/checkpoint.js'
import { runCutover, type CutoverOptions } from '../../../src/migrate/cutover/coordinator.js'
import { DirtySet } from '../../../src/replay/dirty.js'
import type { CallOptions, DeleteRequest, StoredVector, VectorStore } from '../../../src/stores/contract.js'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import { openFileLog } from '../../../src/writelog/file/file-log.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import type { TestContext } from '../../helpers/tap.js'
import { caughtUpStatus } from '../../helpers/replay-status.js'

const KEY = 'cutover-abort-key'
/** Ids the in-pause reconcile must repair: it flushes 500 at a time, one upsert each. */
const REPAIRS = 4_000

/** Write calls on the target: how many started, how many are still running. */
class WriteRecorder {
  started = 0
  inFlight = 0
  settled = 0
  readonly #onSettle: Array<() => void> = []

  wrap(store: VectorStore): VectorStore {
    const track = async <T>(work: Promise<T>): Promise<T> => {
      this.started++
      this.inFlight++
      try {
        return await work
      } finally {
        this.inFlight--
        this.settled++
        for (const f of this.#onSettle) f()
      }
    }
    return Object.assign(Object.create(store) as VectorStore, {
      label: store.label,
      counters: store.counters,
      upsert: (ns: string, v: readonly StoredVector[], call?: CallOptions) => track(store.upsert(ns, v, call)),
      delete: (ns: string, r: DeleteRequest, call?: CallOptions) => track(store.delete(ns, r, call)),
      fetch: store.fetch.bind(store),
      stats: store.stats.bind(store),
      list: store.list.bind(store),
      describe: store.describe.bind(store),
      ...(store.matching ? { matching: store.matching.bind(store) } : {}),
    })
  }

  onSettle(f: () => void): void {
    this.#onSettle.push(f)
  }
}

const copyDone: CopyCheckpoint = {
  version: 1,
  migration: 'm',
  strategy: 'collection',
  source: 's',
  target: 't',
  startedAt: new Date().toISOString(),
  updatedAt: new Date().toISOString(),
  namespaces: {},
  finishedAt: new Date().toISOString(),
}

/** A gateway replica as the control store sees it: registered on the current epoch, and
 *  answering every change of the record at once, as a gateway's watch does: the new epoch,
 *  and at a barrier its fence (it logs no writes here, so the fence has no position). */
async function replica(t: TestContext, control: ControlStore): Promise<void> {
  const beat = (r: MigrationRecord) =>
    control.heartbeat(
      {
        replica: 'gw-1',
        host: 'test',
        pid: process.pid,
        epoch: r.epoch,
        heldWrites: 0,
        inFlightWrites: 0,
        ...(r.phase === 'cutover' ? { fence: { epoch: r.epoch, position: undefined } } : {}),
      },
      60_000,
    )
  await beat(await control.read())
  t.teardown(control.watch((r) => void beat(r), 5))
}

async function setup(t: TestContext, upsertLatencyMs: number) {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [
      { name: 'src', dimension: 4, metric: 'cosine' },
      { name: 'dst', dimension: 4, metric: 'cosine' },
    ],
  })
  const open = (name: string) =>
    new PineconeStore({
      role: name === 'src' ? 'source' : 'target',
      index: name,
      host: emu.indexHost(name),
      controllerHost: emu.url,
      apiKey: KEY,
    })
  const source = open('src')
  const realTarget = open('dst')
  t.teardown(() => Promise.all([source.close(), realTarget.close()]))
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-cutover-abort-'))
  const dirtyPath = join(dir, 'dirty.jsonl')
  await (await DirtySet.open(dirtyPath)).close()
  const control = await FileControlStore.open({ dir: join(dir, 'control'), migration: 'm', initialPhase: 'capture' })
  t.teardown(() => control.close())
  await replica(t, control)
  const log = await openFileLog({ dir: join(dir, 'log') })
  t.teardown(() => log.close())
  const writes = new WriteRecorder()
  const target = writes.wrap(realTarget)

  // The writes to repair arrive after the pre-reconcile has read the dirty set, so that the
  // reconcile inside the pause has them: the source gets them and the dirty set names them
  // the first time the catch-up step asks for the replayer's status.
  let preReconciled = false
  let arrived = false
  const records: StoredVector[] = Array.from({ length: REPAIRS }, (_, i) => ({
    id: `late-${i}`,
    values: Float32Array.of(1, i + 1, 2, 3),
  }))
  const options: CutoverOptions = {
    control,
    log,
    source,
    target,
    dirtyPath,
    copy: copyDone,
    replayStatus: async () => {
      if (preReconciled && !arrived) {
        arrived = true
        await source.upsert('', records)
        const dirty = await DirtySet.open(dirtyPath)
        for (const r of records) dirty.addId('', r.id)
        await dirty.close()
        // From now on the target answers upserts slowly: the repairs take a while.
        emu.faults.add({ op: 'upsert', index: 'dst', latencyMs: upsertLatencyMs })
      }
      return caughtUpStatus()
    },
    maxPauseMs: 60_000,
    maxLagRecords: 100,
    replayStaleMs: 60_000,
    by: 'test',
    dryRun: false,
    onStep: (s) => {
      if (s.name === 'pre-reconcile') preReconciled = true
    },
  }
  const count = async () => (await realTarget.stats()).find((n) => n.namespace === '')?.vectorCount ?? 0
  return { options, writes, count, control, realTarget }
}

t.test('Ctrl-C in the reconcile step: no write reaches the target after the cutover returns', async (t) => {
  const { options, writes, count, control, realTarget } = await setup(t, 50)
  const cancel = new AbortController()
  // The operator interrupts once two repairs have landed: in the middle of the reconcile.
  writes.onSettle(() => {
    if (writes.settled === 2) cancel.abort(new Error('cutover interrupted (SIGINT)'))
  })
  const result = await runCutover({ ...options, signal: cancel.signal })
  const inFlightAtReturn = writes.inFlight
  const startedAtReturn = writes.started
  const heldAtReturn = await count()

  t.equal(result.outcome, 'aborted', 'the cutover aborted')
  t.match(result.reason, /interrupted \(SIGINT\)/, 'and says why')
  t.same(
    result.steps.map((s) => [s.name, s.ok]),
    [
      ['preconditions', true],
      ['pre-reconcile', true],
      ['catch-up', true],
      ['barrier', true],
      ['drain', true],
      ['reconcile', false],
    ],
    'the reconcile step is the one that was stopped',
  )
  t.equal(result.record.phase, 'capture', 'the migration is back in capture')
  t.equal((await control.read()).routing.holdWrites, false, 'writes are released')
  t.equal(inFlightAtReturn, 0, 'no write to the target was in flight when the cutover returned')
  t.ok(heldAtReturn > 0 && heldAtReturn < REPAIRS, `the target holds part of the repairs (${heldAtReturn})`)

  // One more round trip through the same slowed upsert path: a straggler of the reconcile
  // would have started by the time it is answered.
  await realTarget.upsert('other', [{ id: 'sentinel', values: Float32Array.of(1, 1, 1, 1) }])
  t.equal(writes.started, startedAtReturn, 'no write to the target started after the cutover returned')
  t.equal(await count(), heldAtReturn, 'the target holds no record more than when the cutover returned')
  const attempt = result.record.cutovers.at(-1)
  t.equal(attempt?.outcome, 'aborted', 'the attempt is recorded as aborted')
  t.match(attempt?.reason, /interrupted/, 'with its reason')
})

t.test('the pause budget runs out in the reconcile: no write reaches the target after the abort', async (t) => {
  // Eight upserts of 500 ids, each slowed by 400 ms, cannot fit in a 1.5 s budget.
  const { options, writes, count, realTarget } = await setup(t, 400)
  const result = await runCutover({ ...options, maxPauseMs: 1_500 })
  const inFlightAtReturn = writes.inFlight
  const startedAtReturn = writes.started
  const heldAtReturn = await count()

  t.equal(result.outcome, 'aborted', 'the cutover aborted')
  t.match(result.reason, /write-pause budget/, 'because the budget ran out')
  t.equal(result.record.phase, 'capture', 'the migration is back in capture')
  t.equal(inFlightAtReturn, 0, 'no write to the target was in flight when the cutover returned')
  t.ok(heldAtReturn < REPAIRS, `the target did not get every repair (${heldAtReturn} of ${REPAIRS})`)
  await realTarget.upsert('other', [{ id: 'sentinel', values: Float32Array.of(1, 1, 1, 1) }])
  t.equal(writes.started, startedAtReturn, 'no write to the target started after the cutover returned')
  t.equal(await count(), heldAtReturn, 'the target holds no record more than when the cutover returned')
})
