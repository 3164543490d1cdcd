import { pino } from 'pino'
import { InvalidArgumentError } from 'commander'
import { loadConfig } from '../config/load.js'
import type { Config } from '../config/schema.js'
import { createLogger, type Logger } from '../logger.js'

// What every long-running subcommand shares: config from --config plus the environment,
// one logger, and a clean exit on SIGTERM / SIGINT.

export interface ConfigFlags {
  config?: string
  logLevel?: string
}

export function configFromFlags(flags: ConfigFlags, overrides: Record<string, unknown> = {}): Config {
  return loadConfig({
    ...(flags.config === undefined ? {} : { file: flags.config }),
    overrides: { ...overrides, ...(flags.logLevel === undefined ? {} : { 'log.level': flags.logLevel }) },
  })
}

/** `stderr`: for commands whose stdout is their result (a summary, JSON), so the two never mix. */
export function loggerFor(config: Config, name: string, options: { stderr?: boolean } = {}): Logger {
  return createLogger({
    level: config.log.level,
    name,
    ...(options.stderr ? { destination: pino.destination(2) } : {}),
  })
}

/** Runs `close` once on the first SIGTERM or SIGINT and exits 0 when it resolves; a
 *  second signal exits at once (the operator asked twice). */
export function onShutdownSignal(logger: Logger, close: () => Promise<void>): void {
  let stopping = false
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal; exiting without waiting')
      process.exit(1)
    }
    stopping = true
    logger.info({ signal }, 'shutting down')
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.once('SIGTERM', handler)
  process.once('SIGINT', handler)
}

export function parsePort(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`not a port number: ${value}`)
  return n
}

/** Option parsers: commander prints their message next to the option's name. */
export function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer')
  return n
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number, 0 or more')
  return n
}
