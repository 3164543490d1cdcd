import { InvalidArgumentError, Option, type Command } from 'commander'
import type { DemoFlags } from './demo-run.js'

// `vecshift demo`: see demo-run.ts. Registration only; the run (emulator, gateway, SDK,
// copy, replay, verify, cutover) is loaded when the command is used.

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'run a real migration end to end on embedded defaults: emulator, file log, gateway, SDK traffic, copy, replay, verify, cutover',
    )
    .option('--vectors <n>', 'vectors to seed the pod-like source index with', intArg(1, 1_000_000), 3000)
    .option('--dimension <d>', 'vector dimension', intArg(2, 20000), 64)
    .addOption(
      new Option(
        '--target <store>',
        'where the index moves: a serverless Pinecone index (emulator) or pgvector (PGlite)',
      )
        .choices(['pinecone', 'pgvector'])
        .default('pinecone'),
    )
    .option(
      '--pause-seconds <s>',
      'wait this long before the cutover (time to watch the status page while writes are captured)',
      intArg(0, 3600),
      0,
    )
    .option(
      '--after-seconds <s>',
      'how long the app keeps writing to the new index after the cutover',
      intArg(0, 3600),
      2,
    )
    .option(
      '--dir <dir>',
      'where the write log, control record and checkpoints go (default: a new temporary directory)',
    )
    .option('--keep-running', 'leave everything up afterwards, with the status page (Ctrl-C to stop)')
    .addHelpText(
      'after',
      `
The demo prints each step as it happens and a summary at the end: records copied, writes
captured and replayed, recall@10, the longest write pause the app saw, and client errors.
It exits 1 if any client request failed or the new index differs from what the app wrote.`,
    )
    .action(async (flags: DemoFlags) => (await import('./demo-run.js')).runDemo(flags))
}

function intArg(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`)
    return n
  }
}
