// Child processes of the benchmark: started in their own process group (so nginx's workers
// and anything a child starts go with it), their output kept for error messages, and every
// one of them stopped when the benchmark ends, fails, or is interrupted.
import { spawn, fork, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'

const TAIL_LINES = 40

export class Child {
  readonly name: string
  readonly proc: ChildProcess
  readonly exited: Promise<number | null>
  #tail: string[] = []
  #lineWaiters = new Set<(line: string) => void>()

  constructor(name: string, proc: ChildProcess) {
    this.name = name
    this.proc = proc
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))))
    for (const stream of [proc.stdout, proc.stderr]) {
      if (stream === null) continue
      let partial = ''
      stream.setEncoding('utf8')
      stream.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n')
        partial = lines.pop() ?? ''
        for (const line of lines) this.#line(line)
      })
    }
  }

  get pid(): number {
    if (this.proc.pid === undefined) throw new Error(`${this.name} has no pid (did it start?)`)
    return this.proc.pid
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null
  }

  #line(line: string): void {
    this.#tail.push(line)
    if (this.#tail.length > TAIL_LINES) this.#tail.shift()
    for (const waiter of this.#lineWaiters) waiter(line)
  }

  /** The last lines it printed, for error messages. */
  tail(): string {
    return this.#tail.map((l) => `  ${this.name}| ${l}`).join('\n')
  }

  /** Resolves with the first line (stdout or stderr) for which `pick` returns a value. */
  waitFor<T>(what: string, timeoutMs: number, pick: (line: string) => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (err: Error | undefined, value?: T) => {
        clearTimeout(timer)
        this.#lineWaiters.delete(onLine)
        this.proc.off('exit', onExit)
        if (err) reject(err)
        else resolve(value as T)
      }
      const onLine = (line: string) => {
        let value: T | undefined
        try {
          value = pick(line)
        } catch {
          value = undefined
        }
        if (value !== undefined) done(undefined, value)
      }
      const onExit = (code: number | null) =>
        done(new Error(`${this.name} exited (${code}) before ${what}\n${this.tail()}`))
      const timer = setTimeout(
        () => done(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.tail()}`)),
        timeoutMs,
      )
      this.#lineWaiters.add(onLine)
      this.proc.once('exit', onExit)
    })
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return
    signalGroup(this.pid, 'SIGTERM')
    const timer = setTimeout(() => signalGroup(this.pid, 'SIGKILL'), graceMs)
    try {
      await this.exited
    } finally {
      clearTimeout(timer)
    }
    // Whatever the leader left behind in its group (nginx workers) goes too.
    signalGroup(this.pid, 'SIGKILL')
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // Already gone.
  }
}

/** Owns every child; stops them all on exit, on SIGINT/SIGTERM and on a crash. */
export class Processes {
  readonly #children: Child[] = []
  #stopping: Promise<void> | undefined

  constructor() {
    // Last resort, synchronous: nothing started here may outlive the benchmark.
    process.on('exit', () => {
      for (const child of this.#children) if (child.running) signalGroup(child.pid, 'SIGKILL')
    })
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        process.stderr.write(`\nbench: ${signal}, stopping child processes\n`)
        void this.stopAll().finally(() => process.exit(130))
      })
    }
  }

  spawn(name: string, command: string, args: readonly string[], options: SpawnOptions = {}): Child {
    const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...options })
    return this.#track(name, proc)
  }

  /** A Node child with an IPC channel (the load generator). */
  fork(name: string, modulePath: string, execArgv: readonly string[]): Child {
    const proc = fork(modulePath, [], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true,
      execArgv: [...execArgv],
    })
    return this.#track(name, proc)
  }

  #track(name: string, proc: ChildProcess): Child {
    const child = new Child(name, proc)
    proc.once('error', (err) => process.stderr.write(`bench: ${name}: ${err.message}\n`))
    this.#children.push(child)
    return child
  }

  stopAll(): Promise<void> {
    // Stopped in reverse start order: the load first, the emulator last.
    this.#stopping ??= (async () => {
      for (const child of [...this.#children].reverse()) await child.stop()
    })()
    return this.#stopping
  }
}

let clockTicks: number | undefined

/** CPU time (ms) a process has used so far, all its threads together. Per-thread schedstat
 *  has nanosecond resolution; /proc/PID/stat's clock ticks (10 ms) are the fallback. */
function processCpuMs(pid: number): number {
  let ns = 0
  let threads = 0
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
        threads++
      } catch {
        // The thread ended between the listing and the read.
      }
    }
  } catch {
    return 0
  }
  if (threads > 0 && ns > 0) return ns / 1e6
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  try {
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks
  } catch {
    return 0
  }
}

/** CPU time (ms) used so far by a process and all its descendants (nginx's workers). */
export function treeCpuMs(pid: number): number {
  let ms = 0
  const stack = [pid]
  const seen = new Set<number>()
  while (stack.length > 0) {
    const p = stack.pop() as number
    if (seen.has(p)) continue
    seen.add(p)
    ms += processCpuMs(p)
    try {
      const children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim()
      if (children) for (const c of children.split(' ')) stack.push(Number(c))
    } catch {
      // The process ended.
    }
  }
  return ms
}
