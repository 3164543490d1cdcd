// The postgres control store against Debian's PostgreSQL 15 (several real connections: a
// pool and a LISTEN connection per store): the phase machine and compare-and-set between
// processes, changes heard through NOTIFY, the listener's reconnection, leases, the database
// going away (and a gateway replica that then cannot renew its lease refusing writes), and
// the configuration that selects it.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import t from 'tap'
import { changeTimes } from '../helpers/control-changes.js'
import { Pinecone } from '@pinecone-database/pinecone'
import { loadConfig } from '../../src/config/load.js'
import { openControlStore } from '../../src/control/open.js'
import { PostgresControlStore } from '../../src/control/postgres-store.js'
import { transitioned, type MigrationRecord } from '../../src/control/record.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startTestPostgresServer } from '../helpers/postgres-server.js'
import type { TestContext } from '../helpers/tap.js'

const CONTENDER = new URL('../helpers/control-contender.ts', import.meta.url).pathname
const db = await startTestPostgresServer(t)
let schemas = 0

/** A store on a schema no other test uses. */
async function open(
  t: TestContext,
  migration: string,
  extra: { schema?: string; initialPhase?: 'capture' } = {},
): Promise<PostgresControlStore> {
  const schema = extra.schema ?? `ctl_${process.pid}_${++schemas}`
  const store = await PostgresControlStore.open({
    migration,
    schema,
    label: `postgres ${db.host}:${db.port}/${db.database}`,
    connection: { ...db.poolConfig(), connectionTimeoutMillis: 1_000, query_timeout: 2_000 },
    ...(extra.initialPhase ? { initialPhase: extra.initialPhase } : {}),
  })
  t.teardown(() => store.close())
  return store
}

async function until<T>(what: string, fn: () => T | undefined, ms = 5_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

t.test(
  'postgres: a new record starts in the configured phase; moves follow the table; a stale epoch is refused',
  async (t) => {
    const store = await open(t, 'm1', { initialPhase: 'capture' })
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
        message: /phase capture and cannot move to target-primary/,
      },
    )
    const cut = await store.update(r.epoch, (x) => transitioned(x, 'cutover', 'test', 'operator asked'))
    t.match(cut, { phase: 'cutover', epoch: 2, routing: { holdWrites: true }, reason: 'operator asked' })
    const flipped = await store.update(cut.epoch, (x) => transitioned(x, 'target-primary', 'test'))
    await t.rejects(
      store.update(cut.epoch, (x) => transitioned(x, 'rollback', 'test')),
      { code: 'VECSHIFT_ERR_CONTROL_CONFLICT', message: /epoch 3, expected 2/ },
    )
    // A second store (another replica's) on the same tables sees the same record, and its
    // configured phase does not replace one that exists.
    const other = await PostgresControlStore.open({
      migration: 'm1',
      schema: `ctl_${process.pid}_${schemas}`,
      label: 'other',
      connection: db.poolConfig(),
      initialPhase: 'passthrough',
    })
    t.teardown(() => other.close())
    t.same(await other.read(), flipped)
  },
)

t.test('postgres: concurrent changes from three processes: none is lost', async (t) => {
  const store = await open(t, 'race')
  const first = await store.read()
  const where = JSON.stringify({ ...db.poolConfig(), schema: `ctl_${process.pid}_${schemas}` })
  const children = [0, 1].map(() =>
    spawn(process.execPath, ['--import', 'tsx', CONTENDER, where, 'race', '25'], { stdio: 'inherit' }),
  )
  await changeTimes(store, 25)
  const codes = await Promise.all(children.map(async (c) => (await once(c, 'exit'))[0]))
  t.same(codes, [0, 0])
  t.equal((await store.read()).epoch, first.epoch + 75, '75 changes, 75 epochs: every compare-and-set was exclusive')
})

