import { setTimeout as sleep } from 'node:timers/promises'
import { E, VecshiftError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import type { VectorStore } from '../../stores/contract.js'
import type { CheckpointFile, CopyCheckpoint } from './checkpoint.js'
import type { CopyPlan } from './plan.js'
import type { Progress } from './progress.js'
import type { CopySummary } from './copier.js'
import { dict } from '../../dict.js'

// The collection strategy: Pinecone's own pod-to-serverless path
// (docs/copy.md, "The collection path"), driven and watched by vecshift.
//   1. save the pod-based source as a collection, wait until it is Ready;
//   2. create the serverless target from the collection, wait until it is ready;
//   3. check that the target holds as many records as the collection.
// Pinecone moves the records; vecshift makes each step resumable (the checkpoint records
// which steps are done) and bounded in time. The collection is a snapshot: writes after it
// are in the gateway's write log, and the replayer applies them (docs/copy.md).

export interface CollectionRunOptions {
  readonly migration: string
  readonly checkpoint: CheckpointFile
  readonly resumeFrom?: CopyCheckpoint
  readonly collection: {
    readonly name: string
    readonly cloud: string
    readonly region: string
    readonly deletionProtection: boolean
    readonly readyTimeoutMs: number
    readonly pollIntervalMs: number
  }
  readonly progress?: Progress
  readonly logger?: Logger
  readonly signal?: AbortSignal
}

class Interrupted extends Error {}

export async function runCollectionCopy(
  source: VectorStore,
  target: VectorStore,
  plan: CopyPlan,
  options: CollectionRunOptions,
): Promise<CopySummary> {
  const started = Date.now()
  const src = source.collections
  const dst = target.collections
  if (src === undefined || dst === undefined)
    throw new VecshiftError(E.INTERNAL, ['collection strategy without Pinecone stores'])
  const now = new Date().toISOString()
  const checkpoint: CopyCheckpoint = options.resumeFrom ?? {
    version: 1,
    migration: options.migration,
    strategy: 'collection',
    source: source.label,
    target: target.label,
    startedAt: now,
    updatedAt: now,
    namespaces: dict(),
  }
  checkpoint.collection ??= { name: options.collection.name, created: false, indexCreated: false }
  const step = checkpoint.collection
  const name = step.name
  const { logger } = options
  let phase = 'saving collection'
  let done = 0
  let total = plan.total
  const retries = () => source.counters.retries + target.counters.retries
  options.progress?.start(() => ({ done, total, retries: retries(), phase }))

  try {
    // 1. The collection.
    if (!step.created) {
      const outcome = await src.createCollection(name)
      if (outcome === 'exists' && options.resumeFrom === undefined) {
        throw new VecshiftError(E.COPY_REFUSED, [
          `a collection named ${name} exists already and may be an older snapshot of the source; ` +
            'delete it, or set copy.collection.name to another name',
        ])
      }
      logger?.info(
        { collection: name, outcome },
        outcome === 'created'
          ? 'saving the source as a collection'
          : 'the collection exists already (from the interrupted copy)',
      )
      step.created = true
      await options.checkpoint.save(checkpoint)
    }
    const collection = await waitFor(options, `collection ${name} to become Ready`, async () => {
      const c = await src.describeCollection(name)
      if (c === undefined)
        throw stopped(
          `collection ${name} disappeared while it was being saved; run the copy again without --resume ` +
            `(delete ${options.checkpoint.path})`,
        )
      return c.status === 'Ready' ? c : undefined
    })
    const expected = collection.vectorCount ?? plan.total
    total = expected
    checkpoint.total = expected
    logger?.info({ collection: name, records: expected }, 'the collection is ready')

    // 2. The serverless index from it.
    phase = 'restoring index'
    if (!step.indexCreated) {
      const outcome = await dst.createFromCollection({
        collection: name,
        dimension: plan.source.dimension,
        metric: plan.source.metric,
        cloud: options.collection.cloud,
        region: options.collection.region,
        deletionProtection: options.collection.deletionProtection,
      })
      if (outcome === 'exists' && options.resumeFrom === undefined) {
        throw new VecshiftError(E.COPY_REFUSED, [
          `the ${target.label} appeared while the collection was being saved; delete it, or copy into it with an ids file`,
        ])
      }
      logger?.info(
        { collection: name, target: target.label, outcome },
        'creating the serverless target from the collection',
      )
      step.indexCreated = true
      await options.checkpoint.save(checkpoint)
    }
    await waitFor(options, `the ${target.label} to become ready`, async () => {
      const r = await dst.readiness()
      if (r === undefined)
        throw stopped(
          `the ${target.label} disappeared while it was being restored; delete ${options.checkpoint.path} and run the copy again`,
        )
      return r.ready ? r : undefined
    })

    // 3. Counts. Serverless statistics trail writes by a little, so give them a moment.
    phase = 'checking counts'
    const settle = {
      ...options,
      collection: {
        ...options.collection,
        readyTimeoutMs: Math.min(
          options.collection.readyTimeoutMs,
          Math.max(60_000, options.collection.pollIntervalMs * 12),
        ),
      },
    }
    let namespaces: Array<{ namespace: string; copied: number }> = []
    try {
      await waitFor(settle, 'the restored record count to match the collection', async () => {
        const stats = await target.stats()
        namespaces = stats.map((s) => ({ namespace: s.namespace, copied: s.vectorCount }))
        done = namespaces.reduce((n, s) => n + s.copied, 0)
        return done === expected ? true : undefined
      })
    } catch (err) {
      if (!(err instanceof VecshiftError && err.code === E.COPY_COLLECTION.code)) throw err
      throw stopped(
        `the ${target.label} holds ${done} records and collection ${name} ${expected}; ` +
          'check both in the Pinecone console before going on (vecshift verify compares records)',
      )
    }
    for (const ns of namespaces) checkpoint.namespaces[ns.namespace] = { done: true, copied: ns.copied }
    checkpoint.finishedAt = new Date().toISOString()
    await options.checkpoint.save(checkpoint)
    options.progress?.stop({ done, total, retries: retries() })
    return summary(false)
  } catch (err) {
    options.progress?.stop({ done, total, retries: retries(), phase })
    if (err instanceof Interrupted) return summary(true)
    throw err
  }

  function summary(interrupted: boolean): CopySummary {
    const durationMs = Date.now() - started
    const namespaces = Object.entries(checkpoint.namespaces)
      .map(([namespace, p]) => ({ namespace, copied: p.copied }))
      .sort((a, b) => (a.namespace < b.namespace ? -1 : 1))
    const copied = namespaces.reduce((n, s) => n + s.copied, 0)
    return {
      strategy: 'collection',
      resumed: options.resumeFrom !== undefined,
      interrupted,
      namespaces,
      copied,
      missing: 0,
      durationMs,
      perSecond: durationMs > 0 ? Math.round((copied / durationMs) * 1000) : copied,
      retries: { source: source.counters.retries, target: target.counters.retries },
      checkpoint: options.checkpoint.path,
    }
  }
}

function stopped(why: string): VecshiftError {
  return new VecshiftError(E.COPY_COLLECTION, [why])
}

/** Polls `check` until it answers, within copy.collection.readyTimeoutMs; Ctrl-C stops it. */
async function waitFor<T>(
  options: CollectionRunOptions,
  what: string,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + options.collection.readyTimeoutMs
  for (;;) {
    if (options.signal?.aborted) throw new Interrupted()
    const answer = await check()
    if (answer !== undefined) return answer
    if (Date.now() >= deadline) {
      throw stopped(
        `waited ${Math.round(options.collection.readyTimeoutMs / 1000)} s for ${what}; ` +
          'Pinecone may still be working: run the same command with --resume to keep waiting ' +
          '(copy.collection.readyTimeoutMs sets the bound)',
      )
    }
    try {
      await sleep(
        Math.min(options.collection.pollIntervalMs, Math.max(0, deadline - Date.now())),
        undefined,
        options.signal ? { signal: options.signal } : {},
      )
    } catch {
      throw new Interrupted()
    }
  }
}
