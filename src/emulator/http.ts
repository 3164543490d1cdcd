// Small HTTP helpers shared by the emulator's routes: which plane a URL belongs to, the API
// version of a request, its JSON body, and sending Pinecone-shaped answers.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { parseApiVersion, type ApiVersion } from '../wire/pinecone/api-version.js'
import {
  controlCodeFor,
  controlError,
  grpcCodeFor,
  invalidArgument,
  isPineconeError,
  PineconeError,
} from '../wire/pinecone/errors.js'

/** Data-plane requests live under /data/{index}/...; everything else is control plane. */
export const DATA_PREFIX = '/data/'

export function isDataPlane(url: string): boolean {
  return url.startsWith(DATA_PREFIX)
}

export function versionOf(req: FastifyRequest): ApiVersion {
  return parseApiVersion(req.headers['x-pinecone-api-version'])
}

/** The request body as a JSON object ({} when there is none). */
export function bodyOf(req: FastifyRequest): Record<string, unknown> {
  const b = req.body
  if (b === undefined || b === null) return {}
  if (typeof b !== 'object' || Array.isArray(b)) {
    if (isDataPlane(req.url)) throw invalidArgument('The request body must be a JSON object')
    throw controlError(
      422,
      'UNPROCESSABLE_ENTITY',
      'Failed to deserialize the JSON body into the target type: expected a JSON object',
    )
  }
  return b as Record<string, unknown>
}

/** Send JSON text that is already serialized. */
export function sendJsonText(reply: FastifyReply, status: number, text: string): FastifyReply {
  return reply.code(status).type('application/json').send(text)
}

export function sendError(reply: FastifyReply, err: PineconeError): FastifyReply {
  if (typeof err.body === 'string') return reply.code(err.status).type('text/plain; charset=utf-8').send(err.body)
  return sendJsonText(reply, err.status, JSON.stringify(err.body))
}

/** An error for `status` in the shape of the plane `url` belongs to. */
export function errorFor(url: string, status: number, message: string): PineconeError {
  const body = isDataPlane(url)
    ? { code: grpcCodeFor(status), message, details: [] }
    : { error: { code: controlCodeFor(status), message }, status }
  return new PineconeError(status, body, message)
}

/** Any thrown value as a Pinecone-shaped error (framework errors keep their status). */
export function toPineconeError(url: string, err: unknown): PineconeError {
  if (isPineconeError(err)) return err
  const e = err as { statusCode?: number; message?: string; code?: string }
  const status = typeof e?.statusCode === 'number' && e.statusCode >= 400 ? e.statusCode : 500
  const message = status >= 500 ? 'Internal server error' : (e?.message ?? 'Bad request')
  return errorFor(url, status, message)
}
