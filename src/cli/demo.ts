import { InvalidArgumentError, type Command } from 'commander'
import type { DemoFlags } from './demo-run.js'

// `vecshift demo`: see demo-run.ts. Registration only; the run (emulator, gateway, SDK) is
// loaded when the command is used.

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run vecshift end to end on embedded defaults (emulator + gateway + SDK traffic)')
    .option('--vectors <n>', 'vectors to seed the source index with', intArg(1, 1_000_000), 3000)
    .option('--seconds <s>', 'how long to run traffic through the gateway', intArg(1, 3600), 5)
    .option('--dimension <d>', 'vector dimension', intArg(2, 20000), 128)
    .option('--keep-running', 'leave the emulator and gateway up afterwards (Ctrl-C to stop)')
    .action(async (flags: DemoFlags) => (await import('./demo-run.js')).runDemo(flags))
}

function intArg(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`)
    return n
  }
}
