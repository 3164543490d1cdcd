import { setTimeout as sleep } from 'node:timers/promises'
import { E, VecshiftError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { StoredVector, VectorStore } from '../stores/contract.js'
import type { LogEntry, Position, WriteLog } from '../writelog/contract.js'
import { touchedIds } from '../writelog/record.js'
import { Batch, RecordRefused } from './batch.js'
import type { DirtySet } from './dirty.js'
import { describeChange, describeWholeWrite } from './dry-run.js'
import { IntentTracker, type Intent, type Released, type ReleasedFence } from './intents.js'
import { lagInRecords, lagInSeconds, TailWatch } from './lag.js'
import { noCounts, type ReplayCounts, type ReplayStatus } from './status.js'
import { ReplaySteps, type RefusedWrite } from './steps.js'
import { sendWholeWrite, wholeEntry, wholeWriteStep } from './whole-writes.js'

// The replayer: reads the write log from its checkpoint and applies it to the target.
//
// Intents are released in log order once their outcome is known (intents.ts); released
// writes about ids are coalesced into a batch (batch.ts); writes by filter and delete-all are
// applied alone, after the batch before them, so their order against every other write is
// kept (whole-writes.ts). For each batch: its ids go durably into the dirty set, the batch is
// applied, and only then the checkpoint moves past it. A crash anywhere re-applies at most
// that one batch, and every change in it is idempotent.
//
// - outcome ok: applied;
// - outcome failed: skipped (the source refused it; docs/architecture.md invariant 2);
// - outcome unknown or never logged: the ids it named are read again from the source and the
//   target gets what the source holds (or loses them if the source has none). A write by
//   filter cannot be re-read that way: it is applied (the source most likely applied it, as
//   an unknown outcome is an answer lost after the request was sent), counted as uncertain
//   and reported, so the operator can verify that namespace before the cutover.
//
// Target errors are retried, and a write the target refuses for good stops replay, named
// (steps.ts); a write is never skipped. Lag grows and shows (lag.ts).

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

/** Replays the log as `options` say and answers the final status. */
export async function replay(options: ReplayOptions): Promise<ReplayStatus> {
  return (await Replayer.open(options)).run()
}

export class Replayer {
  readonly #o: ReplayOptions
  readonly #log: WriteLog
  readonly #target: VectorStore
  /** Where reading starts: after the checkpoint, or after --from. */
  readonly #start: Position | undefined
  readonly #tracker: IntentTracker
  readonly #steps: ReplaySteps
  readonly #tail: TailWatch
  readonly #counts: ReplayCounts = noCounts()
  readonly #backlogAgeMs: number
  #batch = new Batch()
  /** When the batch took its first write, and how many writes it holds (coalesced or not). */
  #batchStartedAt = 0
  #batchWrites = 0
  /** The checkpoint saved. */
  #committed: Position | undefined
  /** The checkpoint once the batch (and everything handled before it) is applied. */
  #handledThrough: Position | undefined
  /** Where the write being handled ends in the log (a refused write by filter is named by it). */
  #handling: Position | undefined
  #lastFence: string | undefined
  /** An entry at or past --until was read: stop once nothing before it waits any more. */
  #pastUntil = false

  /** Checks the options and reads where to start (the consumer's checkpoint, or --from). */
  static async open(options: ReplayOptions): Promise<Replayer> {
    if (!options.dryRun && options.source === undefined)
      throw new VecshiftError(E.INTERNAL, ['replay without a source to repair from'])
    const start = options.from ?? (await options.log.checkpoint(options.consumer))
    return new Replayer(options, start)
  }

  private constructor(options: ReplayOptions, start: Position | undefined) {
    this.#o = options
    this.#log = options.log
    this.#target = options.target
    this.#start = start
    this.#committed = start
    this.#handledThrough = start
    this.#tracker = new IntentTracker(options.outcomeWaitMs, start)
    this.#tail = new TailWatch(options.log)
    this.#backlogAgeMs = Math.max(BACKLOG_AGE_MS, 10 * options.lingerMs)
    this.#steps = new ReplaySteps({
      target: options.target,
      follow: options.follow,
      dryRun: options.dryRun,
      logger: options.logger,
      signal: options.signal,
      position: () => ({ committed: this.#committed, handledThrough: this.#handledThrough }),
      report: () => this.#writeStatus(true),
    })
  }

  /** Reads the log and applies it until its end (or --until, or the signal; or forever with
   *  follow), and answers the final status. */
  async run(): Promise<ReplayStatus> {
    const reader = this.#log
      .read({
        ...(this.#start === undefined ? {} : { after: this.#start }),
        follow: this.#o.follow || this.#o.until !== undefined,
        ...(this.#o.signal ? { signal: this.#o.signal } : {}),
      })
      [Symbol.asyncIterator]()
    try {
      await this.#readLoop(reader)
    } finally {
      await reader.return?.()
    }
    if (this.#o.signal?.aborted && this.#batch.size > 0) await this.#flush()
    return this.#writeStatus(true)
  }

  // The read loop. While a partial batch or held intents wait, each read races a short timer:
  // when the log stays quiet the reader is at its end, the batch is applied and missing
  // outcomes are judged by the clock.
  async #readLoop(reader: AsyncIterator<LogEntry>): Promise<void> {
    let next: Promise<IteratorResult<LogEntry>> | undefined
    for (;;) {
      if (this.#o.signal?.aborted) return
      next ??= reader.next()
      const step = await this.#nextOrQuiet(next)
      if (step === 'quiet') {
        if (await this.#whenQuiet()) return
        continue
      }
      next = undefined
      if (step.done) {
        await this.#atEnd()
        return
      }
      if (await this.#read(step.value)) return
    }
  }

  /** The next entry, or 'quiet' when none comes soon while something waits (or following). */
  #nextOrQuiet(next: Promise<IteratorResult<LogEntry>>): Promise<IteratorResult<LogEntry> | 'quiet'> {
    const waiting = this.#batch.size > 0 || this.#tracker.waiting > 0
    if (!waiting && !this.#o.follow) return next
    const quietMs = this.#batch.size > 0 ? this.#o.lingerMs : 1000
    return Promise.race([next, sleep(quietMs).then(() => 'quiet' as const)])
  }

  /** Nothing new for a while: what is decided (by the clock too) is applied. Answers whether
   *  replay is done. */
  async #whenQuiet(): Promise<boolean> {
    await this.#handle(this.#tracker.release(Date.now(), true))
    await this.#flush()
    await this.#writeStatus(false)
    return this.#pastUntil && this.#tracker.waiting === 0
  }

  /** The end of the log (not following): whatever is decided is applied; intents whose
   *  outcome may still come stay for the next run. */
  async #atEnd(): Promise<void> {
    await this.#handle(this.#tracker.release(Date.now(), true))
    await this.#flush()
  }

  /** One entry of the log. Answers whether replay is done (everything up to --until applied). */
  async #read(entry: LogEntry): Promise<boolean> {
    const until = this.#o.until
    if (until !== undefined && this.#log.compare(entry.position, until) > 0) {
      // Past --until: only outcomes of intents up to it are still of interest.
      this.#pastUntil = true
      if (entry.record.op === 'outcome') this.#tracker.offerOutcome(entry.record)
      await this.#handle(this.#tracker.release(Date.now(), false))
      return this.#doneIfSettled()
    }
    this.#tracker.offer(entry)
    await this.#handle(this.#tracker.release(Date.now(), false))
    if (until !== undefined && this.#log.compare(entry.position, until) === 0) {
      this.#pastUntil = true
      return this.#doneIfSettled()
    }
    return false
  }

  /** At or past --until: done (the batch applied) once no intent before it waits. */
  async #doneIfSettled(): Promise<boolean> {
    if (this.#tracker.waiting > 0) return false
    await this.#flush()
    return true
  }

  /** Handles released intents and fences in log order, applying batches as they fill. */
  async #handle(released: ReadonlyArray<Released | ReleasedFence>): Promise<void> {
    for (const item of released) {
      if (item.kind === 'fence') {
        await this.#passFence(item)
        continue
      }
      const before = this.#batch.size
      this.#handling = item.after
      await this.#handleIntent(item)
      this.#handledThrough = item.after
      if (this.#batch.size > 0) {
        if (before === 0 && this.#batchWrites === 0) this.#batchStartedAt = Date.now()
        this.#batchWrites++
      }
      if (this.#batchDue(item)) await this.#flush()
    }
    // Every release is handled: records read since (outcomes) are behind us too.
    this.#handledThrough = this.#tracker.checkpoint
  }

  /** Everything before the fence is applied and checkpointed before it is reported. */
  async #passFence(item: ReleasedFence): Promise<void> {
    await this.#flush()
    this.#handledThrough = item.after
    this.#lastFence = item.fence.fenceId
    await this.#flush()
    this.#o.onFence?.(item.fence.fenceId)
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
  #batchDue(item: Released): boolean {
    const size = this.#batch.size
    const now = Date.now()
    const age = now - this.#batchStartedAt
    const nearTail = now - writtenAt(item) < this.#backlogAgeMs
    const lingered = size > 0 && ((age >= this.#o.lingerMs && nearTail) || age >= MAX_BATCH_AGE_MS)
    return size >= this.#o.batchSize || this.#batchWrites >= this.#o.batchSize || lingered
  }

  /** One released intent: skipped, batched, applied alone, or repaired from the source. */
  async #handleIntent(item: Released): Promise<void> {
    const scope = this.#o.namespace
    const parts = scope === undefined ? item.parts : item.parts.filter((p) => p.namespace === scope)
    if (parts.length === 0) {
      this.#counts.otherNamespaces++
      return
    }
    // Refused by the source, or never sent to it: the source does not have it.
    if (item.outcome === 'failed' || item.outcome === 'unsent') {
      this.#counts.skippedFailed++
      return
    }
    const first = parts[0] as Intent
    if (first.op === 'create_namespace') {
      // Idempotent, and harmless if the source did not create it after all (an empty
      // namespace): applied whether its outcome is ok or unknown.
      this.#counts.applied++
      await this.#createNamespace(first.namespace, first.schema)
      return
    }
    const byFilter = touchedIds(first) === undefined
    if (item.outcome === 'unknown') {
      if (!byFilter) {
        this.#o.logger?.info(
          { instance: first.instance, seq: first.seq, timedOut: item.timedOut },
          'a logged write has no known outcome; repairing its ids from the source',
        )
        await this.#repair(parts)
        return
      }
      this.#o.logger?.warn(
        { instance: first.instance, seq: first.seq, namespace: first.namespace, op: first.op },
        'a write by filter has no known outcome; applying it (the cutover compares this namespace in full)',
      )
      this.#counts.uncertainFilterWrites++
    }
    this.#counts.applied++
    if (byFilter) await this.#applyAlone(first, item.outcome === 'unknown')
    else this.#addToBatch(parts)
  }

  #addToBatch(parts: readonly Intent[]): void {
    for (const p of parts) {
      if (p.op === 'upsert') this.#batch.upsert(p.namespace, p.vectors as readonly StoredVector[])
      else if (p.op === 'delete') this.#batch.delete(p.namespace, p.ids ?? [])
      else if (p.op === 'update') {
        this.#batch.update(p.namespace, {
          id: p.id as string,
          ...(p.values ? { values: p.values } : {}),
          ...(p.sparseValues ? { sparseValues: p.sparseValues } : {}),
          ...(p.setMetadata ? { setMetadata: p.setMetadata } : {}),
        })
      }
    }
  }

  /** Applies the batch (its ids durably in the dirty set first), then moves the checkpoint. */
  async #flush(): Promise<void> {
    const checkpoint = this.#handledThrough
    if (this.#batch.size > 0) {
      if (this.#o.dryRun) {
        for (const { namespace, id, change } of this.#batch.describe())
          this.#print(describeChange(namespace, id, change))
      } else await this.#applyBatch(this.#batch)
      this.#batch = new Batch()
    }
    this.#batchWrites = 0
    await this.#saveCheckpoint(checkpoint)
  }

  async #applyBatch(batch: Batch): Promise<void> {
    const { dirty } = this.#o
    if (dirty) {
      for (const [ns, id] of batch.ids()) dirty.addId(ns, id)
      await dirty.sync()
    }
    const done = await this.#steps.run(
      'apply a batch',
      () => batch.apply(this.#target, this.#o.concurrency),
      async (err) => (err instanceof RecordRefused ? { namespace: err.namespace, id: err.id } : {}),
    )
    this.#counts.upserted += done.upserted
    this.#counts.deleted += done.deleted
    this.#counts.updated += done.updated
    this.#counts.batches++
  }

  /** A write that names no ids (by filter, delete all): after the batch before it, alone. */
  async #applyAlone(intent: Intent, uncertain: boolean): Promise<void> {
    await this.#flush()
    if (this.#o.dryRun) {
      this.#print(describeWholeWrite(intent, uncertain))
      return
    }
    const { dirty } = this.#o
    if (dirty) {
      dirty.addWhole(wholeEntry(intent, uncertain))
      await dirty.sync()
    }
    await this.#steps.run(
      wholeWriteStep(intent),
      () => sendWholeWrite(this.#target, intent),
      this.#refusedIn(intent.namespace),
    )
    this.#counts.filterWrites++
  }

  /** A namespace created on the source (API 2025-10+): created on the target too, in order
   *  with the writes around it. */
  async #createNamespace(ns: string, schema: Record<string, unknown> | undefined): Promise<void> {
    await this.#flush()
    if (this.#o.dryRun) {
      this.#print({ op: 'create_namespace', namespace: ns, ...(schema ? { schema } : {}) })
      return
    }
    const target = this.#target
    await this.#steps.run(
      'create a namespace',
      async () => {
        if (target.createNamespace) await target.createNamespace(ns, schema)
      },
      this.#refusedIn(ns),
    )
  }

  /** An intent whose outcome is not known: its ids get what the source holds now. */
  async #repair(parts: readonly Intent[]): Promise<void> {
    const byNamespace = idsByNamespace(parts)
    await this.#flush()
    for (const [ns, ids] of byNamespace) {
      if (this.#o.dryRun) this.#print({ op: 'repair-from-source', namespace: ns, ids })
      else await this.#repairFromSource(ns, ids)
    }
    this.#counts.repaired++
  }

  /** The ids (durably in the dirty set first) get what the source holds, or go. */
  async #repairFromSource(ns: string, ids: readonly string[]): Promise<void> {
    const { dirty } = this.#o
    for (const id of ids) dirty?.addId(ns, id)
    await dirty?.sync()
    const source = this.#o.source as VectorStore
    const target = this.#target
    const found = await this.#steps.run('read the source to repair', () => source.fetch(ns, ids))
    const gone = ids.filter((id) => !found.has(id))
    await this.#steps.run(
      'repair the target from the source',
      async () => {
        if (found.size > 0) await target.upsert(ns, [...found.values()])
        if (gone.length > 0) await target.delete(ns, { ids: gone })
      },
      this.#refusedIn(ns),
    )
  }

  /** Names a refused write that is not a batch's: its namespace, and where it ends in the log. */
  #refusedIn(namespace: string): () => Promise<RefusedWrite> {
    return async () => ({ namespace, through: this.#handling })
  }

  async #saveCheckpoint(checkpoint: Position | undefined): Promise<void> {
    if (this.#o.dryRun || checkpoint === undefined || checkpoint === this.#committed) return
    await this.#steps.run('save the checkpoint', () => this.#log.commit(this.#o.consumer, checkpoint))
    this.#committed = checkpoint
    await this.#writeStatus(false)
  }

  /** The status now, handed to onStatus; `force` looks the log's tail up again. */
  async #writeStatus(force: boolean): Promise<ReplayStatus> {
    const now = Date.now()
    const tail = await this.#tail.tail(this.#committed, force, now)
    const oldest = this.#tracker.oldestWaitingTs
    const lagRecords = lagInRecords(this.#log, this.#committed, tail)
    const failed = this.#steps.failed
    const status: ReplayStatus = {
      consumer: this.#o.consumer,
      checkpoint: this.#committed,
      tail,
      lagRecords,
      lagSeconds: lagInSeconds(lagRecords, oldest, now),
      awaitingOutcome: this.#tracker.waiting,
      counts: { ...this.#counts },
      dirtyIds: this.#o.dirty?.size ?? 0,
      lastFence: this.#lastFence,
      retrying: this.#steps.retrying,
      ...(failed ? { failed } : {}),
      updatedAt: new Date(now).toISOString(),
    }
    await this.#o.onStatus?.(status)
    return status
  }

  #print(change: Record<string, unknown>): void {
    this.#o.print?.(JSON.stringify(change))
  }
}

/** A write released this long after the gateway stamped it was read from a backlog: its
 *  outcome came long ago (a write's own round trip to the source is far shorter). */
const BACKLOG_AGE_MS = 250
/** The longest a batch waits to be applied, however far behind the replayer reads. */
const MAX_BATCH_AGE_MS = 2_000

function writtenAt(item: Released): number {
  return item.parts[0]?.ts ?? 0
}

/** The ids the intents name, per namespace, each once (writes by filter name none). */
function idsByNamespace(parts: readonly Intent[]): Map<string, string[]> {
  const byNamespace = new Map<string, Set<string>>()
  for (const p of parts) {
    const ids = touchedIds(p)
    if (ids === undefined) continue
    const set = byNamespace.get(p.namespace) ?? new Set<string>()
    byNamespace.set(p.namespace, set)
    for (const id of ids) set.add(id)
  }
  return new Map([...byNamespace].map(([ns, set]) => [ns, [...set]]))
}
