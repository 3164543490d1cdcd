// The built CLI (dist/cli/main.js, which `npm test` builds first) as child processes, for
// tests that run a migration the way an operator does: each command its own process.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'

interface Teardown {
  teardown(fn: () => unknown): void
}

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname

export interface CliResult {
  readonly code: number | null
  readonly out: string
  readonly err: string
}

/** Runs one command to its end; with `t`, a test that ends first (a timeout) kills it, so
 *  no command outlives its test. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv, t?: Teardown): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
  t?.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString()
  })
  return once(child, 'exit').then(([code]) => ({ code: code as number | null, out, err }))
}

/** Starts a long-running command (gateway, replay --follow), killed by the test's teardown.
 *  What it says on stderr that looks like an error is passed on, for failure messages. */
export function cliDaemon(t: Teardown, args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  // Always drained: a process whose stdout pipe fills up blocks on its next log line.
  child.stdout?.on('data', (d: Buffer) => {
    if (process.env.VECSHIFT_TEST_DAEMON_LOGS) process.stderr.write(`[${args[0]} stdout] ${d.toString()}`)
  })
  child.stderr?.on('data', (d: Buffer) => {
    if (child.exitCode !== null || /error|ERR/.test(d.toString())) process.stderr.write(`[${args[0]}] ${d.toString()}`)
  })
  child.once('exit', (code) => {
    if (code !== 0 && code !== null) process.stderr.write(`[${args.join(' ')}] exited ${code}\n`)
  })
  return child
}

/** The URL a gateway process logs once it listens (run it with --log-level info). */
export function gatewayUrl(gateway: ChildProcess): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    createInterface({ input: gateway.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let entry: { msg?: string; url?: string }
      try {
        entry = JSON.parse(line) as { msg?: string; url?: string }
      } catch {
        return
      }
      if (entry.msg === 'gateway listening') resolve(entry.url as string)
    })
    gateway.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)))
  })
}
