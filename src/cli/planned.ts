import type { Command } from 'commander'
import { E, VecshiftError } from '../errors.js'

// Subcommands that DESIGN.md names and later issues build. They exist now so that
// `vecshift --help` shows the whole surface and scripts get a clear answer, not "unknown command".
const PLANNED: ReadonlyArray<readonly [string, string]> = [
  ['plan', 'inspect source and target and plan the migration'],
]

export function registerPlanned(program: Command): void {
  for (const [name, summary] of PLANNED) {
    program
      .command(name)
      .description(`${summary} (not available in this version)`)
      .allowUnknownOption()
      .action(() => {
        throw new VecshiftError(E.CLI_USAGE, [`"vecshift ${name}" is not available in this version yet; see the README for what is`])
      })
  }
}
