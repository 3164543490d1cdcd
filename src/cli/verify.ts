import { InvalidArgumentError, type Command } from 'commander'
import { configFromFlags, loggerFor, type ConfigFlags } from './common.js'

// `vecshift verify`: compares source and target (counts, sampled records, search agreement)
// and exits 0 when every threshold holds, 1 when one does not; the result also goes to the
// control store, where `vecshift cutover` looks for it when cutover.requireVerify is set.

interface VerifyFlags extends ConfigFlags {
  sample?: number
  queries?: number
  topK?: number
  filterFile?: string
  seed?: number
  resume?: boolean
  json?: boolean
  progress?: 'auto' | 'bar' | 'json' | 'none'
  /** --full alone: true; --full a,b: the namespaces. */
  full?: string | true
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('compare source and target: counts, sampled records, top-k agreement; exit 1 when a threshold fails')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON); environment VECSHIFT__* keys override it')
    .option('--sample <n>', 'records sampled and compared (verify.sample)', count)
    .option('--queries <n>', 'queries built from sampled records (verify.queries)', count)
    .option('--top-k <k>', 'results compared per query (verify.topK)', count)
    .option(
      '--filter-file <file>',
      'JSON lines of extra queries: {"vector":[...],"filter":{...},"namespace":"..."}; ' +
        'a line without a vector filters a query built from a sampled record',
    )
    .option('--seed <n>', 'seed of the sample, to repeat a verification exactly', count)
    .option(
      '--resume',
      'continue an interrupted verification (Ctrl-C, SIGTERM) from its saved progress, on the same sample',
    )
    .option(
      '--full [namespaces]',
      'also compare every id, on both sides, of these namespaces (comma-separated; none given: every namespace); ' +
        'memory stays one page per side',
      (v: string) => v,
    )
    .option('--json', 'print the report as one JSON object')
    .option('--progress <mode>', 'auto (bar on a terminal, JSON lines otherwise) | bar | json | none', 'auto')
    .option('--log-level <level>', 'override log.level')
    .addHelpText(
      'after',
      `
Thresholds (verify.thresholds): minRecall (default 0.95), maxMissing, maxMismatched, maxExtra,
maxCountDifference (default 0; a count difference up to the replayer's lag is expected while
writes flow). Ctrl-C or SIGTERM stops it with its progress saved; --resume goes on from there.
Exit codes: 0 passed, 1 a threshold failed (the report says which), 130 interrupted, 2 could not
verify (a store, the config or a file; the message says why).

Examples:
  vecshift verify --config migration.yaml
  vecshift verify --config migration.yaml --sample 10000 --queries 500 --top-k 20 --json > verify.json
  vecshift verify --config migration.yaml --filter-file queries.jsonl
  vecshift verify --config migration.yaml --full                 # every id of every namespace
  vecshift verify --config migration.yaml --full tenant-1,tenant-2`,
    )
    .action(async (flags: VerifyFlags) => {
      const overrides: Record<string, unknown> = {}
      if (flags.sample !== undefined) overrides['verify.sample'] = flags.sample
      if (flags.queries !== undefined) overrides['verify.queries'] = flags.queries
      if (flags.topK !== undefined) overrides['verify.topK'] = flags.topK
      const config = configFromFlags(flags, overrides)
      const logger = loggerFor(config, 'vecshift-verify', { stderr: true })
      const [
        { openStore },
        { runVerify, VerifyInterrupted },
        { formatVerifyReport },
        { progressFor },
        { openControlStore },
        { replayStatusOf },
        { VerifyCheckpointFile },
      ] = await Promise.all([
        import('../stores/open.js'),
        import('../migrate/verify/verifier.js'),
        import('../migrate/verify/report.js'),
        import('../migrate/copy/progress.js'),
        import('../control/open.js'),
        import('../status/gather.js'),
        import('../migrate/verify/checkpoint.js'),
      ])
      const source = await openStore(config, 'source', logger)
      const target = await openStore(config, 'target', logger)
      const control = await openControlStore(config, logger).catch((err: unknown) => {
        logger.warn({ err }, 'the control store is unavailable: the result is not recorded for the cutover')
        return undefined
      })
      const controller = new AbortController()
      const stop = () => controller.abort()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      try {
        const replay = control ? await replayStatusOf(config, control, 'replay') : undefined
        const progress = progressFor(flags.progress, process.stderr, 'verify')
        const checkpoint = new VerifyCheckpointFile(config.verify.checkpointDir, config.migration.id)
        const report = await runVerify({
          source,
          target,
          checkpoint,
          resume: flags.resume === true,
          sample: config.verify.sample,
          queries: config.verify.queries,
          topK: config.verify.topK,
          tolerance: config.verify.tolerance,
          thresholds: config.verify.thresholds,
          signal: controller.signal,
          ...(flags.filterFile === undefined ? {} : { filterFile: flags.filterFile }),
          ...(flags.seed === undefined ? {} : { seed: flags.seed }),
          ...(flags.full === undefined
            ? {}
            : {
                full:
                  flags.full === true
                    ? ('all' as const)
                    : String(flags.full)
                        .split(',')
                        .map((n) => n.trim()),
              }),
          ...(replay?.lagRecords === undefined ? {} : { replayLag: replay.lagRecords }),
          ...(progress ? { progress } : {}),
        }).catch((err: unknown) => {
          if (!(err instanceof VerifyInterrupted)) throw err
          process.stderr.write(`vecshift: ${err.message} (${checkpoint.path})\n`)
          process.exitCode = 130
          return undefined
        })
        if (!report) return
        await control
          ?.report('verify', {
            passed: report.passed,
            failures: report.failures,
            finishedAt: report.finishedAt,
            updatedAt: report.finishedAt,
            search: report.search.all,
            records: {
              compared: report.records.compared,
              missing: report.records.missing,
              mismatched: report.records.mismatched,
            },
          })
          .catch((err: unknown) => logger.warn({ err }, 'could not record the verification in the control store'))
        process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : formatVerifyReport(report))
        if (!report.passed) process.exitCode = 1
      } finally {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        await Promise.allSettled([source.close(), target.close(), control?.close()])
      }
    })
}

function count(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${value} is not a whole number`)
  return n
}
