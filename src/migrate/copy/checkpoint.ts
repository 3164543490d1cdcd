import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { readJson, writeJsonAtomic } from '../../atomic-json.js'
import { dict } from '../../dict.js'

// The copy's checkpoint: per namespace, where the next unfinished batch starts (a list
// cursor, or a line of the ids file) and how many records are done. It only ever moves past
// batches that are finished, in order, so a copy killed at any moment and resumed re-copies
// at most the batches that were in flight: at most `concurrency` of them, or, while writes
// are captured, also the copied batches still settling in the write log (settle.ts; at most
// 8 × `concurrency`).

export interface NamespaceProgress {
  /** list-fetch: the cursor of the first unfinished page (absent: from the start). */
  cursor?: string
  /** list-fetch: every page of the namespace is copied. (ids-file counts linesDone.) */
  done: boolean
  copied: number
}

export interface CopyCheckpoint {
  version: 1
  migration: string
  strategy: string
  source: string
  target: string
  startedAt: string
  updatedAt: string
  namespaces: Record<string, NamespaceProgress>
  /** Records the copy expects in all (the source's count when it started), for status. */
  total?: number
  /** ids-file: lines finished, from the top. */
  linesDone?: number
  /** collection: what exists already. */
  collection?: { name: string; created: boolean; indexCreated: boolean }
  finishedAt?: string
  /** Present when the copy ran with the write log (settle.ts): the namespaces where a batch
   *  was copied without the replayer's position. The cutover compares those in full where
   *  writes by filter touched them; a copy without this field positioned nothing. */
  settle?: { unpositioned: string[] }
}

export class CheckpointFile {
  readonly path: string
  #running: Promise<void> | undefined
  #next: Promise<void> | undefined
  #latest: CopyCheckpoint | undefined

  /** `onSaved`: told each checkpoint once it is durable (to report progress elsewhere). */
  constructor(
    dir: string,
    migration: string,
    private readonly onSaved?: (checkpoint: CopyCheckpoint) => void,
  ) {
    this.path = join(dir, `${migration}.copy.json`)
  }

  async load(): Promise<CopyCheckpoint | undefined> {
    const cp = await readJson<CopyCheckpoint>(this.path)
    // Namespaces are the source's: "__proto__" is one like any other (dict.ts).
    return cp === undefined ? undefined : { ...cp, namespaces: dict(Object.entries(cp.namespaces ?? {})) }
  }

  /**
   * Makes `checkpoint` (as it is now) durable. Saves are group-committed: while one is being
   * written, every caller that asks shares the one save that follows, with the latest state.
   * A worker waits for this before it takes another batch, so the batches not covered by the
   * file on disk are never more than the workers.
   */
  save(checkpoint: CopyCheckpoint): Promise<void> {
    this.#latest = checkpoint
    if (!this.#running) {
      this.#running = this.#write().finally(() => {
        this.#running = undefined
      })
      return this.#running
    }
    this.#next ??= this.#running
      .catch(() => undefined)
      .then(() => {
        this.#next = undefined
        this.#running = this.#write().finally(() => {
          this.#running = undefined
        })
        return this.#running
      })
    return this.#next
  }

  async #write(): Promise<void> {
    const snapshot = JSON.parse(
      JSON.stringify({ ...this.#latest, updatedAt: new Date().toISOString() }),
    ) as CopyCheckpoint
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 })
    await writeJsonAtomic(this.path, snapshot)
    this.onSaved?.(snapshot)
  }
}
