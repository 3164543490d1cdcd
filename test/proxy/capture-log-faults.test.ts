import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { request } from 'undici'
import type { WriteLog } from '../../src/writelog/contract.js'
import { openWriteLog, type WriteLogConfig } from '../../src/writelog/open.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startTestKafka, uniqueTopic } from '../helpers/kafka.js'
import { startTestS3, useDummyAwsCredentials } from '../helpers/s3.js'
import type { TestContext } from '../helpers/tap.js'
import { until } from '../helpers/until.js'

// The log going away mid-load, through the gateway: writes get 503 with Retry-After (not
// passed through unlogged), and no write a client saw succeed is missing from the log.

const KEY = 'fault-key'

async function sourceIndex(t: TestContext) {
  const emu = await startTestEmulator(t, { apiKey: KEY, indexes: [{ name: 'f', dimension: 4, metric: 'cosine' }] })
  return emu
}

interface LoadResult {
  acked: string[]
  refused: number
  errors: string[]
}

/** Writers upsert one id each, in turn, until `stop`; the ledger keeps acknowledged ids. */
function load(url: string, stop: () => boolean): { live: LoadResult; done: Promise<LoadResult> } {
  const index = new Pinecone({ apiKey: KEY, controllerHostUrl: url }).index({ host: url })
  const result: LoadResult = { acked: [], refused: 0, errors: [] }
  let n = 0
  const done = Promise.all(
    Array.from({ length: 8 }, async () => {
      while (!stop()) {
        const id = `id-${n++}`
        try {
          await index.upsert({ records: [{ id, values: [1, 2, 3, (n % 7) + 1] }] })
          result.acked.push(id)
        } catch (err) {
          const message = (err as Error).message
          // The SDK retries 5xx three times, then reports "exceeded the max configured retries".
          if (/503|unavailable|VECSHIFT_ERR_LOG|max configured retries/i.test(message)) result.refused++
          else result.errors.push(message)
        }
      }
    }),
  ).then(() => result)
  return { live: result, done }
}

async function loggedIds(log: WriteLog): Promise<Set<string>> {
  const ids = new Set<string>()
  for await (const { record } of log.read()) if (record.op === 'upsert') for (const v of record.vectors) ids.add(v.id)
  return ids
}

async function capturingGateway(t: TestContext, writelog: WriteLogConfig) {
  const emu = await sourceIndex(t)
  const log = await openWriteLog(writelog)
  t.teardown(() => log.close().catch(() => undefined))
  const gw = await startTestGateway(t, {
    index: 'f',
    host: emu.indexHost('f'),
    controllerHost: emu.url,
    writeLog: log,
    config: { 'migration.phase': 'capture' },
    env: { VECSHIFT_SOURCE_API_KEY: KEY },
  })
  return { emu, log, gw }
}

