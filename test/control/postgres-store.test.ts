// The postgres control store against Debian's PostgreSQL 15 (several real connections: a
// pool and a LISTEN connection per store): the contract suite (test/control/contract.ts), and
// what only this store has: changes heard through NOTIFY, the listener's reconnection, the
// database going away (and a gateway replica that then cannot renew its lease refusing
// writes), and the configuration that selects it.
import { hostname } from 'node:os'
import pg from 'pg'
import t from 'tap'
import { Pinecone } from '@pinecone-database/pinecone'
import { loadConfig } from '../../src/config/load.js'
import { openControlStore } from '../../src/control/open.js'
import { PostgresControlStore } from '../../src/control/postgres-store.js'
import { transitioned, type MigrationRecord, type Phase } from '../../src/control/record.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startTestPostgresServer } from '../helpers/postgres-server.js'
import type { TestContext } from '../helpers/tap.js'
import { until } from '../helpers/until.js'
import { runControlContract } from './contract.js'

const db = await startTestPostgresServer(t)
let schemas = 0

/** A store on a schema no other test uses. */
async function open(
  t: TestContext,
  migration: string,
  extra: { schema?: string; initialPhase?: Phase } = {},
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

/** Waits (until) for `fn` to give a value, and returns it. */
async function found<T>(what: string, fn: () => T | undefined, ms = 5_000): Promise<T> {
  let v: T | undefined
  await until(
    () => {
      v = fn()
      return v !== undefined
    },
    { timeoutMs: ms, intervalMs: 10, what },
  )
  return v as T
}

runControlContract(t, {
  name: 'postgres',
  storage: async (t) => {
    const schema = `ctl_${process.pid}_${++schemas}`
    return {
      contender: JSON.stringify({ ...db.poolConfig(), schema }),
      open: (options) => open(t, options.migration, { schema, ...options }),
    }
  },
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
    // Polling as seldom as a timer can (once in 24 days): during this test the watcher looks
    // only when it starts, when its LISTEN is in place, and when a notification comes.
    const stop = watched.watch((r) => seen.push(r), 2 ** 31 - 1)
    t.teardown(stop)
    await found('the first look', () => (seen.length > 0 ? true : undefined))
    // The LISTEN must be in place before the change, or there is nothing to hear.
    await found('the LISTEN connection', () => (watched.listening ? true : undefined))
    const r = await changer.read()
    await changer.update(r.epoch, (x) => transitioned(x, 'capture', 'test'))
    const heard = await found('the notification', () => seen.find((x) => x.epoch === r.epoch + 1))
    t.equal(heard.phase, 'capture', 'heard without a poll: by notification')

    // The database drops the listening session: the store reconnects and listens again.
    const admin = new pg.Client(db.poolConfig())
    await admin.connect()
    t.teardown(() => admin.end())
    const killed = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
    )
    t.ok((killed.rowCount ?? 0) > 0, 'the LISTEN session was terminated')
    await found('the listener to notice', () => (watched.listening ? undefined : true))
    await found('the LISTEN connection again', () => (watched.listening ? true : undefined))
    const again = await changer.update(heard.epoch, (x) => transitioned(x, 'cutover', 'test'))
    const heardAgain = await found('the notification after reconnecting', () =>
      seen.find((x) => x.epoch === again.epoch),
    )
    t.equal(heardAgain.phase, 'cutover')
  },
)

t.test('postgres: an unreachable database is reported, then the store recovers', async (t) => {
  const store = await open(t, 'leases')
  await store.heartbeat(
    { replica: 'gw-a', host: hostname(), pid: 1, epoch: 1, heldWrites: 0, inFlightWrites: 0 },
    5_000,
  )
  await db.kill()
  // The heartbeat must end by itself while the database is away (it comes back only once
  // the heartbeat has ended), refused rather than left hanging on a dead connection.
  let ended = false
  const beat = store
    .heartbeat({ replica: 'gw-a', host: hostname(), pid: 1, epoch: 2, heldWrites: 0, inFlightWrites: 0 }, 5_000)
    .then(
      () => 'renewed',
      (err: unknown) => err,
    )
    .finally(() => {
      ended = true
    })
  await until(() => ended, { timeoutMs: 10_000, what: 'the heartbeat to end while the database is down' })
  t.match(
    await beat,
    {
      code: 'VECSHIFT_ERR_CONTROL_UNAVAILABLE',
      message: /control store \(postgres 127\.0\.0\.1:\d+\/postgres\) is unavailable/,
    },
    'refused, not hanging',
  )
  await t.rejects(store.read(), { code: 'VECSHIFT_ERR_CONTROL_UNAVAILABLE' })
  await db.restart()
  t.equal((await store.read()).migration, 'leases', 'the next call reconnects')
})

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
    await until(
      async () => {
        const res = await fetch(`${gw.url}/vectors/upsert`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'api-key': KEY },
          body: JSON.stringify({ vectors: [{ id: 'b', values: [0, 1] }] }),
        })
        const body = await res.text()
        if (res.status === 503) refused = { status: res.status, body }
        return refused !== undefined
      },
      { timeoutMs: 10_000, intervalMs: 50, what: 'a write refused with 503 once the lease cannot be renewed' },
    )
    t.match(refused, { status: 503, body: /lease/ }, 'a write is refused once the lease could not be renewed')
    const read = await index.fetch({ ids: ['a'] })
    t.ok(read.records.a, 'reads go on')

    await db.restart()
    let accepted = false
    await until(
      async () =>
        (accepted = await index.upsert({ records: [{ id: 'c', values: [1, 1] }] }).then(
          () => true,
          () => false,
        )),
      { timeoutMs: 10_000, intervalMs: 50, what: 'a write accepted again once the lease is renewed' },
    )
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
