import type { Config, PineconeStoreConfig } from '../config/schema.js'
import type { Side } from '../control/record.js'
import { E, VecshiftError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { VectorStore } from '../stores/contract.js'
import type { IndexShape } from '../wire/pinecone/write-requests.js'
import { describeSourceIndex } from './index-shape.js'
import type { Primary } from './readiness.js'
import { StorePlane } from './store-plane.js'
import { TargetShape } from './target-shape.js'
import { Upstream } from './upstream.js'

// The two sides of the migration as the gateway reaches them: the source index (its data
// plane and its control plane, over HTTP), and the target: a Pinecone index reached the same
// way, or a pgvector store answered through the store plane.

export interface Sides {
  readonly source: Upstream
  readonly sourceControl: Upstream
  readonly sourceConfig: PineconeStoreConfig
  /** A Pinecone target with a host. */
  readonly target: Upstream | undefined
  readonly targetControl: Upstream | undefined
  /** A pgvector target, and its store plane. */
  readonly targetStore: VectorStore | undefined
  readonly plane: StorePlane | undefined
  /** The target's shape, when there is a target to describe. */
  readonly targetShape: TargetShape | undefined
  /** Every pool, for shutdown. */
  readonly upstreams: readonly Upstream[]
}

export function openSides(config: Config, targetStore: VectorStore | undefined, logger: Logger): Sides {
  const source = sourceConfig(config)
  const { gateway } = config
  const pool = (name: string, url: string, tlsVerify: boolean) =>
    new Upstream({ ...gateway.upstream, tlsVerify, name, url })
  // Reads and writes go to the target once routing says so (a Pinecone target with a host).
  const t = config.target?.type === 'pinecone' && config.target.host !== undefined ? config.target : undefined
  const target = t ? pool('target', t.host as string, t.tlsVerify) : undefined
  const targetControl = t ? pool('target-control', t.controllerHost, t.tlsVerify) : undefined
  const store = config.target?.type === 'pgvector' ? targetStore : undefined
  const targetShape = store
    ? new TargetShape(async () => {
        const d = await store.describe()
        return { name: d.name, dimension: d.dimension, metric: d.metric, vectorType: d.vectorType }
      })
    : t && targetControl
      ? new TargetShape(() =>
          describeSourceIndex(
            targetControl,
            t.index,
            (config.secrets.targetApiKey ?? config.secrets.sourceApiKey) as string,
            logger,
            2,
          ),
        )
      : undefined
  const sides = {
    source: pool('source', source.host as string, source.tlsVerify),
    sourceControl: pool('source-control', source.controllerHost, source.tlsVerify),
    sourceConfig: source,
    target,
    targetControl,
    targetStore: store,
    plane: store && targetShape ? new StorePlane(store, () => targetShape.describe()) : undefined,
    targetShape,
  }
  return {
    ...sides,
    upstreams: [sides.source, sides.sourceControl, target, targetControl].filter((u): u is Upstream => u !== undefined),
  }
}

function sourceConfig(config: Config): PineconeStoreConfig {
  if (config.source.type !== 'pinecone') {
    // Serving Pinecone's API from a pgvector source means translating every call; the
    // gateway forwards bytes to a Pinecone index and does not do that yet.
    throw new VecshiftError(E.CONFIG_INVALID, [
      `source.type: the gateway needs a Pinecone source (got ${config.source.type}); ` +
        'pgvector can be a copy source or target',
    ])
  }
  if (config.source.host === undefined) {
    throw new VecshiftError(E.CONFIG_INVALID, [
      "source.host: the gateway forwards to the source index's data-plane URL; set it (the `host` that " +
        'describe_index or the Pinecone console shows)',
    ])
  }
  return config.source
}

/**
 * Writes are checked against the index they go to before anything is logged, so the shapes
 * are needed before the first request: the source's when its writes are captured (returned),
 * the target's when writes to it can be. Before the copy the target may not exist yet (a
 * pgvector table, or an index the copy creates from a collection): it is then described when
 * routing reaches it.
 */
export async function describeIndexes(
  sides: Sides,
  config: Config,
  needs: { readonly source: boolean; readonly target: boolean },
  logger: Logger,
): Promise<IndexShape | undefined> {
  const { targetShape, targetStore } = sides
  if (targetShape && (targetStore || needs.target)) {
    await targetShape.describe().catch((err: unknown) => {
      if (!(err instanceof VecshiftError && err.code === E.STORE_NOT_FOUND.code)) throw err
      const index = config.target?.type === 'pinecone' ? config.target.index : undefined
      logger.info(
        { target: targetStore?.label ?? index },
        'the target does not exist yet; it is described when routing reaches it',
      )
    })
  }
  if (!needs.source) return undefined
  const key = config.secrets.sourceApiKey as string
  return describeSourceIndex(sides.sourceControl, sides.sourceConfig.index, key, logger)
}

/** The side that takes writes now, as readiness probes it: the source, or the target after a
 *  cutover (its adapter's connection for pgvector). */
export function primaryOf(sides: Sides, config: Config, writes: Side): Primary {
  const { secrets } = config
  if (writes === 'target') {
    if (sides.targetStore) return { kind: 'store', store: sides.targetStore }
    if (sides.target)
      return { kind: 'upstream', upstream: sides.target, apiKey: secrets.targetApiKey ?? secrets.sourceApiKey }
  }
  return { kind: 'upstream', upstream: sides.source, apiKey: secrets.sourceApiKey }
}

/** Where passthrough auth confirms a client's key: the index that takes it, the source or,
 *  once writes go to it, a Pinecone target reached with the clients' own keys. */
export function keyAuthority(sides: Sides, config: Config, writes: Side): Upstream {
  return sides.target && config.secrets.targetApiKey === undefined && writes === 'target' ? sides.target : sides.source
}

/** Closes the pools once their requests are done; one still sending a body its client
 *  abandoned would hold them open, so past `deadlineMs` they are destroyed. */
export async function closeSides(sides: Sides, deadlineMs: number): Promise<void> {
  const closing = Promise.allSettled(sides.upstreams.map((u) => u.close()))
  const late = setTimeout(() => {
    for (const u of sides.upstreams) void u.destroy().catch(() => undefined)
  }, deadlineMs)
  late.unref()
  await closing
  clearTimeout(late)
}
