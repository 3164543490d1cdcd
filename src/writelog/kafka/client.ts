import { Kafka, logLevel, type KafkaConfig, type SASLOptions } from 'kafkajs'
import type { Logger } from '../../logger.js'

// The kafkajs client for the write log, and the one place that reaches into kafkajs
// internals.
//
// Why internals: a write-log reader must read every partition from exact offsets, many
// times over (each read(), head(), tail()), and kafkajs has no manual partition
// assignment: its consumers must join a consumer group first, which costs the group's
// initial rebalance delay (3 s on brokers and on the mock cluster) per reader, and a group
// rebalances and commits on its own schedule. So the reader fetches through the client's
// cluster object, as the kafkajs consumer does internally, and commits checkpoints with a
// plain OffsetCommit (generation -1), as Kafka's own tools do for groups with no members.
// kafkajs 2.2.4 is its final release; `kafkaInternals` fails loudly if that changes.

export interface KafkaBroker {
  fetch(request: {
    replicaId: number
    isolationLevel: number
    maxWaitTime: number
    minBytes: number
    maxBytes: number
    topics: Array<{ topic: string; partitions: Array<{ partition: number; fetchOffset: string; maxBytes: number }> }>
  }): Promise<{ responses: Array<{ topicName: string; partitions: Array<KafkaPartitionData> }> }>
  offsetCommit(request: {
    groupId: string
    groupGenerationId: number
    memberId: string
    topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string; metadata?: string | null }> }>
  }): Promise<{ responses: Array<{ topic: string; partitions: Array<{ partition: number; errorCode: number }> }> }>
}

export interface KafkaPartitionData {
  partition: number
  errorCode: number
  highWatermark: string
  messages: Array<{
    offset: string
    value: Buffer | null
    headers?: Record<string, Buffer | Buffer[] | undefined>
    isControlRecord?: boolean
  }>
}

export interface KafkaCluster {
  connect(): Promise<void>
  disconnect(): Promise<void>
  addTargetTopic(topic: string): Promise<void>
  refreshMetadata(): Promise<void>
  findTopicPartitionMetadata(topic: string): Array<{ partitionId: number; leader: number }>
  findBroker(args: { nodeId: number | string }): Promise<KafkaBroker>
  findGroupCoordinator(args: { groupId: string }): Promise<KafkaBroker>
}

/** SASL from the environment only (secrets never come from config files). */
export function saslFromEnv(env: NodeJS.ProcessEnv = process.env): SASLOptions | undefined {
  const mechanism = env.VECSHIFT_KAFKA_SASL_MECHANISM?.toLowerCase()
  if (!mechanism) return undefined
  const username = env.VECSHIFT_KAFKA_SASL_USERNAME ?? ''
  const password = env.VECSHIFT_KAFKA_SASL_PASSWORD ?? ''
  if (mechanism === 'plain' || mechanism === 'scram-sha-256' || mechanism === 'scram-sha-512') {
    return { mechanism, username, password } as SASLOptions
  }
  throw new Error(`VECSHIFT_KAFKA_SASL_MECHANISM must be plain, scram-sha-256 or scram-sha-512 (got "${mechanism}")`)
}

export interface ClientSettings {
  readonly brokers: readonly string[]
  readonly clientId: string
  readonly ssl: boolean
  readonly requestTimeoutMs: number
  readonly connectionTimeoutMs: number
  readonly logger?: Logger | undefined
}

export function createKafka(settings: ClientSettings): Kafka {
  const log = settings.logger
  const config: KafkaConfig = {
    brokers: [...settings.brokers],
    clientId: settings.clientId,
    ssl: settings.ssl,
    connectionTimeout: settings.connectionTimeoutMs,
    requestTimeout: settings.requestTimeoutMs,
    // Our own loop retries (capped, jittered, with a deadline); kafkajs' internal retries
    // would stack theirs on top and stretch the time to a loud failure.
    retry: { retries: 0 },
    // kafkajs logs every refused connection at ERROR; the log backend reports failures
    // itself, with context, so kafkajs' own lines go to debug.
    logLevel: log ? logLevel.WARN : logLevel.NOTHING,
    logCreator:
      () =>
      ({ namespace, log: { message, ...extra } }) => {
        if (!log) return
        // kafkajs does not log credentials today; drop anything that looks like one anyway.
        for (const key of Object.keys(extra)) if (/pass|secret|token|sasl|credential/i.test(key)) delete extra[key]
        log.debug({ kafkajs: namespace, ...extra }, message)
      },
  }
  const sasl = saslFromEnv()
  if (sasl) config.sasl = sasl
  return new Kafka(config)
}

/** The kafkajs cluster object behind a client: see the comment at the top. */
export function kafkaInternals(kafka: Kafka): KafkaCluster {
  const symbol = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster')
  const create = symbol && (kafka as unknown as Record<symbol, unknown>)[symbol]
  if (typeof create !== 'function')
    throw new Error('this kafkajs version does not expose its cluster; vecshift needs kafkajs 2.2.x')
  const cluster = create({ allowAutoTopicCreation: false, isolationLevel: 1 }) as KafkaCluster
  for (const method of ['connect', 'findTopicPartitionMetadata', 'findBroker', 'findGroupCoordinator'] as const) {
    if (typeof cluster[method] !== 'function')
      throw new Error(`kafkajs cluster has no ${method}(); vecshift needs kafkajs 2.2.x`)
  }
  return cluster
}

const RETRIABLE_NAMES = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
  'KafkaJSLockTimeout',
  'KafkaJSStaleTopicMetadataAssignment',
])

/** Worth another attempt: connection trouble, timeouts, leadership moves — the errors
 *  kafkajs itself marks retriable, looked up through wrappers. */
export function isRetriableKafkaError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const x = e as { name?: string; retriable?: boolean; cause?: unknown; originalError?: unknown; code?: string }
    if (x.retriable === true || (x.name && RETRIABLE_NAMES.has(x.name))) return true
    if (x.code === 'ECONNREFUSED' || x.code === 'ECONNRESET' || x.code === 'ETIMEDOUT' || x.code === 'EPIPE')
      return true
    e = x.originalError ?? x.cause
  }
  return false
}
