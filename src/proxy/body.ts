import type { Readable } from 'node:stream'

/** A request body in one buffer: the gateway's content-type parser leaves bodies with a
 *  declared length as streams (forwarded as they arrive), and the paths that must read a
 *  body (capture, the store plane) collect them here. */
export async function readBody(body: Readable | Buffer | undefined): Promise<Buffer> {
  if (body === undefined) return Buffer.alloc(0)
  if (Buffer.isBuffer(body)) return body
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
