import { dict } from '../../dict.js'
import type { Logger } from '../../logger.js'
import type { StoredVector, VectorStore } from '../../stores/contract.js'
import { countLines, idsFileBatches, listBatches, type Batch } from './batches.js'
import type { CheckpointFile, CopyCheckpoint, NamespaceProgress } from './checkpoint.js'
import { Pipeline } from './pipeline.js'
import type { CopyPlan } from './plan.js'
import type { Progress } from './progress.js'
import { TokenBucket } from './rate.js'
import type { BatchIo, SettledBatch, Settler } from './settle.js'

// The bulk copy for the list-fetch and ids-file strategies: batches of ids go through
// fetch (source) -> upsert (target), `concurrency` batches at a time, within the rate
// limits. One producer makes batches in order (a list cursor, or lines of the ids file:
// batches.ts); workers copy them; the checkpoint advances past a batch only when it and every
// batch before it are done, and a worker waits for that checkpoint to be durable before
// taking its next batch (pipeline.ts). Memory is bounded: at most 2 x concurrency batches of
// ids exist at once.
//
// A copy runs while the gateway captures writes. Each record is copied as the source holds
// it when fetched, so a write made before the fetch is carried along, and one made after it
// is in the write log, which the replayer applies after the copy (docs/copy.md).

export interface CopyRunOptions {
  readonly migration: string
  readonly concurrency: number
  readonly batchSize: number
  readonly maxRequestsPerSec: number
  readonly maxVectorsPerSec: number
  readonly idsFile?: string
  readonly namespace?: string
  readonly checkpoint: CheckpointFile
  /** The checkpoint to continue from (--resume), or undefined for a fresh start. */
  readonly resumeFrom?: CopyCheckpoint
  readonly progress?: Progress
  readonly logger?: Logger
  readonly signal?: AbortSignal
  /** While writes are captured: copy each batch positioned in the write log (settle.ts), so
   *  that no write made during the copy is overwritten by it. */
  readonly settle?: Settler
  /** Ids the copy could not settle (written continuously): for the cutover's reconciliation. */
  readonly onUnsettled?: (namespace: string, ids: readonly string[]) => Promise<void>
  /** A seam for tests that force interleavings: called between a fetch and its upsert. */
  readonly afterFetch?: (namespace: string, ids: readonly string[]) => Promise<void>
}

export interface CopySummary {
  readonly strategy: string
  readonly resumed: boolean
  readonly interrupted: boolean
  readonly namespaces: ReadonlyArray<{ namespace: string; copied: number }>
  /** Records copied by this run and earlier runs of the same copy. */
  readonly copied: number
  /** Ids listed or given that the source no longer had when fetched (deleted meanwhile). */
  readonly missing: number
  readonly durationMs: number
  readonly perSecond: number
  readonly retries: { readonly source: number; readonly target: number }
  readonly checkpoint: string
  /** Time spent building the target's search index after the load, when it was built. */
  readonly indexBuildMs?: number
  /** With a write log: batches copied again because a write touched them meanwhile, batches
   *  copied without the replayer's position (it was not following), ids left unsettled. */
  readonly settle?: { readonly extraRounds: number; readonly unpositionedBatches: number; readonly unsettled: number }
}

export async function runCopy(
  source: VectorStore,
  target: VectorStore,
  plan: CopyPlan,
  options: CopyRunOptions,
): Promise<CopySummary> {
  return new Copier(source, target, plan, options).run()
}

/** Ids copied by the batches in flight, per namespace. */
type Copied = Map<string, number>

class Copier {
  readonly #started = Date.now()
  readonly #checkpoint: CopyCheckpoint
  readonly #requests: TokenBucket
  readonly #vectors: TokenBucket
  /** Ids listed or given that the source no longer had when fetched. */
  #missing = 0
  /** Records copied by batches not yet complete (not yet in the checkpoint's counts). */
  #inFlightCopied = 0
  readonly #settled = { extraRounds: 0, unpositionedBatches: 0, unsettled: 0 }

