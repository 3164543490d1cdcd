// The file control store: the phase machine, compare-and-set on the epoch (also between
// processes), a lock left by a killed process, watching, and replica leases.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { changeTimes } from '../helpers/control-changes.js'
import { FileControlStore } from '../../src/control/file-store.js'
import { TRANSITIONS, transitioned, type Phase } from '../../src/control/record.js'

const CONTENDER = new URL('../helpers/control-contender.ts', import.meta.url).pathname
const dir = () => mkdtempSync(join(tmpdir(), 'vecshift-control-'))

t.test('a new record starts in the configured phase; moves follow the table, others are refused', async (t) => {
  const store = await FileControlStore.open({ dir: dir(), migration: 'm1', initialPhase: 'capture' })
  t.teardown(() => store.close())
  const r = await store.read()
  t.match(r, {
    migration: 'm1',
    phase: 'capture',
    epoch: 1,
    routing: { reads: 'source', writes: 'source', holdWrites: false },
  })
  await t.rejects(
    store.update(r.epoch, (x) => transitioned(x, 'target-primary', 'test')),
    {
      code: 'VECSHIFT_ERR_CONTROL_TRANSITION',
      message: /phase capture and cannot move to target-primary; from there it can move to: cutover, passthrough/,
    },
  )
  const cut = await store.update(r.epoch, (x) => transitioned(x, 'cutover', 'test', 'operator asked'))
  t.match(cut, {
    phase: 'cutover',
    epoch: 2,
    routing: { holdWrites: true, writes: 'source' },
    reason: 'operator asked',
    changedBy: 'test',
  })
  const flipped = await store.update(cut.epoch, (x) => transitioned(x, 'target-primary', 'test'))
  t.match(flipped, {
    phase: 'target-primary',
    epoch: 3,
    routing: { reads: 'target', writes: 'target', holdWrites: false },
  })
  t.notOk('reason' in flipped, 'a move without a reason clears the old one')
  await t.rejects(
    store.update(cut.epoch, (x) => transitioned(x, 'rollback', 'test')),
    { code: 'VECSHIFT_ERR_CONTROL_CONFLICT', message: /epoch 3, expected 2/ },
  )
  const done = await store.update(flipped.epoch, (x) => transitioned(x, 'finalized', 'test'))
  await t.rejects(
    store.update(done.epoch, (x) => transitioned(x, 'capture', 'test')),
    { message: /finalized and cannot move to capture; from there it can move to: none/ },
  )
  // The record on disk is what was returned.
  const reopened = await FileControlStore.open({ dir: store.path.replace(/\/[^/]+$/, ''), migration: 'm1' })
  t.same(await reopened.read(), done)
  await reopened.close()
})

t.test('every phase can reach finalized, and every listed move is accepted', async (t) => {
  for (const [from, tos] of Object.entries(TRANSITIONS) as Array<[Phase, Phase[]]>) {
    for (const to of tos) {
      const store = await FileControlStore.open({ dir: dir(), migration: 'm', initialPhase: from })
      const r = await store.read()
      t.equal((await store.update(r.epoch, (x) => transitioned(x, to, 'test'))).phase, to, `${from} -> ${to}`)
      await store.close()
    }
  }
  const reach = (p: Phase, seen = new Set<Phase>()): boolean =>
    p === 'finalized' || (!seen.has(p) && TRANSITIONS[p].some((q) => reach(q, new Set([...seen, p]))))
  for (const p of Object.keys(TRANSITIONS) as Phase[]) t.ok(reach(p), `${p} can reach finalized`)
})

t.test('concurrent changes from three processes: none is lost', async (t) => {
  const d = dir()
  const store = await FileControlStore.open({ dir: d, migration: 'race' })
  t.teardown(() => store.close())
  const first = await store.read()
  const children = [0, 1].map(() =>
    spawn(process.execPath, ['--import', 'tsx', CONTENDER, d, 'race', '25'], { stdio: 'inherit' }),
  )
  await changeTimes(store, 25)
  const codes = await Promise.all(children.map(async (c) => (await once(c, 'exit'))[0]))
  t.same(codes, [0, 0])
  t.equal((await store.read()).epoch, first.epoch + 75, '75 changes, 75 epochs: every compare-and-set was exclusive')
})

t.test('a lock left by a killed process is taken over; one held by a live one waits', async (t) => {
  const d = dir()
  const store = await FileControlStore.open({ dir: d, migration: 'locked' })
  t.teardown(() => store.close())
  const r = await store.read()
  const dead = spawn(process.execPath, ['-e', '0'])
  await once(dead, 'exit')
  writeFileSync(join(d, 'locked.control.json.lock'), JSON.stringify({ pid: dead.pid, host: hostname() }))
  const next = await store.update(r.epoch, (x) => transitioned(x, 'capture', 'test'))
  t.equal(next.epoch, r.epoch + 1, "the dead owner's lock did not block the change")

  // A live owner (this process, standing in for another one on this host) holds it.
  const { unlinkSync } = await import('node:fs')
  const lockPath = join(d, 'locked.control.json.lock')
  writeFileSync(lockPath, JSON.stringify({ pid: process.pid, host: hostname() }))
  let finished = 0
  const waiting = store
    .update(next.epoch, (x) => transitioned(x, 'cutover', 'test'))
    .then((x) => {
      finished = Date.now()
      return x
    })
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(finished, 0, 'the change waits while the lock is held')
  const released = Date.now()
  unlinkSync(lockPath)
  t.equal((await waiting).phase, 'cutover')
  t.ok(finished >= released, 'and goes ahead once it is released')
})

