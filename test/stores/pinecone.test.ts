// The Pinecone adapter against the emulator: the shared contract, then what only a remote
// store has — retries on 429/5xx/dropped connections (Retry-After honoured), refusals
// surfaced in Pinecone's words, bad keys, missing indexes and pod-based indexes.
import { Writable } from 'node:stream'
import t from 'tap'
import { request } from 'undici'
import type { Emulator } from '../../src/emulator/server.js'
import { createLogger } from '../../src/logger.js'
import { PineconeStore } from '../../src/stores/pinecone/store.js'
import { startTestEmulator } from '../helpers/emulator.js'
import type { TestContext } from '../helpers/tap.js'
import { runStoreContract, type StoreShape } from './contract.js'

const API_KEY = 'store-test-key'
let counter = 0
// One emulator for the file (each test makes its own index), closed when the file ends.
const emulator = await startTestEmulator(t, { apiKey: API_KEY, restoreDelayMs: 50 })
const emu = async (_t: TestContext): Promise<Emulator> => emulator

async function createIndex(e: Emulator, shape: StoreShape & { pod?: boolean }): Promise<string> {
  const name = `idx-${++counter}`
  const spec = shape.pod
    ? { pod: { environment: 'us-east-1-aws', pod_type: 'p1.x1', pods: 1, replicas: 1, shards: 1 } }
    : { serverless: { cloud: 'aws', region: 'us-east-1' } }
  const res = await request(`${e.url}/indexes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': API_KEY, 'x-pinecone-api-version': '2025-04' },
    body: JSON.stringify({ name, dimension: shape.dimension, metric: shape.metric, spec }),
  })
  if (res.statusCode !== 201) throw new Error(`create index: ${res.statusCode} ${await res.body.text()}`)
  await res.body.dump()
  return name
}

function storeFor(
  t: TestContext,
  e: Emulator,
  index: string,
  extra: Partial<ConstructorParameters<typeof PineconeStore>[0]> = {},
): PineconeStore {
  const store = new PineconeStore({
    role: 'target',
    index,
    host: e.indexHost(index),
    controllerHost: e.url,
    apiKey: API_KEY,
    apiKeyEnv: 'VECSHIFT_TARGET_API_KEY',
    ...extra,
  })
  t.teardown(() => store.close())
  return store
}

runStoreContract(t, {
  name: 'pinecone (emulator, serverless)',
  sparse: true,
  sparseMaxIndex: 4294967295,
  async open(t, shape) {
    const e = await emu(t)
    return storeFor(t, e, await createIndex(e, shape))
  },
})

t.test('pinecone: 429 (with Retry-After), 503 and dropped connections are retried and counted', async (t) => {
  const e = await emu(t)
  // The store's own account of each retry (its log line says how long it waits before it).
  const retries: Array<{ failure: string; delayMs: number }> = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { msg?: string; failure: string; delayMs: number }
        if (entry.msg === 'store request failed; retrying') retries.push(entry)
      }
      cb()
    },
  })
  const logger = createLogger({ level: 'warn', destination: sink })
  const store = storeFor(t, e, await createIndex(e, { dimension: 2, metric: 'cosine' }), { logger })
  e.faults.add({ op: 'upsert', status: 429, times: 1, retryAfter: 1 })
  e.faults.add({ op: 'upsert', status: 503, times: 2 })
  await store.upsert('', [{ id: 'a', values: new Float32Array([1, 2]) }])
  t.match(
    retries,
    [{ failure: /^429 / }, { failure: /^503 / }, { failure: /^503 / }],
    'the 429 and both 503s were retried',
  )
  t.ok(
    (retries[0]?.delayMs ?? 0) >= 1000,
    `the retry after the 429 is scheduled no sooner than its Retry-After of 1 s (${retries[0]?.delayMs} ms)`,
  )
  t.equal(store.counters.retries, 3, 'three retries counted')
  e.faults.add({ op: 'fetch', reset: true, times: 2 })
  t.equal((await store.fetch('', ['a'])).size, 1, 'fetch survived two dropped connections')
  t.equal(store.counters.retries, 5)
  e.faults.clear()
})

t.test('pinecone: a store that keeps failing ends in STORE_UNAVAILABLE, naming it and the last failure', async (t) => {
  const e = await emu(t)
  const index = await createIndex(e, { dimension: 2, metric: 'cosine' })
  const store = storeFor(t, e, index, { retry: { baseMs: 10, maxMs: 50, deadlineMs: 400 } })
  e.faults.add({ op: 'query', index, status: 500 })
  t.teardown(() => e.faults.clear())
  await t.rejects(store.query('', { vector: new Float32Array([1, 1]), topK: 1 }), {
    code: 'VECSHIFT_ERR_STORE_UNAVAILABLE',
    message: new RegExp(`target Pinecone index ${index} did not answer usably \\(last: 500 .*\\) after \\d+ attempts`),
  })
  t.ok(store.counters.retries >= 2)
})

t.test("pinecone: refusals come back at once, in Pinecone's words, with what to check", async (t) => {
  const e = await emu(t)
  const index = await createIndex(e, { dimension: 3, metric: 'cosine' })
  const store = storeFor(t, e, index)
  await t.rejects(store.upsert('', [{ id: 'a', values: new Float32Array([1, 2]) }]), {
    code: 'VECSHIFT_ERR_STORE_REFUSED',
    message: /refused upsert with 400: Vector dimension 2 does not match the dimension of the index 3/,
  })
  t.equal(store.counters.retries, 0, 'a 400 is not retried')
  const badKey = storeFor(t, e, index, { apiKey: 'wrong' })
  await t.rejects(badKey.describe(), { code: 'VECSHIFT_ERR_STORE_AUTH', message: /check VECSHIFT_TARGET_API_KEY/ })
  const missing = storeFor(t, e, 'no-such-index')
  await t.rejects(missing.describe(), {
    code: 'VECSHIFT_ERR_STORE_NOT_FOUND',
    message: new RegExp(`no-such-index does not exist at ${e.url}`),
  })
})

t.test('pinecone: a pod-based index describes itself as such and refuses to list ids', async (t) => {
  const e = await emu(t)
  const index = await createIndex(e, { dimension: 2, metric: 'dotproduct', pod: true })
  const store = storeFor(t, e, index)
  t.match(await store.describe(), { kind: 'pinecone-pod', canList: false, supportsSparse: true, dimension: 2 })
  await t.rejects(store.list(''), { code: 'VECSHIFT_ERR_STORE_UNSUPPORTED', message: /collection or ids-file/ })
  await store.upsert('', [{ id: 'x', values: new Float32Array([1, 1]) }])
  t.equal((await store.fetch('', ['x'])).size, 1, 'fetch works on pod indexes')
})
