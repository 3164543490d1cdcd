import { z } from 'zod'

// Configuration of the write-log backends, as zod schemas the product config
// (src/config/schema.ts, key `writelog`) can embed, and the types openWriteLog() takes.
// Durations are milliseconds, sizes bytes. Unknown keys are refused, so a misspelt key or a
// secret pasted into the file fails at start-up with a message that names it. Credentials
// are never configuration: Kafka SASL comes from VECSHIFT_KAFKA_SASL_MECHANISM /
// VECSHIFT_KAFKA_SASL_USERNAME / VECSHIFT_KAFKA_SASL_PASSWORD, S3 credentials from the AWS
// SDK's default chain (AWS_ACCESS_KEY_ID..., AWS_PROFILE, instance or pod role).
//
//   writelog:
//     backend: kafka                # file | kafka | s3
//     kafka:
//       brokers: [kafka-1:9092, kafka-2:9092]
//       topic: vecshift.my-migration  # one topic per migration
//       lingerMs: 2
//       compression: gzip
//     s3:
//       bucket: my-bucket
//       prefix: vecshift/my-migration
//       region: eu-west-1
//       sse: aws:kms
//       kmsKeyId: arn:aws:kms:...     # a key id, not a secret

const ms = (max: number) => z.number().int().min(0).max(max)
const bytes = (min: number, max: number) => z.number().int().min(min).max(max)

export const fileLogSchema = z.strictObject({
  /** Directory of segment files; one writer at a time (locked). */
  dir: z.string().min(1),
  segmentBytes: bytes(4096, 4 * 1024 ** 3).optional(),
  /** Bytes waiting to be made durable; writes beyond it get 503 instead of queueing. */
  maxQueueBytes: bytes(64 * 1024, 4 * 1024 ** 3).optional(),
  maxBatchBytes: bytes(4096, 1024 ** 3).optional(),
})

export const kafkaLogSchema = z.strictObject({
  brokers: z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'host:port')).min(1),
  /** One topic per migration. Create it with retention.ms=-1 (or longer than the
   *  migration) and max.message.bytes above maxBatchBytes; never add partitions mid-way. */
  topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name'),
  clientId: z.string().min(1).default('vecshift'),
  ssl: z.boolean().default(false),
  /** How long the first append of an idle log waits for company in one produce. */
  lingerMs: ms(1000).default(2),
  compression: z.enum(['none', 'gzip']).default('none'),
  maxQueueBytes: bytes(64 * 1024, 4 * 1024 ** 3).default(64 * 1024 * 1024),
  maxBatchRecords: z.number().int().min(1).max(100_000).default(5000),
  maxBatchBytes: bytes(4096, 256 * 1024 * 1024).default(900 * 1024),
  requestTimeoutMs: ms(600_000).min(100).default(5000),
  /** Retries of one append stop after this long; the append then gets 503. */
  appendTimeoutMs: ms(600_000).min(100).default(10_000),
  /** Let the broker auto-create the topic when it does not exist (if the broker allows). */
  createTopic: z.boolean().default(true),
})

export const s3LogSchema = z
  .strictObject({
    bucket: z.string().min(3).max(63),
    prefix: z.string().max(512),
    region: z.string().min(1),
    /** For S3-compatible stores (MinIO, Ceph); omit for AWS. */
    endpoint: z.url().optional(),
    forcePathStyle: z.boolean().default(false),
    sse: z.enum(['AES256', 'aws:kms']).optional(),
    kmsKeyId: z.string().min(1).optional(),
    lingerMs: ms(10_000).default(20),
    maxObjectRecords: z.number().int().min(1).max(999_999).default(10_000),
    maxObjectBytes: bytes(4096, 5 * 1024 ** 3).default(8 * 1024 * 1024),
    maxQueueBytes: bytes(64 * 1024, 4 * 1024 ** 3).default(64 * 1024 * 1024),
    requestTimeoutMs: ms(600_000).min(100).default(5000),
    appendTimeoutMs: ms(600_000).min(100).default(10_000),
    /** Age after which another writer's object counts as final for readers; must exceed the
     *  clock skew between gateway replicas plus an S3 put's latency. */
    settleMs: ms(600_000).min(100).default(5000),
  })
  .refine((s) => s.kmsKeyId === undefined || s.sse === 'aws:kms', {
    message: 'kmsKeyId needs sse: aws:kms',
    path: ['kmsKeyId'],
  })

export const writeLogConfigSchema = z
  .strictObject({
    backend: z.enum(['file', 'kafka', 's3']).default('file'),
    file: fileLogSchema.optional(),
    kafka: kafkaLogSchema.optional(),
    s3: s3LogSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.backend !== 'file' && c[c.backend] === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `backend "${c.backend}" needs a "${c.backend}" section`,
        path: [c.backend],
      })
    }
  })

export type FileLogConfig = z.input<typeof fileLogSchema>
export type KafkaLogConfig = z.input<typeof kafkaLogSchema>
export type S3LogConfig = z.input<typeof s3LogSchema>
export type WriteLogConfig = z.input<typeof writeLogConfigSchema>
