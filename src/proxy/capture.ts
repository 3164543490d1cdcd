import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify'
import type { Dispatcher } from 'undici'
import { E, VecshiftError, isVecshiftError, vxError } from '../errors.js'
import type { Logger } from '../logger.js'
import { invalidArgument, isPineconeError } from '../wire/pinecone/errors.js'
import { NOT_HANDLED, parseWriteBody } from '../wire/pinecone/fast-json.js'
import {
  parseCreateNamespace,
  parseDelete,
  parseUpdate,
  parseUpsert,
  canonicalNamespace,
  checkNamespaceName,
  type IndexShape,
  type ParsedWrite,
} from '../wire/pinecone/write-requests.js'
import type { WriteLog } from '../writelog/contract.js'
import type { IntentRecord, OutcomeKind, RecordHeader } from '../writelog/record.js'
import { readBody } from './body.js'
import { LIMITS, requestTooLarge } from '../wire/pinecone/limits.js'
import { countUpstreamError, type ForwardContext } from './forward.js'
import { nothingSent } from './upstream-errors.js'
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js'
import type { CapturedOp } from './routes.js'

// The capture path, for writes while a migration copies and replays:
//   read the body -> parse and validate as Pinecone would (400 in Pinecone's shape; nothing
//   logged, nothing forwarded) -> append the intent and wait until it is durable (if the log
//   cannot, 503 + Retry-After and the write is NOT forwarded: fail closed) -> forward the
//   client's original bytes to the source -> append the outcome (ok / failed / unknown) and
//   wait until it is durable -> answer the client with the source's answer.
// So a client never sees success for a write that is not in the log, and the log says, for
// every write it holds, whether the source accepted it.

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

/** Stamps records with this gateway process's identity and sequence. */
export class RecordFactory {
  readonly instance: string
  #seq = 0

