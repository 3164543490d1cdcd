import type { Command } from 'commander'
import type { CopyJobResult } from '../migrate/copy/copy-job.js'
import { configFromFlags, loggerFor, nonNegativeNumber, positiveInt, type ConfigFlags } from './common.js'

// `vecshift copy`: the bulk copy from source to target. Up-front checks first (nothing is
// written when they fail), then the copy with progress on stderr and a summary on stdout.
// What the copy decides (resume rules, strategy, settling in the write log) is
// src/migrate/copy/copy-job.ts; this file parses flags, opens the stores and prints.
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
      "do not copy vectors: embed each record's text (reembed.textField) with the reembed: endpoint " +
        'and write those (a target of another model or dimension)',
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
      const config = configFromFlags(flags, overridesOf(flags))
      const logger = loggerFor(config, 'vecshift-copy', { stderr: true })
      const { openStore } = await import('../stores/open.js')
      const { runCopyJob } = await import('../migrate/copy/copy-job.js')
      const { progressFor } = await import('../migrate/copy/progress.js')

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
      try {
        const progress = progressFor(flags.progress, process.stderr, 'copy')
        const result = await runCopyJob({
          config,
          source,
          target,
          ...(namespace === undefined ? {} : { namespace }),
          resume: flags.resume === true,
          reembed: flags.reembed === true,
          ...(control ? { control } : {}),
          onCheckpoint: (cp) => reporter?.update(cp),
          ...(progress ? { progress } : {}),
          logger,
          signal: controller.signal,
          onIndexBuild: () =>
            process.stderr.write(
              `vecshift: building the HNSW index of the ${target.label} (once, after the load; this can take a while)\n`,
            ),
        })
        await printResult(result, flags.json === true)
      } finally {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        await reporter?.flush()
        await Promise.allSettled([source.close(), target.close(), control?.close()])
      }
    })
}

/** The summary on stdout (--json: as one object); an interruption on stderr, exit code 130. */
async function printResult(result: CopyJobResult, json: boolean): Promise<void> {
  if ('alreadyFinishedAt' in result) {
    const ms = result.indexBuildMs
    const done = ms === undefined ? 'nothing to do' : `built the missing search index in ${Math.round(ms / 1000)} s`
    process.stdout.write(`vecshift: the copy already finished at ${result.alreadyFinishedAt}; ${done}\n`)
    return
  }
  const { summary } = result
  const { formatSummary } = await import('../migrate/copy/summary.js')
  process.stdout.write(json ? `${JSON.stringify(summary)}\n` : formatSummary(summary))
  if (summary.interrupted) {
    process.stderr.write(
      `vecshift: interrupted; the checkpoint is saved (${summary.checkpoint}). ` +
        'Run the same command with --resume to continue.\n',
    )
    process.exitCode = 130
  }
}

/** The flags that override the config's copy: section. */
function overridesOf(flags: CopyFlags): Record<string, unknown> {
  const overrides: Record<string, unknown> = {}
  if (flags.concurrency !== undefined) overrides['copy.concurrency'] = flags.concurrency
  if (flags.rate !== undefined) overrides['copy.maxRequestsPerSec'] = flags.rate
  if (flags.vectorsPerSec !== undefined) overrides['copy.maxVectorsPerSec'] = flags.vectorsPerSec
  if (flags.batchSize !== undefined) overrides['copy.batchSize'] = flags.batchSize
  if (flags.strategy !== undefined) overrides['copy.strategy'] = flags.strategy
  if (flags.idsFile !== undefined) overrides['copy.idsFile'] = flags.idsFile
  if (flags.createTarget) overrides['copy.createTarget'] = true
  return overrides
}
