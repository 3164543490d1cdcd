// The load generator: a process of its own (forked by bench/proxy.ts) so its CPU is not
// taken from the process being measured. It builds every request body once, then runs what
// the driver asks over IPC, one run at a time, each with a fresh undici pool.
//
// Why not autocannon: its rate limit lets each connection send back-to-back until that
// second's quota is spent and then idles until the next second (bursts, not a steady
// offered load), and it records latency in whole milliseconds, too coarse for a 1 ms p99
// budget. Here the open loop sends on a fixed schedule and times each request in
// microseconds.
import { performance } from 'node:perf_hooks'
import { Pool } from 'undici'
import { queryBodies, upsertBodies } from './bodies.js'
import type { FromGenerator, RunResult, RunSpec, ToGenerator } from './loadgen-protocol.js'
import { summarize } from './stats.js'

const bodies = { query: queryBodies(64), upsert: upsertBodies() }
const paths = { query: '/query', upsert: '/vectors/upsert' }

function send(message: FromGenerator): void {
  process.send?.(message)
}

interface Tally {
  ok: number
  non2xx: Record<string, number>
  errors: Record<string, number>
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1
}

/** One request; resolves with its status (0 for a transport failure), never rejects. */
async function fire(pool: Pool, spec: RunSpec, body: Buffer, tally: Tally | undefined): Promise<number> {
  try {
    const res = await pool.request({
      method: 'POST',
      path: spec.basePath + paths[spec.workload],
      headers: spec.headers,
      body,
    })
    // The whole body is read: latency runs to the last byte, as a client sees it.
    for await (const _chunk of res.body) {
      /* drain */
    }
    if (tally !== undefined) {
      if (res.statusCode >= 200 && res.statusCode < 300) tally.ok++
      else bump(tally.non2xx, String(res.statusCode))
    }
    return res.statusCode
  } catch (err) {
    if (tally !== undefined) bump(tally.errors, (err as { code?: string }).code ?? (err as Error).name)
    return 0
  }
}

async function closedLoop(pool: Pool, spec: RunSpec): Promise<Omit<RunResult, 'generatorCpuMs'>> {
  const list = bodies[spec.workload]
  const start = performance.now()
  const windowStart = start + spec.warmupMs
  const windowEnd = windowStart + spec.durationMs
  const tally: Tally = { ok: 0, non2xx: {}, errors: {} }
  const latencies: number[] = []
  let total = 0
  let next = 0
  const worker = async () => {
    while (performance.now() < windowEnd) {
      const body = list[next++ % list.length] as Buffer
      const t0 = performance.now()
      const inWindow = t0 >= windowStart
      const status = await fire(pool, spec, body, undefined)
      const t1 = performance.now()
      if (status >= 200 && status < 300) total++
      // A request counts toward throughput when it completes inside the window.
      if (t1 >= windowStart && t1 < windowEnd) {
        if (status >= 200 && status < 300) tally.ok++
        else if (status === 0) bump(tally.errors, 'transport')
        else bump(tally.non2xx, String(status))
        if (inWindow && status >= 200 && status < 300) latencies.push(t1 - t0)
      }
    }
  }
  await Promise.all(Array.from({ length: spec.connections }, worker))
  return {
    workload: spec.workload,
    mode: 'max',
    windowMs: spec.durationMs,
    ok: tally.ok,
    rps: tally.ok / (spec.durationMs / 1000),
    total,
    offered: 0,
    non2xx: tally.non2xx,
    errors: tally.errors,
    dropped: 0,
    latency: summarize(latencies),
  }
}

