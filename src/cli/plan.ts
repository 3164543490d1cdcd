import type { Command } from 'commander'
import { configFromFlags, loggerFor, type ConfigFlags } from './common.js'

// `vecshift plan`: what the migration will be, before anything moves. Reads only.

interface PlanFlags extends ConfigFlags {
  json?: boolean
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('inspect source and target and plan the migration (reads only)')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON); environment VECSHIFT__* keys override it')
    .option('--json', 'print the plan as one JSON object')
    .option('--log-level <level>', 'override log.level')
    .addHelpText(
      'after',
      `
Says: both sides' shape, namespaces and counts; metadata sizes and sparse use (from a sample
of plan.sampleRecords records); whether vectors can be copied or must be re-embedded (a
different dimension or embedding model, copy.sourceEmbeddingModel / targetEmbeddingModel),
with the re-embedding's tokens, cost and time from plan.reembed; the copy strategy and an
estimated copy time from the source's measured read rate; the write log's size for
plan.expectedWritesPerSec over plan.captureHours; and the Pinecone limits that apply
(pod-based indexes cannot list ids, the collection path's limits, selective metadata
indexing and filtered describe_index_stats, which serverless does not have). For a pgvector
target: the layout of its HNSW indexes (target.indexLayout: one graph, or one per namespace
of target.minIndexedRows records or more) and why.

Examples:
  vecshift plan --config migration.yaml
  vecshift plan --config migration.yaml --json | jq .decision`,
    )
    .action(async (flags: PlanFlags) => {
      const config = configFromFlags(flags)
      const logger = loggerFor(config, 'vecshift-plan', { stderr: true })
      const [{ openStore }, { runPlan }, { formatPlan }, { copyOptionsFrom }] = await Promise.all([
        import('../stores/open.js'),
        import('../migrate/plan/planner.js'),
        import('../migrate/plan/report.js'),
        import('../migrate/copy/plan.js'),
      ])
      const source = await openStore(config, 'source', logger)
      const target = await openStore(config, 'target', logger)
      try {
        const c = config.copy
        const plan = await runPlan(
          source,
          target,
          { ...copyOptionsFrom(c), concurrency: c.concurrency, batchSize: c.batchSize },
          config.plan,
          config.target?.type === 'pgvector'
            ? {
                indexLayout: config.target.indexLayout,
                minIndexedRows: config.target.minIndexedRows,
                maxPartialIndexes: config.target.maxPartialIndexes,
              }
            : undefined,
        )
        process.stdout.write(flags.json ? `${JSON.stringify(plan)}\n` : formatPlan(plan))
      } finally {
        await Promise.allSettled([source.close(), target.close()])
      }
    })
}
