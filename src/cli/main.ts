#!/usr/bin/env node
// The `vecshift` command: parses flags, builds objects, runs one subcommand. Each
// subcommand lives in its own file and registers itself on the program.
import { Command, CommanderError } from 'commander'
import { isVecshiftError } from '../errors.js'
import { registerCopy } from './copy.js'
import { registerDemo } from './demo.js'
import { registerEmulator } from './emulator.js'
import { registerGateway } from './gateway.js'
import { registerLog } from './log.js'
import { registerCutover, registerRollback } from './cutover.js'
import { registerReplay } from './replay.js'
import { registerStatus } from './status.js'
import { registerVerify } from './verify.js'
import { registerPlan } from './plan.js'
import { registerIndex } from './index-build.js'
import { VERSION } from './version.js'

export function buildProgram(): Command {
  const program = new Command('vecshift')
    .description('Move a live vector index between stores with zero downtime and zero lost writes.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
  registerEmulator(program)
  registerGateway(program)
  registerCopy(program)
  registerReplay(program)
  registerStatus(program)
  registerVerify(program)
  registerCutover(program)
  registerRollback(program)
  registerPlan(program)
  registerIndex(program)
  registerDemo(program)
  registerLog(program)
  return program
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram().exitOverride()
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode
      return
    }
    // Known errors carry a message written for the operator; anything else is a bug and
    // gets its stack so it can be reported.
    if (isVecshiftError(err)) {
      process.stderr.write(`vecshift: ${err.message} [${err.code}]\n`)
      process.exitCode = 2
    } else {
      process.stderr.write(`vecshift: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`)
      process.exitCode = 1
    }
  }
}

await main(process.argv)
