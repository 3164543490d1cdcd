import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { UpstreamHeaders } from './upstream.js'
import { dict } from '../dict.js'

// Hop-by-hop headers (RFC 9110 section 7.6.1) belong to one connection and are never
// forwarded; `host` is rewritten by the client pool for the upstream origin.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  // `Expect: 100-continue` (curl sends it by itself for bodies over 1 MiB) is between the
  // client and the gateway: Node answers 100 Continue before the body is read, and the
  // gateway sends the upstream a whole body (undici refuses the header outright).
  'expect',
])

/** Request headers for the upstream. `apiKey` replaces the client's key when the gateway
 *  holds its own (auth mode `keys`); undefined leaves the client's key untouched. */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, apiKey: string | undefined): UpstreamHeaders {
  const out = dict() as UpstreamHeaders
  for (const name in incoming) {
    if (HOP_BY_HOP.has(name)) continue
    const value = incoming[name]
    if (value !== undefined) out[name] = value
  }
  if (apiKey !== undefined) out['api-key'] = apiKey
  return out
}

/** Response headers for the client: everything but the hop-by-hop ones, so status,
 *  content-type, content-encoding, retry-after and Pinecone's own x-pinecone-* survive. */
export function clientResponseHeaders(upstream: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const out = dict() as OutgoingHttpHeaders
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name)) continue
    const value = upstream[name]
    if (value !== undefined) out[name] = value
  }
  return out
}
