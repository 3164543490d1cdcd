import type { Command } from 'commander'

// Placeholder; replaced by the gateway work.
export function registerGateway(program: Command): void {
  program.command('gateway').description('run the Pinecone-compatible gateway')
}
