import type { Command } from 'commander'
import { E, VecshiftError } from '../errors.js'
import { configFromFlags, loggerFor, type ConfigFlags } from './common.js'
import { reverseLogConfig } from '../config/reverse-log.js'

// `vecshift replay`: applies the write log to the target (src/replay/replayer.ts). Beside a
// running gateway: the log is opened for reading only. Progress (lag) goes to stderr as JSON
// lines, the final status to stdout; the status is also kept in replay.dataDir for
// `vecshift status`. Ctrl-C / SIGTERM stop it after the step in progress; the checkpoint
// then covers everything applied, and the next run continues from it.

interface ReplayFlags extends ConfigFlags {
  follow?: boolean
  from?: string
  until?: string
  namespace?: string
  dryRun?: boolean
  json?: boolean
  reverse?: boolean
  reembed?: boolean
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('apply the write log to the target, in order, idempotently; --follow keeps up with it')
    .option('-c, --config <file>', 'configuration file (YAML or JSON); VECSHIFT__* variables override it')
    .option('--follow', 'keep following the log (until Ctrl-C / SIGTERM) instead of stopping at its end')
    .option('--from <position>', 'start after this log position instead of the saved checkpoint')
    .option('--until <position>', 'stop once everything up to this position is applied')
    .option(
      '--namespace <ns>',
      'apply only this namespace ("" or __default__ for the default); it keeps its own checkpoint',
    )
    .option('--dry-run', 'print what would be applied (JSON lines), apply nothing, move no checkpoint')
    .option(
      '--reverse',
      'after a cutover: apply the reverse log (writes made on the target) to the source, for a rollback',
    )
    .option(
      '--reembed',
      "the target holds another model's embeddings: re-embed logged writes from their text (reembed: section), as copy --reembed did",
    )
    .option('--json', 'print the final status as one JSON object')
    .option('--log-level <level>', 'override log.level')
    .addHelpText(
      'after',
      `
Examples:
  vecshift replay --config migration.yaml              # catch up to the end of the log
  vecshift replay --config migration.yaml --follow     # and keep up (run beside the gateway)
  vecshift replay --config migration.yaml --dry-run | head

Writes whose outcome is failure are skipped; writes with no known outcome have their ids
re-read from the source (VECSHIFT_SOURCE_API_KEY). The ids written since capture began are
kept in replay.dataDir for the cutover's reconciliation.
Exit codes: 0 done, 2 failed (the message says why; the checkpoint is intact), 130 interrupted.`,
    )
    .action(async (flags: ReplayFlags) => {
      const config = configFromFlags(flags)
      const logger = loggerFor(config, 'vecshift-replay', { stderr: true })
      const [{ openStore }, { openWriteLogForReading }, { replay }, { DirtySet }, { ReplayStatusFile }] =
        await Promise.all([
          import('../stores/open.js'),
          import('../writelog/open.js'),
          import('../replay/replayer.js'),
          import('../replay/dirty.js'),
          import('../replay/status.js'),
        ])
      const namespace = flags.namespace === '__default__' ? '' : flags.namespace
      const base = flags.reverse ? 'rollback' : 'replay'
      const consumer = namespace === undefined ? base : `${base}@ns=${namespace}`
      // Reverse: the reverse log, applied to the source, repaired from the target.
      const log = await openWriteLogForReading(flags.reverse ? reverseLogConfig(config) : config.writelog, logger)
      if (flags.reembed && flags.reverse)
        throw new VecshiftError(E.CLI_USAGE, [
          '--reembed applies to the forward replay (into a target of another model); ' +
            "a rollback into the source would need the source model's embeddings",
        ])
      const opened = await openStore(config, flags.reverse ? 'source' : 'target', logger)
      const target = flags.reembed
        ? (await import('../migrate/reembed/open.js')).reembeddingTarget(config, opened)
        : opened
      const source = flags.dryRun ? undefined : await openStore(config, flags.reverse ? 'target' : 'source', logger)
      const files = new ReplayStatusFile(config.replay.dataDir, config.migration.id, consumer)
      const dirty = flags.dryRun ? undefined : await DirtySet.open(files.dirtyPath)
      // The status goes to the control store too, for `vecshift status` and the cutover on
      // any host (the file stays the one this host's commands read first).
      const [{ openControlStore }, { ProgressReporter }] = await Promise.all([
        import('../control/open.js'),
        import('../control/reporter.js'),
      ])
      const control = flags.dryRun
        ? undefined
        : await openControlStore(config, logger).catch((err: unknown) => {
            logger.warn(
              { err },
              'the control store is unavailable; the replayer goes on without reporting its status there',
            )
            return undefined
          })
      const reporter = control ? new ProgressReporter(control, consumer, 500, logger) : undefined
      const controller = new AbortController()
      const stop = () => controller.abort()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      let lastLine = 0
      try {
        const final = await replay({
          log,
          target,
          consumer,
          follow: flags.follow === true && !flags.dryRun,
          dryRun: flags.dryRun === true,
          batchSize: config.replay.batchSize,
          lingerMs: config.replay.lingerMs,
          outcomeWaitMs: config.replay.outcomeWaitMs,
          concurrency: config.replay.concurrency,
          logger,
          signal: controller.signal,
          ...(source ? { source } : {}),
          ...(dirty ? { dirty } : {}),
          ...(flags.from === undefined ? {} : { from: flags.from }),
          ...(flags.until === undefined ? {} : { until: flags.until }),
          ...(namespace === undefined ? {} : { namespace }),
          print: (line) => process.stdout.write(`${line}\n`),
          onStatus: async (status) => {
            if (flags.dryRun) return
            await files.save(status)
            reporter?.update(status)
            if (Date.now() - lastLine >= 5_000) {
              lastLine = Date.now()
              const progress = {
                progress: 'replay',
                checkpoint: status.checkpoint,
                tail: status.tail,
                lagRecords: status.lagRecords,
                lagSeconds: status.lagSeconds,
                awaitingOutcome: status.awaitingOutcome,
                applied: status.counts.applied,
                ...(status.retrying ? { retrying: status.retrying } : {}),
              }
              process.stderr.write(`${JSON.stringify(progress)}\n`)
            }
          },
        })
        if (!flags.dryRun) await files.save(final)
        reporter?.update(final)
        if (flags.dryRun) return
        process.stdout.write(flags.json ? `${JSON.stringify(final)}\n` : formatStatus(final))
        if (controller.signal.aborted) process.exitCode = 130
      } finally {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        await reporter?.flush()
        await Promise.allSettled([dirty?.close(), log.close(), target.close(), source?.close(), control?.close()])
      }
    })
}

function formatStatus(s: import('../replay/status.js').ReplayStatus): string {
  const c = s.counts
  return [
    `replay ${s.lagRecords === 0 && s.awaitingOutcome === 0 ? 'caught up' : 'stopped'} ` +
      `at ${s.checkpoint ?? '(start)'} of ${s.tail ?? '(empty log)'}`,
    `  applied    ${c.applied} writes in ${c.batches} batches ` +
      `(${c.upserted} upserted, ${c.deleted} deleted, ${c.updated} updated, ${c.filterWrites} by filter)`,
    `  skipped    ${c.skippedFailed} the source refused`,
    `  repaired   ${c.repaired} without a known outcome, from the source` +
      (c.uncertainFilterWrites
        ? `; ${c.uncertainFilterWrites} by filter applied without one (the cutover compares those namespaces in full)`
        : ''),
    `  lag        ${s.lagRecords ?? '?'} records, ${s.lagSeconds} s` +
      (s.awaitingOutcome ? `; ${s.awaitingOutcome} writes await their outcome (run again, or --follow)` : ''),
    `  dirty ids  ${s.dirtyIds}`,
    '',
  ].join('\n')
}
