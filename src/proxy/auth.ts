import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

// Who may use the gateway, and which key goes upstream.
// - passthrough: the client's Api-Key is forwarded; the upstream decides.
// - keys: the client must present one of the gateway's accepted keys; the gateway then
//   uses its own upstream key, so clients never hold the real one.

export interface ClientAuthOptions {
  readonly mode: 'passthrough' | 'keys'
  readonly acceptedKeys: readonly string[]
  readonly upstreamKey: string | undefined
}

export class ClientAuth {
  readonly mode: 'passthrough' | 'keys'
  readonly #accepted: readonly Buffer[]
  readonly #upstreamKey: string | undefined

  constructor(options: ClientAuthOptions) {
    this.mode = options.mode
    // Comparing fixed-length digests keeps the comparison constant-time whatever the
    // length of the presented key.
    this.#accepted = options.acceptedKeys.map(digest)
    this.#upstreamKey = options.upstreamKey
  }

  /** True when the request may proceed. */
  allows(headers: IncomingHttpHeaders): boolean {
    if (this.mode === 'passthrough') return true
    const presented = headers['api-key']
    if (typeof presented !== 'string' || presented.length === 0) return false
    const d = digest(presented)
    let ok = false
    // No early exit: every accepted key is compared.
    for (const key of this.#accepted) ok = timingSafeEqual(key, d) || ok
    return ok
  }

  /** The key to send upstream instead of the client's, if any. */
  get upstreamKey(): string | undefined {
    return this.mode === 'keys' ? this.#upstreamKey : undefined
  }
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest()
}
