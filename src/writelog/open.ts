import { E, VecshiftError } from '../errors.js'
import type { Logger } from '../logger.js'
import { writeLogConfigSchema, type WriteLogConfig } from './config.js'
import type { WriteLog } from './contract.js'

// Opens the write log the configuration names: file (embedded default), kafka or s3.
// config.ts documents every key. Each backend's module is loaded only when chosen, so a
// file-log gateway never loads kafkajs or the AWS SDK.

export type { WriteLogConfig }

/** Where the file backend writes when the config names no directory. */
export const DEFAULT_FILE_LOG_DIR = './vecshift-data/writelog'

export async function openWriteLog(config: WriteLogConfig, logger?: Logger): Promise<WriteLog> {
  const parsed = writeLogConfigSchema.safeParse(config)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const key = ['writelog', ...(issue?.path ?? [])].join('.')
    throw new VecshiftError(E.CONFIG_INVALID, [`${key}: ${issue?.message ?? 'invalid'}`])
  }
  const c = parsed.data
  const log = logger?.child({ component: 'writelog', backend: c.backend })
  switch (c.backend) {
    case 'file': {
      const { openFileLog } = await import('./file/file-log.js')
      return openFileLog({ dir: DEFAULT_FILE_LOG_DIR, ...c.file, ...(log ? { logger: log } : {}) })
    }
    case 'kafka': {
      const { openKafkaLog } = await import('./kafka/kafka-log.js')
      return openKafkaLog({ ...(c.kafka as NonNullable<typeof c.kafka>), ...(log ? { logger: log } : {}) })
    }
    case 's3': {
      const { openS3Log } = await import('./s3/s3-log.js')
      const { sse, kmsKeyId, ...s3 } = c.s3 as NonNullable<typeof c.s3>
      return openS3Log({
        ...s3,
        ...(sse === 'AES256'
          ? { sse: { type: 'AES256' } }
          : sse === 'aws:kms'
            ? { sse: { type: 'aws:kms', kmsKeyId } }
            : {}),
        ...(log ? { logger: log } : {}),
      })
    }
  }
}

/** Opens the log to read it beside the process that writes it (the gateway): the file
 *  backend without its writer lock; Kafka and S3 readers need none. */
export async function openWriteLogForReading(config: WriteLogConfig, logger?: Logger): Promise<WriteLog> {
  if (config.backend === 'file') {
    const { openFileLog } = await import('./file/file-log.js')
    // A replayer following the log: new records are seen within 20 ms (a readdir and a stat).
    return openFileLog({
      dir: config.file?.dir ?? DEFAULT_FILE_LOG_DIR,
      readOnly: true,
      followPollMs: 20,
      ...(logger ? { logger: logger.child({ component: 'writelog', backend: 'file' }) } : {}),
    })
  }
  return openWriteLog(config, logger)
}
