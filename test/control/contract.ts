// The control-store contract (src/control/contract.ts), run against every backend: the file
// store (test/control/file-store.test.ts) and the postgres store (postgres-store.test.ts).
// What only one backend has (a lock file left by a dead process, NOTIFY and its reconnection,
// the database going away) is tested beside its backend.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import type { ControlStore } from '../../src/control/contract.js'
import {
  PHASES,
  TRANSITIONS,
  rerouted,
  routingFor,
  transitioned,
  type MigrationRecord,
  type Phase,
} from '../../src/control/record.js'
import { changeTimes } from '../helpers/control-changes.js'
import type { TestContext } from '../helpers/tap.js'
import { until } from '../helpers/until.js'

export interface ControlStorage {
  /** Opens a store on this storage (closed on teardown). Each call is another process's view
   *  of the same storage: another gateway replica, or `vecshift cutover`. */
  open(options: { migration: string; initialPhase?: Phase }): Promise<ControlStore>
  /** The STORE argument of test/helpers/control-contender.ts for this storage. */
  readonly contender: string
}

export interface ControlTarget {
  readonly name: string
  /** Fresh, empty storage for one test. */
  storage(t: TestContext): Promise<ControlStorage>
}

const CONTENDER = new URL('../helpers/control-contender.ts', import.meta.url).pathname
const conflict = { code: 'VECSHIFT_ERR_CONTROL_CONFLICT' }

/** A change built by hand, as a caller could: nothing but the store checks its move. */
const moveTo = (to: Phase) => (r: MigrationRecord) => ({ ...r, phase: to, epoch: r.epoch + 1 })

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

