// How much CPU something other than the benchmark used while it measured. On a shared
// 2-core machine another job (a build, a test suite) can take a core for seconds; a run it
// overlapped measures that job, not the proxy. Every run records the foreign CPU it saw, a
// block of runs that saw too much is measured again, and the driver waits for a quiet
// machine before each block. A slow host (other virtual machines taking memory bandwidth,
// invisible in /proc/stat) is detected by a probe and by the emulator's CPU per query.
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
  /** How much slower than its best the host ran (HostProbe), just before and just after the
   *  run, and, for query runs, the emulator's CPU per query against the lowest seen; 1 = as
   *  fast as ever. Missing in runs measured before it was recorded. */
  readonly hostSlowdown?: number
}

/** A memory-bound probe of the host. Other virtual machines on the same host do not show in
 *  /proc/stat, but they can take memory bandwidth and cache, and then the emulator's exact
 *  k-NN (a scan of 12 MB per query) and every proxy run slower; on this benchmark's machine
 *  that has doubled p99 for every target. The probe scans 24 MB of floats as the k-NN does
 *  (about 40 ms) and reports its time against the fastest seen so far. */
export class HostProbe {
  readonly #data = new Float32Array(6_000_000).map((_, i) => (i % 97) / 97)
  readonly #query = new Float32Array(1536).fill(0.5)
  #bestMs = Infinity
  #sink = 0

  /** Time of one probe, ms; also updates the best. */
  measure(): number {
    const start = performance.now()
    const a = this.#data
    const q = this.#query
    for (let pass = 0; pass < 3; pass++) {
      for (let i = 0; i + 1536 <= a.length; i += 1536) {
        let d = 0
        for (let j = 0; j < 1536; j++) d += (a[i + j] as number) * (q[j] as number)
        this.#sink += d
      }
    }
    const ms = performance.now() - start
    this.#bestMs = Math.min(this.#bestMs, ms)
    return ms
  }

  /** Slowdown of a fresh probe against the best (>= 1). */
  slowdown(): number {
    const ms = this.measure()
    return ms / this.#bestMs
  }

  get bestMs(): number {
    return this.#bestMs
  }
}

export function interference(from: CpuSample, to: CpuSample): Interference {
  const wall = Math.max(1, to.at - from.at)
  const foreign = to.busyMs - from.busyMs - (to.ownMs - from.ownMs)
  return {
    foreignCores: Math.max(0, foreign / wall),
    stealCores: Math.max(0, (to.stealMs - from.stealMs) / wall),
  }
}

/** Waits until other processes use less than `threshold` cores over a `sampleMs` window and
 *  the host probe runs within `maxSlowdown` of its best, or `maxWaitMs` passes. Returns how
 *  long it waited and what it saw last. */
export async function waitForQuiet(
  threshold: number,
  maxWaitMs: number,
  probe?: HostProbe,
  maxSlowdown = Infinity,
  sampleMs = 500,
): Promise<{ waitedMs: number; seen: Interference }> {
  const start = performance.now()
  for (;;) {
    const a = sampleCpu()
    await sleep(sampleMs)
    const cpu = interference(a, sampleCpu())
    const hostSlowdown = probe === undefined ? 1 : probe.slowdown()
    const seen = { ...cpu, hostSlowdown }
    const waitedMs = performance.now() - start
    if ((cpu.foreignCores + cpu.stealCores < threshold && hostSlowdown <= maxSlowdown) || waitedMs >= maxWaitMs)
      return { waitedMs, seen }
  }
}
