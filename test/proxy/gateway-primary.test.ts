import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { request } from 'undici'
import { FileControlStore } from '../../src/control/file-store.js'
import { transitioned } from '../../src/control/record.js'
import { PgvectorStore } from '../../src/stores/pgvector/store.js'
import { openFileLog } from '../../src/writelog/file/file-log.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { confirmKey, startTestGateway } from '../helpers/gateway.js'
import { startTestPostgres } from '../helpers/pglite.js'
import type { TestContext } from '../helpers/tap.js'
import { until } from '../helpers/until.js'

// Readiness and describe follow the index that is primary now, and no spelling of the
// fronted index's path lets a client delete or reconfigure it through the gateway.

const KEY = 'primary-key'
const V = (version: string) => ({
  'api-key': KEY,
  'content-type': 'application/json',
  'x-pinecone-api-version': version,
})

async function readyz(url: string): Promise<{ status: number; body: { ready: boolean; detail: string } }> {
  const res = await request(`${url}/readyz`)
  return { status: res.statusCode, body: (await res.body.json()) as { ready: boolean; detail: string } }
}

/** Moves the migration to target-primary through the phases a cutover takes. */
async function flip(control: FileControlStore): Promise<void> {
  let r = await control.read()
  for (const phase of ['cutover', 'target-primary'] as const)
    r = await control.update(r.epoch, (x) => transitioned(x, phase, 'test'))
}

async function setup(t: TestContext, options: { pgvector?: boolean } = {}) {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [
      { name: 'old', dimension: 3, metric: 'cosine' },
      { name: 'new', dimension: 3, metric: 'cosine' },
    ],
  })
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-primary-'))
  const log = await openFileLog({ dir: join(dir, 'log') })
  const reverseLog = await openFileLog({ dir: join(dir, 'reverse') })
  t.teardown(() => Promise.all([log.close(), reverseLog.close()]))
  const control = await FileControlStore.open({ dir: join(dir, 'control'), migration: 'pm', initialPhase: 'capture' })
  t.teardown(() => control.close())
  let targetStore: PgvectorStore | undefined
  let target: Record<string, unknown> = {
    type: 'pinecone',
    index: 'new',
    host: emu.indexHost('new'),
    controllerHost: emu.url,
  }
  if (options.pgvector) {
    const pg = await startTestPostgres(t)
    targetStore = new PgvectorStore({ role: 'target', table: 'moved', pool: pg.poolConfig(), search: 'exact' })
    t.teardown(() => targetStore?.close())
    await targetStore.createSchema({ dimension: 3, metric: 'cosine' })
    target = { type: 'pgvector', table: 'moved', database: 'postgres', user: 'postgres', host: pg.host, port: pg.port }
  }
  const gw = await startTestGateway(t, {
    index: 'old',
    host: emu.indexHost('old'),
    controllerHost: emu.url,
    writeLog: log,
    reverseLog,
    control,
    ...(targetStore ? { targetStore } : {}),
    config: {
      migration: { id: 'pm', phase: 'capture' },
      target,
      'control.dir': join(dir, 'control'),
      'gateway.readinessIntervalMs': 100,
      'control.pollMs': 10,
    },
    env: { VECSHIFT_SOURCE_API_KEY: KEY },
  })
  await confirmKey(gw.url, KEY)
  return { emu, gw, control, targetStore, reverseLog }
}

t.test(
  'readiness probes the source, then the Pinecone target once it is primary; an index that is gone is not ready',
  async (t) => {
    const { emu, gw, control } = await setup(t)
    t.match(await readyz(gw.url), { status: 200, body: { ready: true, detail: 'source answered 200' } })
    await flip(control)
    await until(async () => (await readyz(gw.url)).body.detail === 'target answered 200', {
      timeoutMs: 5_000,
      what: 'readiness to probe the target',
    })
    // The old index is deleted after the migration: nothing is served from it any more, so
    // that is fine; the target being gone is not.
    t.equal((await request(`${emu.url}/indexes/old`, { method: 'DELETE', headers: V('2025-10') })).statusCode, 202)
    t.match(await readyz(gw.url), { status: 200, body: { ready: true } }, 'the deleted source does not matter now')
    t.equal((await request(`${emu.url}/indexes/new`, { method: 'DELETE', headers: V('2025-10') })).statusCode, 202)
    await until(async () => (await readyz(gw.url)).status === 503, { timeoutMs: 5_000, what: 'readiness to fail' })
    t.match(await readyz(gw.url), { status: 503, body: { ready: false, detail: 'target answered 404' } })
  },
)

