// The API key check. Pinecone rejects a missing or wrong key before the request reaches the
// index, with 401 and the plain-text body `Unauthorized` on every route.
import { timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'

export function keyMatches(expected: string, given: string | string[] | undefined): boolean {
  if (typeof given !== 'string') return false
  const a = Buffer.from(expected)
  const b = Buffer.from(given)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** An onRequest hook answering 401 unless `Api-Key` matches; a no-op without a key. */
export function apiKeyHook(apiKey: string | undefined) {
  return async function checkApiKey(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (apiKey === undefined || keyMatches(apiKey, req.headers['api-key'])) return
    await reply.code(401).type('text/plain; charset=utf-8').send('Unauthorized')
  }
}
