// Turns the runs of a benchmark into figures: medians over rounds, the gateway's paired
// ratios to nginx, and the markdown table for the README.
import type { Interference } from './interference.js'
import type { RunResult, Workload } from './loadgen-protocol.js'
import { median, percentileSorted, round } from './stats.js'

/** The targets every run measures; `node-baseline` (a bare Node.js pass-through) and
 *  `gateway-NAME` (more gateway processes with other flags, see --gateway-variant) are opt-in. */
export const TARGETS = ['direct', 'nginx', 'gateway'] as const
export type Target = (typeof TARGETS)[number] | 'node-baseline' | `gateway-${string}`

/** The target's own goal (from the issue): throughput >= 0.8x nginx, p99 within 1 ms. */
export const GOAL = { minThroughputRatio: 0.8, maxP99DeltaMs: 1 } as const

export interface RunRecord {
  readonly phase: 'max' | 'rate'
  readonly round: number
  /** Position of this run in its round (targets rotate so none is always first). */
  readonly position: number
  readonly workload: Workload
  readonly target: Target
  readonly rate?: number
  readonly result: RunResult
  /** CPU used during the run (warm-up included), ms, by the emulator, by the proxy in the
   *  path (nginx master + worker, or the gateway; 0 for direct) and by the generator. */
  readonly cpuMs: { readonly emulator: number; readonly proxy: number; readonly generator: number }
  /** CPU other processes on the machine used during the run. */
  readonly interference: Interference
  /** 1 for the first measurement of this block; more when a disturbed block was redone. */
  readonly attempt: number
}

export interface Spread {
  readonly median: number
  readonly rounds: number[]
}

export interface TargetFigures {
  readonly maxRps: Spread
  readonly p50Ms: Spread
  readonly p99Ms: Spread
  /** Percentiles over every sample of every rate round together. */
  readonly pooled: { readonly samples: number; readonly p50Ms: number; readonly p99Ms: number }
  /** Achieved rate in the fixed-load runs (should equal the offered rate). */
  readonly achievedRps: Spread
  readonly failures: {
    readonly non2xx: Record<string, number>
    readonly errors: Record<string, number>
    readonly dropped: number
    readonly total: number
  }
  /** CPU per 2xx request, microseconds, median over rounds: at the fixed load (the same
   *  request count for every target) and at max throughput. */
  readonly cpuUsPerRequest: { readonly fixedLoad: CpuPerRequest; readonly maxThroughput: CpuPerRequest }
}

export interface CpuPerRequest {
  readonly proxy: number
  readonly emulator: number
  readonly generator: number
}

export interface Comparison {
  /** Median over rounds of gateway/nginx max throughput, each round's pair measured back to back. */
  readonly throughputRatio: number
  readonly throughputRatioOfMedians: number
  /** Median over rounds of gateway p99 minus nginx p99, ms. */
  readonly p99DeltaMs: number
  readonly p99DeltaOfMediansMs: number
  readonly p99DeltaPooledMs: number
  readonly p50DeltaMs: number
  /** The gateway against no proxy at all. */
  readonly vsDirect: { readonly throughputRatio: number; readonly p50DeltaMs: number; readonly p99DeltaMs: number }
  readonly meetsThroughputGoal: boolean
  readonly meetsP99Goal: boolean
}

export interface WorkloadFigures {
  readonly offeredRps: number
  readonly targets: Partial<Record<Target, TargetFigures>> & Record<(typeof TARGETS)[number], TargetFigures>
  readonly gatewayVsNginx: Comparison
  /** Present with --baseline: the gateway against a bare Node.js pass-through. */
  readonly gatewayVsNodeBaseline?: Pick<Comparison, 'throughputRatio' | 'p50DeltaMs' | 'p99DeltaMs'> & {
    readonly proxyCpuRatio: number
  }
  /** Present with --gateway-variant: every other gateway process against nginx, as gatewayVsNginx. */
  readonly variantsVsNginx?: Record<string, Comparison>
}

function spread(values: number[]): Spread {
  return { median: round(median(values), 3), rounds: values.map((v) => round(v, 3)) }
}

function add(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v
}

