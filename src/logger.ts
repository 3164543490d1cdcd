import { pino, type Logger, type LoggerOptions } from 'pino'

export type { Logger }

// Every place a secret can appear in a structured log line. Keys are matched
// case-sensitively by pino, so both header spellings are listed.
export const REDACT_PATHS: readonly string[] = [
  'apiKey',
  '*.apiKey',
  '*.*.apiKey',
  'token',
  '*.token',
  'adminToken',
  '*.adminToken',
  'headers["api-key"]',
  'headers["Api-Key"]',
  'headers.authorization',
  'headers.Authorization',
  'req.headers["api-key"]',
  'req.headers["Api-Key"]',
  'req.headers.authorization',
  '*.headers["api-key"]',
  '*.headers.authorization',
]

export interface LoggerSettings {
  level?: string
  name?: string
  /** Destination stream; defaults to stdout (fd 1). Tests pass a collector. */
  destination?: NodeJS.WritableStream | pino.DestinationStream
}

export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: { name: settings.name ?? 'vecshift', pid: process.pid },
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  }
  return settings.destination ? pino(options, settings.destination) : pino(options)
}
