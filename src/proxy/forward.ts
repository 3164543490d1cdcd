import type { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify'
import type { Dispatcher } from 'undici'
import { E, VecshiftError, vxError } from '../errors.js'
import type { ClientAuth } from './auth.js'
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js'
import type { GatewayMetrics } from './metrics.js'
import type { Upstream, UpstreamResponse } from './upstream.js'

// The pass-through path: the request body is streamed to the upstream unread, and the
// upstream's status, headers and body bytes are streamed back unchanged. Nothing on this
// path parses JSON; the upstream validates, and its answers (including its 4xx) reach the
// client exactly as it sent them.

export interface ForwardContext {
  readonly upstream: Upstream
  readonly auth: ClientAuth
  readonly metrics: GatewayMetrics
}

export function forwardHandler(ctx: ForwardContext, op: string): RouteHandlerMethod {
  // Label children are resolved once per route, not per request.
  const latency = ctx.metrics.upstreamLatency.labels(ctx.upstream.name, op)
  return async function forward(req: FastifyRequest, reply: FastifyReply) {
    if (!ctx.auth.allows(req.headers)) throw vxError(E.UNAUTHORIZED)
    const headers = upstreamRequestHeaders(req.headers, ctx.auth.upstreamKey)
    const body = (req.body as Readable | Buffer | undefined) ?? null
    const end = latency.startTimer()
    let res: UpstreamResponse
    try {
      res = await ctx.upstream.request(req.method as Dispatcher.HttpMethod, req.url, headers, body)
    } catch (err) {
      countUpstreamError(ctx, err)
      throw err
    }
    end()
    if (res.statusCode === 401) ctx.auth.upstreamRefused(req.headers)
    reply.code(res.statusCode).headers(clientResponseHeaders(res.headers))
    return reply.send(res.body)
  }
}

export function countUpstreamError(ctx: ForwardContext, err: unknown): void {
  const code = err instanceof VecshiftError ? (errorCauseCode(err) ?? err.code) : 'unknown'
  ctx.metrics.upstreamErrors.labels(ctx.upstream.name, code).inc()
}

function errorCauseCode(err: VecshiftError): string | undefined {
  const cause = err.cause as { code?: unknown } | undefined
  return typeof cause?.code === 'string' ? cause.code : undefined
}
