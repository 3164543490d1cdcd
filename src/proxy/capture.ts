import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify'
import type { Dispatcher } from 'undici'
import { E, isVecshiftError, vxError } from '../errors.js'
import type { Logger } from '../logger.js'
import { isPineconeError } from '../wire/pinecone/errors.js'
import { parseWrite, type WriteOp } from '../wire/pinecone/parse-write.js'
import type { IndexShape, ParsedWrite } from '../wire/pinecone/write-requests.js'
import type { WriteLog } from '../writelog/contract.js'
import type { OutcomeKind } from '../writelog/record.js'
import { readBody } from './body.js'
import { countUpstreamError, type ForwardContext } from './forward.js'
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js'
import { nothingSent } from './upstream-errors.js'
import {
  captureWrite,
  outcomeOfStatus,
  type RecordFactory,
  type RequestMeta,
  type Sent,
  type WritePath,
} from './write-path.js'

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
    const way = ctx.apply ? throughStore(ctx.apply, parsed, latency) : forwarded(ctx, req, raw, latency)
    const answer = await captureWrite(path, parsed, requestMeta(req), way.send, way.failure)
    reply.code(answer.status)
    if (answer.headers) reply.headers(clientResponseHeaders(answer.headers))
    else reply.type('application/json')
    return reply.send(answer.body)
  }
}

/** What the client is answered with: the index's own answer, or the store plane's JSON. */
interface Answer {
  readonly status: number
  readonly headers?: IncomingHttpHeaders
  readonly body: Buffer | string
}

/** How a captured write is sent, and what the log records when sending it throws. */
interface SendWay {
  readonly send: () => Promise<Sent<Answer>>
  readonly failure: (err: unknown) => { readonly outcome: OutcomeKind; readonly status: number }
}

/** The upstream latency metric of the route: a timer per send. */
type Latency = { startTimer(): () => void }

/** The client's original bytes, forwarded to the index; its status decides the outcome. */
function forwarded(ctx: CaptureContext, req: FastifyRequest, raw: Buffer, latency: Latency): SendWay {
  const upstream = ctx.upstream as ForwardContext['upstream']
  const headers = upstreamRequestHeaders(req.headers, ctx.auth.upstreamKey)
  return {
    send: async () => {
      const end = latency.startTimer()
      const r = await upstream.request(req.method as Dispatcher.HttpMethod, req.url, headers, raw)
      end()
      if (r.statusCode === 401) ctx.auth.upstreamRefused(req.headers)
      const body = Buffer.from(await r.body.arrayBuffer())
      const status = r.statusCode
      return { value: { status, headers: r.headers, body }, outcome: outcomeOfStatus(status), status }
    },
    failure: (err) => {
      countUpstreamError({ ...ctx, upstream }, err)
      // Nothing left the gateway (no connection, or the request refused before sending): the
      // source cannot have it, and the log says so. Otherwise there was no answer and the
      // source may or may not have applied it: the replayer repairs the ids from the source.
      // Either way the client gets the 502/503/504 and may retry.
      return { outcome: nothingSent(err) ? 'unsent' : 'unknown', status: 0 }
    },
  }
}

/** The parsed write, applied through a store adapter (a pgvector target after the cutover).
 *  Its answer decides the outcome as the source's status does: applied (ok), refused by the
 *  store (4xx: failed, so a rollback's replay skips it), or no usable answer (unknown:
 *  repaired from the store). */
function throughStore(apply: (w: ParsedWrite) => Promise<string>, parsed: ParsedWrite, latency: Latency): SendWay {
  return {
    send: async () => {
      const end = latency.startTimer()
      const body = await apply(parsed)
      end()
      return { value: { status: 200, body }, outcome: 'ok', status: 200 }
    },
    failure: (err) =>
      isVecshiftError(err) && err.statusCode < 500
        ? { outcome: 'failed', status: err.statusCode }
        : { outcome: 'unknown', status: 0 },
  }
}
