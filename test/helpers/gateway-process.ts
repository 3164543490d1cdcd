// A real `vecshift gateway` process for one test, run from the sources through tsx, with its
// JSON log lines parsed as they arrive. For tests whose subject is the process itself: its
// memory, its answer to SIGTERM. (shutdown.test.ts and capture-crash.test.ts start theirs
// inline; this is the same start-up, shared by the tests that came later.)
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

interface Teardown {
  teardown(fn: () => unknown): void
}

const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname

export interface GatewayProcessOptions {
  readonly configPath: string
  /** Node flags placed before `--import tsx` (e.g. --expose-gc, another --import). */
  readonly nodeArgs?: readonly string[]
  readonly env?: Record<string, string>
  /** How long start-up may take before the test gives up. */
  readonly startTimeoutMs?: number
}

export interface GatewayProcess {
  readonly child: ChildProcess
  readonly url: string
  readonly adminUrl: string | undefined
  /** Resolves once the process has exited (code null when a signal ended it). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
  /** Every JSON line the process wrote on stdout (its pino log), in order. */
  readonly logs: ReadonlyArray<Record<string, unknown>>
  /** The last lines it wrote on stderr, for failure messages. */
  stderrTail(): string
  /** The next JSON line, on stdout or stderr, written after this call, that `match` accepts. */
  waitForLine(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>
}

export async function startGatewayProcess(t: Teardown, options: GatewayProcessOptions): Promise<GatewayProcess> {
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--import', 'tsx', CLI, 'gateway', '--config', options.configPath],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    },
  )
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() }))
  })
  const logs: Array<Record<string, unknown>> = []
  const seen: Array<Record<string, unknown>> = []
  const waiters = new Set<(line: Record<string, unknown>) => void>()
  const stderr: string[] = []
  const onLine = (text: string, isStdout: boolean) => {
    let entry: Record<string, unknown>
    try {
      entry = JSON.parse(text) as Record<string, unknown>
    } catch {
      if (!isStdout) stderr.push(text)
      return
    }
    if (entry === null || typeof entry !== 'object') return
    if (isStdout) logs.push(entry)
    else stderr.push(text)
    seen.push(entry)
    for (const w of waiters) w(entry)
  }
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => onLine(l, true))
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (l) => {
    onLine(l, false)
    if (stderr.length > 200) stderr.splice(0, stderr.length - 200)
  })

  const waitForLine = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000, from = 0) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const already = seen.slice(from).find(match)
      if (already) return resolve(already)
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(
          new Error(
            `no matching line from the gateway within ${timeoutMs} ms; stderr: ${stderr.slice(-20).join('\n')}`,
          ),
        )
      }, timeoutMs)
      const check = (line: Record<string, unknown>) => {
        if (!match(line)) return
        clearTimeout(timer)
        waiters.delete(check)
        resolve(line)
      }
      waiters.add(check)
      void exited.then(() => {
        if (!waiters.has(check)) return
        clearTimeout(timer)
        waiters.delete(check)
        reject(new Error(`the gateway exited before the line came; stderr: ${stderr.slice(-20).join('\n')}`))
      })
    })

  const listening = await waitForLine((l) => l.msg === 'gateway listening', options.startTimeoutMs ?? 30_000)
  return {
    child,
    url: listening.url as string,
    adminUrl: listening.adminUrl as string | undefined,
    exited,
    logs,
    stderrTail: () => stderr.slice(-20).join('\n'),
    // Only lines written from now on: a test waiting for the answer to its signal must not
    // be answered by the line an earlier signal produced.
    waitForLine: (match, timeoutMs) => waitForLine(match, timeoutMs, seen.length),
  }
}
