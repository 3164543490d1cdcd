// The file control store: the contract suite (test/control/contract.ts), and what only the
// file store has: its lock file (left by a killed process, held by a live one), changes heard
// through inotify, and progress reports beside this host's status files.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { until } from '../helpers/until.js'
import { FileControlStore } from '../../src/control/file-store.js'
import { transitioned } from '../../src/control/record.js'
import { runControlContract } from './contract.js'

const dir = () => mkdtempSync(join(tmpdir(), 'vecshift-control-'))

runControlContract(t, {
  name: 'file',
  storage: async (t) => {
    const d = dir()
    return {
      contender: d,
      open: async (options) => {
        const store = await FileControlStore.open({ dir: d, ...options })
        t.teardown(() => store.close())
        return store
      },
    }
  },
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
  const events: string[] = []
  const waiting = store
    .update(next.epoch, (x) => transitioned(x, 'cutover', 'test'))
    .then((x) => {
      events.push('changed')
      return x
    })
  // The change is trying for the lock once its own candidate lock file (lock.<pid>.<random>,
  // linked into place when free) exists.
  await until(() => readdirSync(d).some((f) => f.startsWith('locked.control.json.lock.')), {
    timeoutMs: 5_000,
    intervalMs: 5,
    what: 'the change to try for the lock',
  })
  t.same(events, [], 'the change waits while the lock is held')
  t.equal(
    readFileSync(lockPath, 'utf8'),
    JSON.stringify({ pid: process.pid, host: hostname() }),
    'the lock is untouched',
  )
  events.push('released')
  unlinkSync(lockPath)
  t.equal((await waiting).phase, 'cutover')
  t.same(events, ['released', 'changed'], 'and goes ahead once it is released')
})

t.test('watch hears a change from another store at once (inotify), long before its next poll', async (t) => {
  const d = dir()
  const watched = await FileControlStore.open({ dir: d, migration: 'n' })
  const changer = await FileControlStore.open({ dir: d, migration: 'n' })
  t.teardown(() => Promise.all([watched.close(), changer.close()]))
  const r = await watched.read()
  const seen: number[] = []
  // Polling as seldom as a timer can (once in 24 days): whatever the watcher sees during this
  // test, inotify told it. (fs.watch is armed before watch() returns: nothing to wait for.)
  const stop = watched.watch((x) => seen.push(x.epoch), 2 ** 31 - 1)
  t.teardown(stop)
  await changer.update(r.epoch, (x) => transitioned(x, 'capture', 'test'))
  await until(() => seen.includes(r.epoch + 1), {
    timeoutMs: 5_000,
    intervalMs: 5,
    what: `the watcher to hear of epoch ${r.epoch + 1} from inotify`,
  })
  t.ok(seen.includes(r.epoch + 1), `seen epoch ${r.epoch + 1} without a poll`)
})

t.test('progress reports: status and the cutover take the newest of file and report', async (t) => {
  const d = dir()
  const store = await FileControlStore.open({ dir: d, migration: 'p' })
  t.teardown(() => store.close())
  await store.report('replay', { consumer: 'replay', lagRecords: 5, updatedAt: '2026-01-01T00:00:01.000Z' })
  await store.report('copy', {
    strategy: 'list-fetch',
    namespaces: {},
    updatedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:00.000Z',
  })
  await store.report('replay', { consumer: 'replay', lagRecords: 3, updatedAt: '2026-01-01T00:00:02.000Z' })

  const { loadConfig } = await import('../../src/config/load.js')
  const { replayStatusOf, copyCheckpointOf } = await import('../../src/status/gather.js')
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
})
