import type { Command } from 'commander'

// Placeholder; replaced by the emulator work.
export function registerEmulator(program: Command): void {
  program.command('emulator').description('run a local Pinecone emulator')
}
