import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import type { Config } from '../config/schema.js'
import type { ControlStore } from '../control/contract.js'
import { rerouted } from '../control/record.js'
import { E, VecshiftError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { VerificationResult } from '../migrate/cutover/coordinator.js'
import { stepsHelp } from '../migrate/cutover/steps.js'
import { configFromFlags, loggerFor, positiveInt, type ConfigFlags } from './common.js'
import { reverseLogConfig } from '../config/reverse-log.js'

// `vecshift cutover`: flips the migration to the target in a short, bounded write pause
// (src/migrate/cutover/coordinator.ts), or moves reads alone (--reads-only, --canary).

interface CutoverFlags extends ConfigFlags {
  abort?: boolean
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
    .option('--abort', 'end a running cutover from another shell (its pause ends at once); exit 2 if none runs')
    .option('--json', 'print the result as one JSON object')
    .option('--log-level <level>', 'override log.level')
    .addHelpText(
      'after',
      `
The steps (src/migrate/cutover/steps.ts; each runs within its deadline):
${stepsHelp()}
An abort goes back to capture and releases the held writes to the source; Ctrl-C aborts too.
If this process dies or hangs in the pause, the gateways end the pause themselves (its lease,
control.leaseMs, or its deadline, the budget + 1 s); --abort ends one from another shell.

Examples:
  vecshift cutover --config migration.yaml --dry-run
  vecshift cutover --config migration.yaml --canary 5        # 5% of reads to the target
  vecshift cutover --config migration.yaml --max-pause 500
  vecshift cutover --config migration.yaml --abort          # end a running cutover now
Exit codes: 0 flipped (or routing changed), 2 refused (nothing changed), 3 aborted (source still primary).`,
    )
    .action(async (flags: CutoverFlags) => {
      const overrides: Record<string, unknown> = {}
      if (flags.maxPause !== undefined) overrides['cutover.maxPauseMs'] = flags.maxPause
      const config = configFromFlags(flags, overrides)
      const logger = loggerFor(config, 'vecshift-cutover', { stderr: true })
      const { openControlStore } = await import('../control/open.js')
      const control = await openControlStore(config, logger)
      try {
        if (flags.abort) return await abort('cutover', control, flags)
        if (flags.readsOnly || flags.canary !== undefined) {
          const record = await control.read()
          if (record.phase !== 'capture')
            throw new VecshiftError(E.CUTOVER_REFUSED, [
              `reads move on their own only in phase capture (now ${record.phase})`,
            ])
          const routing = flags.readsOnly
            ? { reads: 'target' as const, canaryPercent: 0 }
            : { reads: 'source' as const, canaryPercent: flags.canary as number }
          if (flags.dryRun) {
            process.stdout.write(`would route reads: ${JSON.stringify(routing)}\n`)
            return
          }
          const reason = flags.readsOnly ? 'reads to the target' : `${flags.canary}% of reads to the target`
          const next = await control.update(record.epoch, (r) => rerouted(r, routing, 'vecshift cutover', reason))
          const canary = next.routing.canaryPercent ? ` with ${next.routing.canaryPercent}% to the other side` : ''
          process.stdout.write(
            flags.json
              ? `${JSON.stringify(next)}\n`
              : `reads now: ${next.routing.reads}${canary} (epoch ${next.epoch})\n`,
          )
          return
        }
        await flip('cutover', config, control, logger, flags)
      } finally {
        await control.close()
      }
    })
}

/** The cutover, or the rollback, run and reported. */
async function flip(
  direction: 'cutover' | 'rollback',
  config: Config,
  control: ControlStore,
  logger: Logger,
  flags: CutoverFlags,
): Promise<void> {
  const [
    { openStore },
    { openWriteLogForReading },
    { runCutover },
    { ReplayStatusFile },
    { copyCheckpointOf, replayStatusOf },
  ] = await Promise.all([
    import('../stores/open.js'),
    import('../writelog/open.js'),
    import('../migrate/cutover/coordinator.js'),
    import('../replay/status.js'),
    import('../status/gather.js'),
  ])
  const rollback = direction === 'rollback'
  // A rollback reads the reverse log and makes the source equal to the target.
  const log = await openWriteLogForReading(rollback ? reverseLogConfig(config) : config.writelog, logger)
  const source = await openStore(config, 'source', logger)
  const target = await openStore(config, 'target', logger)
  const files = new ReplayStatusFile(config.replay.dataDir, config.migration.id, rollback ? 'rollback' : 'replay')
  // Ctrl-C or SIGTERM: before the pause the cutover refuses, in it it aborts (writes are
  // released where they were); a second signal is Node's default (exit at once).
  const cancel = new AbortController()
  const stop = (signal: NodeJS.Signals) => cancel.abort(new Error(`${direction} interrupted (${signal})`))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    const result = await runCutover({
      signal: cancel.signal,
      direction,
      control,
      log,
      source: rollback ? target : source,
      target: rollback ? source : target,
      // From this host's files or the control store, whichever is newer: the replayer and
      // the copy may run elsewhere.
      replayStatus: () => replayStatusOf(config, control, rollback ? 'rollback' : 'replay'),
      copy: await copyCheckpointOf(config, control),
      dirtyPath: files.dirtyPath,
      maxPauseMs: config.cutover.maxPauseMs,
      maxLagRecords: config.cutover.maxLagRecords,
      barrierLagRecords: config.cutover.barrierLagRecords,
      catchUpTimeoutMs: config.cutover.catchUpTimeoutMs,
      preReconcileTimeoutMs: config.cutover.preReconcileTimeoutMs,
      leaseMs: config.control.leaseMs,
      replayStaleMs: config.cutover.replayStaleMs,
      ...(config.cutover.requireVerify && !rollback
        ? {
            verification: async () => (await control.reports()).verify?.value as VerificationResult | undefined,
            verifyMaxAgeMs: config.cutover.verifyMaxAgeMs,
          }
        : {}),
      by: `vecshift ${direction}`,
      dryRun: flags.dryRun === true,
      logger,
      // The pre-reconcile can compare whole namespaces (docs/copy.md): say how far it is, at
      // most every 5 s, as a JSON line when --json keeps stdout for the result.
      onReconcileProgress: (() => {
        let last = Date.now()
        return (checked: number) => {
          if (Date.now() - last < 5_000) return
          last = Date.now()
          process.stderr.write(
            flags.json
              ? `${JSON.stringify({ progress: 'pre-reconcile', checked })}\n`
              : `… pre-reconcile  ${checked} ids checked so far\n`,
          )
        }
      })(),
      onStep: (s) => {
        if (!flags.json)
          process.stderr.write(
            `${s.ok ? '✓' : '✗'} ${s.name.padEnd(14)} ${String(s.ms).padStart(6)} ms${s.detail ? `  ${s.detail}` : ''}\n`,
          )
      },
    })
    const primary = rollback ? 'the source' : 'the target'
    if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`)
    else if (result.outcome === 'done')
      process.stdout.write(
        `${direction} done: ${primary} is primary (write pause ${result.pauseMs} ms, epoch ${result.record.epoch})\n`,
      )
    else if (result.outcome === 'dry-run')
      process.stdout.write(`dry run: every precondition holds; a ${direction} would start now\n`)
    else
      process.stdout.write(
        `${direction} ${result.outcome}: ${result.reason}\n` +
          (result.outcome === 'aborted'
            ? `Nothing moved: ${rollback ? 'the target' : 'the source'} is still primary and held writes went to it. ` +
              'Fix the cause and run it again.\n'
            : ''),
      )
    if (result.outcome === 'refused') process.exitCode = 2
    if (result.outcome === 'aborted') process.exitCode = 3
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    await Promise.allSettled([log.close(), source.close(), target.close()])
  }
}

export function registerRollback(program: Command): void {
  program
    .command('rollback')
    .description(
      'after a cutover: replay the reverse log into the source and flip back, in the same bounded write pause',
    )
    .option('-c, --config <file>', 'configuration file (YAML or JSON); VECSHIFT__* variables override it')
    .option('--max-pause <ms>', 'write-pause budget, barrier to flip (cutover.maxPauseMs)', positiveInt)
    .option('--dry-run', 'check the preconditions; change nothing')
    .option('--abort', 'end a running rollback from another shell (its pause ends at once); exit 2 if none runs')
    .option('--json', 'print the result as one JSON object')
    .option('--log-level <level>', 'override log.level')
    .addHelpText(
      'after',
      `
Needs \`vecshift replay --reverse --follow\` running (it applies the writes made on the target
since the cutover to the source). The steps are the cutover's (see \`vecshift cutover --help\`),
the other way: the barrier is phase rollback, the drain reaches the fences in the reverse log,
the flip is phase source-primary. Past the budget, or on Ctrl-C, it aborts: the target stays
primary.
Exit codes: 0 rolled back, 2 refused (nothing changed), 3 aborted (target still primary).`,
    )
    .action(async (flags: CutoverFlags) => {
      const config = configFromFlags(
        flags,
        flags.maxPause === undefined ? {} : { 'cutover.maxPauseMs': flags.maxPause },
      )
      const logger = loggerFor(config, 'vecshift-rollback', { stderr: true })
      const { openControlStore } = await import('../control/open.js')
      const control = await openControlStore(config, logger)
      try {
        if (flags.abort) return await abort('rollback', control, flags)
        await flip('rollback', config, control, logger, flags)
      } finally {
        await control.close()
      }
    })
}

async function abort(direction: 'cutover' | 'rollback', control: ControlStore, flags: CutoverFlags): Promise<void> {
  const { abortRunning } = await import('./cutover-abort.js')
  const result = await abortRunning(direction, control)
  process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `${result.detail}\n`)
}

function percent(value: string): number {
  const n = Number(value)
  if (!(n >= 0 && n <= 100)) throw new InvalidArgumentError(`${value} is not a percentage (0 to 100)`)
  return n
}