async function openLoop(pool: Pool, spec: RunSpec): Promise<Omit<RunResult, 'generatorCpuMs'>> {
  const rate = spec.rate
  if (rate === undefined || !(rate > 0)) throw new Error('mode "rate" needs a positive rate')
  const list = bodies[spec.workload]
  const interval = 1000 / rate
  // Bounded: a target that stops answering must not make the generator queue without end.
  const maxOutstanding = Math.max(64, Math.ceil(rate * 2))
  const start = performance.now() + 5
  const windowStart = start + spec.warmupMs
  const windowEnd = windowStart + spec.durationMs
  const tally: Tally = { ok: 0, non2xx: {}, errors: {} }
  const latencies: number[] = []
  const fromSchedule: number[] = []
  const lateness: number[] = []
  const inflight = new Set<Promise<void>>()
  let offered = 0
  let dropped = 0
  let total = 0
  let i = 0

  const dispatch = (scheduled: number) => {
    const measured = scheduled >= windowStart
    if (measured) offered++
    if (inflight.size >= maxOutstanding) {
      if (measured) dropped++
      return
    }
    const body = list[i % list.length] as Buffer
    const t0 = performance.now()
    if (measured) lateness.push(t0 - scheduled)
    const p = fire(pool, spec, body, measured ? tally : undefined).then((status) => {
      inflight.delete(p)
      if (status >= 200 && status < 300) total++
      if (measured && status >= 200 && status < 300) {
        const t1 = performance.now()
        latencies.push(t1 - t0)
        fromSchedule.push(t1 - scheduled)
      }
    })
    inflight.add(p)
  }

  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now()
      // Catch up on every send that is due; the latency of a late send is still timed
      // from its schedule in `fromSchedule`.
      for (
        let scheduled = start + i * interval;
        scheduled <= now && scheduled < windowEnd;
        scheduled = start + i * interval
      ) {
        dispatch(scheduled)
        i++
      }
      const following = start + i * interval
      if (following >= windowEnd) return resolve()
      setTimeout(tick, Math.max(0, following - performance.now()))
    }
    setTimeout(tick, Math.max(0, start - performance.now()))
  })
  const deadline = new Promise<void>((resolve) => setTimeout(resolve, spec.timeoutMs).unref())
  await Promise.race([Promise.all(inflight), deadline])
  const unanswered = inflight.size
  if (unanswered > 0) tally.errors.unanswered = (tally.errors.unanswered ?? 0) + unanswered

  return {
    workload: spec.workload,
    mode: 'rate',
    windowMs: spec.durationMs,
    ok: tally.ok,
    rps: tally.ok / (spec.durationMs / 1000),
    total,
    offered,
    non2xx: tally.non2xx,
    errors: tally.errors,
    dropped,
    latency: summarize(latencies),
    latencyFromSchedule: summarize(fromSchedule),
    lateness: summarize(lateness),
    samples: latencies.map((v) => Math.round(v * 1000) / 1000),
  }
}

async function run(spec: RunSpec): Promise<RunResult> {
  const pool = new Pool(spec.origin, {
    connections: spec.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    headersTimeout: spec.timeoutMs,
    bodyTimeout: spec.timeoutMs,
  })
  const cpu = process.cpuUsage()
  try {
    const result = spec.mode === 'max' ? await closedLoop(pool, spec) : await openLoop(pool, spec)
    const used = process.cpuUsage(cpu)
    return { ...result, generatorCpuMs: (used.user + used.system) / 1000 }
  } finally {
    await pool.destroy()
  }
}

// Runs are strictly sequential: the driver waits for each result before sending the next.
process.on('message', (message: ToGenerator) => {
  if (message.type === 'exit') {
    process.disconnect?.()
    return
  }
  run(message.spec).then(
    (result) => send({ type: 'result', id: message.id, result }),
    (err: unknown) => send({ type: 'error', id: message.id, message: (err as Error)?.stack ?? String(err) }),
  )
})
// The driver going away (even by SIGKILL) closes the IPC channel; nothing is left to do then.
process.on('disconnect', () => process.exit(0))

send({ type: 'ready', querySize: bodies.query[0]?.length ?? 0, upsertSize: bodies.upsert[0]?.length ?? 0 })
