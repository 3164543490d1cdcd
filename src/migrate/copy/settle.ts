import { setTimeout as sleep } from 'node:timers/promises'
import { compileFilter } from '../../wire/pinecone/filter.js'
import type { StoredVector } from '../../stores/contract.js'
import type { Position, WriteLog } from '../../writelog/contract.js'
import type { LogRecord } from '../../writelog/record.js'

// Copying a batch while writes are captured and replayed, so that no write is lost to the
// copy (after Vitess's VReplication, which positions every copied batch in the change
// stream, and DBLog's watermarks, which copy without locks and reconcile afterwards).
//
// The first round never waits:
//   1. R = the replayer's checkpoint, P = the log's tail;
//   2. fetch the ids from the source (their state includes every write up to P) and upsert
//      them into the target; Q = the log's tail;
//   3. later, without holding the copy up: once the replayer has applied everything up to
//      Q, every write logged in (R, Q] that touches the batch (names one of its ids, is a
//      filter that matches one of the fetched records, or empties the namespace) may have
//      been applied to the target before the upsert and been overwritten by it, or been
//      applied after it onto the newer record (the replayer was at R, not P, when the batch
//      was fetched): those ids go through another round.
// Later rounds are positioned: P' = the tail; wait until the replayer has applied everything
// up to P'; fetch, upsert, and delete what the source no longer has; Q' = the tail; the
// writes of (P', Q'] that touch the batch send their ids round again.
//
// A batch is settled when a round finds no such write. Then the target holds each id as the
// source did at the fetch, every write before it is applied (by the replayer, before the
// upsert, or found and copied again), so none is replayed onto the newer state (a filter
// write would then select by the wrong metadata), and every later write is logged after the
// upsert finished, so the replayer applies it on top. Why a filter write is judged by the
// fetched metadata: a record's state between the fetch and that write changes only through
// writes that touch it, and those are found by their own right.
//
// Step 3 runs behind the copy (the copy's checkpoint moves past a batch only once it is
// settled), so the copy's rate does not depend on the replayer's latency: a first round costs
// the fetch and the upsert, as without a write log. It needs a replayer following the log.
// Without one (replay runs after the copy), the wait ends after `replayWaitMs` and the batch
// stays unpositioned: the replayer will apply every write logged before it onto it, which is
// right for writes by id (a later upsert or delete resets a record) but not always for writes
// by filter; the checkpoint names those namespaces and the cutover compares them in full
// where writes by filter touched them. Ids still touched after `maxRounds` (written
// continuously) come back as unsettled, for the cutover's reconciliation.

export interface SettleOptions {
  readonly log: WriteLog
  /** The replayer's consumer name (its checkpoint is what the rounds wait for). */
  readonly consumer: string
  /** How long a round waits for the replayer; past it the batch is left unpositioned. */
  readonly replayWaitMs: number
  readonly maxRounds: number
  readonly pollMs?: number
  readonly signal?: AbortSignal
}

export interface SettledBatch {
  readonly rounds: number
  /** Ids not known to be right on the target: for the cutover's reconciliation. */
  readonly unsettled: readonly string[]
  /** Whether the replayer reached each round's position in time. */
  readonly positioned: boolean
}

export interface FirstRound {
  /** Records the first round wrote to the target. */
  readonly copied: number
  /** Ids the source did not have at the first fetch. */
  readonly missing: number
  /** Resolves once the batch is settled (or known unsettled); the copy moves its checkpoint
   *  past the batch only then. */
  readonly settled: Promise<SettledBatch>
}

export interface BatchIo {
  fetch(ids: readonly string[]): Promise<Map<string, StoredVector>>
  upsert(records: readonly StoredVector[]): Promise<void>
  deleteIds(ids: readonly string[]): Promise<void>
}

interface Waiter {
  readonly position: Position
  readonly deadline: number
  readonly resolve: (reached: boolean) => void
}

export class Settler {
  readonly #options: SettleOptions
  /** The replayer was at or past this position when last asked. */
  #replayedTo: Position | undefined
  readonly #waiters = new Set<Waiter>()
  #watching = false
  /** A wait ran out with the replayer here: it is not following (replay runs after the
   *  copy), and later batches do not wait for it too until it moves. */
  #stalledAt: Position | undefined | null = null

  constructor(options: SettleOptions) {
    this.#options = options
  }

