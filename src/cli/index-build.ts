import type { Command } from 'commander'
import { E, VecshiftError } from '../errors.js'
import { configFromFlags, loggerFor, type ConfigFlags } from './common.js'

// `vecshift index`: builds the target's missing search indexes and refreshes the planner's
// statistics (pgvector). The copy does this once when it is done; run it again when
// namespaces have grown past target.minIndexedRows since (per-namespace layout), or after a
// build was interrupted.

interface IndexFlags extends ConfigFlags {
  json?: boolean
}

export function registerIndex(program: Command): void {
  program
    .command('index')
    .description("build the pgvector target's missing HNSW indexes and run ANALYZE (idempotent)")
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON); environment VECSHIFT__* keys override it')
    .option('--json', 'print the result as one JSON object')
    .option('--log-level <level>', 'override log.level')
    .addHelpText(
      'after',
      `
The table's layout (recorded when the copy created it; see \`vecshift plan\`) says which
indexes it needs: one HNSW graph over the table, or one per namespace of at least
target.minIndexedRows records. Builds run CONCURRENTLY, so the gateway and the replayer go on
writing the table meanwhile; target.maintenanceWorkMem speeds them up.

If the process dies: a build in progress leaves an invalid index, which serves nothing and
which the next run drops and builds again; finished builds stay. Run the same command again.

Examples:
  vecshift index --config migration.yaml
  vecshift index --config migration.yaml --json`,
    )
    .action(async (flags: IndexFlags) => {
      const config = configFromFlags(flags)
      const logger = loggerFor(config, 'vecshift-index', { stderr: true })
      if (config.target?.type !== 'pgvector') {
        throw new VecshiftError(E.CLI_USAGE, [
          "vecshift index builds a pgvector target's indexes; this target is not pgvector (Pinecone indexes itself)",
        ])
      }
      const { openStore } = await import('../stores/open.js')
      const target = await openStore(config, 'target', logger)
      try {
        const started = Date.now()
        const built =
          (await target.buildIndexes?.(() =>
            process.stderr.write(`vecshift: building HNSW indexes of the ${target.label} (this can take a while)\n`),
          )) ?? false
        const layout = await target.searchLayout?.()
        const result = { built, ms: Date.now() - started, ...(layout ? { layout } : {}) }
        if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`)
        else {
          const where =
            layout?.layout === 'per-namespace'
              ? `one HNSW graph per namespace of ${layout.minIndexedRows} records or more: ${layout.indexed.length} namespace(s) have one`
              : 'one HNSW graph over the table'
          process.stdout.write(
            `${built ? 'built the missing indexes' : 'every index was there'} and ran ANALYZE ` +
              `in ${Math.round(result.ms / 100) / 10} s; layout: ${where}\n`,
          )
        }
      } finally {
        await target.close()
      }
    })
}
