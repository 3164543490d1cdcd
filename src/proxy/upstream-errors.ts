import { E, VecshiftError } from '../errors.js'

// The one place where a failure to talk to an upstream becomes an answer for the client
// (after fastify-reply-from): no connection means 503 (retriable, with Retry-After), a
// deadline means 504, a broken response means 502. The cause is kept for the log.

const UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_CONNECT_TIMEOUT',
])
/** OpenSSL's verification failures, as Node reports them. */
const TLS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])
const TIMEOUT = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', 'ABORT_ERR'])
/** Failures that happen before a byte of the request leaves: no connection could be made,
 *  or undici refused the request itself. The upstream cannot have applied such a write. */
const NOTHING_SENT = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_INVALID_ARG',
  ...TLS,
])

/** True when `err` (as mapUpstreamError returns it, or raw) means nothing was sent. */
export function nothingSent(err: unknown): boolean {
  const cause = err instanceof VecshiftError ? err.cause : err
  const code = errorCode(cause)
  return code !== undefined && NOTHING_SENT.has(code)
}

export function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null
  if (typeof e?.code === 'string') return e.code
  if (typeof e?.cause?.code === 'string') return e.cause.code
  return undefined
}

export function mapUpstreamError(err: unknown, upstream: string, timeoutMs: number): VecshiftError {
  if (err instanceof VecshiftError) return err
  const code = errorCode(err) ?? 'unknown'
  if (TIMEOUT.has(code)) {
    return new VecshiftError(E.UPSTREAM_TIMEOUT, [upstream, timeoutMs], { cause: err, retryAfter: 1 })
  }
  // Not retriable: a certificate does not start verifying by itself.
  if (TLS.has(code)) return new VecshiftError(E.UPSTREAM_TLS, [upstream, code], { cause: err })
  if (UNAVAILABLE.has(code)) {
    return new VecshiftError(E.UPSTREAM_UNAVAILABLE, [upstream, code], { cause: err, retryAfter: 1 })
  }
  return new VecshiftError(E.UPSTREAM_PROTOCOL, [upstream, code], { cause: err, retryAfter: 1 })
}
