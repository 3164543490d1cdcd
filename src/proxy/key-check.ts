import type { Config } from '../config/schema.js'
import { createHash } from 'node:crypto'
import { E, VecshiftError, vxError } from '../errors.js'
import type { Upstream } from './upstream.js'

// In auth mode `passthrough` the gateway holds no list of keys: the source decides who may
// use the index. Forwarding alone would let the source decide too late for a capturing
// gateway, which parses, validates and durably logs a write before it forwards it: an
// anonymous client could learn the index's shape from validation errors and fill the log's
// disk with intents whose outcome is "401". So each distinct key is confirmed once with a
// cheap authenticated read of the index (describe_index_stats, which every index type and
// every data-plane key role can call), and the verdict is cached:
// - keyed by a SHA-256 digest of the key, never the key itself;
// - good verdicts for `ttlMs`, refusals for `refusedTtlMs` (a refusal is cached too, or a
//   flood of one bad key would be a flood of probes at the source);
// - at most `maxEntries` verdicts (the oldest go first), so a flood of distinct bad keys
//   costs bounded memory; at most `maxConcurrent` probes at once, so it costs the source a
//   bounded number of requests; concurrent first requests with one key share one probe;
// - a probe that gets no usable answer confirms nothing, and the request is never let
//   through: no answer at all is the upstream error a forwarded request would get (503
//   UPSTREAM_UNAVAILABLE, 504, 502 UPSTREAM_TLS); an answer that says nothing of the key
//   (5xx, 429, the index gone) is 503 AUTH_UNAVAILABLE.
// The cost is one round trip to the source on a key's first request (and once per ttlMs).
// An upstream that answers 401 to a forwarded request with a cached key drops the verdict
// at once, so a revoked key stops being trusted at its next request or within ttlMs.

export interface KeyCheckOptions {
  readonly ttlMs: number
  readonly refusedTtlMs: number
  readonly maxEntries: number
  readonly maxConcurrent: number
  /** The data plane that decides (the source, or the target once it is primary and takes
   *  the clients' keys). A change of authority keeps the verdicts: emptying the cache at a
   *  cutover would send every client's key to be checked at once, inside the write pause,
   *  and a key the new side does not take is dropped at its first refused request anyway. */
  readonly authority: () => Upstream
  readonly now?: () => number
  /** Told the result of every probe (metrics). */
  readonly onProbe?: (result: 'confirmed' | 'refused' | 'unavailable') => void
}

interface Verdict {
  readonly ok: boolean
  readonly until: number
}

export class KeyCheck {
  readonly #options: KeyCheckOptions
  readonly #now: () => number
  readonly #verdicts = new Map<string, Verdict>()
  readonly #probes = new Map<string, Promise<boolean>>()

  constructor(options: KeyCheckOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
  }

  /** A check with the gateway's auth settings (gateway.auth). */
  static configured(
    auth: Config['gateway']['auth'],
    authority: KeyCheckOptions['authority'],
    onProbe: NonNullable<KeyCheckOptions['onProbe']>,
  ): KeyCheck {
    return new KeyCheck({
      ttlMs: auth.cacheTtlMs,
      refusedTtlMs: auth.refusedTtlMs,
      maxEntries: auth.maxCachedKeys,
      maxConcurrent: auth.maxConcurrentChecks,
      authority,
      onProbe,
    })
  }

  get size(): number {
    return this.#verdicts.size
  }

  /**
   * Confirms a presented key. Returns undefined when a cached verdict lets the request in
   * (the hot path: no allocation but the digest), or a promise for the first request of a
   * key. Throws (or rejects with) UNAUTHORIZED for a missing or refused key, and
   * AUTH_UNAVAILABLE or the upstream's own error when no verdict can be had.
   */
  confirm(key: string | string[] | undefined): Promise<void> | undefined {
    if (typeof key !== 'string' || key.length === 0) throw vxError(E.UNAUTHORIZED)
    const digest = digestOf(key)
    const verdict = this.#verdicts.get(digest)
    if (verdict !== undefined) {
      if (verdict.until > this.#now()) {
        if (verdict.ok) return undefined
        throw vxError(E.UNAUTHORIZED)
      }
      this.#verdicts.delete(digest)
    }
    let probe = this.#probes.get(digest)
    if (probe === undefined) {
      if (this.#probes.size >= this.#options.maxConcurrent) {
        throw new VecshiftError(
          E.AUTH_UNAVAILABLE,
          [this.#options.authority().name, `${this.#probes.size} keys are being confirmed already`],
          { retryAfter: 1 },
        )
      }
      probe = this.#probe(this.#options.authority(), key, digest).finally(() => this.#probes.delete(digest))
      this.#probes.set(digest, probe)
    }
    return probe.then((ok) => {
      if (!ok) throw vxError(E.UNAUTHORIZED)
    })
  }

  /** The upstream refused this key on a forwarded request: forget that it was good. */
  refused(key: string | string[] | undefined): void {
    if (typeof key !== 'string' || key.length === 0) return
    const digest = digestOf(key)
    if (this.#verdicts.get(digest)?.ok) this.#verdicts.delete(digest)
  }

  async #probe(authority: Upstream, key: string, digest: string): Promise<boolean> {
    let status: number
    try {
      const res = await authority.request(
        'POST',
        '/describe_index_stats',
        { 'api-key': key, 'content-type': 'application/json' },
        '{}',
      )
      status = res.statusCode
      await res.body.dump()
    } catch (err) {
      // No answer at all: the same error a forwarded request would get (503 unreachable, 504
      // timeout, 502 a certificate that does not verify), which says what to fix.
      this.#options.onProbe?.('unavailable')
      throw err
    }
    // Pinecone checks the key before anything else: 401 (and 403, a key of another project)
    // is a refusal; 2xx, or any other 4xx about the request itself, got past the check. An
    // index that is gone (404), rate limiting and server errors say nothing about the key.
    if (status === 401 || status === 403) {
      this.#options.onProbe?.('refused')
      this.#remember(digest, false)
      return false
    }
    if (status === 404 || status === 408 || status === 429 || status >= 500) {
      this.#options.onProbe?.('unavailable')
      throw new VecshiftError(E.AUTH_UNAVAILABLE, [authority.name, `it answered ${status}`], { retryAfter: 1 })
    }
    this.#options.onProbe?.('confirmed')
    this.#remember(digest, true)
    return true
  }

  #remember(digest: string, ok: boolean): void {
    // Insertion order is age: the oldest verdict is the first key of the map.
    this.#verdicts.delete(digest)
    this.#verdicts.set(digest, { ok, until: this.#now() + (ok ? this.#options.ttlMs : this.#options.refusedTtlMs) })
    while (this.#verdicts.size > this.#options.maxEntries) {
      this.#verdicts.delete(this.#verdicts.keys().next().value as string)
    }
  }
}

function digestOf(key: string): string {
  return createHash('sha256').update(key).digest('base64')
}
