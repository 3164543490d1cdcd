import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { readJson, writeJsonAtomic } from '../atomic-json.js'
import type { Position } from '../writelog/contract.js'

// Where a replayer leaves its state for other commands (`vecshift status`, the cutover): the
// last status (checkpoint, lag, counts) and the dirty set, under replay.dataDir, per
// migration and consumer.

export interface ReplayCounts {
  /** Intents applied (ok), coalesced or not. */
  applied: number
  /** Intents whose outcome was failure, skipped. */
  skippedFailed: number
  /** Intents without a usable outcome whose ids were repaired from the source. */
  repaired: number
  /** Writes by filter applied without a known outcome (see above). */
  uncertainFilterWrites: number
  /** Intents left out by --namespace. */
  otherNamespaces: number
  batches: number
  upserted: number
  deleted: number
  updated: number
  filterWrites: number
}

/** The counts of a replayer that has applied nothing yet. */
export function noCounts(): ReplayCounts {
  return {
    applied: 0,
    skippedFailed: 0,
    repaired: 0,
    uncertainFilterWrites: 0,
    otherNamespaces: 0,
    batches: 0,
    upserted: 0,
    deleted: 0,
    updated: 0,
    filterWrites: 0,
  }
}

export interface ReplayStatus {
  readonly consumer: string
  readonly checkpoint: Position | undefined
  readonly tail: Position | undefined
  /** Records between the checkpoint and the log's tail, when the log can count them. */
  readonly lagRecords: number | undefined
  /** Age of the oldest write not yet applied; 0 when caught up. */
  readonly lagSeconds: number
  /** Intents read but held back, waiting for their outcome (or behind one that is). */
  readonly awaitingOutcome: number
  readonly counts: Readonly<ReplayCounts>
  readonly dirtyIds: number
  readonly lastFence: string | undefined
  /** The error the replayer is retrying, if any. */
  readonly retrying: string | undefined
  /** A write the target refused for good: replay stopped before it (E.REPLAY_REFUSED). */
  readonly failed?: ReplayFailure
  readonly updatedAt: string
}

/** What the target refused, where in the log, and its words. */
export interface ReplayFailure {
  /** The step: "apply a batch", "apply delete by filter", ... */
  readonly what: string
  readonly namespace?: string
  /** The record the target refused, when the batch was narrowed down to it. */
  readonly id?: string
  /** The write lies after this checkpoint, at or before `through`. */
  readonly after: Position | undefined
  readonly through: Position | undefined
  readonly error: string
  readonly at: string
}

export class ReplayStatusFile {
  readonly path: string
  readonly dirtyPath: string

  constructor(
    readonly dir: string,
    migration: string,
    consumer: string,
  ) {
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