t.test(
  's3 log: server stopped mid-load -> 503; restarted -> writes resume; every acknowledged write is logged',
  async (t) => {
    useDummyAwsCredentials()
    const s3 = await startTestS3(t)
    const writelog: WriteLogConfig = {
      backend: 's3',
      s3: {
        bucket: s3.bucket,
        prefix: 'fault',
        region: s3.region,
        endpoint: s3.endpoint,
        forcePathStyle: true,
        appendTimeoutMs: 1500,
        requestTimeoutMs: 500,
        lingerMs: 5,
      },
    }
    const { gw, log } = await capturingGateway(t, writelog)
    let phase: 'up' | 'down' | 'back' | 'done' = 'up'
    const { live, done: running } = load(gw.url, () => phase === 'done')
    await until(() => live.acked.length > 10, { timeoutMs: 30_000, what: 'writes acknowledged before the outage' })
    await s3.stop()
    phase = 'down'
    // While the bucket is away, a direct write must be refused, not acknowledged.
    const during = await request(`${gw.url}/vectors/upsert`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': KEY },
      body: JSON.stringify({ vectors: [{ id: 'during-outage', values: [1, 1, 1, 1] }] }),
    })
    t.equal(during.statusCode, 503, 'a write during the outage is refused')
    t.ok(during.headers['retry-after'], 'with Retry-After')
    t.match(await during.body.json(), { code: 14 })
    await s3.start()
    phase = 'back'
    const ackedBeforeRestart = live.acked.length
    await until(() => live.acked.length >= ackedBeforeRestart + 10, {
      timeoutMs: 30_000,
      what: 'writes acknowledged again once the bucket is back',
    })
    phase = 'done'
    const result = await running
    t.same(result.errors, [], 'no failure other than 503 refusals')
    t.ok(result.acked.length > 10, `${result.acked.length} writes acknowledged`)

    // Readers take another writer's objects once they are settleMs old or that writer has
    // closed; closing the gateway's log makes all of them final now.
    await gw.gateway.close()
    await log.close()
    // The reader may meet s3rver still settling after its SIGKILL (it answered InternalError
    // to a listing once in CI): it gets a longer retry deadline than the gateway's 1.5 s.
    const reader = await openWriteLog({
      ...writelog,
      s3: { ...writelog.s3, appendTimeoutMs: 15_000 },
    } as WriteLogConfig)
    t.teardown(() => reader.close())
    const logged = await loggedIds(reader)
    const missing = result.acked.filter((id) => !logged.has(id))
    t.same(missing, [], 'every acknowledged write is in the log')
  },
)

t.test(
  'kafka log: cluster killed mid-load -> writes get 503 within a bound, never a silent pass-through',
  async (t) => {
    const kafka = await startTestKafka(t)
    const writelog: WriteLogConfig = {
      backend: 'kafka',
      kafka: { brokers: kafka.brokers, topic: uniqueTopic('gwfault'), appendTimeoutMs: 1500, requestTimeoutMs: 500 },
    }
    const { emu, log, gw } = await capturingGateway(t, writelog)
    let stop = false
    const { live, done } = load(gw.url, () => stop)
    await until(() => live.acked.length > 10, { timeoutMs: 30_000, what: 'writes acknowledged before the kill' })
    // Before the kill: every write acknowledged so far is readable from the cluster. (The mock
    // cluster keeps its data in memory, so this is checked while it lives.)
    const ackedSoFar = [...live.acked]
    const logged = await loggedIds(log)
    t.ok(ackedSoFar.length > 10, `${ackedSoFar.length} writes acknowledged before the kill`)
    t.same(
      ackedSoFar.filter((id) => !logged.has(id)),
      [],
      'every one of them is in the log',
    )
    await kafka.kill()
    const statsBefore = (await (
      await request(`${emu.url}/_emulator/stats`, { headers: { 'api-key': KEY } })
    ).body.json()) as { ops: Record<string, number> }
    // The cluster never comes back, so an answer can only come from the gateway giving up on
    // the append by itself; had it hung, this client would give up first and fail the test.
    const during = await request(`${gw.url}/vectors/upsert`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': KEY },
      body: JSON.stringify({ vectors: [{ id: 'during-outage', values: [1, 1, 1, 1] }] }),
      headersTimeout: 15_000,
    })
    t.equal(during.statusCode, 503, 'a write with the cluster gone is refused, not left hanging')
    t.ok(during.headers['retry-after'], 'with Retry-After')
    await during.body.dump()
    stop = true
    const result = await done
    t.same(result.errors, [], 'no failure other than 503 refusals')
    t.ok(result.refused > 0, `${result.refused} writes refused after the kill`)
    const statsAfter = (await (
      await request(`${emu.url}/_emulator/stats`, { headers: { 'api-key': KEY } })
    ).body.json()) as { ops: Record<string, number> }
    t.ok(
      (statsAfter.ops.upsert ?? 0) - (statsBefore.ops.upsert ?? 0) <= 8,
      'after the kill, nothing beyond the writes already past their log append reached the source',
    )
  },
)
