import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { ReplayStatus } from '../replay/status.js'

// Prometheus metrics of one gateway process. A registry per gateway (not prom-client's
// global one) so tests can run several gateways in one process.

/** Metrics of the capture path (write log appends and outcomes). */
export class CaptureMetrics {
  readonly appendSeconds: Histogram<'kind'>
  readonly writes: Counter<'op' | 'outcome'>
  readonly refused: Counter<'reason'>

  constructor(registers: Registry[]) {
    this.appendSeconds = new Histogram({
      name: 'vecshift_writelog_append_seconds',
      help: 'Time for a log append to become durable (intent or outcome).',
      labelNames: ['kind'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    })
    this.writes = new Counter({
      name: 'vecshift_captured_writes_total',
      help: 'Writes captured in the log, by operation and the outcome the source gave.',
      labelNames: ['op', 'outcome'],
      registers,
    })
    this.refused = new Counter({
      name: 'vecshift_capture_refused_total',
      help: 'Writes refused during capture without reaching the source, by reason.',
      labelNames: ['reason'],
      registers,
    })
  }
}

/** What the replayers beside this gateway last reported (their status files), read at each
 *  scrape: the replayer's lag is the migration's health, and the gateway's /metrics is
 *  where an operator already looks. Consumers: "replay" (forward), "rollback" (reverse). */
export type ReplayStatusSource = () => Promise<ReadonlyArray<ReplayStatus>>

export class ReplayMetrics {
  constructor(registers: Registry[], source: ReplayStatusSource) {
    let last: Promise<ReadonlyArray<ReplayStatus>> | undefined
    // One read of the status files per scrape, shared by the gauges below.
    const statuses = () =>
      (last ??= source()
        .catch(() => [])
        .finally(() => {
          setImmediate(() => {
            last = undefined
          })
        }))
    const gauge = (name: string, help: string, value: (s: ReplayStatus) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['consumer'],
        registers,
        async collect() {
          this.reset()
          for (const s of await statuses()) {
            const v = value(s)
            if (v !== undefined) this.labels(s.consumer).set(v)
          }
        },
      })
    gauge(
      'vecshift_replay_lag_records',
      "Records between the replayer's checkpoint and the log's tail (Kafka: messages).",
      (s) => s.lagRecords,
    )
    gauge(
      'vecshift_replay_lag_seconds',
      'Age of the oldest logged write the replayer has not applied.',
      (s) => s.lagSeconds,
    )
    gauge(
      'vecshift_replay_applied_records',
      'Writes the replayer has applied since it started.',
      (s) => s.counts.applied,
    )
    gauge(
      'vecshift_replay_awaiting_outcome',
      'Intents read but held back, waiting for their outcome.',
      (s) => s.awaitingOutcome,
    )
    gauge('vecshift_replay_retrying', '1 while the replayer retries a failed step (the target not answering).', (s) =>
      s.retrying === undefined ? 0 : 1,
    )
    gauge('vecshift_replay_status_age_seconds', 'Seconds since the replayer last reported.', (s) =>
      Math.max(0, (Date.now() - Date.parse(s.updatedAt)) / 1000),
    )
  }
}

export class GatewayMetrics {
  readonly registry = new Registry()
  readonly requests: Counter<'op' | 'method' | 'status'>
  readonly upstreamLatency: Histogram<'upstream' | 'op'>
  readonly upstreamErrors: Counter<'upstream' | 'code'>
  readonly inFlight: Gauge
  readonly rejected: Counter<'reason'>
  readonly capture: CaptureMetrics
  /** Passthrough auth: keys confirmed with the upstream, by result. */
  readonly keyChecks: Counter<'result'>

  constructor(labels: Record<string, string> = {}, replay?: ReplayStatusSource, cachedKeys?: () => number) {
    this.registry.setDefaultLabels(labels)
    collectDefaultMetrics({ register: this.registry, prefix: 'vecshift_' })
    this.requests = new Counter({
      name: 'vecshift_gateway_requests_total',
      help: 'Requests answered by the gateway, by Pinecone operation, method and status.',
      labelNames: ['op', 'method', 'status'],
      registers: [this.registry],
    })
    this.upstreamLatency = new Histogram({
      name: 'vecshift_upstream_request_duration_seconds',
      help: 'Time from sending a request upstream to receiving its response headers.',
      labelNames: ['upstream', 'op'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    })
    this.upstreamErrors = new Counter({
      name: 'vecshift_upstream_errors_total',
      help: 'Upstream requests that got no HTTP response, by error code.',
      labelNames: ['upstream', 'code'],
      registers: [this.registry],
    })
    this.inFlight = new Gauge({
      name: 'vecshift_gateway_in_flight_requests',
      help: 'Requests being handled by the gateway right now.',
      registers: [this.registry],
    })
    this.capture = new CaptureMetrics([this.registry])
    if (replay) new ReplayMetrics([this.registry], replay)
    this.keyChecks = new Counter({
      name: 'vecshift_gateway_key_checks_total',
      help: 'Auth mode passthrough: client keys confirmed with the upstream (one probe each), by result: confirmed, refused, unavailable.',
      labelNames: ['result'],
      registers: [this.registry],
    })
    if (cachedKeys) {
      new Gauge({
        name: 'vecshift_gateway_key_cache_entries',
        help: 'Auth mode passthrough: key verdicts cached (bounded by gateway.auth.maxCachedKeys).',
        registers: [this.registry],
        collect() {
          this.set(cachedKeys())
        },
      })
    }
    this.rejected = new Counter({
      name: 'vecshift_gateway_rejected_total',
      help: 'Requests the gateway answered itself without forwarding, by reason.',
      labelNames: ['reason'],
      registers: [this.registry],
    })
  }
}
