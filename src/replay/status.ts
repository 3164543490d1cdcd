import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { readJson, writeJsonAtomic } from '../writelog/file/atomic-json.js'
import type { ReplayStatus } from './replayer.js'

// Where a replayer leaves its state for other commands (`vecshift status`, the cutover): the
// last status (checkpoint, lag, counts) and the dirty set, under replay.dataDir, per
// migration and consumer.

export class ReplayStatusFile {
  readonly path: string
  readonly dirtyPath: string

  constructor(readonly dir: string, migration: string, consumer: string) {
    const name = consumer === 'replay' ? migration : `${migration}.${consumer.replace(/[^a-zA-Z0-9_.=-]/g, '_')}`
    this.path = join(dir, `${name}.replay.json`)
    // The forward replayer's dirty set is the cutover's; a rollback's (consumer "rollback",
    // over the reverse log) is its own.
    this.dirtyPath = join(dir, consumer === 'replay' ? `${migration}.dirty.jsonl` : `${name}.dirty.jsonl`)
  }

  async save(status: ReplayStatus): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    await writeJsonAtomic(this.path, status)
  }

  load(): Promise<ReplayStatus | undefined> {
    return readJson<ReplayStatus>(this.path)
  }
}
