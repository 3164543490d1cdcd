import { InvalidArgumentError, type Command } from 'commander'
import type { PrecreatedIndex } from '../emulator/server.js'
import { createLogger } from '../logger.js'
import { onShutdownSignal, parsePort } from './common.js'

// `vecshift emulator`: a local Pinecone for tests, benchmarks and rehearsing a migration.
// Prints one JSON line {"url":...} on stdout once it listens (scripts and tests read it); logs
// go to stderr so they never mix with that line.

interface EmulatorFlags {
  host: string
  port: number
  dataDir?: string
  apiKeyEnv: string
  createIndex: PrecreatedIndex[]
  logLevel: string
}

export const DEFAULT_API_KEY_ENV = 'VECSHIFT_EMULATOR_API_KEY'

export function registerEmulator(program: Command): void {
  program
    .command('emulator')
    .description('run a local Pinecone emulator (control plane, data plane, collections, pod-like indexes)')
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('-p, --port <port>', 'listen port (0 = any free port)', portArg, 0)
    .option('--data-dir <dir>', 'keep indexes, collections and records in this directory across restarts')
    .option(
      '--api-key-env <name>',
      'environment variable holding the API key clients must send (unset = no key check)',
      DEFAULT_API_KEY_ENV,
    )
    .option(
      '--create-index <spec>',
      'create an index at start-up: name:dim:metric[:pod|serverless][:sparse] (repeatable)',
      collectIndex,
      [],
    )
    .option('--log-level <level>', 'fatal | error | warn | info | debug | trace | silent', 'info')
    .addHelpText(
      'after',
      `
The data plane of index NAME is served at http://HOST:PORT/data/NAME (the "host" that
describe_index answers). Point a client at it with:
  new Pinecone({ apiKey, controllerHostUrl: 'http://HOST:PORT' })
Examples:
  vecshift emulator --port 5080 --create-index docs:1536:cosine
  vecshift emulator --data-dir ./emu --create-index legacy:768:dotproduct:pod --create-index kw:0:dotproduct:serverless:sparse`,
    )
    .action(async (flags: EmulatorFlags) => {
      const logger = createLogger({ level: flags.logLevel, name: 'vecshift-emulator', destination: process.stderr })
      const apiKey = process.env[flags.apiKeyEnv] || undefined
      // Loaded on use: `vecshift gateway` should not carry the emulator in its heap.
      const { startEmulator } = await import('../emulator/server.js')
      const emulator = await startEmulator({
        host: flags.host,
        port: flags.port,
        ...(flags.dataDir === undefined ? {} : { dataDir: flags.dataDir }),
        ...(apiKey === undefined ? {} : { apiKey }),
        logger,
        indexes: flags.createIndex,
      })
      process.stdout.write(
        `${JSON.stringify({ url: emulator.url, port: emulator.port, apiKey: apiKey !== undefined })}\n`,
      )
      onShutdownSignal(logger, () => emulator.close())
    })
}

function portArg(value: string): number {
  try {
    return parsePort(value)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
}

/** Parses name:dim:metric[:pod|serverless][:sparse] and appends it. */
export function parseIndexSpec(value: string): PrecreatedIndex {
  const [name, dim, metric, ...rest] = value.split(':')
  if (!name || dim === undefined || metric === undefined) {
    throw new InvalidArgumentError(`expected name:dim:metric[:pod|serverless][:sparse], got "${value}"`)
  }
  if (metric !== 'cosine' && metric !== 'dotproduct' && metric !== 'euclidean') {
    throw new InvalidArgumentError(`metric must be cosine, dotproduct or euclidean, got "${metric}"`)
  }
  const spec: PrecreatedIndex = { name, dimension: Number(dim), metric }
  for (const word of rest) {
    if (word === 'pod' || word === 'serverless') spec.kind = word
    else if (word === 'sparse' || word === 'dense') spec.vectorType = word
    else throw new InvalidArgumentError(`unknown index option "${word}" in "${value}" (pod, serverless or sparse)`)
  }
  if (spec.vectorType !== 'sparse' && (!Number.isInteger(spec.dimension) || spec.dimension < 1)) {
    throw new InvalidArgumentError(`dimension must be a positive integer, got "${dim}"`)
  }
  return spec
}

function collectIndex(value: string, previous: PrecreatedIndex[]): PrecreatedIndex[] {
  return [...previous, parseIndexSpec(value)]
}
