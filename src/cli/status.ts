import type { Command } from 'commander'
import { configFromFlags, positiveInt, type ConfigFlags } from './common.js'

// `vecshift status`: where the migration stands — phase and routing from the control store,
// copy progress, replay lag, the gateway replicas and their leases, the last cutover.

interface StatusFlags extends ConfigFlags {
  json?: boolean
  watch?: boolean
  interval?: number
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show the migration phase, routing, copy progress, replay lag, replicas and the last cutover')
    .option('-c, --config <file>', 'configuration file (YAML or JSON); VECSHIFT__* variables override it')
    .option('--json', 'one JSON object (with --watch: one per line)')
    .option('--watch', 'refresh until Ctrl-C')
    .option('--interval <seconds>', 'refresh interval for --watch', positiveInt, 2)
    .addHelpText(
      'after',
      `
Examples:
  vecshift status --config migration.yaml
  vecshift status --config migration.yaml --watch
  vecshift status --config migration.yaml --json | jq .replay.lagRecords`,
    )
    .action(async (flags: StatusFlags) => {
      const config = configFromFlags(flags)
      const [{ openControlStore }, { gatherStatus }, { formatStatus }] = await Promise.all([
        import('../control/open.js'),
        import('../status/gather.js'),
        import('../status/format.js'),
      ])
      const control = await openControlStore(config)
      try {
        for (;;) {
          const status = await gatherStatus(config, control)
          if (flags.json) process.stdout.write(`${JSON.stringify(status)}\n`)
          else
            process.stdout.write(`${flags.watch && process.stdout.isTTY ? '\x1b[2J\x1b[H' : ''}${formatStatus(status)}`)
          if (!flags.watch) break
          await new Promise((resolve) => setTimeout(resolve, (flags.interval ?? 2) * 1000))
        }
      } finally {
        await control.close()
      }
    })
}