t.test('watch sees changes; leases are written, listed and removed', async (t) => {
  const store = await FileControlStore.open({ dir: dir(), migration: 'w' })
  t.teardown(() => store.close())
  const seen: number[] = []
  const stop = store.watch((r) => seen.push(r.epoch), 20)
  const r = await store.read()
  await store.update(r.epoch, (x) => transitioned(x, 'capture', 'test'))
  for (let i = 0; i < 100 && !seen.includes(r.epoch + 1); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  stop()
  t.ok(seen.includes(r.epoch + 1), `the watcher saw epoch ${r.epoch + 1} (${seen.join(', ')})`)
  const lease = await store.heartbeat(
    { replica: 'gw/1', host: hostname(), pid: process.pid, epoch: 2, heldWrites: 0, inFlightWrites: 3 },
    5_000,
  )
  t.ok(Date.parse(lease.expiresAt) - Date.parse(lease.renewedAt) === 5_000)
  t.match(await store.replicas(), [{ replica: 'gw/1', inFlightWrites: 3 }])
  await store.leave('gw/1')
  t.same(await store.replicas(), [])
})

t.test('watch hears a change from another store at once (inotify), long before its next poll', async (t) => {
  const d = dir()
  const watched = await FileControlStore.open({ dir: d, migration: 'n' })
  const changer = await FileControlStore.open({ dir: d, migration: 'n' })
  t.teardown(() => Promise.all([watched.close(), changer.close()]))
  const r = await watched.read()
  const seen: number[] = []
  const stop = watched.watch((x) => seen.push(x.epoch), 60_000)
  t.teardown(stop)
  await new Promise((resolve) => setTimeout(resolve, 50))
  const started = Date.now()
  await changer.update(r.epoch, (x) => transitioned(x, 'capture', 'test'))
  for (let i = 0; i < 200 && !seen.includes(r.epoch + 1); i++) await new Promise((resolve) => setTimeout(resolve, 5))
  t.ok(seen.includes(r.epoch + 1), `seen epoch ${r.epoch + 1} after ${Date.now() - started} ms with a 60 s poll`)
})

t.test(
  'progress reports: kept beside the record without moving its epoch; status and the cutover take the newest of file and report',
  async (t) => {
    const d = dir()
    const store = await FileControlStore.open({ dir: d, migration: 'p' })
    t.teardown(() => store.close())
    const r = await store.read()
    await store.report('replay', { consumer: 'replay', lagRecords: 5, updatedAt: '2026-01-01T00:00:01.000Z' })
    await store.report('copy', {
      strategy: 'list-fetch',
      namespaces: {},
      updatedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:00:00.000Z',
    })
    await store.report('replay', { consumer: 'replay', lagRecords: 3, updatedAt: '2026-01-01T00:00:02.000Z' })
    const reports = await store.reports()
    t.match(reports.replay, { value: { lagRecords: 3 }, updatedAt: String }, 'last write wins')
    t.equal((await store.read()).epoch, r.epoch, 'reports do not move the epoch')

    const { loadConfig } = await import('../../src/config/load.js')
    const { replayStatusOf, copyCheckpointOf } = await import('../../src/control/status.js')
    const { ReplayStatusFile } = await import('../../src/replay/status.js')
    const config = loadConfig({
      env: {},
      overrides: {
        migration: { id: 'p' },
        source: { type: 'pinecone', index: 'x', host: 'http://127.0.0.1:1' },
        'replay.dataDir': join(d, 'replay'),
        'copy.checkpointDir': join(d, 'copy'),
      },
    })
    t.match(
      await replayStatusOf(config, store, 'replay'),
      { lagRecords: 3 },
      'no file on this host: the report (the replayer runs elsewhere)',
    )
    t.match(await copyCheckpointOf(config, store), { strategy: 'list-fetch', finishedAt: String })
    const file = new ReplayStatusFile(join(d, 'replay'), 'p', 'replay')
    await file.save({ consumer: 'replay', lagRecords: 9, updatedAt: '2026-01-01T00:00:03.000Z' } as never)
    t.match(await replayStatusOf(config, store, 'replay'), { lagRecords: 9 }, 'a newer file wins')
    await store.report('replay', { consumer: 'replay', lagRecords: 1, updatedAt: '2026-01-01T00:00:04.000Z' })
    t.match(await replayStatusOf(config, store, 'replay'), { lagRecords: 1 }, 'and a newer report wins over it')
  },
)