function targetFigures(runs: RunRecord[], target: Target): TargetFigures {
  const mine = runs.filter((r) => r.target === target)
  const max = mine.filter((r) => r.phase === 'max').sort((a, b) => a.round - b.round)
  const rate = mine.filter((r) => r.phase === 'rate').sort((a, b) => a.round - b.round)
  const samples = Float64Array.from(rate.flatMap((r) => r.result.samples ?? [])).sort()
  const non2xx: Record<string, number> = {}
  const errors: Record<string, number> = {}
  let dropped = 0
  for (const r of mine) {
    add(non2xx, r.result.non2xx)
    add(errors, r.result.errors)
    dropped += r.result.dropped
  }
  const failed =
    Object.values(non2xx).reduce((a, b) => a + b, 0) + Object.values(errors).reduce((a, b) => a + b, 0) + dropped
  const perRequest = (phase: RunRecord[]): CpuPerRequest => {
    const of = (pick: (r: RunRecord) => number) =>
      round(median(phase.filter((r) => r.result.total > 0).map((r) => (pick(r) * 1000) / r.result.total)), 1)
    return {
      proxy: of((r) => r.cpuMs.proxy),
      emulator: of((r) => r.cpuMs.emulator),
      generator: of((r) => r.cpuMs.generator),
    }
  }
  return {
    maxRps: spread(max.map((r) => r.result.rps)),
    p50Ms: spread(rate.map((r) => r.result.latency.p50)),
    p99Ms: spread(rate.map((r) => r.result.latency.p99)),
    pooled: {
      samples: samples.length,
      p50Ms: round(percentileSorted(samples, 50), 3),
      p99Ms: round(percentileSorted(samples, 99), 3),
    },
    achievedRps: spread(rate.map((r) => r.result.rps)),
    failures: { non2xx, errors, dropped, total: failed },
    cpuUsPerRequest: { fixedLoad: perRequest(rate), maxThroughput: perRequest(max) },
  }
}

/** Per-round values of f(gateway run, other run), for rounds where both ran. */
function paired(
  runs: RunRecord[],
  phase: 'max' | 'rate',
  other: Target,
  f: (gw: RunResult, o: RunResult) => number,
  gateway: Target = 'gateway',
): number[] {
  const out: number[] = []
  const rounds = [...new Set(runs.filter((r) => r.phase === phase).map((r) => r.round))].sort((a, b) => a - b)
  for (const n of rounds) {
    const gw = runs.find((r) => r.phase === phase && r.round === n && r.target === gateway)
    const o = runs.find((r) => r.phase === phase && r.round === n && r.target === other)
    if (gw && o) out.push(f(gw.result, o.result))
  }
  return out
}

export function workloadFigures(runs: RunRecord[], offeredRps: number, measured: readonly Target[]): WorkloadFigures {
  const targets = Object.fromEntries(measured.map((t) => [t, targetFigures(runs, t)])) as WorkloadFigures['targets']
  const compare = (gateway: Target): Comparison => {
    const g = targets[gateway] as TargetFigures
    const pair = (phase: 'max' | 'rate', other: Target, f: (gw: RunResult, o: RunResult) => number) =>
      median(paired(runs, phase, other, f, gateway))
    const ratio = pair('max', 'nginx', (gw, o) => gw.rps / o.rps)
    const p99Delta = pair('rate', 'nginx', (gw, o) => gw.latency.p99 - o.latency.p99)
    return {
      throughputRatio: round(ratio, 3),
      throughputRatioOfMedians: round(g.maxRps.median / targets.nginx.maxRps.median, 3),
      p99DeltaMs: round(p99Delta, 3),
      p99DeltaOfMediansMs: round(g.p99Ms.median - targets.nginx.p99Ms.median, 3),
      p99DeltaPooledMs: round(g.pooled.p99Ms - targets.nginx.pooled.p99Ms, 3),
      p50DeltaMs: round(
        pair('rate', 'nginx', (gw, o) => gw.latency.p50 - o.latency.p50),
        3,
      ),
      vsDirect: {
        throughputRatio: round(
          pair('max', 'direct', (gw, o) => gw.rps / o.rps),
          3,
        ),
        p50DeltaMs: round(
          pair('rate', 'direct', (gw, o) => gw.latency.p50 - o.latency.p50),
          3,
        ),
        p99DeltaMs: round(
          pair('rate', 'direct', (gw, o) => gw.latency.p99 - o.latency.p99),
          3,
        ),
      },
      // NaN (no max-throughput phase, --skip-max) is not a pass.
      meetsThroughputGoal: ratio >= GOAL.minThroughputRatio,
      meetsP99Goal: p99Delta <= GOAL.maxP99DeltaMs,
    }
  }
  const gatewayVsNginx = compare('gateway')
  const variants = measured.filter((t) => t.startsWith('gateway-'))
  const baseline = targets['node-baseline']
  return {
    offeredRps,
    targets,
    gatewayVsNginx,
    ...(baseline === undefined
      ? {}
      : {
          gatewayVsNodeBaseline: {
            throughputRatio: round(median(paired(runs, 'max', 'node-baseline', (gw, o) => gw.rps / o.rps)), 3),
            p50DeltaMs: round(
              median(paired(runs, 'rate', 'node-baseline', (gw, o) => gw.latency.p50 - o.latency.p50)),
              3,
            ),
            p99DeltaMs: round(
              median(paired(runs, 'rate', 'node-baseline', (gw, o) => gw.latency.p99 - o.latency.p99)),
              3,
            ),
            proxyCpuRatio: round(
              targets.gateway.cpuUsPerRequest.fixedLoad.proxy / baseline.cpuUsPerRequest.fixedLoad.proxy,
              2,
            ),
          },
        }),
    ...(variants.length === 0 ? {} : { variantsVsNginx: Object.fromEntries(variants.map((v) => [v, compare(v)])) }),
  }
}

