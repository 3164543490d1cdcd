import { setTimeout as sleep } from 'node:timers/promises'
import { compileFilter } from '../../pinecone/filter.js'
import type { StoredVector } from '../../stores/contract.js'
import type { Position, WriteLog } from '../../writelog/contract.js'
import type { LogRecord } from '../../writelog/record.js'

// Copying a batch while writes are captured and replayed, so that no write is lost to the
// copy (after Vitess's VReplication, which positions every copied batch in the change
// stream, and DBLog's watermarks). A batch is copied in rounds:
//
//   1. P = the log's tail;
//   2. wait until the replayer has applied everything up to P;
//   3. fetch the ids from the source (their state includes every write up to P) and upsert
//      them into the target (and delete, from the second round on, those the source no
//      longer has);
//   4. Q = the log's tail; every write logged in (P, Q] that touches the batch (names one of
//      its ids, is a filter that matches one of the fetched records, or empties the
//      namespace) may have reached the target before the upsert and been overwritten by it:
//      those ids go through another round from Q.
//
// A batch is settled when a round finds no such write. Then the target holds each id as the
// source did at the fetch, the replayer has applied every write before it (step 2), so it
// never replays an older write onto the newer state (a filter write would then select by
// the wrong metadata), and every later write is logged after the upsert finished (after Q),
// so the replayer applies it on top. Why a filter write is judged by the fetched metadata:
// a record's state between the fetch and that write changes only through writes that touch
// it, and those are found by their own right.
//
// Step 2 needs a replayer following the log. Without one (replay runs after the copy), the
// wait ends after `replayWaitMs` and the batch is copied unpositioned: the replayer will
// apply every write logged before it onto it, which is right for writes by id (a later
// upsert or delete resets a record) but not always for writes by filter; the summary says
// how many batches were copied so. Ids still touched after `maxRounds` (written
// continuously) come back as unsettled, for the cutover's reconciliation.

export interface SettleOptions {
  readonly log: WriteLog
  /** The replayer's consumer name (its checkpoint is what step 2 waits for). */
  readonly consumer: string
  /** How long step 2 waits for the replayer; past it the round goes on unpositioned. */
  readonly replayWaitMs: number
  readonly maxRounds: number
  readonly pollMs?: number
  readonly signal?: AbortSignal
}

export interface SettledBatch {
  /** Records written to the target by the last round that found them (first round: all). */
  readonly copied: number
  /** Ids the source did not have at their last fetch. */
  readonly missing: number
  readonly rounds: number
  /** Ids not known to be right on the target: for the cutover's reconciliation. */
  readonly unsettled: readonly string[]
  /** Whether step 2 found the replayer at P in every round. */
  readonly positioned: boolean
}

export interface BatchIo {
  fetch(ids: readonly string[]): Promise<Map<string, StoredVector>>
  upsert(records: readonly StoredVector[]): Promise<void>
  deleteIds(ids: readonly string[]): Promise<void>
}

export class Settler {
  readonly #options: SettleOptions
  /** The replayer was at or past this position when last asked. */
  #replayedTo: Position | undefined

  constructor(options: SettleOptions) {
    this.#options = options
  }

  async copy(namespace: string, ids: readonly string[], io: BatchIo): Promise<SettledBatch> {
    const { log, maxRounds } = this.#options
    let pending = ids
    let position = await log.tail()
    let rounds = 0
    let positioned = true
    let copied = 0
    let missing = 0
    const written = new Set<string>()
    while (pending.length > 0) {
      rounds++
      if (!(await this.#replayedThrough(position))) positioned = false
      const found = await io.fetch(pending)
      const gone = pending.filter((id) => !found.has(id))
      if (found.size > 0) await io.upsert([...found.values()])
      // A record copied by an earlier round that the source has since deleted.
      const stale = gone.filter((id) => written.has(id))
      if (stale.length > 0) await io.deleteIds(stale)
      for (const id of found.keys()) written.add(id)
      if (rounds === 1) {
        copied = found.size
        missing = gone.length
      }
      // Unpositioned (no replayer following), another round proves nothing: the replayer
      // will apply every logged write onto this batch later anyway.
      if (!positioned) break
      const tail = await log.tail()
      const touched = await this.#touched(position, tail, namespace, new Set(pending), found)
      position = tail
      pending = touched
      if (pending.length > 0 && rounds >= maxRounds) break
    }
    return { copied, missing, rounds, unsettled: positioned ? pending : [], positioned }
  }

  /** Whether the replayer has applied everything up to `position` (waiting for it). */
  async #replayedThrough(position: Position | undefined): Promise<boolean> {
    if (position === undefined) return true
    const { log, consumer, replayWaitMs } = this.#options
    const at = (p: Position | undefined) => p !== undefined && log.compare(p, position) >= 0
    if (at(this.#replayedTo)) return true
    const first = await log.checkpoint(consumer)
    // A replayer that did not move since a wait ran out is not following (replay runs after
    // the copy): the other batches do not wait for it too, until it moves.
    if (this.#stalled && first === this.#stalledAt) return false
    this.#stalled = false
    const deadline = Date.now() + replayWaitMs
    for (let checkpoint = first; ; checkpoint = await log.checkpoint(consumer)) {
      if (at(checkpoint)) {
        this.#replayedTo = checkpoint
        return true
      }
      if (Date.now() >= deadline || this.#options.signal?.aborted) {
        this.#stalled = true
        this.#stalledAt = checkpoint
        return false
      }
      await sleep(this.#options.pollMs ?? 10)
    }
  }

  #stalled = false
  #stalledAt: Position | undefined

  /** The ids of the batch that a write logged in (from, to] touches. */
  async #touched(from: Position | undefined, to: Position | undefined, namespace: string, ids: ReadonlySet<string>, fetched: ReadonlyMap<string, StoredVector>): Promise<string[]> {
    if (to === undefined || (from !== undefined && this.#options.log.compare(to, from) <= 0)) return []
    const records: LogRecord[] = []
    const refused = new Set<string>()
    for await (const { position, record } of this.#options.log.read(from === undefined ? {} : { after: from })) {
      if (this.#options.log.compare(position, to) > 0) break
      if (record.op === 'outcome' && (record.outcome === 'failed' || record.outcome === 'unsent')) refused.add(`${record.instance}:${record.intentSeq}`)
      else records.push(record)
    }
    const out = new Set<string>()
    for (const r of records) {
      if (r.namespace !== namespace || refused.has(`${r.instance}:${r.seq}`)) continue
      for (const id of touchedBy(r, ids, fetched)) out.add(id)
    }
    return [...out]
  }
}

function touchedBy(r: LogRecord, ids: ReadonlySet<string>, fetched: ReadonlyMap<string, StoredVector>): Iterable<string> {
  const named = (list: readonly string[]) => list.filter((id) => ids.has(id))
  const matching = (filter: Record<string, unknown>) => {
    const matches = compileFilter(filter)
    return [...fetched.values()].filter((v) => matches(v.metadata ?? {})).map((v) => v.id)
  }
  switch (r.op) {
    case 'upsert': return named(r.vectors.map((v) => v.id))
    case 'update': return r.id !== undefined ? named([r.id]) : r.filter ? matching(r.filter) : []
    case 'delete':
      if (r.deleteAll) return [...ids]
      return r.ids ? named(r.ids) : r.filter ? matching(r.filter) : []
    default: return []
  }
}