export function runControlContract(t: TestContext, target: ControlTarget): void {
  const name = target.name

  t.test(`${name}: a new record starts in the configured phase, once, whoever reads it first`, async (t) => {
    const storage = await target.storage(t)
    const store = await storage.open({ migration: 'm1', initialPhase: 'capture' })
    const r = await store.read()
    t.match(r, { version: 1, migration: 'm1', phase: 'capture', epoch: 1, cutovers: [] })
    t.same(r.routing, routingFor('capture'), "the phase's routing")
    t.same(await store.read(), r, 'read again: the same record, not a new one')
    const other = await storage.open({ migration: 'm1', initialPhase: 'passthrough' })
    t.same(await other.read(), r, 'another store sees it; its configured phase does not replace it')
    const plain = await storage.open({ migration: 'm2' })
    t.match(await plain.read(), { migration: 'm2', phase: 'passthrough', epoch: 1 }, 'without a phase: passthrough')

    // Two stores seeing a migration for the first time at once, each configured differently.
    const [a, b] = await Promise.all([
      storage.open({ migration: 'm3', initialPhase: 'capture' }),
      storage.open({ migration: 'm3', initialPhase: 'passthrough' }),
    ])
    const [ra, rb] = await Promise.all([a.read(), b.read()])
    t.same(ra, rb, 'one of the two creations stands, for both')
    t.same(await a.read(), ra)
  })

  t.test(`${name}: a change moves the epoch by one and is what every store reads`, async (t) => {
    const storage = await target.storage(t)
    const store = await storage.open({ migration: 'm', initialPhase: 'capture' })
    const other = await storage.open({ migration: 'm' })
    const r = await store.read()
    const cut = await store.update(r.epoch, (x) => transitioned(x, 'cutover', 'test', 'operator asked'))
    t.match(cut, {
      phase: 'cutover',
      epoch: r.epoch + 1,
      routing: { holdWrites: true, writes: 'source' },
      reason: 'operator asked',
      changedBy: 'test',
    })
    t.same(await other.read(), cut, 'another store reads the change')
    const flipped = await other.update(cut.epoch, (x) => transitioned(x, 'target-primary', 'test'))
    t.match(flipped, { phase: 'target-primary', epoch: r.epoch + 2, routing: { reads: 'target', writes: 'target' } })
    t.notOk('reason' in flipped, 'a change without a reason drops the previous one')
    t.same(await store.read(), flipped)
  })

  t.test(`${name}: a change from a stale epoch loses (CONTROL_CONFLICT) and changes nothing`, async (t) => {
    const storage = await target.storage(t)
    const store = await storage.open({ migration: 'm', initialPhase: 'capture' })
    const r = await store.read()
    const won = await store.update(r.epoch, (x) => transitioned(x, 'cutover', 'test'))
    let called = false
    await t.rejects(
      store.update(r.epoch, (x) => {
        called = true
        return transitioned(x, 'passthrough', 'test')
      }),
      { ...conflict, message: /epoch 2, expected 1\): it is now in phase cutover/ },
    )
    t.notOk(called, 'the change is not even asked for')
    t.same(await store.read(), won)
  })

  t.test(`${name}: of concurrent changes from one epoch, exactly one wins`, async (t) => {
    const storage = await target.storage(t)
    const stores = [
      await storage.open({ migration: 'race', initialPhase: 'capture' }),
      await storage.open({ migration: 'race' }),
    ]
    const r = await (stores[0] as ControlStore).read()
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        (stores[i % 2] as ControlStore).update(r.epoch, (x) => rerouted(x, { canaryPercent: i + 1 }, `updater ${i}`)),
      ),
    )
    const won = results.flatMap((x) => (x.status === 'fulfilled' ? [x.value] : []))
    const lost = results.flatMap((x) => (x.status === 'rejected' ? [x.reason as { code?: string }] : []))
    t.equal(won.length, 1, 'one change wins')
    t.same(
      lost.map((e) => e.code),
      Array(7).fill(conflict.code),
      'every other one is refused as a conflict',
    )
    const stored = await (stores[1] as ControlStore).read()
    t.same(stored, won[0], "the winner's change is the record")
    t.equal(stored.epoch, r.epoch + 1)
  })

  t.test(`${name}: concurrent changes from three processes: none is lost`, async (t) => {
    const storage = await target.storage(t)
    const store = await storage.open({ migration: 'race' })
    const first = await store.read()
    const children = [0, 1].map(() =>
      spawn(process.execPath, ['--import', 'tsx', CONTENDER, storage.contender, 'race', '25'], { stdio: 'inherit' }),
    )
    await changeTimes(store, 25)
    const codes = await Promise.all(children.map(async (c) => (await once(c, 'exit'))[0]))
    t.same(codes, [0, 0])
    t.equal((await store.read()).epoch, first.epoch + 75, '75 changes, 75 epochs: every compare-and-set was exclusive')
  })

  t.test(`${name}: the phase table: every listed move is accepted, any other refused, however built`, async (t) => {
    const storage = await target.storage(t)
    for (const from of PHASES) {
      for (const to of PHASES) {
        if (to === from) continue
        const store = await storage.open({ migration: `${from}-to-${to}`, initialPhase: from })
        const r = await store.read()
        const allowed = TRANSITIONS[from]
        if (allowed.includes(to)) {
          t.match(await store.update(r.epoch, moveTo(to)), { phase: to, epoch: r.epoch + 1 }, `${from} -> ${to}`)
        } else {
          const moves = allowed.length === 0 ? 'none (the migration is finalized)' : allowed.join(', ')
          await t.rejects(
            store.update(r.epoch, moveTo(to)),
            {
              code: 'VECSHIFT_ERR_CONTROL_TRANSITION',
              message: new RegExp(
                escapeRegExp(`phase ${from} and cannot move to ${to}; from there it can move to: ${moves}`),
              ),
            },
            `${from} -> ${to} refused`,
          )
          t.same(await store.read(), r, `${from} -> ${to}: nothing stored`)
        }
        await store.close()
      }
    }
  })

  t.test(`${name}: a change that keeps the phase is no move (reads moved, a canary)`, async (t) => {
    const storage = await target.storage(t)
    const store = await storage.open({ migration: 'm', initialPhase: 'capture' })
    const r = await store.read()
    const moved = await store.update(r.epoch, (x) => rerouted(x, { reads: 'target' }, 'test', 'reads to the target'))
    t.match(moved, {
      phase: 'capture',
      epoch: r.epoch + 1,
      routing: { reads: 'target', writes: 'source', holdWrites: false },
      reason: 'reads to the target',
    })
    t.same(await store.read(), moved)
  })

  t.test(`${name}: a change must move the epoch by one; a change that throws stores nothing`, async (t) => {
    const storage = await target.storage(t)
    const store = await storage.open({ migration: 'm' })
    const r = await store.read()
    const internal = { code: 'VECSHIFT_ERR_INTERNAL', message: /must move the epoch by one/ }
    await t.rejects(
      store.update(r.epoch, (x) => ({ ...x })),
      internal,
      'the same epoch',
    )
    await t.rejects(
      store.update(r.epoch, (x) => ({ ...x, epoch: x.epoch + 2 })),
      internal,
      'two ahead',
    )
    const boom = new Error('the change failed')
    const thrown = await store
      .update(r.epoch, () => {
        throw boom
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      )
    t.equal(thrown, boom, "the change's own error reaches the caller as it is, not as the store's")
    t.same(await store.read(), r, 'nothing was stored')
    // Whatever the store held for the refused changes (a lock, a transaction) is released.
    t.match(await store.update(r.epoch, (x) => transitioned(x, 'capture', 'test')), { epoch: r.epoch + 1 })
  })

  t.test(`${name}: watch reports each new epoch once, from any store, until stopped`, async (t) => {
    const storage = await target.storage(t)
    const store = await storage.open({ migration: 'w' })
    const changer = await storage.open({ migration: 'w' })
    const r = await store.read()
    const seen: number[] = []
    const stop = store.watch((x) => seen.push(x.epoch), 20)
    t.teardown(stop)
    const next = await changer.update(r.epoch, (x) => transitioned(x, 'capture', 'test'))
    await until(() => seen.includes(next.epoch), { timeoutMs: 10_000, what: `the watcher to see epoch ${next.epoch}` })
    stop()
    const later: number[] = []
    const stopLater = store.watch((x) => later.push(x.epoch), 20)
    t.teardown(stopLater)
    const last = await changer.update(next.epoch, (x) => transitioned(x, 'cutover', 'test'))
    await until(() => later.includes(last.epoch), {
      timeoutMs: 10_000,
      what: `a new watcher to see epoch ${last.epoch}`,
    })
    t.notOk(seen.includes(last.epoch), 'a stopped watcher is not called')
    t.same(
      seen,
      [...new Set(seen)].sort((a, b) => a - b),
      'epochs reported once each, in order',
    )
  })

  t.test(`${name}: leases are stored, listed (expired ones too), renewed in place and removed`, async (t) => {
    const storage = await target.storage(t)
    const store = await storage.open({ migration: 'leases' })
    const other = await storage.open({ migration: 'leases' })
    const a = await store.heartbeat(
      { replica: 'gw/a', host: 'host-a', pid: 1, epoch: 1, heldWrites: 0, inFlightWrites: 2 },
      5_000,
    )
    t.equal(Date.parse(a.expiresAt) - Date.parse(a.renewedAt), 5_000, 'it expires leaseMs after its renewal')
    await other.heartbeat(
      {
        replica: 'gw-b',
        host: 'host-b',
        pid: 2,
        epoch: 1,
        heldWrites: 1,
        inFlightWrites: 0,
        fence: { epoch: 1, position: '42' },
      },
      3_000,
    )
    // Expired when written: listed all the same, the caller judges leases.
    const expired = await store.heartbeat(
      { replica: 'gw-c', host: 'host-c', pid: 3, epoch: 1, heldWrites: 0, inFlightWrites: 0 },
      -1_000,
    )
    const byName = async (s: ControlStore) => (await s.replicas()).sort((x, y) => (x.replica < y.replica ? -1 : 1))
    t.match(await byName(other), [
      { replica: 'gw-b', host: 'host-b', pid: 2, heldWrites: 1, fence: { epoch: 1, position: '42' } },
      { replica: 'gw-c', expiresAt: expired.expiresAt },
      { replica: 'gw/a', host: 'host-a', pid: 1, inFlightWrites: 2, renewedAt: a.renewedAt },
    ])
    await store.heartbeat(
      { replica: 'gw/a', host: 'host-a', pid: 1, epoch: 2, heldWrites: 0, inFlightWrites: 0 },
      5_000,
    )
    const renewed = await byName(other)
    t.equal(renewed.length, 3, 'a renewal replaces the lease')
    t.match(renewed[2], { replica: 'gw/a', epoch: 2, inFlightWrites: 0 })
    await store.leave('gw-b')
    await store.leave('never-joined')
    t.same(
      (await byName(other)).map((l) => l.replica),
      ['gw-c', 'gw/a'],
    )
  })

  t.test(`${name}: progress reports: last write wins, beside the record (its epoch stays)`, async (t) => {
    const storage = await target.storage(t)
    const store = await storage.open({ migration: 'p' })
    const other = await storage.open({ migration: 'p' })
    const r = await store.read()
    await store.report('replay', { lagRecords: 4 })
    await store.report('copy', { finishedAt: 'x' })
    await other.report('replay', { lagRecords: 2 })
    const reports = await store.reports()
    t.match(reports, { replay: { value: { lagRecords: 2 } }, copy: { value: { finishedAt: 'x' } } }, 'last write wins')
    t.same(Object.keys(reports).sort(), ['copy', 'replay'])
    t.ok(!Number.isNaN(Date.parse(reports.replay?.updatedAt ?? '')), 'each says when it was made')
    t.same(await other.read(), r, 'reports do not move the epoch')
  })

  t.test(`${name}: migrations sharing the storage keep apart`, async (t) => {
    const storage = await target.storage(t)
    const one = await storage.open({ migration: 'one' })
    const two = await storage.open({ migration: 'two' })
    const r = await one.read()
    await one.update(r.epoch, (x) => transitioned(x, 'capture', 'test'))
    await one.heartbeat({ replica: 'gw', host: 'h', pid: 1, epoch: 2, heldWrites: 0, inFlightWrites: 0 }, 5_000)
    await one.report('copy', { finishedAt: 'x' })
    t.match(await two.read(), { migration: 'two', phase: 'passthrough', epoch: 1 })
    t.same(await two.replicas(), [])
    t.same(await two.reports(), {})
  })

  t.test(`${name}: close is idempotent`, async (t) => {
    const storage = await target.storage(t)
    const store = await storage.open({ migration: 'c' })
    await store.read()
    await store.close()
    await store.close()
    t.pass('closed twice')
  })
}