t.test(
  'postgres: a watcher hears a change from another process at once (NOTIFY), and again after its LISTEN connection is cut',
  async (t) => {
    const watched = await open(t, 'w')
    const changer = await PostgresControlStore.open({
      migration: 'w',
      schema: `ctl_${process.pid}_${schemas}`,
      label: 'changer',
      connection: db.poolConfig(),
    })
    t.teardown(() => changer.close())
    await watched.read()
    const seen: MigrationRecord[] = []
    // Polling once a minute: anything heard sooner came by notification.
    const stop = watched.watch((r) => seen.push(r), 60_000)
    t.teardown(stop)
    await until('the first look', () => (seen.length > 0 ? true : undefined))
    // The LISTEN must be in place before the change, or there is nothing to hear.
    await until('the LISTEN connection', () => (watched.listening ? true : undefined))
    const r = await changer.read()
    const started = Date.now()
    await changer.update(r.epoch, (x) => transitioned(x, 'capture', 'test'))
    const heard = await until('the notification', () => seen.find((x) => x.epoch === r.epoch + 1))
    t.equal(heard.phase, 'capture')
    t.ok(Date.now() - started < 2_000, `heard within ${Date.now() - started} ms, long before the next poll`)

    // The database drops the listening session: the store reconnects and listens again.
    const admin = new pg.Client(db.poolConfig())
    await admin.connect()
    t.teardown(() => admin.end())
    const killed = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
    )
    t.ok((killed.rowCount ?? 0) > 0, 'the LISTEN session was terminated')
    await until('the listener to notice', () => (watched.listening ? undefined : true))
    await until('the LISTEN connection again', () => (watched.listening ? true : undefined))
    const again = await changer.update(heard.epoch, (x) => transitioned(x, 'cutover', 'test'))
    const heardAgain = await until('the notification after reconnecting', () =>
      seen.find((x) => x.epoch === again.epoch),
    )
    t.equal(heardAgain.phase, 'cutover')
  },
)

t.test(
  'postgres: leases are written, listed and removed; an unreachable database is reported, then the store recovers',
  async (t) => {
    const store = await open(t, 'leases')
    await store.heartbeat(
      { replica: 'gw-a', host: hostname(), pid: 1, epoch: 1, heldWrites: 0, inFlightWrites: 2 },
      5_000,
    )
    const b = await store.heartbeat(
      {
        replica: 'gw-b',
        host: 'other-host',
        pid: 2,
        epoch: 1,
        heldWrites: 1,
        inFlightWrites: 0,
        fence: { epoch: 1, position: '42' },
      },
      3_000,
    )
    t.equal(Date.parse(b.expiresAt) - Date.parse(b.renewedAt), 3_000)
    t.match(await store.replicas(), [
      { replica: 'gw-a', inFlightWrites: 2 },
      { replica: 'gw-b', host: 'other-host', fence: { epoch: 1, position: '42' } },
    ])
    await store.heartbeat(
      { replica: 'gw-a', host: hostname(), pid: 1, epoch: 2, heldWrites: 0, inFlightWrites: 0 },
      5_000,
    )
    t.match((await store.replicas())[0], { replica: 'gw-a', epoch: 2 }, 'a renewal replaces the lease')
    await store.leave('gw-b')
    t.same(
      (await store.replicas()).map((l) => l.replica),
      ['gw-a'],
    )
    const epoch = (await store.read()).epoch
    await store.report('replay', { lagRecords: 4 })
    await store.report('replay', { lagRecords: 2 })
    await store.report('copy', { finishedAt: 'x' })
    t.match(
      await store.reports(),
      { replay: { value: { lagRecords: 2 }, updatedAt: String }, copy: { value: { finishedAt: 'x' } } },
      'progress reports: last write wins',
    )
    t.equal((await store.read()).epoch, epoch, 'reports do not move the epoch')

    await db.kill()
    const started = Date.now()
    await t.rejects(
      store.heartbeat({ replica: 'gw-a', host: hostname(), pid: 1, epoch: 2, heldWrites: 0, inFlightWrites: 0 }, 5_000),
      {
        code: 'VECSHIFT_ERR_CONTROL_UNAVAILABLE',
        message: /control store \(postgres 127\.0\.0\.1:\d+\/postgres\) is unavailable/,
      },
    )
    t.ok(Date.now() - started < 5_000, 'within the connection timeout, not hanging')
    await t.rejects(store.read(), { code: 'VECSHIFT_ERR_CONTROL_UNAVAILABLE' })
    await db.restart()
    t.equal((await store.read()).migration, 'leases', 'the next call reconnects')
  },
)