  constructor(
    private readonly source: VectorStore,
    private readonly target: VectorStore,
    private readonly plan: CopyPlan,
    private readonly o: CopyRunOptions,
  ) {
    const now = new Date().toISOString()
    this.#checkpoint = o.resumeFrom ?? {
      version: 1,
      migration: o.migration,
      strategy: plan.strategy,
      source: source.label,
      target: target.label,
      startedAt: now,
      updatedAt: now,
      namespaces: dict(),
    }
    this.#requests = new TokenBucket(o.maxRequestsPerSec)
    this.#vectors = new TokenBucket(o.maxVectorsPerSec)
  }

  async run(): Promise<CopySummary> {
    const total = this.o.idsFile !== undefined ? await countLines(this.o.idsFile) : this.plan.total
    this.#checkpoint.total = total
    this.o.progress?.start(() => this.#progress(this.#copiedSoFar() + this.#inFlightCopied, total))
    this.#markSettling()
    const failure = await new Pipeline<Batch, Copied>({
      concurrency: this.o.concurrency,
      // Batches copied but not yet settled in the write log (settle.ts): the workers go on with
      // the next batches meanwhile, up to this many, so the copy's rate does not hang on the
      // replayer's latency; each completes (moves the checkpoint) once settled. A replayer
      // slower than that paces the copy (each batch waits at most copy.settle.replayWaitMs,
      // then goes unpositioned, for the cutover to compare in full).
      maxSettling: this.o.settle ? this.o.concurrency * 8 : 1,
      ...(this.o.signal ? { signal: this.o.signal } : {}),
      batches: this.#batches(),
      copy: (batch) => this.#copyBatch(batch),
      complete: (batch, copied) => this.#complete(batch, copied),
      save: () => this.o.checkpoint.save(this.#checkpoint),
    }).run()
    return this.#finish(failure, total)
  }

  /** With a write log, the checkpoint names the namespaces copied unpositioned; a resumed
   *  copy that ran without the log before cannot say what it positioned. */
  #markSettling(): void {
    if (this.o.settle && this.o.resumeFrom === undefined) this.#checkpoint.settle = { unpositioned: [] }
    else if (!this.o.settle) delete this.#checkpoint.settle
  }

  #batches(): AsyncGenerator<Batch> {
    const { idsFile, batchSize, namespace } = this.o
    if (idsFile !== undefined) return idsFileBatches(idsFile, batchSize, namespace, this.#checkpoint)
    const namespaces = this.plan.namespaces.map((n) => n.namespace)
    return listBatches(this.source, namespaces, batchSize, (ns) => this.#namespace(ns))
  }

  /** Copies one batch: records copied per namespace once its first round is done, and a
   *  promise that resolves once it is settled in the write log (at once without one). */
  async #copyBatch(batch: Batch): Promise<{ result: Copied; settled: Promise<unknown> }> {
    const copied: Copied = new Map()
    const settling: Array<Promise<unknown>> = []
    for (const [ns, ids] of batch.ids) {
      const io = this.#io(ns)
      let n: number
      if (this.o.settle) {
        const first = await this.o.settle.copy(ns, ids, io)
        n = first.copied
        this.#missing += first.missing
        settling.push(first.settled.then((done) => this.#settledIn(ns, done)))
      } else {
        n = await this.#copyOnce(ids, io)
      }
      copied.set(ns, n)
      this.#inFlightCopied += n
    }
    return { result: copied, settled: Promise.all(settling) }
  }

  /** Without a write log: fetched and upserted once. */
  async #copyOnce(ids: readonly string[], io: BatchIo): Promise<number> {
    const found = await io.fetch(ids)
    this.#missing += ids.length - found.size
    if (found.size > 0) await io.upsert([...found.values()])
    return found.size
  }

  /** The stores' calls for a namespace, within the rate limits. */
  #io(ns: string): BatchIo {
    const { source, target } = this
    return {
      fetch: async (list) => {
        await this.#requests.take(1)
        const found = await source.fetch(ns, list)
        await this.o.afterFetch?.(ns, list)
        return found
      },
      upsert: async (records: readonly StoredVector[]) => {
        await this.#vectors.take(records.length)
        await this.#requests.take(1)
        await target.upsert(ns, records)
      },
      deleteIds: async (list) => {
        await this.#requests.take(1)
        await target.delete(ns, { ids: list })
      },
    }
  }

  async #settledIn(ns: string, done: SettledBatch): Promise<void> {
    this.#settled.extraRounds += done.rounds - 1
    if (!done.positioned) {
      this.#settled.unpositionedBatches++
      // Saved with the checkpoint that moves past this batch; a batch lost to a crash
      // before that is copied again on resume.
      const marks = this.#checkpoint.settle ?? { unpositioned: [] }
      this.#checkpoint.settle = marks
      if (!marks.unpositioned.includes(ns)) marks.unpositioned.push(ns)
    }
    if (done.unsettled.length > 0) {
      this.#settled.unsettled += done.unsettled.length
      await this.o.onUnsettled?.(ns, done.unsettled)
    }
  }

  /** A batch and all before it are done: the checkpoint records it. */
  #complete(batch: Batch, copied: Copied): void {
    for (const [ns, n] of copied) {
      this.#namespace(ns).copied += n
      this.#inFlightCopied -= n
    }
    batch.after(this.#checkpoint)
  }

  /** Finished (the checkpoint says so), interrupted, or failed (throws). */
  async #finish(failure: unknown, total: number): Promise<CopySummary> {
    const interrupted = failure === undefined && this.o.signal?.aborted === true
    if (failure === undefined && !interrupted) {
      this.#checkpoint.finishedAt = new Date().toISOString()
      await this.o.checkpoint.save(this.#checkpoint)
    }
    const copied = this.#copiedSoFar()
    this.o.progress?.stop(this.#progress(copied, total))
    if (failure !== undefined) throw failure
    return this.#summary(interrupted, copied)
  }

  #summary(interrupted: boolean, copied: number): CopySummary {
    const { source, target } = this
    const durationMs = Date.now() - this.#started
    return {
      strategy: this.plan.strategy,
      resumed: this.o.resumeFrom !== undefined,
      interrupted,
      namespaces: Object.entries(this.#checkpoint.namespaces)
        .map(([namespace, p]) => ({ namespace, copied: p.copied }))
        .sort((a, b) => (a.namespace < b.namespace ? -1 : 1)),
      copied,
      missing: this.#missing,
      durationMs,
      perSecond: durationMs > 0 ? Math.round((copied / durationMs) * 1000) : copied,
      retries: { source: source.counters.retries, target: target.counters.retries },
      checkpoint: this.o.checkpoint.path,
      ...(this.o.settle ? { settle: this.#settled } : {}),
    }
  }

  #progress(done: number, total: number): { done: number; total: number; retries: number } {
    return { done, total, retries: this.source.counters.retries + this.target.counters.retries }
  }

  #namespace(ns: string): NamespaceProgress {
    const state = this.#checkpoint.namespaces[ns] ?? { done: false, copied: 0 }
    this.#checkpoint.namespaces[ns] = state
    return state
  }

  #copiedSoFar(): number {
    return Object.values(this.#checkpoint.namespaces).reduce((n, p) => n + p.copied, 0)
  }
}
