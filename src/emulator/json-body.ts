// Request bodies: JSON, whatever content type the client declares (Pinecone's curl examples and
// some clients omit it). Data-plane bodies over 2 MB are answered as Pinecone does, with 400
// "Request size 3MB exceeds the maximum supported size of 2MB" rather than 413, so the framework's
// own body limit is set well above that and the size is checked here.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { controlError, invalidArgument } from '../wire/pinecone/errors.js'
import { isDataPlane } from './http.js'
import { LIMITS, requestTooLarge } from '../wire/pinecone/limits.js'

/** Bodies larger than this are cut off by the framework (413) before they are read whole. */
export const HARD_BODY_LIMIT = 64 * 1024 * 1024

export function registerJsonBody(app: FastifyInstance): void {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: HARD_BODY_LIMIT },
    (req: FastifyRequest, body: Buffer, done) => {
      try {
        done(null, parse(req.url, body))
      } catch (err) {
        done(err as Error, undefined)
      }
    },
  )
}

function parse(url: string, body: Buffer): unknown {
  const data = isDataPlane(url)
  if (data && body.length > LIMITS.maxRequestBytes) throw requestTooLarge(body.length)
  if (body.length === 0) return undefined
  try {
    return JSON.parse(body.toString('utf8'))
  } catch (err) {
    // The data plane's gRPC gateway answers a body that is not JSON with INVALID_ARGUMENT.
    const detail = (err as Error).message
    if (data) throw invalidArgument(`Failed to parse the request body as JSON: ${detail}`)
    throw controlError(400, 'INVALID_ARGUMENT', `Failed to parse the request body as JSON: ${detail}`)
  }
}
