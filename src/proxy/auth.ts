import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { E, vxError } from '../errors.js'
import type { KeyCheck } from './key-check.js'

// Who may use the gateway, and which key goes upstream.
// - passthrough: the client's Api-Key is forwarded; the upstream decides. The gateway asks
//   it once per key before it lets a request of that key in (key-check.ts).
// - keys: the client must present one of the gateway's accepted keys; the gateway then
//   uses its own upstream key, so clients never hold the real one.
// Either way a request is let in, or refused with 401, before anything reads its body: no
// validation detail, log record or upstream request for a key that is not confirmed.

export interface ClientAuthOptions {
  readonly mode: 'passthrough' | 'keys'
  readonly acceptedKeys: readonly string[]
  readonly upstreamKey: string | undefined
  /** Passthrough mode: confirms keys with the upstream. Without it, passthrough trusts any
   *  present key (only for a gateway whose upstream is the only judge, e.g. a target key). */
  readonly keyCheck?: KeyCheck
}

export class ClientAuth {
  readonly mode: 'passthrough' | 'keys'
  readonly #accepted: readonly Buffer[]
  readonly #upstreamKey: string | undefined
  readonly #keyCheck: KeyCheck | undefined

  constructor(options: ClientAuthOptions) {
    this.mode = options.mode
    // Comparing fixed-length digests keeps the comparison constant-time whatever the
    // length of the presented key.
    this.#accepted = options.acceptedKeys.map(digest)
    this.#upstreamKey = options.upstreamKey
    this.#keyCheck = options.keyCheck
  }

  /**
   * Lets a request in: undefined when it may proceed now, a promise when its key is being
   * confirmed with the upstream; throws (or rejects) UNAUTHORIZED or AUTH_UNAVAILABLE.
   */
  admit(headers: IncomingHttpHeaders): Promise<void> | undefined {
    if (this.mode === 'keys') {
      if (!this.allows(headers)) throw vxError(E.UNAUTHORIZED)
      return undefined
    }
    const presented = headers['api-key']
    if (typeof presented !== 'string' || presented.length === 0) throw vxError(E.UNAUTHORIZED)
    return this.#keyCheck?.confirm(presented)
  }

  /** True when the request may proceed, as far as can be told without the upstream. */
  allows(headers: IncomingHttpHeaders): boolean {
    const presented = headers['api-key']
    if (this.mode === 'passthrough') return typeof presented === 'string' && presented.length > 0
    if (typeof presented !== 'string' || presented.length === 0) return false
    const d = digest(presented)
    let ok = false
    // No early exit: every accepted key is compared.
    for (const key of this.#accepted) ok = timingSafeEqual(key, d) || ok
    return ok
  }

  /** The upstream answered 401 to a request forwarded with the client's key: a revoked key
   *  is trusted no longer (passthrough mode). */
  upstreamRefused(headers: IncomingHttpHeaders): void {
    if (this.mode === 'passthrough') this.#keyCheck?.refused(headers['api-key'])
  }

  /** The key to send upstream instead of the client's, if any. */
  get upstreamKey(): string | undefined {
    return this.mode === 'keys' ? this.#upstreamKey : undefined
  }
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest()
}

/** For the target: the client is let in as for the source; the upstream key is the target's. */
export class TargetAuth extends ClientAuth {
  constructor(
    private readonly client: ClientAuth,
    private readonly target: ClientAuth,
  ) {
    super({ mode: client.mode, acceptedKeys: [], upstreamKey: undefined })
  }

  override allows(headers: Parameters<ClientAuth['allows']>[0]): boolean {
    return this.client.allows(headers)
  }

  override get upstreamKey(): string | undefined {
    return this.target.upstreamKey ?? this.client.upstreamKey
  }
}
