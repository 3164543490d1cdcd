import type { WriteLogConfig } from '../writelog/config.js'
import { normalizePrefix } from '../writelog/s3/keys.js'
import type { Config } from './schema.js'

// The reverse log: writes sent to the target after the cutover, which a rollback replays into
// the source. It lives on the write log's own backend, beside the forward log, so that every
// gateway replica writes to the same one and a rollback sees them all, on any host:
// - file: `rollback.logDir` (one host);
// - kafka: topic `rollback.topic`, by default the write log's topic + ".reverse";
// - s3: prefix `rollback.prefix`, by default the write log's prefix + "reverse/" (keys of the
//   forward log are under <prefix>log/ and <prefix>checkpoints/, so the two never mix).

export function reverseLogConfig(config: Config): WriteLogConfig {
  const { writelog, rollback } = config
  if (writelog.backend === 'kafka' && writelog.kafka)
    return {
      backend: 'kafka',
      kafka: { ...writelog.kafka, topic: rollback.topic ?? `${writelog.kafka.topic}.reverse` },
    }
  if (writelog.backend === 's3' && writelog.s3)
    return {
      backend: 's3',
      s3: { ...writelog.s3, prefix: rollback.prefix ?? `${normalizePrefix(writelog.s3.prefix)}reverse/` },
    }
  return { backend: 'file', file: { ...writelog.file, dir: rollback.logDir } }
}