t.test('a deleted source index is not ready while it is primary', async (t) => {
  const { emu, gw } = await setup(t)
  t.equal((await request(`${emu.url}/indexes/old`, { method: 'DELETE', headers: V('2025-10') })).statusCode, 202)
  await until(async () => (await readyz(gw.url)).status === 503, { timeoutMs: 5_000, what: 'readiness to fail' })
  t.match(await readyz(gw.url), { status: 503, body: { ready: false, detail: 'source answered 404' } })
})

t.test(
  'after the flip, describe of the fronted name answers from the target even once the old index is deleted',
  async (t) => {
    const { emu, gw, control } = await setup(t)
    await flip(control)
    await until(() => gw.gateway.status().phase === 'target-primary', {
      timeoutMs: 5_000,
      what: 'the gateway to follow the flip',
    })
    t.equal((await request(`${emu.url}/indexes/old`, { method: 'DELETE', headers: V('2025-10') })).statusCode, 202)
    for (const version of ['2025-04', '2026-07']) {
      const res = await request(`${gw.url}/indexes/old`, { headers: V(version) })
      t.equal(res.statusCode, 200, `${version}: describe answers`)
      const doc = (await res.body.json()) as Record<string, unknown>
      t.match(doc, { name: 'old', host: gw.url }, `${version}: under the fronted name, with the gateway as host`)
      t.equal(doc.private_host, undefined)
    }
    // An SDK app opening the index by name still works, and reaches the target.
    const index = new Pinecone({ apiKey: KEY, controllerHostUrl: gw.url }).index({ name: 'old' })
    await index.upsert({ records: [{ id: 'after', values: [1, 2, 3] }] })
    const fetched = await request(`${emu.indexHost('new')}/vectors/fetch?ids=after`, { headers: V('2025-10') })
    t.match(await fetched.body.json(), { vectors: { after: { id: 'after' } } }, 'the write went to the target')
  },
)

t.test('after a flip to pgvector, readiness probes the table and describe is made from its shape', async (t) => {
  const { gw, control, targetStore, reverseLog } = await setup(t, { pgvector: true })
  await flip(control)
  await until(async () => /pgvector table public\.moved answered/.test((await readyz(gw.url)).body.detail), {
    timeoutMs: 5_000,
    what: 'readiness to probe the pgvector table',
  })
  const res = await request(`${gw.url}/indexes/old`, { headers: V('2026-07') })
  t.equal(res.statusCode, 200)
  t.match(
    await res.body.json(),
    {
      name: 'old',
      host: gw.url,
      status: { ready: true },
      deployment: { deployment_type: 'managed' },
      schema: { fields: { _values: { type: 'dense_vector', dimension: 3, metric: 'cosine' } } },
    },
    'the 2026-07 shape SDK v9 reads',
  )
  const pc = new Pinecone({ apiKey: KEY, controllerHostUrl: gw.url })
  const described = await pc.describeIndex('old')
  t.equal(described.host, gw.url, 'SDK v9 reads it')

  // Creating a namespace on the pgvector primary: served by its adapter, and captured in the
  // reverse log for a rollback.
  const created = await request(`${gw.url}/namespaces`, {
    method: 'POST',
    headers: V('2025-10'),
    body: JSON.stringify({ name: 'after-flip', schema: { fields: { g: { filterable: true } } } }),
  })
  t.equal(created.statusCode, 200)
  t.match(await created.body.json(), { name: 'after-flip', record_count: 0 })
  t.same(await targetStore?.stats(), [{ namespace: 'after-flip', vectorCount: 0 }], 'the table lists it')
  const logged: string[] = []
  for await (const { record } of reverseLog.read())
    logged.push(`${record.op}:${record.namespace}${record.op === 'outcome' ? `:${record.outcome}` : ''}`)
  t.same(logged, ['create_namespace:after-flip', 'outcome:after-flip:ok'], 'in the reverse log')
})