  constructor(instance = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`) {
    this.instance = instance
  }

  nextSeq(): number {
    return this.#seq++
  }

  header(req: FastifyRequest, namespace: string): RecordHeader {
    const version = req.headers['x-pinecone-api-version']
    const requestId = req.headers['x-request-id']
    return {
      instance: this.instance,
      seq: this.nextSeq(),
      ts: Date.now(),
      apiVersion: typeof version === 'string' ? version : '',
      requestId: typeof requestId === 'string' ? requestId : req.id,
      namespace,
    }
  }
}

export function captureHandler(ctx: CaptureContext, op: CapturedOp): RouteHandlerMethod {
  const forwardLatency = ctx.metrics.upstreamLatency.labels(ctx.upstream?.name ?? 'target-store', op)
  return async function capture(req: FastifyRequest, reply: FastifyReply) {
    if (!ctx.auth.allows(req.headers)) throw vxError(E.UNAUTHORIZED)
    const raw = await readBody(req.body as Readable | Buffer | undefined)

    let parsed: ParsedWrite
    try {
      parsed = parseWrite(op, raw, req, ctx.shape())
    } catch (err) {
      if (!isPineconeError(err)) throw err
      ctx.metrics.capture.refused.labels('invalid').inc()
      return reply.code(err.status).type('application/json').send(err.body)
    }
    // A dry run changes nothing; it is forwarded like a read.
    const logged = !(parsed.op === 'update' && parsed.dryRun)

    let intent: IntentRecord | undefined
    if (logged) {
      intent = toIntent(parsed, ctx.records.header(req, parsed.namespace))
      await appendOrRefuse(ctx, intent, 'intent')
    }

    if (ctx.apply) return applyThroughStore(ctx, ctx.apply, parsed, intent, reply, forwardLatency.startTimer())
    const upstream = ctx.upstream as ForwardContext['upstream']
    const headers = upstreamRequestHeaders(req.headers, ctx.auth.upstreamKey)
    const end = forwardLatency.startTimer()
    let res
    try {
      res = await upstream.request(req.method as Dispatcher.HttpMethod, req.url, headers, raw)
    } catch (err) {
      countUpstreamError({ ...ctx, upstream }, err)
      // Nothing left the gateway (no connection, or the request refused before sending):
      // the source cannot have it, and the log says so. Otherwise there was no answer and
      // the source may or may not have applied it: the replayer repairs the ids from the
      // source. Either way the client gets the 502/503/504 and may retry.
      if (intent) await recordOutcome(ctx, intent, nothingSent(err) ? 'unsent' : 'unknown', 0)
      throw err
    }
    end()
    if (res.statusCode === 401) ctx.auth.upstreamRefused(req.headers)
    const body = await res.body.arrayBuffer()
    if (intent) {
      const outcome: OutcomeKind = res.statusCode < 300 ? 'ok' : res.statusCode < 500 ? 'failed' : 'unknown'
      await recordOutcome(ctx, intent, outcome, res.statusCode)
    }
    reply.code(res.statusCode).headers(clientResponseHeaders(res.headers))
    return reply.send(Buffer.from(body))
  }
}

/** The store's answer decides the outcome as the source's status does: applied (ok), refused
 *  by the store (4xx: failed, so a rollback's replay skips it), or no usable answer (unknown:
 *  repaired from the store). */
async function applyThroughStore(
  ctx: CaptureContext,
  apply: (w: ParsedWrite) => Promise<string>,
  parsed: ParsedWrite,
  intent: IntentRecord | undefined,
  reply: FastifyReply,
  end: () => void,
): Promise<FastifyReply> {
  let json: string
  try {
    json = await apply(parsed)
  } catch (err) {
    const refused = isVecshiftError(err) && err.statusCode < 500
    if (intent)
      await recordOutcome(ctx, intent, refused ? 'failed' : 'unknown', refused ? (err as VecshiftError).statusCode : 0)
    throw err
  }
  end()
  if (intent) await recordOutcome(ctx, intent, 'ok', 200)
  return reply.code(200).type('application/json').send(json)
}

/** A write request as Pinecone would parse and check it (shared with the store plane). */
export function parseWrite(op: CapturedOp, raw: Buffer, req: FastifyRequest, shape: IndexShape): ParsedWrite {
  if (op === 'delete_namespace') {
    // Deleting a namespace deletes every record in it and the namespace: logged as deleteAll
    // there, marked as a namespace delete (a created namespace outlives deleteAll). The router
    // has decoded the path parameter already; decoding it again would log another name.
    const ns = canonicalNamespace(checkNamespaceName((req.params as { namespace: string }).namespace))
    return { op: 'delete', namespace: ns, deleteAll: true, deleteNamespace: true }
  }
  // Pinecone refuses a data-plane request over 2 MB; the gateway's own body limit is set
  // higher for other routes, so the write is refused here, before it is logged.
  if (raw.length > LIMITS.maxRequestBytes) throw requestTooLarge(raw.length)
  // Upserts and updates are mostly dense vectors: the fast parser reads them straight into
  // typed arrays. It declines anything unusual, malformed bodies included, and JSON.parse
  // then gives the answer and the error message.
  let body: unknown = op === 'delete' || op === 'create_namespace' ? NOT_HANDLED : parseWriteBody(raw)
  if (body === NOT_HANDLED) {
    try {
      body = JSON.parse(raw.toString('utf8'))
    } catch (err) {
      throw invalidArgument(`Invalid JSON in request body: ${(err as Error).message}`)
    }
  }
  switch (op) {
    case 'upsert':
      return parseUpsert(body, shape)
    case 'update':
      return parseUpdate(body, shape)
    case 'delete':
      return parseDelete(body)
    case 'create_namespace':
      return parseCreateNamespace(body)
  }
}

function toIntent(parsed: ParsedWrite, header: RecordHeader): IntentRecord {
  switch (parsed.op) {
    case 'upsert':
      return {
        ...header,
        op: 'upsert',
        vectors: parsed.vectors.map((v) => ({
          id: v.id,
          ...(v.values ? { values: v.values } : {}),
          ...(v.sparseValues ? { sparseValues: v.sparseValues } : {}),
          ...(v.metadata ? { metadata: v.metadata } : {}),
        })),
      }
    case 'update':
      return {
        ...header,
        op: 'update',
        ...(parsed.id !== undefined ? { id: parsed.id } : {}),
        ...(parsed.values ? { values: parsed.values } : {}),
        ...(parsed.sparseValues ? { sparseValues: parsed.sparseValues } : {}),
        ...(parsed.setMetadata ? { setMetadata: parsed.setMetadata } : {}),
        ...(parsed.filter ? { filter: parsed.filter } : {}),
      }
    case 'delete':
      return {
        ...header,
        op: 'delete',
        ...(parsed.ids ? { ids: parsed.ids } : {}),
        ...(parsed.filter ? { filter: parsed.filter } : {}),
        ...(parsed.deleteAll ? { deleteAll: true } : {}),
        ...(parsed.deleteNamespace ? { deleteNamespace: true } : {}),
      }
    case 'create_namespace':
      return { ...header, op: 'create_namespace', ...(parsed.schema ? { schema: parsed.schema } : {}) }
  }
}

async function appendOrRefuse(ctx: CaptureContext, intent: IntentRecord, kind: 'intent'): Promise<void> {
  const end = ctx.metrics.capture.appendSeconds.labels(kind).startTimer()
  try {
    await ctx.log.append([intent])
  } catch (err) {
    ctx.metrics.capture.refused.labels(err instanceof VecshiftError ? err.code : 'log_error').inc()
    // Fail closed: a write the log cannot hold is not forwarded.
    if (err instanceof VecshiftError && err.retriable) {
      err.retryAfter ??= 1
      throw err
    }
    throw new VecshiftError(E.LOG_UNAVAILABLE, [ctx.log.backend, (err as Error).message], { cause: err, retryAfter: 1 })
  } finally {
    end()
  }
}

async function recordOutcome(
  ctx: CaptureContext,
  intent: IntentRecord,
  outcome: OutcomeKind,
  status: number,
): Promise<void> {
  ctx.metrics.capture.writes.labels(intent.op, outcome).inc()
  const end = ctx.metrics.capture.appendSeconds.labels('outcome').startTimer()
  try {
    await ctx.log.append([
      {
        instance: intent.instance,
        seq: ctx.records.nextSeq(),
        ts: Date.now(),
        apiVersion: intent.apiVersion,
        requestId: intent.requestId,
        namespace: intent.namespace,
        op: 'outcome',
        intentSeq: intent.seq,
        outcome,
        status,
      },
    ])
  } catch (err) {
    // The intent is durable; without its outcome the replayer treats it as unknown and
    // repairs the touched ids from the source. The source already answered, so the client
    // gets that answer rather than an error for a write that did happen.
    ctx.logger.warn(
      { err, intentSeq: intent.seq, outcome },
      'could not log a write outcome; replay will repair from the source',
    )
  } finally {
    end()
  }
}
