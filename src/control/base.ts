import { E, VecshiftError } from '../errors.js'
import type { ControlStore, ProgressReport, ReplicaLease } from './contract.js'
import { checkTransition, initialRecord, type MigrationRecord, type Phase } from './record.js'

// What every control store does the same way, whatever holds the record: it creates the
// record the first time a migration is seen, changes it only by compare-and-set on its epoch,
// refuses a change of phase the table in record.ts does not allow, and times leases and
// progress reports. The rules live here once, so that no backend can apply them differently;
// a backend (file, postgres) supplies only its storage primitives below.

export interface ControlStoreIdentity {
  readonly migration: string
  /** The phase a new record starts in. */
  readonly initialPhase?: Phase
}

export abstract class BaseControlStore implements ControlStore {
  abstract readonly backend: ControlStore['backend']
  readonly #identity: ControlStoreIdentity

  protected constructor(identity: ControlStoreIdentity) {
    this.#identity = identity
  }

  async read(): Promise<MigrationRecord> {
    const existing = await this.load()
    if (existing) return existing
    return this.createIfAbsent(initialRecord(this.#identity.migration, this.#identity.initialPhase))
  }

  async update(expectEpoch: number, change: (r: MigrationRecord) => MigrationRecord): Promise<MigrationRecord> {
    // A change starts from a stored record: the first one a migration sees may be a change.
    await this.read()
    let refusal: unknown
    try {
      return await this.swap((current) => {
        try {
          return changed(current, expectEpoch, change)
        } catch (err) {
          refusal = err
          throw err
        }
      })
    } catch (err) {
      // A backend reports errors it cannot place as the store being unavailable (postgres);
      // a refusal, or an error of the caller's own change, reaches the caller as it is.
      throw refusal ?? err
    }
  }

  async heartbeat(lease: Omit<ReplicaLease, 'renewedAt' | 'expiresAt'>, leaseMs: number): Promise<ReplicaLease> {
    const now = Date.now()
    const full: ReplicaLease = {
      ...lease,
      renewedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + leaseMs).toISOString(),
    }
    await this.saveLease(full)
    return full
  }

  async report(name: string, value: unknown): Promise<void> {
    await this.saveReport(name, { value, updatedAt: new Date().toISOString() })
  }

  abstract watch(onChange: (r: MigrationRecord) => void, intervalMs?: number): () => void
  abstract replicas(): Promise<ReplicaLease[]>
  abstract leave(replica: string): Promise<void>
  abstract reports(): Promise<Record<string, ProgressReport>>
  abstract close(): Promise<void>

  /** The stored record, or undefined before the migration's first one. */
  protected abstract load(): Promise<MigrationRecord | undefined>
  /** Stores `record` unless a record exists already, and returns the one that stands (another
   *  process may have created it first). */
  protected abstract createIfAbsent(record: MigrationRecord): Promise<MigrationRecord>
  /** Reads the stored record and stores what `decide` returns for it, with no other change
   *  between the read and the write (across processes and hosts, as far as the backend
   *  reaches). If `decide` throws, nothing is stored and the error is rethrown as it is. */
  protected abstract swap(decide: (current: MigrationRecord) => MigrationRecord): Promise<MigrationRecord>
  /** Stores a replica's lease, replacing its previous one. */
  protected abstract saveLease(lease: ReplicaLease): Promise<void>
  /** Stores a worker's progress report, replacing its previous one. */
  protected abstract saveReport(name: string, report: ProgressReport): Promise<void>
}

/** The record `change` makes of `current`, if the compare-and-set and the phase table allow it. */
function changed(
  current: MigrationRecord,
  expectEpoch: number,
  change: (r: MigrationRecord) => MigrationRecord,
): MigrationRecord {
  if (current.epoch !== expectEpoch) {
    throw new VecshiftError(E.CONTROL_CONFLICT, [current.epoch, expectEpoch, `it is now in phase ${current.phase}`])
  }
  const next = change(current)
  if (next.epoch !== current.epoch + 1)
    throw new VecshiftError(E.INTERNAL, [
      `a control change must move the epoch by one (${current.epoch} -> ${next.epoch})`,
    ])
  // Checked here and not only in transitioned(): a change built any other way must not be
  // able to skip the table. A change within a phase (reads moved, a canary) is no move.
  if (next.phase !== current.phase) checkTransition(current.phase, next.phase)
  return next
}
