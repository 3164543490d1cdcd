import type { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify'
import type { Dispatcher } from 'undici'
import { E, isVecshiftError, vxError } from '../errors.js'
import type { Logger } from '../logger.js'
import { isPineconeError } from '../wire/pinecone/errors.js'
import { parseWrite, type WriteOp } from '../wire/pinecone/parse-write.js'
import type { IndexShape, ParsedWrite } from '../wire/pinecone/write-requests.js'
import type { WriteLog } from '../writelog/contract.js'
import { readBody } from './body.js'
import { countUpstreamError, type ForwardContext } from './forward.js'
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js'
import { nothingSent } from './upstream-errors.js'
import { captureWrite, outcomeOfStatus, type RecordFactory, type RequestMeta, type WritePath } from './write-path.js'

// The capture path's REST listener: reads the body, parses and checks it as Pinecone would
// (a refusal is answered in Pinecone's shape: nothing logged, nothing forwarded), then hands
// the parsed write to the transport-neutral write path (write-path.ts) with a function that
// forwards the client's original bytes to the index, or applies the write through a store
// adapter (a pgvector target after the cutover).

export interface CaptureContext extends Omit<ForwardContext, 'upstream'> {
  /** Where captured writes go as bytes (a Pinecone index) ... */
  readonly upstream?: ForwardContext['upstream']
  /** ... or through a store adapter (a pgvector target after the cutover): applies the
   *  parsed write and answers Pinecone's JSON text; a refusal (4xx) throws. */
  readonly apply?: (write: ParsedWrite) => Promise<string>
  readonly log: WriteLog
  readonly shape: () => IndexShape
  readonly records: RecordFactory
  readonly logger: Logger
}

/** The request's identity in the log. */
export function requestMeta(req: FastifyRequest): RequestMeta {
  const version = req.headers['x-pinecone-api-version']
  const requestId = req.headers['x-request-id']
  return {
    apiVersion: typeof version === 'string' ? version : '',
    requestId: typeof requestId === 'string' ? requestId : req.id,
  }
}

/** The write a REST request carries, parsed and checked as Pinecone would. */
export function parseRestWrite(op: WriteOp, raw: Buffer, req: FastifyRequest, shape: IndexShape): ParsedWrite {
  return parseWrite(op, raw, shape, (req.params as { namespace?: string } | undefined)?.namespace)
}

export function captureHandler(ctx: CaptureContext, op: WriteOp): RouteHandlerMethod {
  const latency = ctx.metrics.upstreamLatency.labels(ctx.upstream?.name ?? 'target-store', op)
  const path: WritePath = { log: ctx.log, records: ctx.records, metrics: ctx.metrics.capture, logger: ctx.logger }
  return async function capture(req: FastifyRequest, reply: FastifyReply) {
    if (!ctx.auth.allows(req.headers)) throw vxError(E.UNAUTHORIZED)
    const raw = await readBody(req.body as Readable | Buffer | undefined)
    let parsed: ParsedWrite
    try {
      parsed = parseRestWrite(op, raw, req, ctx.shape())
    } catch (err) {
      if (!isPineconeError(err)) throw err
      ctx.metrics.capture.refused.labels('invalid').inc()
      return reply.code(err.status).type('application/json').send(err.body)
    }
    const meta = requestMeta(req)
    const apply = ctx.apply
    if (apply) {
      // The store's answer decides the outcome as the source's status does: applied (ok),
      // refused by the store (4xx: failed, so a rollback's replay skips it), or no usable
      // answer (unknown: repaired from the store).
      const json = await captureWrite(
        path,
        parsed,
        meta,
        async () => {
          const end = latency.startTimer()
          const value = await apply(parsed)
          end()
          return { value, outcome: 'ok', status: 200 }
        },
        (err) =>
          isVecshiftError(err) && err.statusCode < 500
            ? { outcome: 'failed', status: err.statusCode }
            : { outcome: 'unknown', status: 0 },
      )
      return reply.code(200).type('application/json').send(json)
    }
    const upstream = ctx.upstream as ForwardContext['upstream']
    const headers = upstreamRequestHeaders(req.headers, ctx.auth.upstreamKey)
    const res = await captureWrite(
      path,
      parsed,
      meta,
      async () => {
        const end = latency.startTimer()
        const r = await upstream.request(req.method as Dispatcher.HttpMethod, req.url, headers, raw)
        end()
        if (r.statusCode === 401) ctx.auth.upstreamRefused(req.headers)
        const body = Buffer.from(await r.body.arrayBuffer())
        return {
          value: { status: r.statusCode, headers: r.headers, body },
          outcome: outcomeOfStatus(r.statusCode),
          status: r.statusCode,
        }
      },
      (err) => {
        countUpstreamError({ ...ctx, upstream }, err)
        // Nothing left the gateway (no connection, or the request refused before sending):
        // the source cannot have it, and the log says so. Otherwise there was no answer and
        // the source may or may not have applied it: the replayer repairs the ids from the
        // source. Either way the client gets the 502/503/504 and may retry.
        return { outcome: nothingSent(err) ? 'unsent' : 'unknown', status: 0 }
      },
    )
    reply.code(res.status).headers(clientResponseHeaders(res.headers))
    return reply.send(res.body)
  }
}
