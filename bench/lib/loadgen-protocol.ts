// Messages between the benchmark driver and its load-generator process (bench/lib/loadgen.ts).

export type Workload = 'query' | 'upsert'
/** `max`: closed loop, every connection sends its next request as soon as the last one is
 *  answered (throughput). `rate`: open loop at a fixed offered rate (latency). */
export type Mode = 'max' | 'rate'

export interface RunSpec {
  /** Origin of the target, e.g. http://127.0.0.1:8080. */
  readonly origin: string
  /** Path prefix of the index's data plane on that origin ("" or "/data/bench"). */
  readonly basePath: string
  readonly headers: Readonly<Record<string, string>>
  readonly workload: Workload
  readonly mode: Mode
  /** Connections the client may open (closed loop: exactly this many in flight). */
  readonly connections: number
  /** Requests per second, for mode `rate`. */
  readonly rate?: number
  /** Traffic sent before the measured window (same shape), not counted. */
  readonly warmupMs: number
  readonly durationMs: number
  readonly timeoutMs: number
}

export interface RunResult {
  readonly workload: Workload
  readonly mode: Mode
  /** Length of the measured window, in ms. */
  readonly windowMs: number
  /** 2xx responses completed in the window. */
  readonly ok: number
  /** 2xx responses per second over the window. */
  readonly rps: number
  /** 2xx responses over the whole run, warm-up included (for CPU per request). */
  readonly total: number
  /** Requests the open loop meant to send in the window (mode `rate`). */
  readonly offered: number
  /** Non-2xx answers by status, and transport failures by error code. */
  readonly non2xx: Record<string, number>
  readonly errors: Record<string, number>
  /** Open loop: sends skipped because too many requests were already outstanding. */
  readonly dropped: number
  /** Latency of 2xx responses in the window, ms: from handing the request to the client
   *  pool (queueing for a free connection counts) to the last byte of the response. */
  readonly latency: LatencySummary
  /** Open loop: latency from the request's scheduled send time (coordinated-omission
   *  corrected, as wrk2 does); differs from `latency` only when the generator ran late. */
  readonly latencyFromSchedule?: LatencySummary
  /** Open loop: how late the timer fired sends, ms. */
  readonly lateness?: LatencySummary
  /** Raw latency samples, ms (mode `rate` only), for pooled percentiles across rounds. */
  readonly samples?: number[]
  /** CPU the load generator itself used during the whole run, ms. */
  readonly generatorCpuMs: number
}

export interface LatencySummary {
  readonly count: number
  readonly mean: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

export type ToGenerator =
  | { readonly type: 'run'; readonly id: number; readonly spec: RunSpec }
  | { readonly type: 'exit' }

export type FromGenerator =
  | { readonly type: 'ready'; readonly querySize: number; readonly upsertSize: number }
  | { readonly type: 'result'; readonly id: number; readonly result: RunResult }
  | { readonly type: 'error'; readonly id: number; readonly message: string }
