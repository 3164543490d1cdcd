// The reverse log lives on the write log's own backend (issue 19): every gateway replica
// writes the same one, so a rollback sees them all. Its place is derived from the forward
// log's (or set), and on S3 the two logs share a bucket without ever mixing: records
// appended to one are not read from the other.
import t from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { reverseLogConfig } from '../../src/config/reverse-log.js'
import { openWriteLog } from '../../src/writelog/open.js'
import type { LogRecord } from '../../src/writelog/record.js'
import { startTestS3, useDummyAwsCredentials } from '../helpers/s3.js'

const base = { migration: { id: 'm' }, source: { type: 'pinecone', index: 'src', controllerHost: 'http://x' } }
/** A config as loadConfig validates it: each section laid over an empty file. */
const config = (writelog: unknown, rollback: unknown = {}) =>
  loadConfig({ env: {}, overrides: { ...base, writelog, rollback } })

t.test('file: rollback.logDir, with the write log file settings', async (t) => {
  const c = config({ backend: 'file', file: { dir: '/data/log', segmentBytes: 1 << 20 } }, { logDir: '/data/rev' })
  t.same(reverseLogConfig(c), { backend: 'file', file: { dir: '/data/rev', segmentBytes: 1 << 20 } })
})

t.test('kafka: the topic + ".reverse", or rollback.topic', async (t) => {
  const kafka = { brokers: ['k:9092'], topic: 'vecshift.m' }
  const derived = reverseLogConfig(config({ backend: 'kafka', kafka }))
  t.match(derived, { backend: 'kafka', kafka: { brokers: ['k:9092'], topic: 'vecshift.m.reverse' } })
  const set = reverseLogConfig(config({ backend: 'kafka', kafka }, { topic: 'back' }))
  t.match(set, { kafka: { topic: 'back' } })
})

t.test('s3: the prefix + "reverse/", or rollback.prefix', async (t) => {
  const s3 = { bucket: 'bkt', prefix: '/vecshift/m/', region: 'r' }
  t.match(reverseLogConfig(config({ backend: 's3', s3 })), { backend: 's3', s3: { prefix: 'vecshift/m/reverse/' } })
  t.match(reverseLogConfig(config({ backend: 's3', s3 }, { prefix: 'other/' })), { s3: { prefix: 'other/' } })
})

t.test('on S3 the forward and reverse logs share a bucket and never mix', async (t) => {
  useDummyAwsCredentials()
  const srv = await startTestS3(t)
  const c = config({
    backend: 's3',
    s3: {
      bucket: srv.bucket,
      prefix: 'vecshift/m',
      region: srv.region,
      endpoint: srv.endpoint,
      forcePathStyle: true,
      lingerMs: 2,
      settleMs: 100,
    },
  })
  const forward = await openWriteLog(c.writelog)
  const reverse = await openWriteLog(reverseLogConfig(c))
  t.teardown(async () => {
    await forward.close()
    await reverse.close()
  })
  const record = (id: string, seq: number): LogRecord => ({
    instance: 'gw-1',
    seq,
    ts: Date.now(),
    apiVersion: '',
    requestId: id,
    namespace: '',
    op: 'delete',
    ids: [id],
  })
  await forward.append([record('f1', 1), record('f2', 2)])
  await reverse.append([record('r1', 1)])
  const ids = async (log: typeof forward) => {
    const out: string[] = []
    for await (const e of log.read({})) out.push(e.record.requestId)
    return out
  }
  t.same(await ids(forward), ['f1', 'f2'], 'the forward log reads only its records')
  t.same(await ids(reverse), ['r1'], 'the reverse log reads only its records')
})
