import { setTimeout as sleep } from 'node:timers/promises'
import { E, VecshiftError } from '../errors.js'
import type { Logger } from '../logger.js'
import { backoffMs } from '../retry.js'
import type { StoredVector, VectorStore } from '../stores/contract.js'
import type { LogEntry, Position, WriteLog } from '../writelog/contract.js'
import { Batch, RecordRefused, refusal } from './batch.js'
import type { DirtySet } from './dirty.js'
import { IntentTracker, type Intent, type Released } from './intents.js'
import type { ReplayCounts, ReplayFailure, ReplayStatus } from './status.js'

// The replayer: reads the write log from its checkpoint and applies it to the target.
//
// Intents are released in log order once their outcome is known (intents.ts); released
// writes about ids are coalesced into a batch (batch.ts); writes by filter and delete-all are
// applied alone, after the batch before them, so their order against every other write is
// kept. For each batch: its ids go durably into the dirty set, the batch is applied, and only
// then the checkpoint moves past it. A crash anywhere re-applies at most that one batch, and
// every change in it is idempotent.
//
// - outcome ok: applied;
// - outcome failed: skipped (the source refused it; docs/architecture.md invariant 2);
// - outcome unknown or never logged: the ids it named are read again from the source and the
//   target gets what the source holds (or loses them if the source has none). A write by
//   filter cannot be re-read that way: it is applied (the source most likely applied it, as
//   an unknown outcome is an answer lost after the request was sent), counted as uncertain
//   and reported, so the operator can verify that namespace before the cutover.
//
// Target errors are retried (the store adapters back off within their own deadline, and a
// following replayer keeps trying after that); a write is never skipped. Lag grows and shows.

export interface ReplayOptions {
  readonly log: WriteLog
  readonly target: VectorStore
  /** Where intents without an outcome are re-read; required unless dryRun. */
  readonly source?: VectorStore
  /** The log consumer whose checkpoint this replayer reads and moves. */
  readonly consumer: string
  /** Start after this position instead of the checkpoint. */
  readonly from?: Position
  /** Stop once everything up to this position is applied. */
  readonly until?: Position
  /** Apply only this namespace's writes. */
  readonly namespace?: string
  /** Keep following the log; otherwise stop at its current end. */
  readonly follow: boolean
  /** Print what would be applied; apply nothing, move no checkpoint. */
  readonly dryRun: boolean
  readonly batchSize: number
  readonly lingerMs: number
  readonly outcomeWaitMs: number
  readonly concurrency: number
  readonly dirty?: DirtySet
  /** Called after every batch and at least every second while following. */
  readonly onStatus?: (status: ReplayStatus) => void | Promise<void>
  /** Called when a fence record has been applied (everything before it is in the target). */
  readonly onFence?: (fenceId: string) => void
  /** --dry-run output, one line per change. */
  readonly print?: (line: string) => void
  readonly logger?: Logger
  readonly signal?: AbortSignal
}

