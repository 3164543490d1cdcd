import type { Config } from '../../config/schema.js'
import type { ControlStore } from '../../control/contract.js'
import type { Logger } from '../../logger.js'
import type { DirtySet } from '../../replay/dirty.js'
import type { VectorStore } from '../../stores/contract.js'
import { CheckpointFile, type CopyCheckpoint } from './checkpoint.js'
import { runCollectionCopy, type CollectionRunOptions } from './collection.js'
import { runCopy, type CopyRunOptions, type CopySummary } from './copier.js'
import { copyOptionsFrom, planCopy, type CopyOptions, type CopyPlan } from './plan.js'
import type { Progress } from './progress.js'
import { assertSameCopy, checkpointToResume } from './resume.js'
import { Settler } from './settle.js'

// `vecshift copy`'s decisions, apart from its flags and its printing (src/cli/copy.ts), in
// the order they are taken: whether a checkpoint on disk may be resumed (resume.ts), the plan
// (strategy and preconditions, plan.ts; nothing is written when they fail), the target's
// table when the copy creates it, whether batches settle in the write log (writes are being
// captured), which copier runs, and the search index built after the load.

export interface CopyJob {
  readonly config: Config
  readonly source: VectorStore
  readonly target: VectorStore
  /** Copy only this namespace ('' is the default one). */
  readonly namespace?: string
  /** --resume: continue the interrupted copy whose checkpoint is on disk. */
  readonly resume: boolean
  /** --reembed: the target makes each record's vector anew from its text (reembed: section). */
  readonly reembed: boolean
  /** Its phase says whether writes are being captured (besides the config's). */
  readonly control?: ControlStore
  /** Told each checkpoint once it is durable (to report progress elsewhere). */
  readonly onCheckpoint?: (checkpoint: CopyCheckpoint) => void
  readonly progress?: Progress
  readonly logger: Logger
  readonly signal: AbortSignal
  /** Told before the target's search index is built (once, after the load; it can take a while). */
  readonly onIndexBuild?: () => void
}

export type CopyJobResult =
  /** The copy had finished before: at most its missing search index was built now. */
  { readonly alreadyFinishedAt: string; readonly indexBuildMs: number | undefined } | { readonly summary: CopySummary }

/** The phases in which the gateway logs every write. */
const CAPTURING_PHASES: readonly string[] = ['capture', 'cutover', 'source-primary']

export async function runCopyJob(job: CopyJob): Promise<CopyJobResult> {
  const { config, source, target } = job
  const checkpoint = new CheckpointFile(config.copy.checkpointDir, config.migration.id, job.onCheckpoint)
  const existing = await checkpointToResume(checkpoint, config.migration.id, job.resume)
  if (existing?.finishedAt) {
    // A copy killed while building the index finished its records but not the index.
    return { alreadyFinishedAt: existing.finishedAt, indexBuildMs: await buildSearchIndex(job) }
  }
  const plan = await planCopy(source, target, planOptions(job, existing))
  for (const note of plan.notes) job.logger.warn({ note }, note)
  await createTargetTable(job, plan)
  assertSameCopy(existing, checkpoint.path, { source: source.label, target: target.label, strategy: plan.strategy })
  const summary = await copyRecords(job, plan, checkpoint, existing)
  const indexMs = summary.interrupted ? undefined : await buildSearchIndex(job)
  return { summary: indexMs === undefined ? summary : { ...summary, indexBuildMs: indexMs } }
}

/** What planCopy is asked, from the config and the flags. */
function planOptions(job: CopyJob, existing: CopyCheckpoint | undefined): CopyOptions {
  const reembed = job.config.reembed
  return {
    ...copyOptionsFrom(job.config.copy),
    ...(job.namespace === undefined ? {} : { namespace: job.namespace }),
    targetCreatedByCopy: job.resume && existing?.collection?.indexCreated === true,
    ...(job.reembed && reembed ? { reembed: { model: reembed.model, textField: reembed.textField } } : {}),
  }
}

/** planCopy allowed a missing target because this store can create it: its table now, its
 *  search index after the load (buildSearchIndex), which is much faster. The source's
 *  namespaces choose the index layout (one graph, or one per namespace). */