t.test("no spelling of the fronted index's path deletes or reconfigures it", async (t) => {
  const { emu, gw } = await setup(t)
  for (const path of [
    '/indexes/old',
    '/indexes/old/',
    '/indexes/old//',
    '/indexes/%6Fld',
    '/indexes/ol%64/',
    '//indexes/old',
    '/indexes//old',
  ]) {
    for (const method of ['DELETE', 'PATCH'] as const) {
      const res = await request(`${gw.url}${path}`, {
        method,
        headers: V('2025-10'),
        ...(method === 'PATCH' ? { body: '{"deletion_protection":"disabled"}' } : {}),
      })
      t.equal(res.statusCode, 403, `${method} ${path}`)
      t.equal(res.headers['x-vecshift-error'], 'VECSHIFT_ERR_CONTROL_PLANE_REFUSED')
      await res.body.dump()
    }
  }
  t.equal(
    (await request(`${emu.url}/indexes/old`, { headers: V('2025-10') })).statusCode,
    200,
    'the index is still there',
  )
  const other = await request(`${gw.url}/indexes/new/`, { headers: V('2025-10') })
  t.not(other.statusCode, 403, "another index is not the gateway's business")
  await other.body.dump()
})

t.test(
  'after the flip to pgvector, hard strings written through the gateway are served back exactly (issue 17)',
  async (t) => {
    const { gw, control } = await setup(t, { pgvector: true })
    await flip(control)
    await until(() => gw.gateway.status().phase === 'target-primary', {
      timeoutMs: 5_000,
      what: 'the gateway to follow the flip',
    })
    // JSON text, sent as it is: NUL, lone surrogates, U+FDD0, prototype names.
    const cases = ['"a\\u0000b"', '"c370-\\ud800"', '"\\ufdd0x"', '"__proto__"', '"constructor"']
    for (const ns of cases) {
      const metadata = `{${ns}:${ns},"list":[${ns},"x"],"nul":"s\\u0000t","lone":"\\udfff"}`
      const up = await request(`${gw.url}/vectors/upsert`, {
        method: 'POST',
        headers: V('2025-10'),
        body: `{"namespace":${ns},"vectors":[{"id":"v","values":[1,2,3],"metadata":${metadata}}]}`,
      })
      t.equal(up.statusCode, 200, await up.body.text())
      const q = await request(`${gw.url}/query`, {
        method: 'POST',
        headers: V('2025-10'),
        body: `{"namespace":${ns},"vector":[1,2,3],"topK":5,"includeMetadata":true,"filter":{${ns}:{"$eq":${ns}}}}`,
      })
      const body = (await q.body.json()) as {
        matches: Array<{ id: string; metadata: Record<string, unknown> }>
        namespace: string
      }
      t.equal(q.statusCode, 200)
      const sorted = (o: Record<string, unknown>) =>
        JSON.stringify(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      t.equal(body.matches.length, 1, `${ns}: the filter on that key and value matches`)
      t.equal(
        sorted(body.matches[0]?.metadata ?? {}),
        sorted(JSON.parse(metadata) as Record<string, unknown>),
        `${ns}: metadata served exactly as written`,
      )
      t.equal(body.namespace, JSON.parse(ns) as string, `${ns}: the answer names the namespace exactly`)
    }
    const stats = await request(`${gw.url}/describe_index_stats`, { method: 'POST', headers: V('2025-10'), body: '{}' })
    const names = Object.keys(((await stats.body.json()) as { namespaces: Record<string, unknown> }).namespaces).sort()
    t.same(
      names,
      cases.map((c) => JSON.parse(c) as string).sort(),
      'describe_index_stats names every namespace exactly',
    )
  },
)
