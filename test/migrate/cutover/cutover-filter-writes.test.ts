// Issue 15: the cutover refuses while writes by filter since capture began have not been
// reconciled, and says why: when the dirty set it reads is not the replayer's, when neither
// store can list or select ids, and when a namespace whose source cannot list (a pod-based
// index) still differs after every listed id is repaired.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { FileControlStore } from '../../../src/control/file-store.js'
import type { CopyCheckpoint } from '../../../src/migrate/copy/checkpoint.js'
import { reconcile } from '../../../src/migrate/cutover/reconcile.js'
import { runCutover, type CutoverOptions } from '../../../src/migrate/cutover/coordinator.js'
import { DirtySet } from '../../../src/replay/dirty.js'
import { noCounts, type ReplayStatus } from '../../../src/replay/status.js'
import type { StoredVector } from '../../../src/stores/contract.js'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import { openFileLog } from '../../../src/writelog/file/file-log.js'
import type { Emulator } from '../../../src/emulator/server.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import type { TestContext } from '../../helpers/tap.js'
import { caughtUpStatus } from '../../helpers/replay-status.js'

const KEY = 'cutover-filter-key'

let counter = 0
async function index(t: TestContext, e: Emulator, pod: boolean): Promise<PineconeStore> {
  const name = `idx-${++counter}`
  const spec = pod
    ? { pod: { environment: 'us-east-1-aws', pod_type: 'p1.x1', pods: 1, replicas: 1, shards: 1 } }
    : { serverless: { cloud: 'aws', region: 'us-east-1' } }
  const res = await request(`${e.url}/indexes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': KEY, 'x-pinecone-api-version': '2025-04' },
    body: JSON.stringify({ name, dimension: 4, metric: 'cosine', spec }),
  })
  t.equal(res.statusCode, 201, `index ${name} created`)
  await res.body.dump()
  const store = new PineconeStore({
    role: pod ? 'source' : 'target',
    index: name,
    host: e.indexHost(name),
    controllerHost: e.url,
    apiKey: KEY,
  })
  t.teardown(() => store.close())
  return store
}

const records = (n: number): StoredVector[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `r-${String(i).padStart(4, '0')}`,
    values: Float32Array.of(1, i + 1, 2, 3),
    metadata: { g: i % 4 },
  }))

function status(filterWrites: number): ReplayStatus {
  return caughtUpStatus({ counts: { ...noCounts(), applied: filterWrites, filterWrites } })
}

/** A finished copy that ran without the write log (nothing positioned). */
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

async function setup(
  t: TestContext,
  stores: { source: PineconeStore; target: PineconeStore },
  dirtyWhole: number,
  replayedFilterWrites: number,
): Promise<CutoverOptions> {
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-cutover-filter-'))
  const dirtyPath = join(dir, 'dirty.jsonl')
  const dirty = await DirtySet.open(dirtyPath)
  for (let i = 0; i < dirtyWhole; i++) dirty.addWhole({ namespace: '', filter: { g: { $eq: i % 4 } } })
  await dirty.close()
  const control = await FileControlStore.open({ dir: join(dir, 'control'), migration: 'm', initialPhase: 'capture' })
  t.teardown(() => control.close())
  const record = await control.read()
  await control.heartbeat(
    { replica: 'gw-1', host: 'test', pid: process.pid, epoch: record.epoch, heldWrites: 0, inFlightWrites: 0 },
    60_000,
  )
  const log = await openFileLog({ dir: join(dir, 'log') })
  t.teardown(() => log.close())
  return {
    control,
    log,
    ...stores,
    dirtyPath,
    copy: copyDone,
    replayStatus: async () => status(replayedFilterWrites),
    maxPauseMs: 2_000,
    maxLagRecords: 100,
    replayStaleMs: 60_000,
    by: 'test',
    dryRun: false,
  }
}

t.test('the cutover reconciles writes by filter since capture began, or refuses saying why', async (t) => {
  const emu = await startTestEmulator(t, { apiKey: KEY })

  await t.test('the replayer applied writes by filter that the dirty set it reads does not hold', async (t) => {
    const source = await index(t, emu, false)
    const target = await index(t, emu, false)
    const r = await runCutover(await setup(t, { source, target }, 1, 3))
    t.equal(r.outcome, 'refused')
    t.match(
      r.reason,
      /the replayer applied 3 writes by filter or delete-all, but the dirty set .* holds 1: those writes have not been reconciled/,
    )
    t.equal(r.record.phase, 'capture', 'nothing changed')
  })

  await t.test('neither store can list ids or select them by metadata (pod-based to pod-based)', async (t) => {
    const source = await index(t, emu, true)
    const target = await index(t, emu, true)
    const r = await runCutover(await setup(t, { source, target }, 2, 2))
    t.equal(r.outcome, 'refused')
    t.match(
      r.reason,
      new RegExp(
        String.raw`2 writes by filter or delete-all since capture began \(namespaces ""\) have not been reconciled ` +
          'and cannot be: neither the .* nor the .* can list ids',
      ),
    )
  })

  await t.test(
    'a pod-based source: the target is listed, and a record only the source has is found by the count',
    async (t) => {
      const source = await index(t, emu, true)
      const target = await index(t, emu, false)
      await source.upsert('', records(120))
      // The target lacks one record and holds one the source deleted (as a copy racing a
      // delete by filter leaves it).
      await target.upsert('', [
        ...records(120).slice(1),
        { id: 'resurrected', values: Float32Array.of(1, 1, 1, 1), metadata: { g: 0 } },
      ])
      const r = await runCutover(await setup(t, { source, target }, 1, 1))
      t.equal(r.outcome, 'refused')
      t.match(
        r.reason,
        new RegExp(
          'writes by filter or delete-all touched namespace "": after reconciling every id the .* lists, ' +
            'the source holds 120 records and the target 119',
        ),
      )
      t.notOk((await target.fetch('', ['resurrected'])).has('resurrected'), 'the listed side was repaired meanwhile')
      t.same(
        r.steps.map((s) => `${s.name}:${s.ok}`),
        ['preconditions:true', 'pre-reconcile:false'],
      )

      // Once the source's record is on the target, the counts agree and reconciliation passes.
      await target.upsert('', records(1))
      const dir = mkdtempSync(join(tmpdir(), 'vecshift-cutover-filter-'))
      const dirty = await DirtySet.open(join(dir, 'dirty.jsonl'))
      dirty.addWhole({ namespace: '', filter: { g: { $eq: 1 } } })
      await dirty.close()
      const ok = await reconcile(source, target, join(dir, 'dirty.jsonl'), {
        wholeWrites: 'reconcile',
        unpositioned: 'all',
      })
      t.same(ok.comparedInFull, [''])
      t.equal(ok.checked, 120, 'every listed id checked')
      t.equal(ok.repaired, 0)
    },
  )

  await t.test(
    'a write by filter applied without a known outcome: its namespace compared in full, not by its filter',
    async (t) => {
      const source = await index(t, emu, false)
      const target = await index(t, emu, false)
      await source.upsert('', records(150))
      // The replayer applied a delete by filter {g: 1} to the target that the source never
      // did (its gateway died before logging an outcome): the target lacks those records.
      await target.upsert(
        '',
        records(150).filter((r) => r.metadata?.g !== 1),
      )
      const dir = mkdtempSync(join(tmpdir(), 'vecshift-cutover-filter-'))
      const dirty = await DirtySet.open(join(dir, 'dirty.jsonl'))
      dirty.addWhole({ namespace: '', filter: { g: { $eq: 1 } }, uncertain: true })
      await dirty.close()
      const r = await reconcile(source, target, join(dir, 'dirty.jsonl'), {
        wholeWrites: 'reconcile',
        unpositioned: new Set(),
      })
      t.same(r.comparedInFull, [''], 'compared in full although the copy was positioned')
      t.equal(
        r.repaired,
        records(150).filter((v) => v.metadata?.g === 1).length,
        'the records the target lost are back',
      )
      t.equal(
        (
          await target.fetch(
            '',
            records(150).map((v) => v.id),
          )
        ).size,
        150,
      )
    },
  )

  await t.test('positioned namespaces: the records each filter matches now, on both sides', async (t) => {
    const source = await index(t, emu, false)
    const target = await index(t, emu, false)
    await source.upsert('', records(200))
    // Stale metadata on two records the filter g = 1 selects on the target side only.
    const stale = records(200)
      .filter((r) => r.metadata?.g === 2)
      .slice(0, 2)
      .map((r) => ({ ...r, metadata: { g: 1 } }))
    await target.upsert('', [...records(200).filter((r) => !stale.some((s) => s.id === r.id)), ...stale])
    const dir = mkdtempSync(join(tmpdir(), 'vecshift-cutover-filter-'))
    const dirty = await DirtySet.open(join(dir, 'dirty.jsonl'))
    dirty.addWhole({ namespace: '', filter: { g: { $eq: 1 } } })
    dirty.addWhole({ namespace: '', filter: { g: { $eq: 1 } } })
    await dirty.close()
    const r = await reconcile(source, target, join(dir, 'dirty.jsonl'), {
      wholeWrites: 'reconcile',
      unpositioned: new Set(),
    })
    t.equal(r.filterWrites, 2)
    t.same(r.comparedInFull, [], 'no namespace compared in full')
    t.equal(
      r.matched,
      50 + 52,
      'the filter matched 50 records on the source and 52 on the target (the same filter once)',
    )
    t.equal(r.repaired, 2, 'the two stale records repaired')
    const after = await target.fetch(
      '',
      stale.map((s) => s.id),
    )
    t.same(
      [...after.values()].map((v) => v.metadata),
      [{ g: 2 }, { g: 2 }],
    )
  })
})
