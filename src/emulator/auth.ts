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

/** An onRequest hook answering 401 unless `Api-Key` matches the key in force (it can be
 *  rotated, as in Pinecone's console: the old key is refused from then on); a no-op while
 *  there is no key. */
export function apiKeyHook(apiKey: () => string | undefined) {
  return async function checkApiKey(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const expected = apiKey()
    if (expected === undefined || keyMatches(expected, req.headers['api-key'])) return
    await reply.code(401).type('text/plain; charset=utf-8').send('Unauthorized')
  }
}