t.test(
  'a gateway replica on the postgres store: routing from it; writes refused while its lease cannot be renewed, accepted again after',
  async (t) => {
    const KEY = 'pg-control-key'
    const emu = await startTestEmulator(t, { apiKey: KEY, indexes: [{ name: 'pgc', dimension: 2, metric: 'cosine' }] })
    const store = await open(t, 'test')
    const gw = await startTestGateway(t, {
      index: 'pgc',
      host: emu.indexHost('pgc'),
      controllerHost: emu.url,
      control: store,
      config: { 'control.leaseMs': 600, 'control.pollMs': 20 },
    })
    const pc = new Pinecone({ apiKey: KEY, controllerHostUrl: gw.url, maxRetries: 1 })
    const index = pc.index({ host: gw.url })
    await index.upsert({ records: [{ id: 'a', values: [1, 0] }] })
    t.match(await store.replicas(), [{ epoch: 1 }], 'the replica registered its lease in the database')

    await db.kill()
    t.teardown(() => db.restart().catch(() => undefined))
    let refused: { status?: number; body?: string } | undefined
    for (let i = 0; i < 100 && !refused; i++) {
      await sleep(50)
      const res = await fetch(`${gw.url}/vectors/upsert`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': KEY },
        body: JSON.stringify({ vectors: [{ id: 'b', values: [0, 1] }] }),
      })
      const body = await res.text()
      if (res.status === 503) refused = { status: res.status, body }
    }
    t.match(refused, { status: 503, body: /lease/ }, 'a write is refused once the lease could not be renewed')
    const read = await index.fetch({ ids: ['a'] })
    t.ok(read.records.a, 'reads go on')

    await db.restart()
    let accepted = false
    for (let i = 0; i < 100 && !accepted; i++) {
      await sleep(50)
      accepted = await index.upsert({ records: [{ id: 'c', values: [1, 1] }] }).then(
        () => true,
        () => false,
      )
    }
    t.ok(accepted, 'writes are accepted again once the lease is renewed')
    t.ok((await index.fetch({ ids: ['c'] })).records.c)
  },
)

t.test(
  'configuration: control.backend postgres needs its section; the password only from the environment',
  async (t) => {
    const base = { migration: { id: 'cfg' }, source: { type: 'pinecone', index: 'x', host: 'http://127.0.0.1:1' } }
    t.throws(() => loadConfig({ env: {}, overrides: { ...base, 'control.backend': 'postgres' } }), {
      message: /control\.postgres: is required when control\.backend is "postgres"/,
    })
    t.throws(
      () => loadConfig({ env: {}, overrides: { ...base, control: { postgres: { database: 'd', user: 'u' } } } }),
      { message: /control\.postgres: is set, but control\.backend is "file"/ },
    )
    t.throws(
      () =>
        loadConfig({
          env: {},
          overrides: {
            ...base,
            control: { backend: 'postgres', postgres: { database: 'd', user: 'u', password: 'p' } },
          },
        }),
      { message: /VECSHIFT_CONTROL_PG_PASSWORD/ },
    )
    const config = loadConfig({
      env: { VECSHIFT_CONTROL_PG_PASSWORD: 'not-used-by-trust' },
      overrides: {
        ...base,
        control: {
          backend: 'postgres',
          postgres: {
            host: db.host,
            port: db.port,
            database: db.database,
            user: db.user,
            schema: `cfg_${process.pid}`,
          },
        },
      },
    })
    t.equal(config.secrets.controlPgPassword, 'not-used-by-trust')
    const store = await openControlStore(config)
    t.teardown(() => store.close())
    t.equal(store.backend, 'postgres')
    t.match(await store.read(), { migration: 'cfg', phase: 'passthrough' })
  },
)
