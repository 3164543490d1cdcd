import { mkdir, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { readJson, writeJsonAtomic } from '../../atomic-json.js'
import type { VerifyCheckpoint, VerifyState } from './verifier.js'

/** An interrupted verification's progress, one JSON file per migration (written atomically,
 *  removed once a verification finishes). */
export class VerifyCheckpointFile implements VerifyCheckpoint {
  readonly path: string

  constructor(dir: string, migration: string) {
    this.path = join(dir, `${migration}.verify.json`)
  }

  load(): Promise<VerifyState | undefined> {
    return readJson<VerifyState>(this.path)
  }

  async save(state: VerifyState): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 })
    await writeJsonAtomic(this.path, state)
  }

  async clear(): Promise<void> {
    await unlink(this.path).catch(() => undefined)
  }
}
