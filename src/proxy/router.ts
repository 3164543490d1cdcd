import type { MigrationRecord, Side } from '../control/record.js'
import { E, vxError } from '../errors.js'
import { CAPTURING, REVERSE_CAPTURING, type RoutingState, SHADOWING } from './routing.js'
import type { RouteKind } from './routes.js'

// Where each request goes, decided from the migration record alone, whatever carried the
// request (the REST routes, a gRPC service): reads to the read side (or a canary share to the
// other), writes held at a cutover barrier and then sent, captured or refused as the phase
// says. A newer record (flip()) takes effect for the next request, with no restart; a write
// in flight finishes where it started, and the barrier waits for it (routing.ts).

/** Where a write goes: a store, forwarded as is or captured in the log on the way. */
export type WriteRoute = 'source' | 'source-capture' | 'target' | 'target-capture'

export interface ReadRoute {
  readonly side: Side
  /** May this read also be asked of the target, to compare (shadow reads)? Only while the
   *  target follows the source, and not for a canary read (the target answers it already). */
  readonly shadowable: boolean
}

export interface RouterOptions {
  readonly migrationId: string
  /** This gateway has a write log: it can capture writes to the source. */
  readonly capturesSource: boolean
  /** It has a reverse log and a target: it can capture writes to the target. */
  readonly capturesTarget: boolean
  /** It can reach a target at all (a Pinecone index with a host, or a pgvector store). */
  readonly hasTarget: boolean
}

/** A request of this route: its kind, and how a refusal names it. */
export interface RoutedRequest {
  readonly kind: RouteKind
  /** e.g. "POST /bulk/imports". */
  readonly label: string
}

export class Router {
  constructor(
    readonly state: RoutingState,
    readonly options: RouterOptions,
  ) {}

  get record(): MigrationRecord {
    return this.state.record
  }

  /** Takes a newer record (the flip, or any change); answers whether it changed anything. */
  flip(record: MigrationRecord): boolean {
    return this.state.set(record)
  }

  read(): ReadRoute {
    const { routing, phase } = this.state.record
    const canary = routing.canaryPercent > 0 && Math.random() * 100 < routing.canaryPercent
    const side: Side = canary ? (routing.reads === 'source' ? 'target' : 'source') : routing.reads
    if (side === 'target' && !this.options.hasTarget) throw noTarget()
    return { side, shadowable: side === 'source' && !canary && SHADOWING.has(phase) }
  }

  /** Admits a write (held while a cutover barrier holds writes, bounded), decides where it
   *  goes, runs `send` there and counts it finished, however it ends. */
  async write<T>(request: RoutedRequest, send: (route: WriteRoute) => Promise<T>): Promise<T> {
    await this.state.admitWrite()
    try {
      return await send(this.#writeRoute(request))
    } finally {
      this.state.finishWrite()
    }
  }

  #writeRoute(request: RoutedRequest): WriteRoute {
    const { phase, routing } = this.state.record
    const { migrationId } = this.options
    if (routing.writes === 'target') {
      if (!this.options.hasTarget) throw noTarget()
      if (REVERSE_CAPTURING.has(phase) && this.options.capturesTarget) {
        if (request.kind === 'write') return 'target-capture'
        if (request.kind === 'uncapturable-write')
          throw vxError(E.CAPTURE_UNSUPPORTED, request.label, migrationId, phase)
      }
      return 'target'
    }
    if (CAPTURING.has(phase)) {
      if (request.kind === 'uncapturable-write') throw vxError(E.CAPTURE_UNSUPPORTED, request.label, migrationId, phase)
      if (!this.options.capturesSource)
        throw vxError(
          E.CONFIG_INVALID,
          `migration phase ${phase} captures writes, and this gateway has no write log (writelog.*); restart it with one`,
        )
      return 'source-capture'
    }
    return 'source'
  }
}

function noTarget() {
  return vxError(
    E.CONFIG_INVALID,
    'target: routing sends requests to the target, but the config names no Pinecone target with a host nor a ' +
      'pgvector target',
  )
}
