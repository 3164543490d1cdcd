import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { E, VecshiftError, vxError } from '../errors.js'

// Answers in the two error shapes Pinecone uses, so the official SDKs read our messages:
// data plane `{"code":<grpc>,"message","details":[]}`, control plane
// `{"error":{"code":"NOT_FOUND","message"},"status":404}`, and plain-text 401 `Unauthorized`.

const CONTROL_CODES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  501: 'UNIMPLEMENTED',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
}

export type ErrorShape = 'data' | 'control'

export function toVecshiftError(err: unknown): VecshiftError {
  if (err instanceof VecshiftError) return err
  // Fastify's own errors (FST_ERR_CTP_*, bad URL, request timeout) carry a statusCode.
  const e = err as { statusCode?: unknown; message?: unknown; code?: unknown }
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    if (e.statusCode === 413)
      return new VecshiftError(E.BODY_TOO_LARGE, ['more than the allowed', 'the configured'], { cause: err })
    const wrapped = new VecshiftError(E.BAD_REQUEST, [String(e.message ?? 'bad request')], { cause: err })
    Object.defineProperty(wrapped, 'statusCode', { value: e.statusCode })
    return wrapped
  }
  return new VecshiftError(E.INTERNAL, [String(e?.message ?? err)], { cause: err })
}

export function sendError(reply: FastifyReply, error: VecshiftError, shape: ErrorShape): FastifyReply {
  reply.code(error.statusCode)
  if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter))
  reply.header('x-vecshift-error', error.code)
  // An oversized body may still be arriving, or a large one refused before it was read (401,
  // 429): closing is cheaper than reading it all, and a client that never sends the rest of
  // what it declared would otherwise hold the connection. A small one is read and dropped by
  // Node, so the connection stays usable (closing under a client still writing would give it
  // EPIPE instead of the answer).
  if (error.statusCode === 413 || largeUnreadBody(reply.request.raw)) reply.header('connection', 'close')
  if (error.code === E.UNAUTHORIZED.code) return reply.type('text/plain; charset=utf-8').send('Unauthorized')
  reply.type('application/json; charset=utf-8')
  if (shape === 'control') {
    return reply.send({
      error: { code: CONTROL_CODES[error.statusCode] ?? 'UNKNOWN', message: error.message },
      status: error.statusCode,
    })
  }
  return reply.send(error.toPinecone())
}

/** For a request Node's HTTP parser refused (malformed, headers too large, too slow): no
 *  Fastify request exists, so the answer is written on the socket, in the data plane's
 *  shape, and the connection closed (its stream position is unknown). */
export function writeClientError(
  err: NodeJS.ErrnoException,
  socket: Duplex,
  limits: { maxHeaderBytes: number; requestTimeoutMs: number },
): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const error =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? vxError(E.HEADERS_TOO_LARGE, limits.maxHeaderBytes)
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? vxError(E.REQUEST_TIMEOUT, limits.requestTimeoutMs)
        : vxError(E.BAD_REQUEST, `malformed HTTP request (${err.code ?? 'parse error'})`)
  const body = JSON.stringify(error.toPinecone())
  socket.end(
    `HTTP/1.1 ${error.statusCode} ${STATUS_CODES[error.statusCode] ?? ''}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Vecshift-Error: ${error.code}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  )
}

/** Bodies above this that are not read yet are not worth reading to keep a connection. */
const DRAIN_MAX_BYTES = 64 * 1024

function largeUnreadBody(req: { complete: boolean; headers: Record<string, string | string[] | undefined> }): boolean {
  if (req.complete) return false
  const declared = req.headers['content-length']
  // Chunked (no length): read and dropped like a small one; one that never ends is cut at the
  // gateway's request deadline.
  return declared !== undefined && Number(declared) > DRAIN_MAX_BYTES
}
