import type { Config } from '../config/schema.js'
import type { ControlStore } from './contract.js'
import type { Phase } from './record.js'

// Opens the control store the config names. A migration seen for the first time starts in
// the phase the config gives (migration.phase), so a gateway configured for capture before
// the control store existed keeps doing what it did.

export async function openControlStore(config: Config): Promise<ControlStore> {
  const { FileControlStore } = await import('./file-store.js')
  return FileControlStore.open({ dir: config.control.dir, migration: config.migration.id, initialPhase: config.migration.phase as Phase })
}
