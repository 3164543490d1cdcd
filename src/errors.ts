// The one catalogue of vecshift's own errors. Every error the product raises on purpose is
// listed here with a stable code, the HTTP status a client sees, the gRPC status code used
// in Pinecone's data-plane error body, and whether retrying the same call may succeed.
// docs/errors.md is checked against this table by test/errors.test.ts.

/** gRPC status codes, as Pinecone puts them in `{"code":N,...}` data-plane error bodies. */
export const Grpc = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const

interface ErrorDef {
  readonly code: string
  readonly status: number
  readonly grpc: number
  readonly retriable: boolean
  /** Message template; `%s` placeholders are filled in order. */
  readonly message: string
}

function def(code: string, status: number, grpc: number, retriable: boolean, message: string): ErrorDef {
  return Object.freeze({ code: `VECSHIFT_ERR_${code}`, status, grpc, retriable, message })
}

export const E = Object.freeze({
  CONFIG_INVALID: def('CONFIG_INVALID', 500, Grpc.FAILED_PRECONDITION, false, 'invalid configuration: %s'),
  CONFIG_FILE: def('CONFIG_FILE', 500, Grpc.FAILED_PRECONDITION, false, 'cannot read config file %s: %s'),
  CONFIG_SECRET_IN_FILE: def(
    'CONFIG_SECRET_IN_FILE',
    500,
    Grpc.FAILED_PRECONDITION,
    false,
    '%s must not be set in the config file; secrets come only from the environment variable %s',
  ),
  CLI_USAGE: def('CLI_USAGE', 400, Grpc.INVALID_ARGUMENT, false, '%s'),

  BAD_REQUEST: def('BAD_REQUEST', 400, Grpc.INVALID_ARGUMENT, false, '%s'),
  HEADERS_TOO_LARGE: def(
    'HEADERS_TOO_LARGE',
    431,
    Grpc.INVALID_ARGUMENT,
    false,
    'the request headers are larger than %s bytes (gateway.limits.maxHeaderBytes)',
  ),
  REQUEST_TIMEOUT: def(
    'REQUEST_TIMEOUT',
    408,
    Grpc.DEADLINE_EXCEEDED,
    false,
    'the request was not received in time (within %s ms, gateway.limits.requestTimeoutMs)',
  ),
  INVALID_JSON: def('INVALID_JSON', 400, Grpc.INVALID_ARGUMENT, false, 'request body is not valid JSON: %s'),
  BODY_TOO_LARGE: def(
    'BODY_TOO_LARGE',
    413,
    Grpc.RESOURCE_EXHAUSTED,
    false,
    'request body of %s bytes exceeds the gateway limit of %s bytes (gateway.limits.maxBodyBytes)',
  ),
  UNAUTHORIZED: def('UNAUTHORIZED', 401, Grpc.UNAUTHENTICATED, false, 'Unauthorized'),
  AUTH_UNAVAILABLE: def(
    'AUTH_UNAVAILABLE',
    503,
    Grpc.UNAVAILABLE,
    true,
    'the API key could not be confirmed with the %s index (%s); nothing was forwarded or logged, retry shortly',
  ),
  ROUTE_UNMODELLED: def(
    'ROUTE_UNMODELLED',
    400,
    Grpc.FAILED_PRECONDITION,
    false,
    '%s is a write this vecshift version does not model, so it cannot be captured ' +
      'and is refused while migration "%s" is in phase %s (it was not forwarded); ' +
      'send it once the migration is finalized, or to the source directly if it must not reach the target',
  ),
  CONTROL_PLANE_REFUSED: def(
    'CONTROL_PLANE_REFUSED',
    403,
    Grpc.PERMISSION_DENIED,
    false,
    '%s %s is not allowed through the vecshift gateway while it fronts index "%s"; call the Pinecone control plane directly',
  ),
  CONTROL_PLANE_UNCONFIGURED: def(
    'CONTROL_PLANE_UNCONFIGURED',
    501,
    Grpc.UNIMPLEMENTED,
    false,
    'the gateway has no source.controllerHost configured, so it cannot answer %s %s',
  ),

  UPSTREAM_UNAVAILABLE: def(
    'UPSTREAM_UNAVAILABLE',
    503,
    Grpc.UNAVAILABLE,
    true,
    'upstream %s is unavailable (%s); retry later',
  ),
  UPSTREAM_TIMEOUT: def(
    'UPSTREAM_TIMEOUT',
    504,
    Grpc.DEADLINE_EXCEEDED,
    true,
    'upstream %s did not answer within %s ms',
  ),
  UPSTREAM_TLS: def(
    'UPSTREAM_TLS',
    502,
    Grpc.UNAVAILABLE,
    false,
    'the upstream %s presented a TLS certificate that does not verify (%s); ' +
      'fix the certificate, or trust its CA with NODE_EXTRA_CA_CERTS (tlsVerify: false is for rehearsals only)',
  ),
  UPSTREAM_PROTOCOL: def('UPSTREAM_PROTOCOL', 502, Grpc.UNAVAILABLE, true, 'upstream %s sent an invalid response (%s)'),
  WRITES_HELD: def(
    'WRITES_HELD',
    503,
    Grpc.UNAVAILABLE,
    true,
    'writes are held for a cutover (%s waiting) and this one could not wait longer: %s; retry shortly',
  ),
  SHUTTING_DOWN: def(
    'SHUTTING_DOWN',
    503,
    Grpc.UNAVAILABLE,
    true,
    'the gateway is shutting down; retry against another replica',
  ),
  TOO_MANY_REQUESTS: def(
    'TOO_MANY_REQUESTS',
    429,
    Grpc.RESOURCE_EXHAUSTED,
    true,
    'the gateway is at its limit of %s concurrent requests (gateway.limits.maxConcurrentRequests)',
  ),

  LOG_UNAVAILABLE: def(
    'LOG_UNAVAILABLE',
    503,
    Grpc.UNAVAILABLE,
    true,
    'the write log (%s) cannot make writes durable (%s); the write was not forwarded, retry later',
  ),
  LOG_BACKPRESSURE: def(
    'LOG_BACKPRESSURE',
    503,
    Grpc.UNAVAILABLE,
    true,
    'the write log (%s) has %s bytes waiting to be made durable, at its limit; the write was not forwarded, retry later',
  ),
  LOG_LOCKED: def(
    'LOG_LOCKED',
    500,
    Grpc.FAILED_PRECONDITION,
    false,
    'the write log directory %s is in use by process %s; ' +
      'only one writer may open it (stop that process, or remove %s if that process is gone)',
  ),
  LOG_CORRUPT: def('LOG_CORRUPT', 500, Grpc.DATA_LOSS, false, 'the write log is corrupt at %s: %s'),
  LOG_CLOSED: def('LOG_CLOSED', 503, Grpc.UNAVAILABLE, true, 'the write log is closed'),
  CAPTURE_UNSUPPORTED: def(
    'CAPTURE_UNSUPPORTED',
    400,
    Grpc.FAILED_PRECONDITION,
    false,
    '%s cannot be captured in the write log, so it is refused while migration "%s" is in phase %s; ' +
      'run it after the cutover, or against the source directly if it must not reach the target',
  ),
  TARGET_UNSUPPORTED: def(
    'TARGET_UNSUPPORTED',
    501,
    Grpc.UNIMPLEMENTED,
    false,
    '%s is not served while the pgvector target (%s) is primary: pgvector has no such operation; ' +
      'roll back to the source (vecshift rollback) if the application needs it',
  ),
  ADMIN_UNAUTHORIZED: def(
    'ADMIN_UNAUTHORIZED',
    401,
    Grpc.UNAUTHENTICATED,
    false,
    'admin API requires "Authorization: Bearer <token>" matching VECSHIFT_ADMIN_TOKEN',
  ),
  STORE_UNAVAILABLE: def(
    'STORE_UNAVAILABLE',
    503,
    Grpc.UNAVAILABLE,
    true,
    'the %s did not answer usably (last: %s) after %s attempts in %s s; check that it is up and reachable, then run the command again',
  ),
  STORE_REFUSED: def('STORE_REFUSED', 502, Grpc.FAILED_PRECONDITION, false, 'the %s refused %s with %s: %s'),
  STORE_AUTH: def('STORE_AUTH', 401, Grpc.UNAUTHENTICATED, false, 'the %s refused the API key (%s); check %s'),
  STORE_NOT_FOUND: def(
    'STORE_NOT_FOUND',
    404,
    Grpc.NOT_FOUND,
    false,
    'the %s does not exist at %s; check the index name and controllerHost, or create it',
  ),
  STORE_UNSUPPORTED: def('STORE_UNSUPPORTED', 400, Grpc.UNIMPLEMENTED, false, 'the %s does not support %s'),
  REPLAY_REFUSED: def(
    'REPLAY_REFUSED',
    502,
    Grpc.FAILED_PRECONDITION,
    false,
    'the %s refused a logged write for good (%s; log records after %s through %s): %s. ' +
      'Replay stops at it: the checkpoint stays before its batch, so nothing is skipped ' +
      '(other writes of that batch may be applied already; applying them again is harmless); ' +
      '`vecshift status` shows it and the cutover refuses while it stands. ' +
      'Make the target accept it (docs/replay-and-cutover.md, "A write the target refuses"), then run replay again',
  ),
  COPY_REFUSED: def('COPY_REFUSED', 400, Grpc.FAILED_PRECONDITION, false, 'the copy cannot start: %s'),
  COPY_CHECKPOINT: def('COPY_CHECKPOINT', 400, Grpc.FAILED_PRECONDITION, false, '%s'),
  COPY_COLLECTION: def('COPY_COLLECTION', 502, Grpc.FAILED_PRECONDITION, false, 'the collection copy stopped: %s'),
  CUTOVER_REFUSED: def('CUTOVER_REFUSED', 409, Grpc.FAILED_PRECONDITION, false, 'the cutover cannot start: %s'),
  CONTROL_TRANSITION: def(
    'CONTROL_TRANSITION',
    409,
    Grpc.FAILED_PRECONDITION,
    false,
    'the migration is in phase %s and cannot move to %s; from there it can move to: %s',
  ),
  REPLICA_CANNOT_FOLLOW: def(
    'REPLICA_CANNOT_FOLLOW',
    409,
    Grpc.FAILED_PRECONDITION,
    false,
    'migration %s cannot move to phase %s: gateway replica %s (pid %s on %s) has no write log and could not ' +
      'follow it; restart that replica with the writelog settings and migration.phase: capture, then this one',
  ),
  CONTROL_CONFLICT: def(
    'CONTROL_CONFLICT',
    409,
    Grpc.ABORTED,
    true,
    'the migration record changed meanwhile (epoch %s, expected %s): %s; look at `vecshift status` and try again',
  ),
  CONTROL_UNAVAILABLE: def(
    'CONTROL_UNAVAILABLE',
    503,
    Grpc.UNAVAILABLE,
    true,
    'the control store (%s) is unavailable: %s',
  ),
  INTERNAL: def('INTERNAL', 500, Grpc.INTERNAL, false, 'internal error: %s'),
})

