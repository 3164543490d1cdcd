import type { Command } from 'commander'
import { E, VecshiftError } from '../errors.js'
import type { VectorStore } from '../stores/contract.js'
import { configFromFlags, loggerFor, nonNegativeNumber, positiveInt, type ConfigFlags } from './common.js'

// `vecshift copy`: the bulk copy from source to target. Up-front checks first (nothing is
// written when they fail), then the copy with progress on stderr and a summary on stdout.
// Ctrl-C / SIGTERM stop it cleanly: batches in flight finish, the checkpoint is saved, and
// `--resume` continues from there. So does a SIGKILL, re-copying only the batches in flight.

interface CopyFlags extends ConfigFlags {
  namespace?: string
  concurrency?: number
  rate?: number
  vectorsPerSec?: number
  batchSize?: number
  resume?: boolean
  strategy?: string
  idsFile?: string
  createTarget?: boolean
  reembed?: boolean
  json?: boolean
  progress?: 'auto' | 'bar' | 'json' | 'none'
}

export function registerCopy(program: Command): void {
  program
    .command('copy')
    .description('bulk-copy the source index into the target (parallel, rate limited, resumable, with progress)')
    .option('-c, --config <file>', 'configuration file (YAML or JSON); VECSHIFT__* variables override it')
    .option('--namespace <ns>', 'copy only this namespace ("" or __default__ for the default one)')
    .option('--concurrency <n>', 'batches copied at once (copy.concurrency)', positiveInt)
    .option(
      '--rate <n>',
      'requests per second to each store, 0 = unlimited (copy.maxRequestsPerSec)',
      nonNegativeNumber,
    )
    .option(
      '--vectors-per-sec <n>',
      'vectors copied per second, 0 = unlimited (copy.maxVectorsPerSec)',
      nonNegativeNumber,
    )
    .option('--batch-size <n>', 'ids per fetch and vectors per upsert, at most 1000 (copy.batchSize)', positiveInt)
    .option('--strategy <s>', 'auto | list-fetch | collection | ids-file (copy.strategy)')
    .option('--ids-file <file>', 'ids to copy, one per line: "namespace<TAB>id" or "id" (copy.idsFile)')
    .option('--create-target', "create the target with the source's shape if it does not exist (copy.createTarget)")
    .option('--resume', 'continue from the checkpoint of an interrupted copy')
    .option(
      '--reembed',
      "do not copy vectors: embed each record's text (reembed.textField) with the reembed: endpoint and write those (a target of another model or dimension)",
    )
    .option('--progress <mode>', 'auto (a bar on a terminal, JSON lines otherwise) | bar | json | none', 'auto')
    .option('--json', 'print the summary as one JSON object')
    .option('--log-level <level>', 'override log.level')
    .addHelpText(
      'after',
      `
Examples:
  vecshift copy --config migration.yaml
  vecshift copy --config migration.yaml --concurrency 8 --rate 50
  vecshift copy --config migration.yaml --resume          # after an interruption
  vecshift copy --config migration.yaml --strategy ids-file --ids-file ids.tsv

The source and target come from the config's source: and target: sections; their secrets
from VECSHIFT_SOURCE_API_KEY / VECSHIFT_TARGET_API_KEY (Pinecone) or
VECSHIFT_SOURCE_PG_PASSWORD / VECSHIFT_TARGET_PG_PASSWORD (pgvector); the embeddings key
(--reembed) from VECSHIFT_EMBEDDINGS_API_KEY.
Exit codes: 0 copied, 2 refused or failed (the message says why), 130 interrupted.`,
    )
    .action(async (flags: CopyFlags) => {
      const overrides: Record<string, unknown> = {}
      if (flags.concurrency !== undefined) overrides['copy.concurrency'] = flags.concurrency
      if (flags.rate !== undefined) overrides['copy.maxRequestsPerSec'] = flags.rate
      if (flags.vectorsPerSec !== undefined) overrides['copy.maxVectorsPerSec'] = flags.vectorsPerSec
      if (flags.batchSize !== undefined) overrides['copy.batchSize'] = flags.batchSize
      if (flags.strategy !== undefined) overrides['copy.strategy'] = flags.strategy
      if (flags.idsFile !== undefined) overrides['copy.idsFile'] = flags.idsFile
      if (flags.createTarget) overrides['copy.createTarget'] = true
      const config = configFromFlags(flags, overrides)
      const logger = loggerFor(config, 'vecshift-copy', { stderr: true })
      const { openStore } = await import('../stores/open.js')
      const { planCopy } = await import('../migrate/copy/plan.js')
      const { runCopy } = await import('../migrate/copy/copier.js')
      const { runCollectionCopy } = await import('../migrate/copy/collection.js')
      const { CheckpointFile } = await import('../migrate/copy/checkpoint.js')
      const { Progress } = await import('../migrate/copy/progress.js')
      const { formatSummary } = await import('../migrate/copy/summary.js')

      const namespace = flags.namespace === '__default__' ? '' : flags.namespace
      // Progress goes to the control store too, so that `vecshift status` and the cutover
      // see it from any host.
      const [{ openControlStore }, { ProgressReporter }] = await Promise.all([
        import('../control/open.js'),
        import('../control/reporter.js'),
      ])
      // Best effort, like the reports themselves: the copy's checkpoint file is what it resumes from.
      const control = await openControlStore(config, logger).catch((err: unknown) => {
        logger.warn({ err }, 'the control store is unavailable; the copy goes on without reporting its progress there')
        return undefined
      })
      const reporter = control ? new ProgressReporter(control, 'copy', 1_000, logger) : undefined
      const source = await openStore(config, 'source', logger)
      const target = flags.reembed
        ? (await import('../migrate/reembed/open.js')).reembeddingTarget(
            config,
            await openStore(config, 'target', logger),
          )
        : await openStore(config, 'target', logger)
      const controller = new AbortController()
      const stop = () => controller.abort()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      const closers: Array<() => Promise<unknown>> = []
      try {
        const checkpoint = new CheckpointFile(config.copy.checkpointDir, config.migration.id, (cp) =>
          reporter?.update(cp),
        )
        const existing = await checkpoint.load()
        if (existing && !flags.resume) {
          throw new VecshiftError(E.COPY_CHECKPOINT, [
            existing.finishedAt
              ? `a copy for migration ${config.migration.id} already finished at ${existing.finishedAt} (${checkpoint.path}); delete that file to copy again`
              : `an interrupted copy for migration ${config.migration.id} has a checkpoint at ${checkpoint.path}; run again with --resume to continue it, or delete the file to start over`,
          ])
        }
        if (existing?.finishedAt) {
          // A copy killed while building the index finished its records but not the index.
          const indexMs = await buildSearchIndex(target)
          process.stdout.write(
            `vecshift: the copy already finished at ${existing.finishedAt}; ${indexMs === undefined ? 'nothing to do' : `built the missing search index in ${Math.round(indexMs / 1000)} s`}\n`,
          )
          return
        }

        const plan = await planCopy(source, target, {
          strategy: config.copy.strategy,
          createTarget: config.copy.createTarget,
          ...(config.copy.idsFile === undefined ? {} : { idsFile: config.copy.idsFile }),
          ...(namespace === undefined ? {} : { namespace }),
          ...(config.copy.sourceEmbeddingModel === undefined
            ? {}
            : { sourceEmbeddingModel: config.copy.sourceEmbeddingModel }),
          ...(config.copy.targetEmbeddingModel === undefined
            ? {}
            : { targetEmbeddingModel: config.copy.targetEmbeddingModel }),
          collection: {
            ...(config.copy.collection.cloud === undefined ? {} : { cloud: config.copy.collection.cloud }),
            ...(config.copy.collection.region === undefined ? {} : { region: config.copy.collection.region }),
          },
          targetCreatedByCopy: flags.resume === true && existing?.collection?.indexCreated === true,
          ...(flags.reembed && config.reembed
            ? { reembed: { model: config.reembed.model, textField: config.reembed.textField } }
            : {}),
        })
        for (const note of plan.notes) logger.warn({ note }, note)
        if (plan.target === undefined && target.createSchema) {
          // planCopy allowed the missing target because this store can create it. Its search
          // index is built after the load (buildSearchIndex below), which is much faster.
          // The source's namespaces choose the index layout (one graph, or one per namespace).
          await target.createSchema({
            dimension: plan.source.dimension,
            metric: plan.source.metric,
            vectorType: plan.source.vectorType,
            deferIndex: true,
            namespaces: await source.stats(),
          })
          logger.info(
            { target: target.label },
            'created the target table; its HNSW indexes are built when the copy is done',
          )
        }

        if (
          existing &&
          (existing.source !== source.label || existing.target !== target.label || existing.strategy !== plan.strategy)
        ) {
          throw new VecshiftError(E.COPY_CHECKPOINT, [
            `the checkpoint ${checkpoint.path} is of a copy from ${existing.source} to ${existing.target} (${existing.strategy}), not this one; delete it to start over`,
          ])
        }
        const mode =
          flags.progress === 'auto' || flags.progress === undefined
            ? process.stderr.isTTY
              ? 'bar'
              : 'json'
            : flags.progress
        const progress =
          mode === 'none'
            ? undefined
            : new Progress({ isTTY: mode === 'bar', write: (s: string) => process.stderr.write(s) }, 'copy')
        const common = {
          migration: config.migration.id,
          checkpoint,
          signal: controller.signal,
          logger,
          ...(existing ? { resumeFrom: existing } : {}),
          ...(progress ? { progress } : {}),
        }
        // While writes are captured (and a replayer follows them), every batch is copied at a
        // known position of the write log, so that a write made during the copy is never
        // undone by it (src/migrate/copy/settle.ts). Ids it cannot settle go to the dirty
        // set, which the cutover reconciles.
        const captureRecord = control ? await control.read().catch(() => undefined) : undefined
        const capturing =
          config.migration.phase === 'capture' ||
          (captureRecord !== undefined && ['capture', 'cutover', 'source-primary'].includes(captureRecord.phase))
        const settleLog =
          capturing && plan.strategy !== 'collection'
            ? await (await import('../writelog/open.js')).openWriteLogForReading(config.writelog, logger)
            : undefined
        if (settleLog) closers.push(() => settleLog.close())
        // Opened only when a batch could not be settled (rare): the replayer appends to the
        // same file, whole lines at a time.
        let dirty: import('../replay/dirty.js').DirtySet | undefined
        const openDirty = async () => {
          if (!dirty) {
            const { DirtySet } = await import('../replay/dirty.js')
            const { ReplayStatusFile } = await import('../replay/status.js')
            const opened = await DirtySet.open(
              new ReplayStatusFile(config.replay.dataDir, config.migration.id, 'replay').dirtyPath,
            )
            closers.push(() => opened.close())
            dirty = opened
          }
          return dirty
        }
        const settle = settleLog
          ? new (await import('../migrate/copy/settle.js')).Settler({
              log: settleLog,
              consumer: 'replay',
              ...config.copy.settle,
              signal: controller.signal,
            })
          : undefined
        const summary =
          plan.strategy === 'collection'
            ? await runCollectionCopy(source, target, plan, {
                ...common,
                collection: {
                  ...config.copy.collection,
                  name: config.copy.collection.name ?? `vecshift-${config.migration.id}`.slice(0, 45),
                  // planCopy refused the strategy without them.
                  cloud: config.copy.collection.cloud as string,
                  region: config.copy.collection.region as string,
                },
              })
            : await runCopy(source, target, plan, {
                ...common,
                concurrency: config.copy.concurrency,
                batchSize: config.copy.batchSize,
                maxRequestsPerSec: config.copy.maxRequestsPerSec,
                maxVectorsPerSec: config.copy.maxVectorsPerSec,
                ...(config.copy.idsFile === undefined ? {} : { idsFile: config.copy.idsFile }),
                ...(namespace === undefined ? {} : { namespace }),
                ...(settle
                  ? {
                      settle,
                      onUnsettled: async (ns: string, ids: readonly string[]) => {
                        const set = await openDirty()
                        for (const id of ids) set.addId(ns, id)
                        await set.sync()
                      },
                    }
                  : {}),
              })
        const indexMs = summary.interrupted ? undefined : await buildSearchIndex(target)
        const report = indexMs === undefined ? summary : { ...summary, indexBuildMs: indexMs }
        process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : formatSummary(report))
        if (summary.interrupted) {
          process.stderr.write(
            `vecshift: interrupted; the checkpoint is saved (${summary.checkpoint}). Run the same command with --resume to continue.\n`,
          )
          process.exitCode = 130
        }
      } finally {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        await reporter?.flush()
        await Promise.allSettled([source.close(), target.close(), control?.close(), ...closers.map((close) => close())])
      }
    })
}

/** Builds the target's search index if it is missing (a table the copy created); answers
 *  how long that took, or undefined when there was nothing to build. */
async function buildSearchIndex(target: VectorStore): Promise<number | undefined> {
  if (!target.buildIndexes) return undefined
  const started = Date.now()
  const built = await target.buildIndexes(() => {
    process.stderr.write(
      `vecshift: building the HNSW index of the ${target.label} (once, after the load; this can take a while)\n`,
    )
  })
  return built ? Date.now() - started : undefined
}
