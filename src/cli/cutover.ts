import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import { E, VecshiftError } from '../errors.js'
import { configFromFlags, loggerFor, positiveInt, type ConfigFlags } from './common.js'

// `vecshift cutover`: flips the migration to the target in a short, bounded write pause
// (src/migrate/cutover/run.ts), or moves reads alone (--reads-only, --canary).

interface CutoverFlags extends ConfigFlags {
  maxPause?: number
  readsOnly?: boolean
  canary?: number
  dryRun?: boolean
  json?: boolean
}

export function registerCutover(program: Command): void {
  program
    .command('cutover')
    .description('flip reads and writes to the target in a short, bounded write pause (aborts by itself past it)')
    .option('-c, --config <file>', 'configuration file (YAML or JSON); VECSHIFT__* variables override it')
    .option('--max-pause <ms>', 'write-pause budget, barrier to flip (cutover.maxPauseMs)', positiveInt)
    .option('--reads-only', 'send all reads to the target; writes stay on the source (no pause)')
    .option('--canary <pct>', 'send this percentage of reads to the target; writes stay (no pause)', percent)
    .option('--dry-run', 'check the preconditions and say what would happen; change nothing')
    .option('--json', 'print the result as one JSON object')
    .option('--log-level <level>', 'override log.level')
    .addHelpText('after', `
Steps: preconditions (copy done, replayer following with lag <= cutover.maxLagRecords, a
gateway replica registered), pre-reconcile (while traffic flows), barrier (replicas hold
writes and append a fence), drain (the replayer reaches every fence), reconcile (ids written
since), flip (reads and writes to the target; held writes released to it). Past the pause
budget or on any failure: abort, back to capture, held writes go to the source.

Examples:
  vecshift cutover --config migration.yaml --dry-run
  vecshift cutover --config migration.yaml --canary 5        # 5% of reads to the target
  vecshift cutover --config migration.yaml --max-pause 500
Exit codes: 0 flipped (or routing changed), 2 refused (nothing changed), 3 aborted (source still primary).`)
    .action(async (flags: CutoverFlags) => {
      const overrides: Record<string, unknown> = {}
      if (flags.maxPause !== undefined) overrides['cutover.maxPauseMs'] = flags.maxPause
      const config = configFromFlags(flags, overrides)
      const logger = loggerFor(config, 'vecshift-cutover', { stderr: true })
      const { openControlStore } = await import('../control/open.js')
      const control = await openControlStore(config)
      try {
        if (flags.readsOnly || flags.canary !== undefined) {
          const record = await control.read()
          if (record.phase !== 'capture') throw new VecshiftError(E.CUTOVER_REFUSED, [`reads move on their own only in phase capture (now ${record.phase})`])
          const routing = flags.readsOnly ? { reads: 'target' as const, canaryPercent: 0 } : { reads: 'source' as const, canaryPercent: flags.canary as number }
          if (flags.dryRun) {
            process.stdout.write(`would route reads: ${JSON.stringify(routing)}\n`)
            return
          }
          const next = await control.update(record.epoch, (r) => ({ ...r, routing: { ...r.routing, ...routing }, epoch: r.epoch + 1, updatedAt: new Date().toISOString(), changedBy: 'vecshift cutover', reason: flags.readsOnly ? 'reads to the target' : `${flags.canary}% of reads to the target` }))
          process.stdout.write(flags.json ? `${JSON.stringify(next)}\n` : `reads now: ${next.routing.reads}${next.routing.canaryPercent ? ` with ${next.routing.canaryPercent}% to the other side` : ''} (epoch ${next.epoch})\n`)
          return
        }
        const [{ openStore }, { openWriteLogForReading }, { runCutover }, { ReplayStatusFile }, { CheckpointFile }] = await Promise.all([
          import('../stores/open.js'), import('../writelog/open.js'), import('../migrate/cutover/run.js'), import('../replay/status.js'), import('../migrate/copy/checkpoint.js'),
        ])
        const log = await openWriteLogForReading(config.writelog, logger)
        const source = await openStore(config, 'source', logger)
        const target = await openStore(config, 'target', logger)
        const files = new ReplayStatusFile(config.replay.dataDir, config.migration.id, 'replay')
        try {
          const result = await runCutover({
            control, log, source, target,
            replayStatus: () => files.load(),
            copy: await new CheckpointFile(config.copy.checkpointDir, config.migration.id).load(),
            dirtyPath: files.dirtyPath,
            maxPauseMs: config.cutover.maxPauseMs,
            maxLagRecords: config.cutover.maxLagRecords,
            replayStaleMs: config.cutover.replayStaleMs,
            by: 'vecshift cutover',
            dryRun: flags.dryRun === true,
            logger,
            onStep: (s) => { if (!flags.json) process.stderr.write(`${s.ok ? '✓' : '✗'} ${s.name.padEnd(14)} ${String(s.ms).padStart(6)} ms${s.detail ? `  ${s.detail}` : ''}\n`) },
          })
          if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`)
          else if (result.outcome === 'done') process.stdout.write(`cutover done: the target is primary (write pause ${result.pauseMs} ms, epoch ${result.record.epoch})\n`)
          else if (result.outcome === 'dry-run') process.stdout.write('dry run: every precondition holds; a cutover would start now\n')
          else process.stdout.write(`cutover ${result.outcome}: ${result.reason}\n${result.outcome === 'aborted' ? 'The source is still primary; held writes went to it. Fix the cause and run the cutover again.\n' : ''}`)
          if (result.outcome === 'refused') process.exitCode = 2
          if (result.outcome === 'aborted') process.exitCode = 3
        } finally {
          await Promise.allSettled([log.close(), source.close(), target.close()])
        }
      } finally {
        await control.close()
      }
    })
}

function percent(value: string): number {
  const n = Number(value)
  if (!(n >= 0 && n <= 100)) throw new InvalidArgumentError(`${value} is not a percentage (0 to 100)`)
  return n
}