export type ErrorName = keyof typeof E

function format(template: string, args: readonly unknown[]): string {
  let i = 0
  return template.replace(/%s/g, () => (i < args.length ? String(args[i++]) : '%s'))
}

export class VecshiftError extends Error {
  readonly code: string
  readonly statusCode: number
  readonly grpcCode: number
  readonly retriable: boolean
  /** Seconds a client should wait before retrying, sent as Retry-After. */
  retryAfter?: number

  constructor(d: ErrorDef, args: readonly unknown[] = [], options?: { cause?: unknown; retryAfter?: number }) {
    super(format(d.message, args), options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'VecshiftError'
    this.code = d.code
    this.statusCode = d.status
    this.grpcCode = d.grpc
    this.retriable = d.retriable
    if (options?.retryAfter !== undefined) this.retryAfter = options.retryAfter
  }

  /** The body Pinecone's data plane uses for errors, which the SDK knows how to read. */
  toPinecone(): { code: number; message: string; details: unknown[] } {
    return { code: this.grpcCode, message: this.message, details: [] }
  }
}

export function vxError(d: ErrorDef, ...args: unknown[]): VecshiftError {
  return new VecshiftError(d, args)
}

export function isVecshiftError(err: unknown): err is VecshiftError {
  return err instanceof VecshiftError
}