export async function replay(options: ReplayOptions): Promise<ReplayStatus> {
  const { log, target, logger } = options
  if (!options.dryRun && options.source === undefined)
    throw new VecshiftError(E.INTERNAL, ['replay without a source to repair from'])
  const start = options.from ?? (await log.checkpoint(options.consumer))
  const tracker = new IntentTracker(options.outcomeWaitMs, start)
  const counts: ReplayCounts = {
    applied: 0,
    skippedFailed: 0,
    repaired: 0,
    uncertainFilterWrites: 0,
    otherNamespaces: 0,
    batches: 0,
    upserted: 0,
    deleted: 0,
    updated: 0,
    filterWrites: 0,
  }
  let batch = new Batch()
  const backlogAgeMs = Math.max(BACKLOG_AGE_MS, 10 * options.lingerMs)
  /** When the batch took its first write, and how many writes it holds (coalesced or not). */
  let batchStartedAt = 0
  let batchWrites = 0
  let committed = start
  /** The checkpoint once the batch (and everything handled before it) is applied. */
  let handledThrough = start
  let lastFence: string | undefined
  let retrying: string | undefined
  let failed: ReplayFailure | undefined
  /** Where the write being handled ends in the log (a refused write by filter is named by it). */
  let handling: Position | undefined
  let lastStatusAt = 0
  let tail: Position | undefined

  const status = async (force: boolean): Promise<ReplayStatus> => {
    const now = Date.now()
    // The tail is looked up at most once a second, and whenever the checkpoint has passed it.
    const behind = tail !== undefined && committed !== undefined && log.compare(committed, tail) > 0
    if (force || behind || now - lastStatusAt >= 1000) {
      lastStatusAt = now
      tail = await log.tail().catch(() => tail)
    }
    const oldest = tracker.oldestWaitingTs
    // A log whose positions do not count records (S3) still says when the replayer is at
    // its tail: 0 then, unknown otherwise (the cutover waits for the 0).
    const lagRecords =
      tail === undefined
        ? 0
        : log.distance
          ? log.distance(committed, tail)
          : committed !== undefined && log.compare(committed, tail) >= 0
            ? 0
            : undefined
    const s: ReplayStatus = {
      consumer: options.consumer,
      checkpoint: committed,
      tail,
      lagRecords,
      lagSeconds: lagRecords === 0 ? 0 : Math.max(0, Math.round((now - (oldest ?? now)) / 100) / 10),
      awaitingOutcome: tracker.waiting,
      counts: { ...counts },
      dirtyIds: options.dirty?.size ?? 0,
      lastFence,
      retrying,
      ...(failed ? { failed } : {}),
      updatedAt: new Date(now).toISOString(),
    }
    await options.onStatus?.(s)
    return s
  }

  /**
   * Runs a target/source step; a following replayer retries retriable failures forever.
   * `written`: the step writes logged writes to the target, and says which (the namespace,
   * and for a batch the record the target refuses when its changes are sent one by one): a
   * refusal no retry can change stops replay with that named (E.REPLAY_REFUSED), recorded
   * in the status for `vecshift status` and the cutover, never skipped.
   */
  const persist = async <T>(
    what: string,
    fn: () => Promise<T>,
    written?: (err: unknown) => Promise<{ namespace?: string; id?: string; through?: Position | undefined }>,
  ): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const out = await fn()
        if (retrying !== undefined) logger?.info({ what }, 'the target answers again; replay continues')
        retrying = undefined
        return out
      } catch (err) {
        const retriable = err instanceof VecshiftError && err.retriable
        if (written && refusal(err) && !options.signal?.aborted && !options.dryRun) {
          const { through, ...where }: { namespace?: string; id?: string; through?: Position | undefined } =
            await written(err).catch(() => ({}))
          failed = {
            what,
            ...where,
            after: committed,
            through: through ?? handledThrough,
            error: (err as Error).message,
            at: new Date().toISOString(),
          }
          const record = [
            where.namespace !== undefined ? `namespace ${JSON.stringify(where.namespace)}` : undefined,
            where.id !== undefined ? `id ${JSON.stringify(where.id)}` : undefined,
          ]
            .filter(Boolean)
            .join(', ')
          logger?.error({ err, failed }, 'the target refused a logged write for good; replay stops before it')
          await status(true).catch(() => undefined)
          throw new VecshiftError(
            E.REPLAY_REFUSED,
            [
              target.label,
              `${what}${record ? `: ${record}` : ''}`,
              committed ?? '(the start)',
              failed.through ?? '(the start)',
              (err as Error).message,
            ],
            { cause: err },
          )
        }
        if (!options.follow || !retriable || options.signal?.aborted) throw err
        retrying = (err as Error).message
        const delay = Math.max(250, backoffMs(attempt, { baseMs: 500, maxMs: 5_000, deadlineMs: Infinity }))
        logger?.warn({ err, what, delayMs: delay }, 'replay step failed; retrying (lag grows)')
        await status(true)
        await sleep(delay, undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined)
        if (options.signal?.aborted) throw err
      }
    }
  }

  /** Applies the batch (its ids durably in the dirty set first), then moves the checkpoint. */
  const flush = async (): Promise<void> => {
    const checkpoint = handledThrough
    if (batch.size > 0) {
      if (options.dryRun) {
        for (const { namespace, id, change } of batch.describe())
          print({
            op: change.kind === 'put' ? 'upsert' : change.kind,
            namespace,
            id,
            ...(change.kind === 'put'
              ? summary(change.vector)
              : change.kind === 'update'
                ? {
                    values: change.values !== undefined,
                    sparseValues: change.sparseValues !== undefined,
                    setMetadata: change.setMetadata,
                  }
                : {}),
          })
      } else {
        if (options.dirty) {
          for (const [ns, id] of batch.ids()) options.dirty.addId(ns, id)
          await options.dirty.sync()
        }
        const done = await persist(
          'apply a batch',
          () => batch.apply(target, options.concurrency),
          async (err) => (err instanceof RecordRefused ? { namespace: err.namespace, id: err.id } : {}),
        )
        counts.upserted += done.upserted
        counts.deleted += done.deleted
        counts.updated += done.updated
        counts.batches++
      }
      batch = new Batch()
    }
    batchWrites = 0
    if (!options.dryRun && checkpoint !== undefined && checkpoint !== committed) {
      await persist('save the checkpoint', () => log.commit(options.consumer, checkpoint))
      committed = checkpoint
      await status(false)
    }
  }

  const print = (change: Record<string, unknown>) => options.print?.(JSON.stringify(change))

  /** A write that names no ids (by filter, delete all): after the batch before it, alone. */
  const applyAlone = async (intent: Intent, uncertain: boolean): Promise<void> => {
    await flush()
    const ns = intent.namespace
    if (options.dryRun) {
      print({
        op: intent.op,
        namespace: ns,
        ...(intent.op === 'update'
          ? { filter: intent.filter, setMetadata: intent.setMetadata }
          : intent.op === 'delete' && intent.deleteAll
            ? { deleteAll: true }
            : { filter: (intent as { filter?: unknown }).filter }),
        ...(uncertain ? { uncertain: true } : {}),
      })
      return
    }
    if (options.dirty) {
      const mark = uncertain ? { uncertain: true as const } : {}
      options.dirty.addWhole(
        intent.op === 'delete' && intent.deleteAll
          ? { namespace: ns, deleteAll: true, ...mark }
          : { namespace: ns, filter: (intent as { filter: Record<string, unknown> }).filter, ...mark },
      )
      await options.dirty.sync()
    }
    await persist(
      `apply ${intent.op} by ${intent.op === 'delete' && intent.deleteAll ? 'deleteAll' : 'filter'}`,
      async () => {
        if (intent.op === 'update')
          await target.update(ns, {
            filter: intent.filter as Record<string, unknown>,
            setMetadata: intent.setMetadata ?? {},
          })
        else if (intent.op === 'delete' && intent.deleteNamespace && target.deleteNamespace)
          await target.deleteNamespace(ns)
        else if (intent.op === 'delete' && intent.deleteAll) await target.delete(ns, { deleteAll: true })
        else if (intent.op === 'delete') await target.delete(ns, { filter: intent.filter as Record<string, unknown> })
      },
      async () => ({ namespace: ns, through: handling }),
    )
    counts.filterWrites++
  }

  /** A namespace created on the source (API 2025-10+): created on the target too, in order
   *  with the writes around it. */
  const applyCreateNamespace = async (ns: string, schema: Record<string, unknown> | undefined): Promise<void> => {
    await flush()
    if (options.dryRun) {
      print({ op: 'create_namespace', namespace: ns, ...(schema ? { schema } : {}) })
      return
    }
    await persist(
      'create a namespace',
      async () => {
        if (target.createNamespace) await target.createNamespace(ns, schema)
      },
      async () => ({ namespace: ns, through: handling }),
    )
  }

  /** An intent whose outcome is not known: its ids get what the source holds now. */
  const repair = async (parts: readonly Intent[]): Promise<void> => {
    const byNamespace = new Map<string, Set<string>>()
    for (const p of parts) {
      const ids = intentIds(p)
      if (ids === undefined) continue
      let set = byNamespace.get(p.namespace)
      if (!set) byNamespace.set(p.namespace, (set = new Set()))
      for (const id of ids) set.add(id)
    }
    await flush()
    for (const [ns, set] of byNamespace) {
      const ids = [...set]
      if (options.dryRun) {
        print({ op: 'repair-from-source', namespace: ns, ids })
        continue
      }
      for (const id of ids) options.dirty?.addId(ns, id)
      await options.dirty?.sync()
      const source = options.source as VectorStore
      const found = await persist('read the source to repair', () => source.fetch(ns, ids))
      const gone = ids.filter((id) => !found.has(id))
      await persist(
        'repair the target from the source',
        async () => {
          if (found.size > 0) await target.upsert(ns, [...found.values()])
          if (gone.length > 0) await target.delete(ns, { ids: gone })
        },
        async () => ({ namespace: ns, through: handling }),
      )
    }
    counts.repaired++
  }

  const handle = async (released: ReturnType<IntentTracker['release']>): Promise<void> => {
    for (const item of released) {
      if (item.kind === 'fence') {
        await flush()
        handledThrough = item.after
        lastFence = item.fence.fenceId
        await flush()
        options.onFence?.(item.fence.fenceId)
        continue
      }
      const before = batch.size
      handling = item.after
      await handleIntent(item)
      handledThrough = item.after
      if (batch.size > 0) {
        if (before === 0 && batchWrites === 0) batchStartedAt = Date.now()
        batchWrites++
      }
      // A batch goes when it holds batchSize ids or writes, or is lingerMs old: writes that
      // keep coming to a few ids must not wait for the log to go quiet. The linger applies
      // only near the log's tail: a replayer reading a backlog (its writes are older than
      // backlogAgeMs) fills whole batches, or a busy process would apply ever smaller ones
      // (each costs a dirty-set sync, target calls and a checkpoint) and fall further behind.
      // A batch is never older than MAX_BATCH_AGE_MS, backlog or not: a replayer a little
      // behind a steady stream reads every write "old" and would otherwise wait for batchSize
      // writes (many seconds at a modest rate) before applying any; the copy's settle and the
      // cutover wait on that latency. Reading a real backlog fills whole batches well within it.
      const now = Date.now()
      const age = now - batchStartedAt
      const lingered =
        batch.size > 0 && ((age >= options.lingerMs && now - writtenAt(item) < backlogAgeMs) || age >= MAX_BATCH_AGE_MS)
      if (batch.size >= options.batchSize || batchWrites >= options.batchSize || lingered) await flush()
    }
    // Every release is handled: records read since (outcomes) are behind us too.
    handledThrough = tracker.checkpoint
  }

  const handleIntent = async (item: Released): Promise<void> => {
    const parts =
      options.namespace === undefined ? item.parts : item.parts.filter((p) => p.namespace === options.namespace)
    if (parts.length === 0) {
      counts.otherNamespaces++
      return
    }
    // Refused by the source, or never sent to it: the source does not have it.
    if (item.outcome === 'failed' || item.outcome === 'unsent') {
      counts.skippedFailed++
      return
    }
    const first = parts[0] as Intent
    if (first.op === 'create_namespace') {
      // Idempotent, and harmless if the source did not create it after all (an empty
      // namespace): applied whether its outcome is ok or unknown.
      counts.applied++
      await applyCreateNamespace(first.namespace, first.schema)
      return
    }
    const byFilter = intentIds(first) === undefined
    if (item.outcome === 'unknown') {
      if (!byFilter) {
        logger?.info(
          { instance: first.instance, seq: first.seq, timedOut: item.timedOut },
          'a logged write has no known outcome; repairing its ids from the source',
        )
        await repair(parts)
        return
      }
      logger?.warn(
        { instance: first.instance, seq: first.seq, namespace: first.namespace, op: first.op },
        'a write by filter has no known outcome; applying it (the cutover compares this namespace in full)',
      )
      counts.uncertainFilterWrites++
    }
    counts.applied++
    if (byFilter) {
      await applyAlone(first, item.outcome === 'unknown')
      return
    }
    for (const p of parts) {
      if (p.op === 'upsert') batch.upsert(p.namespace, p.vectors as readonly StoredVector[])
      else if (p.op === 'delete') batch.delete(p.namespace, p.ids ?? [])
      else if (p.op === 'update') {
        batch.update(p.namespace, {
          id: p.id as string,
          ...(p.values ? { values: p.values } : {}),
          ...(p.sparseValues ? { sparseValues: p.sparseValues } : {}),
          ...(p.setMetadata ? { setMetadata: p.setMetadata } : {}),
        })
      }
    }
  }

  // The read loop. While a partial batch or held intents wait, each read races a short timer:
  // when the log stays quiet the reader is at its end, the batch is applied and missing
  // outcomes are judged by the clock.
  const reader = log
    .read({
      ...(start === undefined ? {} : { after: start }),
      follow: options.follow || options.until !== undefined,
      ...(options.signal ? { signal: options.signal } : {}),
    })
    [Symbol.asyncIterator]()
  let next: Promise<IteratorResult<LogEntry>> | undefined
  let pastUntil = false
  try {
    for (;;) {
      if (options.signal?.aborted) break
      next ??= reader.next()
      const waiting = batch.size > 0 || tracker.waiting > 0
      const quietMs = batch.size > 0 ? options.lingerMs : 1000
      const step =
        waiting || options.follow ? await Promise.race([next, sleep(quietMs).then(() => 'quiet' as const)]) : await next
      if (step === 'quiet') {
        await handle(tracker.release(Date.now(), true))
        await flush()
        await status(false)
        if (pastUntil && tracker.waiting === 0) break
        continue
      }
      next = undefined
      if (step.done) {
        // The end of the log (not following): whatever is decided is applied; intents whose
        // outcome may still come stay for the next run.
        await handle(tracker.release(Date.now(), true))
        await flush()
        break
      }
      const entry = step.value
      if (options.until !== undefined && log.compare(entry.position, options.until) > 0) {
        // Past --until: only outcomes of intents up to it are still of interest.
        pastUntil = true
        if (entry.record.op === 'outcome') tracker.offerOutcome(entry.record)
        await handle(tracker.release(Date.now(), false))
        if (tracker.waiting === 0) {
          await flush()
          break
        }
        continue
      }
      tracker.offer(entry)
      await handle(tracker.release(Date.now(), false))
      if (options.until !== undefined && log.compare(entry.position, options.until) === 0) {
        pastUntil = true
        if (tracker.waiting === 0) {
          await flush()
          break
        }
      }
    }
  } finally {
    await reader.return?.()
  }
  if (options.signal?.aborted && batch.size > 0) await flush()
  return status(true)
}

/** A write released this long after the gateway stamped it was read from a backlog: its
 *  outcome came long ago (a write's own round trip to the source is far shorter). */
const BACKLOG_AGE_MS = 250
/** The longest a batch waits to be applied, however far behind the replayer reads. */
const MAX_BATCH_AGE_MS = 2_000

function writtenAt(item: Released): number {
  return item.parts[0]?.ts ?? 0
}

/** The ids a write names, or undefined for one by filter or delete-all. */
function intentIds(intent: Intent): readonly string[] | undefined {
  if (intent.op === 'upsert') return intent.vectors.map((v) => v.id)
  if (intent.op === 'update') return intent.id === undefined ? undefined : [intent.id]
  if (intent.op === 'delete') return intent.ids
  return undefined
}

function summary(v: StoredVector): Record<string, unknown> {
  return {
    ...(v.values ? { dimension: v.values.length } : {}),
    ...(v.sparseValues ? { sparseEntries: v.sparseValues.indices.length } : {}),
    ...(v.metadata ? { metadata: v.metadata } : {}),
  }
}
