import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { Counter, Histogram, type Registry } from 'prom-client'
import type { ControlStore } from '../control/contract.js'
import { ProgressReporter } from '../control/reporter.js'
import { E, vxError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { ClientAuth } from './auth.js'
import { readBody } from './body.js'
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js'
import type { Upstream } from './upstream.js'

// Shadow reads: while the source is primary, a share of live queries is also sent to the
// target, after the client has its answer from the source, and the two answers compared
// (overlap@k of the ids, each side's latency). The client's answer and latency are the
// source's: the shadow request starts once the reply is sent, and a shadowed query differs
// from a forwarded one only in that its bytes are buffered, not streamed (a query body and
// its answer are small). Shadow work is bounded: past `maxConcurrent` in flight, a query is
// not shadowed (counted as dropped) rather than queued, so a slow target never slows
// clients nor grows memory.

export interface ShadowOptions {
  /** Share of queries shadowed, 0 to 100. */
  readonly percent: number
  readonly maxConcurrent: number
}

/** How the target answers a query: its status and body. */
export type TargetQuery = (req: FastifyRequest, body: Buffer) => Promise<{ status: number; body: Buffer }>

export interface ShadowSummary {
  readonly compared: number
  readonly dropped: number
  readonly failed: number
  readonly meanOverlap: number | undefined
  /** Queries whose ids were not the same set on both sides. */
  readonly disagreed: number
  readonly meanSourceMs: number | undefined
  readonly meanTargetMs: number | undefined
  readonly inFlight: number
}

export class ShadowReads {
  readonly #options: ShadowOptions
  readonly #logger: Logger
  readonly #results: Counter<'result'>
  readonly #overlap: Histogram
  readonly #latency: Histogram<'side'>
  #inFlight = 0
  #compared = 0
  #dropped = 0
  #failed = 0
  #disagreed = 0
  #overlapSum = 0
  #sourceMs = 0
  #targetMs = 0

  constructor(options: ShadowOptions, registers: Registry[], logger: Logger) {
    this.#options = options
    this.#logger = logger
    this.#results = new Counter({
      name: 'vecshift_shadow_queries_total',
      help: 'Queries shadowed to the target, by result (compared, dropped at the concurrency bound, failed).',
      labelNames: ['result'],
      registers,
    })
    this.#overlap = new Histogram({
      name: 'vecshift_shadow_overlap',
      help: "Overlap@k of the target's answer with the source's, per shadowed query.",
      buckets: [0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1],
      registers,
    })
    this.#latency = new Histogram({
      name: 'vecshift_shadow_latency_seconds',
      help: 'Query latency of each side for shadowed queries.',
      labelNames: ['side'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    })
  }

  /** Whether this query is to be shadowed: the share, and room under the bound. */
  pick(): boolean {
    if (this.#options.percent <= 0 || Math.random() * 100 >= this.#options.percent) return false
    if (this.#inFlight >= this.#options.maxConcurrent) {
      this.#dropped++
      this.#results.labels('dropped').inc()
      return false
    }
    return true
  }

  /** The query handler for a shadowed query: the source answers the client; then the target
   *  is asked the same and the answers compared. */
  handler(source: Upstream, auth: ClientAuth, target: TargetQuery): RouteHandlerMethod {
    const shadow = this
    return async function shadowed(req: FastifyRequest, reply: FastifyReply) {
      if (!auth.allows(req.headers)) throw vxError(E.UNAUTHORIZED)
      const body = await readBody(req.body as Readable | Buffer | undefined)
      shadow.#inFlight++
      let released = false
      const release = () => {
        if (!released) shadow.#inFlight--
        released = true
      }
      try {
        const started = performance.now()
        const res = await source.request(
          req.method as Dispatcher.HttpMethod,
          req.url,
          upstreamRequestHeaders(req.headers, auth.upstreamKey),
          body,
        )
        const answer = Buffer.from(await res.body.arrayBuffer())
        const sourceMs = performance.now() - started
        reply.code(res.statusCode).headers(clientResponseHeaders(res.headers))
        // Once the client has its answer, the target is asked; a failed source answer has
        // nothing to compare.
        if (res.statusCode === 200) {
          reply.raw.once('finish', () => void shadow.#compare(req, body, answer, sourceMs, target).finally(release))
        } else release()
        return reply.send(answer)
      } catch (err) {
        release()
        throw err
      }
    }
  }

  summary(): ShadowSummary {
    const n = this.#compared
    return {
      compared: n,
      dropped: this.#dropped,
      failed: this.#failed,
      disagreed: this.#disagreed,
      inFlight: this.#inFlight,
      meanOverlap: n === 0 ? undefined : round(this.#overlapSum / n),
      meanSourceMs: n === 0 ? undefined : round(this.#sourceMs / n),
      meanTargetMs: n === 0 ? undefined : round(this.#targetMs / n),
    }
  }

  async #compare(
    req: FastifyRequest,
    body: Buffer,
    sourceAnswer: Buffer,
    sourceMs: number,
    target: TargetQuery,
  ): Promise<void> {
    try {
      const started = performance.now()
      const t = await target(req, body)
      const targetMs = performance.now() - started
      if (t.status !== 200) throw new Error(`the target answered ${t.status}: ${t.body.toString('utf8').slice(0, 200)}`)
      const a = matchIds(sourceAnswer)
      const b = matchIds(t.body)
      const k = Math.max(a.length, b.length)
      const inB = new Set(b)
      const shared = a.filter((id) => inB.has(id)).length
      const overlap = k === 0 ? 1 : shared / k
      this.#compared++
      this.#overlapSum += overlap
      this.#sourceMs += sourceMs
      this.#targetMs += targetMs
      if (overlap < 1) this.#disagreed++
      this.#results.labels('compared').inc()
      this.#overlap.observe(overlap)
      this.#latency.labels('source').observe(sourceMs / 1000)
      this.#latency.labels('target').observe(targetMs / 1000)
    } catch (err) {
      this.#failed++
      this.#results.labels('failed').inc()
      this.#logger.debug({ err }, 'shadow query failed')
    }
  }
}

function matchIds(answer: Buffer): string[] {
  const parsed = JSON.parse(answer.toString('utf8')) as { matches?: Array<{ id?: unknown }> }
  return (parsed.matches ?? []).map((m) => String(m.id))
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}

/** Sends this replica's shadow comparisons to the control store every 2 s, for `vecshift
 *  status`; answers the function that stops it. */
export function reportShadowReads(
  shadow: ShadowReads,
  control: ControlStore,
  replica: string,
  logger: Logger,
): () => void {
  const reporter = new ProgressReporter(control, `shadow:${replica}`, 2_000, logger)
  const tick = setInterval(
    () => reporter.update({ ...shadow.summary(), replica, updatedAt: new Date().toISOString() }),
    2_000,
  )
  tick.unref()
  return () => clearInterval(tick)
}
