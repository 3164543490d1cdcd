// How much CPU something other than the benchmark used while it measured. On a shared
// 2-core machine another job (a build, a test suite) can take a core for seconds; a run it
// overlapped measures that job, not the proxy. Every run records the foreign CPU it saw, a
// block of runs that saw too much is measured again, and the driver waits for a quiet
// machine before each block.
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { treeCpuMs } from './procs.js'

const TICK_MS = 10 // USER_HZ is 100 on Linux

export interface CpuSample {
  readonly at: number
  /** CPU time processes used on the whole machine (user, nice, system), ms. Interrupt and
   *  softirq time is left out: the kernel charges loopback networking there, and it is
   *  mostly the benchmark's own traffic. */
  readonly busyMs: number
  /** Time the hypervisor ran someone else on our virtual CPUs, ms. */
  readonly stealMs: number
  /** CPU time of the benchmark's own process tree, ms. */
  readonly ownMs: number
}

export function sampleCpu(): CpuSample {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
  const [, user = 0, nice = 0, system = 0, , , , , steal = 0] = line.trim().split(/\s+/).map(Number)
  return {
    at: performance.now(),
    busyMs: (user + nice + system) * TICK_MS,
    stealMs: steal * TICK_MS,
    ownMs: treeCpuMs(process.pid),
  }
}

export interface Interference {
  /** Cores' worth of CPU used by other processes, averaged over the interval. */
  readonly foreignCores: number
  readonly stealCores: number
}

export function interference(from: CpuSample, to: CpuSample): Interference {
  const wall = Math.max(1, to.at - from.at)
  const foreign = to.busyMs - from.busyMs - (to.ownMs - from.ownMs)
  return {
    foreignCores: Math.max(0, foreign / wall),
    stealCores: Math.max(0, (to.stealMs - from.stealMs) / wall),
  }
}

/** Waits until other processes use less than `threshold` cores over a `sampleMs` window, or
 *  `maxWaitMs` passes. Returns how long it waited and what it saw last. */
export async function waitForQuiet(threshold: number, maxWaitMs: number, sampleMs = 500): Promise<{ waitedMs: number; seen: Interference }> {
  const start = performance.now()
  for (;;) {
    const a = sampleCpu()
    await sleep(sampleMs)
    const seen = interference(a, sampleCpu())
    const waitedMs = performance.now() - start
    if (seen.foreignCores + seen.stealCores < threshold || waitedMs >= maxWaitMs) return { waitedMs, seen }
  }
}
