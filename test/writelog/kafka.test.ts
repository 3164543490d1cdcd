import t from 'tap'
import { openKafkaLog, type KafkaLogOptions } from '../../src/writelog/kafka/kafka-log.js'
import type { TestContext } from '../helpers/tap.js'
import { startTestKafka, uniqueTopic, type TestKafka } from '../helpers/kafka.js'
import { runContract } from './contract.js'

// One mock cluster for the contract tests (a topic per test keeps them apart); fault tests
// start their own, since they kill it.
let shared: Promise<TestKafka> | undefined
function cluster(): Promise<TestKafka> {
  shared ??= startTestKafka(t)
  return shared
}

async function fresh(t: TestContext, options: Partial<KafkaLogOptions> = {}, kafka?: TestKafka) {
  const k = kafka ?? await cluster()
  const topic = uniqueTopic()
  const logs: Array<{ close(): Promise<void> }> = []
  const open = async () => {
    const log = await openKafkaLog({ brokers: k.brokers, topic, lingerMs: 1, appendTimeoutMs: 4000, requestTimeoutMs: 2000, ...options })
    logs.push(log)
    return log
  }
  t.teardown(async () => { for (const l of logs) await l.close() })
  return { topic, log: await open(), reopen: open }
}

runContract(t, { name: 'kafka', open: (t) => fresh(t) })