async function createTargetTable(job: CopyJob, plan: CopyPlan): Promise<void> {
  const { source, target } = job
  if (plan.target !== undefined || !target.createSchema) return
  await target.createSchema({
    dimension: plan.source.dimension,
    metric: plan.source.metric,
    vectorType: plan.source.vectorType,
    deferIndex: true,
    namespaces: await source.stats(),
  })
  job.logger.info(
    { target: target.label },
    'created the target table; its HNSW indexes are built when the copy is done',
  )
}

/** The records, by the plan's strategy. */
async function copyRecords(
  job: CopyJob,
  plan: CopyPlan,
  checkpoint: CheckpointFile,
  existing: CopyCheckpoint | undefined,
): Promise<CopySummary> {
  const { config, source, target } = job
  const common = {
    migration: config.migration.id,
    checkpoint,
    signal: job.signal,
    logger: job.logger,
    ...(existing ? { resumeFrom: existing } : {}),
    ...(job.progress ? { progress: job.progress } : {}),
  }
  if (plan.strategy === 'collection')
    return runCollectionCopy(source, target, plan, { ...common, collection: collectionSettings(config) })
  const closers: Array<() => Promise<unknown>> = []
  try {
    return await runCopy(source, target, plan, {
      ...common,
      concurrency: config.copy.concurrency,
      batchSize: config.copy.batchSize,
      maxRequestsPerSec: config.copy.maxRequestsPerSec,
      maxVectorsPerSec: config.copy.maxVectorsPerSec,
      ...(config.copy.idsFile === undefined ? {} : { idsFile: config.copy.idsFile }),
      ...(job.namespace === undefined ? {} : { namespace: job.namespace }),
      ...(await settling(job, closers)),
    })
  } finally {
    await Promise.allSettled(closers.map((close) => close()))
  }
}

function collectionSettings(config: Config): CollectionRunOptions['collection'] {
  return {
    ...config.copy.collection,
    name: config.copy.collection.name ?? `vecshift-${config.migration.id}`.slice(0, 45),
    // planCopy refused the strategy without them.
    cloud: config.copy.collection.cloud as string,
    region: config.copy.collection.region as string,
  }
}

/**
 * While writes are captured (and a replayer follows them), every batch is copied at a known
 * position of the write log, so that a write made during the copy is never undone by it
 * (settle.ts). Ids it cannot settle go to the dirty set, which the cutover reconciles.
 * Whatever this opens is closed by the caller through `closers`.
 */
async function settling(
  job: CopyJob,
  closers: Array<() => Promise<unknown>>,
): Promise<Pick<CopyRunOptions, 'settle' | 'onUnsettled'>> {
  if (!(await writesCaptured(job))) return {}
  const { openWriteLogForReading } = await import('../../writelog/open.js')
  const log = await openWriteLogForReading(job.config.writelog, job.logger)
  closers.push(() => log.close())
  const settle = new Settler({ log, consumer: 'replay', ...job.config.copy.settle, signal: job.signal })
  const dirty = dirtySetOnDemand(job.config, closers)
  return {
    settle,
    onUnsettled: async (ns, ids) => {
      const set = await dirty()
      for (const id of ids) set.addId(ns, id)
      await set.sync()
    },
  }
}

async function writesCaptured(job: CopyJob): Promise<boolean> {
  if (job.config.migration.phase === 'capture') return true
  const record = job.control ? await job.control.read().catch(() => undefined) : undefined
  return record !== undefined && CAPTURING_PHASES.includes(record.phase)
}

/** The replayer's dirty set, opened the first time a batch cannot be settled (rare): the
 *  replayer appends to the same file, whole lines at a time. */
function dirtySetOnDemand(config: Config, closers: Array<() => Promise<unknown>>): () => Promise<DirtySet> {
  let opened: Promise<DirtySet> | undefined
  const open = async () => {
    const { DirtySet } = await import('../../replay/dirty.js')
    const { ReplayStatusFile } = await import('../../replay/status.js')
    const set = await DirtySet.open(
      new ReplayStatusFile(config.replay.dataDir, config.migration.id, 'replay').dirtyPath,
    )
    closers.push(() => set.close())
    return set
  }
  return () => {
    opened ??= open()
    return opened
  }
}

/** Builds the target's search index if it is missing (a table the copy created); answers
 *  how long that took, or undefined when there was nothing to build. */
async function buildSearchIndex(job: CopyJob): Promise<number | undefined> {
  const { target } = job
  if (!target.buildIndexes) return undefined
  const started = Date.now()
  const built = await target.buildIndexes(() => job.onIndexBuild?.())
  return built ? Date.now() - started : undefined
}
