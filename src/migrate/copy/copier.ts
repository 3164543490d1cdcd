import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { E, VecshiftError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import type { StoredVector, VectorStore } from '../../stores/contract.js'
import type { CheckpointFile, CopyCheckpoint, NamespaceProgress } from './checkpoint.js'
import type { CopyPlan } from './plan.js'
import type { Progress } from './progress.js'
import { TokenBucket } from './rate.js'
import type { Settler } from './settle.js'
import { dict } from '../../dict.js'

// The bulk copy for the list-fetch and ids-file strategies: batches of ids go through
// fetch (source) -> upsert (target), `concurrency` batches at a time, within the rate
// limits. One producer makes batches in order (a list cursor, or lines of the ids file);
// workers copy them; the checkpoint advances past a batch only when it and every batch
// before it are done, and a worker waits for that checkpoint to be durable before taking
// its next batch. Memory is bounded: at most 2 x concurrency batches of ids exist at once.
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

interface Batch {
  readonly seq: number
  /** Ids by namespace (an ids file may mix namespaces). */
  readonly ids: ReadonlyMap<string, string[]>
  /** What the checkpoint records once this batch and all before it are done. */
  readonly after: (cp: CopyCheckpoint) => void
}

export async function runCopy(
  source: VectorStore,
  target: VectorStore,
  plan: CopyPlan,
  options: CopyRunOptions,
): Promise<CopySummary> {
  const started = Date.now()
  const now = new Date().toISOString()
  const checkpoint: CopyCheckpoint = options.resumeFrom ?? {
    version: 1,
    migration: options.migration,
    strategy: plan.strategy,
    source: source.label,
    target: target.label,
    startedAt: now,
    updatedAt: now,
    namespaces: dict(),
  }
  const requests = new TokenBucket(options.maxRequestsPerSec)
  const vectors = new TokenBucket(options.maxVectorsPerSec)
  let missing = 0
  let inFlightCopied = 0
  const copiedSoFar = () => Object.values(checkpoint.namespaces).reduce((n, p) => n + p.copied, 0)
  const total = options.idsFile !== undefined ? await countLines(options.idsFile) : plan.total
  checkpoint.total = total
  options.progress?.start(() => ({
    done: copiedSoFar() + inFlightCopied,
    total,
    retries: source.counters.retries + target.counters.retries,
  }))

  const nsState = (ns: string): NamespaceProgress => (checkpoint.namespaces[ns] ??= { done: false, copied: 0 })

  const settled = { extraRounds: 0, unpositionedBatches: 0, unsettled: 0 }
  // A resumed copy that ran without the log before cannot say what it positioned.
  if (options.settle && options.resumeFrom === undefined) checkpoint.settle = { unpositioned: [] }
  else if (!options.settle) delete checkpoint.settle
  /** Copies one batch: returns records copied per namespace once its first round is done,
   *  and a promise that resolves once it is settled in the write log (at once without one). */
  const copyBatch = async (batch: Batch): Promise<{ counts: Map<string, number>; settledAll: Promise<unknown> }> => {
    const counts = new Map<string, number>()
    const settling: Array<Promise<unknown>> = []
    for (const [ns, ids] of batch.ids) {
      const io = {
        fetch: async (list: readonly string[]) => {
          await requests.take(1)
          const found = await source.fetch(ns, list)
          await options.afterFetch?.(ns, list)
          return found
        },
        upsert: async (records: readonly StoredVector[]) => {
          await vectors.take(records.length)
          await requests.take(1)
          await target.upsert(ns, records)
        },
        deleteIds: async (list: readonly string[]) => {
          await requests.take(1)
          await target.delete(ns, { ids: list })
        },
      }
      let copied: number
      if (options.settle) {
        const r = await options.settle.copy(ns, ids, io)
        copied = r.copied
        missing += r.missing
        settling.push(
          r.settled.then(async (done) => {
            settled.extraRounds += done.rounds - 1
            if (!done.positioned) {
              settled.unpositionedBatches++
              // Saved with the checkpoint that moves past this batch; a batch lost to a crash
              // before that is copied again on resume.
              const marks = (checkpoint.settle ??= { unpositioned: [] }).unpositioned
              if (!marks.includes(ns)) marks.push(ns)
            }
            if (done.unsettled.length > 0) {
              settled.unsettled += done.unsettled.length
              await options.onUnsettled?.(ns, done.unsettled)
            }
          }),
        )
      } else {
        const found = await io.fetch(ids)
        missing += ids.length - found.size
        if (found.size > 0) await io.upsert([...found.values()])
        copied = found.size
      }
      counts.set(ns, copied)
      inFlightCopied += copied
    }
    return { counts, settledAll: Promise.all(settling) }
  }

  const produce =
    options.idsFile !== undefined
      ? idsFileBatches(options.idsFile, options.batchSize, options.namespace, checkpoint)
      : listBatches(
          source,
          plan.namespaces.map((n) => n.namespace),
          options.batchSize,
          nsState,
        )

  // The pipeline: a bounded queue between the producer and the workers, and the in-order
  // completion that moves the checkpoint.
  const queue: Batch[] = []
  let producerDone = false
  let failure: unknown
  const waiters: Array<() => void> = []
  const wake = () => {
    for (const w of waiters.splice(0)) w()
  }
  const wait = () => new Promise<void>((resolve) => waiters.push(resolve))
  const finished = new Map<number, { batch: Batch; counts: Map<string, number> }>()
  let nextToCommit = 0
  const stopping = () => failure !== undefined || options.signal?.aborted === true

  const producer = (async () => {
    try {
      for await (const batch of produce) {
        while (queue.length >= options.concurrency * 2 && !stopping()) await wait()
        if (stopping()) break
        queue.push(batch)
        wake()
      }
    } catch (err) {
      failure ??= err
    } finally {
      producerDone = true
      wake()
    }
  })()

  const commit = async () => {
    let advanced = false
    for (;;) {
      const next = finished.get(nextToCommit)
      if (!next) break
      finished.delete(nextToCommit)
      for (const [ns, n] of next.counts) {
        nsState(ns).copied += n
        inFlightCopied -= n
      }
      next.batch.after(checkpoint)
      nextToCommit++
      advanced = true
    }
    if (advanced) await options.checkpoint.save(checkpoint)
  }

  // Batches copied but not yet settled in the write log (settle.ts): the workers go on with
  // the next batches meanwhile, up to this many, so the copy's rate does not hang on the
  // replayer's latency; each completes (moves the checkpoint) once settled. A replayer
  // slower than that paces the copy (each batch waits at most copy.settle.replayWaitMs,
  // then goes unpositioned, for the cutover to compare in full).
  // Without a write log a batch is settled once copied, and a worker waits for its
  // checkpoint save before the next batch (so a crash re-copies at most `concurrency`).
  const maxSettling = options.settle ? options.concurrency * 8 : 1
  const settlingBatches = new Set<Promise<void>>()
  const workers = Array.from({ length: options.concurrency }, async () => {
    for (;;) {
      while (queue.length === 0 && !producerDone && !stopping()) await wait()
      if (stopping() || queue.length === 0) return
      const batch = queue.shift() as Batch
      wake()
      try {
        const { counts, settledAll } = await copyBatch(batch)
        const done: Promise<void> = settledAll
          .then(async () => {
            finished.set(batch.seq, { batch, counts })
            await commit()
          })
          .catch((err: unknown) => {
            failure ??= err
          })
          .finally(() => {
            settlingBatches.delete(done)
            wake()
          })
        settlingBatches.add(done)
        while (settlingBatches.size >= maxSettling && !stopping()) await wait()
      } catch (err) {
        failure ??= err
        wake()
        return
      }
    }
  })
  await Promise.all([producer, ...workers])
  await Promise.all([...settlingBatches])

  const interrupted = failure === undefined && options.signal?.aborted === true
  if (failure === undefined && !interrupted) {
    checkpoint.finishedAt = new Date().toISOString()
    await options.checkpoint.save(checkpoint)
  }
  const copied = copiedSoFar()
  options.progress?.stop({ done: copied, total, retries: source.counters.retries + target.counters.retries })
  if (failure !== undefined) throw failure
  const durationMs = Date.now() - started
  return {
    strategy: plan.strategy,
    resumed: options.resumeFrom !== undefined,
    interrupted,
    namespaces: Object.entries(checkpoint.namespaces)
      .map(([namespace, p]) => ({ namespace, copied: p.copied }))
      .sort((a, b) => (a.namespace < b.namespace ? -1 : 1)),
    copied,
    missing,
    durationMs,
    perSecond: durationMs > 0 ? Math.round((copied / durationMs) * 1000) : copied,
    retries: { source: source.counters.retries, target: target.counters.retries },
    checkpoint: options.checkpoint.path,
    ...(options.settle ? { settle: settled } : {}),
  }
}

/** Pages of ids, namespace after namespace, from each namespace's checkpointed cursor. */
async function* listBatches(
  source: VectorStore,
  namespaces: readonly string[],
  batchSize: number,
  nsState: (ns: string) => NamespaceProgress,
): AsyncGenerator<Batch> {
  let seq = 0
  for (const ns of namespaces) {
    const state = nsState(ns)
    if (state.done) continue
    let cursor = state.cursor
    for (;;) {
      const page = await source.list(ns, { limit: batchSize, ...(cursor === undefined ? {} : { cursor }) })
      const next = page.next
      const last = next === undefined
      if (page.ids.length > 0 || last) {
        yield {
          seq: seq++,
          ids: new Map(page.ids.length > 0 ? [[ns, [...page.ids]]] : []),
          after: (cp) => {
            const s = cp.namespaces[ns] as NamespaceProgress
            if (last) {
              s.done = true
              delete s.cursor
            } else {
              s.cursor = next
            }
          },
        }
      }
      if (last) break
      cursor = next
    }
  }
}

/** Batches of lines of an ids file ("namespace<TAB>id" or "id"), from the checkpointed line. */
async function* idsFileBatches(
  path: string,
  batchSize: number,
  namespace: string | undefined,
  checkpoint: CopyCheckpoint,
): AsyncGenerator<Batch> {
  const skip = checkpoint.linesDone ?? 0
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity })
  let line = 0
  let seq = 0
  let ids = new Map<string, string[]>()
  let inBatch = 0
  const take = (): Batch => {
    const end = line
    const batch: Batch = {
      seq: seq++,
      ids,
      after: (cp) => {
        cp.linesDone = end
      },
    }
    ids = new Map()
    inBatch = 0
    return batch
  }
  for await (const raw of lines) {
    line++
    if (line <= skip) continue
    const text = raw.trim()
    if (text !== '' && !text.startsWith('#')) {
      const tab = raw.indexOf('\t')
      const ns = tab >= 0 ? raw.slice(0, tab) : (namespace ?? '')
      const id = (tab >= 0 ? raw.slice(tab + 1) : raw).trim()
      if (namespace === undefined || ns === namespace) {
        const list = ids.get(ns) ?? []
        list.push(id)
        ids.set(ns, list)
        checkpoint.namespaces[ns] ??= { done: false, copied: 0 }
        inBatch++
      }
    }
    if (inBatch >= batchSize) yield take()
  }
  yield take()
}

async function countLines(path: string): Promise<number> {
  let n = 0
  try {
    for await (const raw of createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity })) {
      const text = raw.trim()
      if (text !== '' && !text.startsWith('#')) n++
    }
  } catch (err) {
    throw new VecshiftError(E.COPY_REFUSED, [`cannot read the ids file ${path}: ${(err as Error).message}`])
  }
  return n
}
