import { mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { openWriteLog } from '../../src/writelog/open.js'
import { startTestKafka, uniqueTopic } from '../helpers/kafka.js'
import { startTestS3 } from '../helpers/s3.js'
import { upsert } from './contract.js'

t.test('openWriteLog opens the file backend by default', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-open-'))
  const log = await openWriteLog({ file: { dir } })
  t.teardown(() => log.close())
  t.equal(log.backend, 'file')
  await log.append([upsert('a')])
  t.equal(statSync(dir).mode & 0o777, 0o700)
})

t.test('openWriteLog opens kafka and s3 from their sections', async (t) => {
  const kafka = await startTestKafka(t)
  const k = await openWriteLog({ backend: 'kafka', kafka: { brokers: kafka.brokers, topic: uniqueTopic('open') } })
  t.teardown(() => k.close())
  t.equal(k.backend, 'kafka')
  t.equal((await k.append([upsert('k')])).length, 1)
  const s3 = await startTestS3(t)
  const s = await openWriteLog({
    backend: 's3',
    s3: {
      bucket: s3.bucket,
      prefix: 'm',
      region: s3.region,
      endpoint: s3.endpoint,
      forcePathStyle: true,
      sse: 'AES256',
    },
  })
  t.teardown(() => s.close())
  t.equal(s.backend, 's3')
  t.equal((await s.append([upsert('s')])).length, 1)
})

t.test('bad write-log config is refused, naming the key', async (t) => {
  await t.rejects(openWriteLog({ backend: 'kafka' }), {
    code: 'VECSHIFT_ERR_CONFIG_INVALID',
    message: /writelog\.kafka: backend "kafka" needs a "kafka" section/,
  })
  await t.rejects(openWriteLog({ backend: 'kafka', kafka: { brokers: ['nohost'], topic: 't' } }), {
    code: 'VECSHIFT_ERR_CONFIG_INVALID',
    message: /writelog\.kafka\.brokers\.0/,
  })
  await t.rejects(
    openWriteLog({ backend: 's3', s3: { bucket: 'b-1', prefix: 'p', region: 'r', secretAccessKey: 'x' } as never }),
    {
      code: 'VECSHIFT_ERR_CONFIG_INVALID',
      message: /secretAccessKey/,
    },
  )
  await t.rejects(openWriteLog({ backend: 's3', s3: { bucket: 'b-1', prefix: 'p', region: 'r', kmsKeyId: 'k' } }), {
    message: /writelog\.s3\.kmsKeyId/,
  })
})
