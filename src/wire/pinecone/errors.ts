// Errors in Pinecone's own shapes. The emulator stands in for Pinecone, and the gateway
// refuses malformed writes exactly as Pinecone would, so both answer the way Pinecone does
// (never with vecshift's VECSHIFT_ERR_* codes, which are for the gateway's own failures):
// the data plane answers
// gRPC-style `{"code":<int>,"message","details":[]}` (rpcStatus), the control plane
// `{"error":{"code":"<NAME>","message"},"status":<http>}` (ErrorResponse).

/** gRPC status codes used in data-plane bodies. */
export const GrpcCode = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const

export class PineconeError extends Error {
  readonly status: number
  readonly body: unknown

  constructor(status: number, body: unknown, message: string) {
    super(message)
    this.name = 'PineconeError'
    this.status = status
    this.body = body
  }
}

/** A data-plane error (rpcStatus body). */
export function dataError(status: number, code: number, message: string): PineconeError {
  return new PineconeError(status, { code, message, details: [] }, message)
}

/** 400 INVALID_ARGUMENT on the data plane: the most common answer to a bad request. */
export function invalidArgument(message: string): PineconeError {
  return dataError(400, GrpcCode.INVALID_ARGUMENT, message)
}

/** A control-plane error (ErrorResponse body). */
export function controlError(status: number, code: string, message: string): PineconeError {
  return new PineconeError(status, { error: { code, message }, status }, message)
}

export function indexNotFound(name: string): PineconeError {
  return controlError(404, 'NOT_FOUND', `Index ${name} not found.`)
}

export function isPineconeError(err: unknown): err is PineconeError {
  return err instanceof PineconeError
}

/** The status-code name Pinecone's control plane uses for an HTTP status. */
export function controlCodeFor(status: number): string {
  switch (status) {
    case 400:
      return 'INVALID_ARGUMENT'
    case 401:
      return 'UNAUTHENTICATED'
    case 402:
      return 'PAYMENT_REQUIRED'
    case 403:
      return 'FORBIDDEN'
    case 404:
      return 'NOT_FOUND'
    case 409:
      return 'ALREADY_EXISTS'
    case 412:
      return 'FAILED_PRECONDITION'
    case 413:
      return 'PAYLOAD_TOO_LARGE'
    case 422:
      return 'UNPROCESSABLE_ENTITY'
    case 429:
      return 'RESOURCE_EXHAUSTED'
    case 503:
      return 'SERVICE_UNAVAILABLE'
    default:
      return status >= 500 ? 'UNKNOWN' : 'INVALID_ARGUMENT'
  }
}

/** The gRPC code grpc-gateway maps to an HTTP status (used for injected faults). */
export function grpcCodeFor(status: number): number {
  switch (status) {
    case 400:
      return GrpcCode.INVALID_ARGUMENT
    case 401:
      return GrpcCode.UNAUTHENTICATED
    case 404:
      return GrpcCode.NOT_FOUND
    case 409:
      return GrpcCode.ALREADY_EXISTS
    case 412:
      return GrpcCode.FAILED_PRECONDITION
    case 429:
      return GrpcCode.RESOURCE_EXHAUSTED
    case 501:
      return GrpcCode.UNIMPLEMENTED
    case 503:
      return GrpcCode.UNAVAILABLE
    default:
      return status >= 500 ? GrpcCode.INTERNAL : 2 /* UNKNOWN */
  }
}