  async copy(namespace: string, ids: readonly string[], io: BatchIo): Promise<FirstRound> {
    const { log } = this.#options
    const from = await log.checkpoint(this.#options.consumer)
    const found = await io.fetch(ids)
    if (found.size > 0) await io.upsert([...found.values()])
    const to = await log.tail()
    const settled = this.#settle(namespace, ids, found, from, to, io)
    settled.catch(() => undefined)
    return { copied: found.size, missing: ids.length - found.size, settled }
  }

  async #settle(
    namespace: string,
    ids: readonly string[],
    found: ReadonlyMap<string, StoredVector>,
    from: Position | undefined,
    to: Position | undefined,
    io: BatchIo,
  ): Promise<SettledBatch> {
    const { log, maxRounds } = this.#options
    // Nothing logged yet when the upsert finished: no write can have raced it.
    if (to === undefined) return { rounds: 1, unsettled: [], positioned: true }
    if (!(await this.#replayedThrough(to))) return { rounds: 1, unsettled: [], positioned: false }
    let pending = await this.#touched(from, to, namespace, new Set(ids), found)
    let rounds = 1
    while (pending.length > 0) {
      if (rounds >= maxRounds) return { rounds, unsettled: pending, positioned: true }
      rounds++
      const position = await log.tail()
      if (!(await this.#replayedThrough(position))) return { rounds, unsettled: [], positioned: false }
      const again = await io.fetch(pending)
      if (again.size > 0) await io.upsert([...again.values()])
      // The replayer has applied everything up to `position`, so an id the source does not
      // hold now must not be on the target either (a first round may have left it there).
      const gone = pending.filter((id) => !again.has(id))
      if (gone.length > 0) await io.deleteIds(gone)
      const tail = await log.tail()
      pending = await this.#touched(position, tail, namespace, new Set(pending), again)
    }
    return { rounds, unsettled: [], positioned: true }
  }

  /** Whether the replayer has applied everything up to `position` (waiting for it, at most
   *  replayWaitMs). One poll of its checkpoint serves every batch waiting. */
  #replayedThrough(position: Position | undefined): Promise<boolean> {
    if (position === undefined) return Promise.resolve(true)
    const { log } = this.#options
    if (this.#replayedTo !== undefined && log.compare(this.#replayedTo, position) >= 0) return Promise.resolve(true)
    return new Promise<boolean>((resolve) => {
      this.#waiters.add({ position, deadline: Date.now() + this.#options.replayWaitMs, resolve })
      if (!this.#watching) void this.#watch()
    })
  }

  async #watch(): Promise<void> {
    const { log, consumer } = this.#options
    this.#watching = true
    try {
      while (this.#waiters.size > 0) {
        let checkpoint: Position | undefined
        try {
          checkpoint = await log.checkpoint(consumer)
        } catch {
          checkpoint = this.#replayedTo
        }
        if (
          checkpoint !== undefined &&
          (this.#replayedTo === undefined || log.compare(checkpoint, this.#replayedTo) > 0)
        )
          this.#replayedTo = checkpoint
        const moved = this.#stalledAt === null || this.#stalledAt !== checkpoint
        if (moved) this.#stalledAt = null
        const now = Date.now()
        for (const w of this.#waiters) {
          if (checkpoint !== undefined && log.compare(checkpoint, w.position) >= 0) {
            this.#waiters.delete(w)
            w.resolve(true)
          } else if (now >= w.deadline || this.#options.signal?.aborted || !moved) {
            // A replayer that did not move since a wait ran out is not following.
            this.#waiters.delete(w)
            this.#stalledAt = checkpoint
            w.resolve(false)
          }
        }
        if (this.#waiters.size > 0) await sleep(this.#options.pollMs ?? 10)
      }
    } finally {
      this.#watching = false
    }
  }

  /** The ids of the batch that a write logged in (from, to] touches. */
  async #touched(
    from: Position | undefined,
    to: Position | undefined,
    namespace: string,
    ids: ReadonlySet<string>,
    fetched: ReadonlyMap<string, StoredVector>,
  ): Promise<string[]> {
    if (to === undefined || (from !== undefined && this.#options.log.compare(to, from) <= 0)) return []
    const records: LogRecord[] = []
    const refused = new Set<string>()
    for await (const { position, record } of this.#options.log.read(from === undefined ? {} : { after: from })) {
      if (this.#options.log.compare(position, to) > 0) break
      if (record.op === 'outcome' && (record.outcome === 'failed' || record.outcome === 'unsent'))
        refused.add(`${record.instance}:${record.intentSeq}`)
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

function touchedBy(
  r: LogRecord,
  ids: ReadonlySet<string>,
  fetched: ReadonlyMap<string, StoredVector>,
): Iterable<string> {
  const named = (list: readonly string[]) => list.filter((id) => ids.has(id))
  const matching = (filter: Record<string, unknown>) => {
    const matches = compileFilter(filter)
    return [...fetched.values()].filter((v) => matches(v.metadata ?? {})).map((v) => v.id)
  }
  switch (r.op) {
    case 'upsert':
      return named(r.vectors.map((v) => v.id))
    case 'update':
      return r.id !== undefined ? named([r.id]) : r.filter ? matching(r.filter) : []
    case 'delete':
      if (r.deleteAll) return [...ids]
      return r.ids ? named(r.ids) : r.filter ? matching(r.filter) : []
    default:
      return []
  }
}