const fmt = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a')
const signed = (v: number, digits: number) =>
  Number.isFinite(v) ? `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}` : 'n/a'

function failuresCell(f: TargetFigures['failures']): string {
  if (f.total === 0) return '0'
  const parts = [
    ...Object.entries(f.non2xx).map(([k, v]) => `${v}×${k}`),
    ...Object.entries(f.errors).map(([k, v]) => `${v}×${k}`),
    ...(f.dropped > 0 ? [`${f.dropped} dropped`] : []),
  ]
  return parts.join(', ')
}

export interface TableContext {
  readonly rounds: number
  readonly nginxVersion: string
  /** How nginx handles bodies, e.g. "streams bodies both ways". */
  readonly nginxMode: string
  readonly nodeVersion: string
  readonly cpus: number
  readonly date: string
  readonly bodyBytes: Record<Workload, number>
  readonly connections: Record<Workload, number>
  readonly extraNotes?: readonly string[]
}

/** The README's table, in markdown. */
export function markdownTable(figures: Partial<Record<Workload, WorkloadFigures>>, ctx: TableContext): string {
  const lines = [
    '| workload | target | max req/s | p50 ms | p99 ms | non-2xx / errors | proxy CPU µs/req |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ]
  for (const [workload, w] of Object.entries(figures) as Array<[Workload, WorkloadFigures]>) {
    const label = `${workload} @ ${w.offeredRps} req/s`
    for (const target of Object.keys(w.targets) as Target[]) {
      const t = w.targets[target] as TargetFigures
      const cpu = target === 'direct' ? '—' : fmt(t.cpuUsPerRequest.fixedLoad.proxy, 0)
      lines.push(
        `| ${label} | ${target} | ${fmt(t.maxRps.median, 1)} | ${fmt(t.p50Ms.median, 2)} ` +
          `| ${fmt(t.p99Ms.median, 2)} | ${failuresCell(t.failures)} | ${cpu} |`,
      )
    }
    const c = w.gatewayVsNginx
    const verdict =
      `${c.meetsThroughputGoal ? 'meets' : 'misses'} ≥ ${GOAL.minThroughputRatio}×; ` +
      `p99 ${c.meetsP99Goal ? 'meets' : 'misses'} ≤ +${GOAL.maxP99DeltaMs} ms`
    lines.push(
      `| ${label} | **gateway vs nginx** | **${fmt(c.throughputRatio, 2)}×** | ${signed(c.p50DeltaMs, 2)} ` +
        `| **${signed(c.p99DeltaMs, 2)}** | ${verdict} | |`,
    )
    for (const [variant, v] of Object.entries(w.variantsVsNginx ?? {})) {
      lines.push(
        `| ${label} | ${variant} vs nginx | ${fmt(v.throughputRatio, 2)}× | ${signed(v.p50DeltaMs, 2)} ` +
          `| ${signed(v.p99DeltaMs, 2)} | p99 ${v.meetsP99Goal ? 'meets' : 'misses'} ≤ +${GOAL.maxP99DeltaMs} ms | |`,
      )
    }
    const b = w.gatewayVsNodeBaseline
    if (b !== undefined) {
      lines.push(
        `| ${label} | gateway vs node-baseline | ${fmt(b.throughputRatio, 2)}× | ${signed(b.p50DeltaMs, 2)} ` +
          `| ${signed(b.p99DeltaMs, 2)} | | ${fmt(b.proxyCpuRatio, 2)}× |`,
      )
    }
  }
  const notes = [
    '',
    `Medians of ${ctx.rounds} interleaved rounds; ${ctx.cpus} CPUs, Node ${ctx.nodeVersion}, ${ctx.nginxVersion} ` +
      `(1 worker process: the gateway is one Node.js process; upstream keep-alive; ${ctx.nginxMode}), ` +
      `${ctx.date.slice(0, 10)}.`,
    `Max req/s: closed loop, ${ctx.connections.query} connections (query) / ${ctx.connections.upsert} (upsert). ` +
      'p50/p99: open loop at the fixed rate in the first column, the same for every target, ' +
      'timed to the last response byte.',
    `Query: 1536-d vector, topK 10, over 2,000 vectors (${Math.round(ctx.bodyBytes.query / 1024)} KiB body). ` +
      `Upsert: 100 × 1536-d (${(ctx.bodyBytes.upsert / 1e6).toFixed(2)} MB body).`,
    'Proxy CPU: CPU time of the proxy process(es), all threads, per request at the fixed load.',
    'Ratio row: medians of per-round gateway÷nginx throughput and gateway−nginx latency. Goal: ≥ 0.8× throughput, p99 within +1 ms.',
    ...(ctx.extraNotes ?? []),
  ]
  return [...lines, ...notes].join('\n')
}
