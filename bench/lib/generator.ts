// The driver's side of the load generator: starts bench/lib/loadgen.ts in its own process
// and runs one measurement at a time through it.
import { fileURLToPath } from 'node:url'
import type { FromGenerator, RunResult, RunSpec, ToGenerator } from './loadgen-protocol.js'
import type { Child, Processes } from './procs.js'

export class Generator {
  readonly child: Child
  readonly bodyBytes: { query: number; upsert: number }
  #nextId = 1
  #pending = new Map<number, { resolve: (r: RunResult) => void; reject: (e: Error) => void }>()

  private constructor(child: Child, bodyBytes: { query: number; upsert: number }) {
    this.child = child
    this.bodyBytes = bodyBytes
    child.proc.on('message', (message: FromGenerator) => {
      if (message.type === 'ready') return
      const waiter = this.#pending.get(message.id)
      if (waiter === undefined) return
      this.#pending.delete(message.id)
      if (message.type === 'result') waiter.resolve(message.result)
      else waiter.reject(new Error(`load generator: ${message.message}`))
    })
    child.proc.once('exit', (code) => {
      for (const waiter of this.#pending.values())
        waiter.reject(new Error(`load generator exited (${code})\n${child.tail()}`))
      this.#pending.clear()
    })
  }

  static async start(procs: Processes): Promise<Generator> {
    const child = procs.fork('loadgen', fileURLToPath(new URL('./loadgen.ts', import.meta.url)), ['--import', 'tsx'])
    const ready = await new Promise<FromGenerator & { type: 'ready' }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load generator not ready after 60 s\n${child.tail()}`)), 60_000)
      child.proc.on('message', (m: FromGenerator) => {
        if (m.type === 'ready') {
          clearTimeout(timer)
          resolve(m)
        }
      })
      child.proc.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`load generator exited (${code}) while starting\n${child.tail()}`))
      })
    })
    return new Generator(child, { query: ready.querySize, upsert: ready.upsertSize })
  }

  run(spec: RunSpec): Promise<RunResult> {
    const id = this.#nextId++
    return new Promise<RunResult>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      const message: ToGenerator = { type: 'run', id, spec }
      this.child.proc.send(message)
    })
  }
}
