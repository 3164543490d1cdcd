// The two vecshift processes the benchmark drives: the emulator (the upstream every target
// ends at) and the gateway in front of it. Each runs in its own process so neither shares
// an event loop with the other or with the load generator.
import { createWriteStream, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Child, Processes } from './procs.js'

export const REPO = fileURLToPath(new URL('../../', import.meta.url))

export interface CliCommand {
  /** Node flags and the entry script: the built dist/cli/main.js, or the sources via tsx. */
  readonly argv: readonly string[]
  readonly describe: string
}

export function cliCommand(fromSource: boolean, entry?: string): CliCommand {
  if (entry !== undefined) return { argv: [entry], describe: entry }
  return fromSource
    ? { argv: ['--import', 'tsx', join(REPO, 'src/cli/main.ts')], describe: 'src/cli/main.ts via tsx' }
    : { argv: [join(REPO, 'dist/cli/main.js')], describe: 'dist/cli/main.js (npm run build)' }
}

/** How one gateway process is started: the benchmark's `gateway`, or a `gateway-NAME`
 *  variant (--gateway-variant) measured as one more target in the same rounds. */
export interface GatewaySetup {
  /** Target name: "gateway" or "gateway-NAME". */
  readonly name: string
  readonly cli: CliCommand
  /** Node.js flags before the entry script, e.g. --max-semi-space-size=4. */
  readonly nodeFlags: readonly string[]
  /** Added to the process environment: VECSHIFT__* config overrides, NODE_OPTIONS, ... */
  readonly env: Readonly<Record<string, string>>
}

export function describeSetup(setup: GatewaySetup): string {
  const env = Object.entries(setup.env).map(([k, v]) => `${k}=${v}`)
  return [
    setup.cli.describe,
    ...(setup.nodeFlags.length ? [`node flags: ${setup.nodeFlags.join(' ')}`] : []),
    ...(env.length ? [`env: ${env.join(' ')}`] : []),
  ].join('; ')
}

export interface RunningEmulator {
  readonly child: Child
  readonly url: string
  /** Origin and path of the index's data plane. */
  readonly indexPath: string
}

export async function startEmulator(
  procs: Processes,
  cli: CliCommand,
  options: {
    index: string
    dimension: number
    apiKeyEnv: string
    env: NodeJS.ProcessEnv
  },
): Promise<RunningEmulator> {
  const args = [
    ...cli.argv,
    'emulator',
    '--port',
    '0',
    '--create-index',
    `${options.index}:${options.dimension}:cosine`,
    '--api-key-env',
    options.apiKeyEnv,
    // Warnings only: a log line per request would be a cost no real upstream has.
    '--log-level',
    'warn',
  ]
  const child = procs.spawn('emulator', process.execPath, args, { cwd: REPO, env: options.env })
  const url = await child.waitFor('"url" line', 30_000, (line) => {
    const parsed = JSON.parse(line) as { url?: unknown }
    return typeof parsed.url === 'string' ? parsed.url : undefined
  })
  return { child, url: url.replace(/\/+$/, ''), indexPath: `/data/${options.index}` }
}

export interface RunningGateway {
  readonly child: Child
  readonly url: string
  readonly adminUrl: string | undefined
  readonly configFile: string
}

export async function startGateway(
  procs: Processes,
  setup: GatewaySetup,
  options: {
    dir: string
    index: string
    emulatorUrl: string
    indexPath: string
    env: NodeJS.ProcessEnv
    /** Append the process's stdout and stderr to this file (e.g. for --trace-gc). */
    outputFile?: string
  },
): Promise<RunningGateway> {
  const configFile = join(options.dir, `${setup.name}.yaml`)
  // Defaults everywhere except what a benchmark needs: ports chosen by the OS, the info
  // line that carries the URL, and a short drain on exit.
  writeFileSync(
    configFile,
    [
      'migration: { id: bench }',
      `source: { type: pinecone, index: ${options.index}, host: "${options.emulatorUrl}${options.indexPath}", ` +
        `controllerHost: "${options.emulatorUrl}" }`,
      'gateway: { listen: { host: 127.0.0.1, port: 0 }, shutdownTimeoutMs: 2000 }',
      'admin: { listen: { host: 127.0.0.1, port: 0 } }',
      // Its own control record: the phase is the config's (passthrough), not a previous run's.
      `control: { dir: "${join(options.dir, `${setup.name}-control`)}" }`,
      'log: { level: info }',
      '',
    ].join('\n'),
  )
  const child = procs.spawn(
    setup.name,
    process.execPath,
    [...setup.nodeFlags, ...setup.cli.argv, 'gateway', '--config', configFile],
    {
      cwd: REPO,
      env: { ...options.env, ...setup.env },
    },
  )
  if (options.outputFile !== undefined) {
    const out = createWriteStream(options.outputFile, { flags: 'a' })
    child.proc.stdout?.pipe(out, { end: false })
    child.proc.stderr?.pipe(out, { end: false })
  }
  const addresses = await child.waitFor('"gateway listening" line', 30_000, (line) => {
    const parsed = JSON.parse(line) as { msg?: unknown; url?: unknown; adminUrl?: unknown }
    if (parsed.msg !== 'gateway listening' || typeof parsed.url !== 'string') return undefined
    return { url: parsed.url, adminUrl: typeof parsed.adminUrl === 'string' ? parsed.adminUrl : undefined }
  })
  return { child, ...addresses, configFile }
}
