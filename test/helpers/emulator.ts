// Starts a real emulator on 127.0.0.1 (any free port) for one test and closes it on teardown.
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/server.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

export async function startTestEmulator(t: Teardown, opts: EmulatorOptions = {}): Promise<Emulator> {
  const emu = await startEmulator(opts)
  t.teardown(() => emu.close())
  return emu
}
