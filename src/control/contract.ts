import type { MigrationRecord } from './record.js'

// One contract for the control store's backends: `file` (embedded default, one host) and
// `postgres` (several gateway replicas). Changes are compare-and-set on the record's epoch.

export interface ReplicaLease {
  /** The gateway process (its write-log instance id). */
  readonly replica: string
  readonly host: string
  readonly pid: number
  /** The epoch of the record this replica is acting on. */
  readonly epoch: number
  /** Writes it holds at the cutover barrier, and writes still in flight. */
  readonly heldWrites: number
  readonly inFlightWrites: number
  /** At a cutover barrier: the fence this replica appended to the write log once its writes
   *  in flight were done (the epoch of the barrier, and the fence's log position). */
  readonly fence?: { readonly epoch: number; readonly position: string | undefined }
  /** Whether it has a write log, so can follow the migration into capture (absent: it can). */
  readonly canCapture?: boolean
  readonly renewedAt: string
  readonly expiresAt: string
}

/** What a worker of the migration (the copy, a replayer) last said of its progress. */
export interface ProgressReport {
  readonly value: unknown
  readonly updatedAt: string
}

export interface ControlStore {
  readonly backend: 'file' | 'postgres'
  /** The record, created (phase from config) the first time a migration is seen. */
  read(): Promise<MigrationRecord>
  /**
   * Applies `change` to the record as it is now and stores the result, unless the record's
   * epoch is no longer `expectEpoch` (CONTROL_CONFLICT). `change` must return a record with
   * epoch + 1 (record.ts transitioned() does).
   */
  update(expectEpoch: number, change: (r: MigrationRecord) => MigrationRecord): Promise<MigrationRecord>
  /** Calls `onChange` whenever the record's epoch moves (polling and/or notifications).
   *  Returns a function that stops watching. */
  watch(onChange: (r: MigrationRecord) => void, intervalMs?: number): () => void
  /** Records that a replica is alive and acting on an epoch, until leaseMs from now. */
  heartbeat(lease: Omit<ReplicaLease, 'renewedAt' | 'expiresAt'>, leaseMs: number): Promise<ReplicaLease>
  /** Every replica's last lease (expired ones included: the caller judges them). */
  replicas(): Promise<ReplicaLease[]>
  /** Forgets a replica (it shut down cleanly). */
  leave(replica: string): Promise<void>
  /** Stores a worker's progress under `name` ("copy", "replay", "rollback"): its checkpoint
   *  and lag, for `vecshift status` and the cutover on any host. Kept beside the record, not
   *  in it: progress changes many times a second and must never move the epoch (nor make a
   *  routing change conflict). Last write wins. */
  report(name: string, value: unknown): Promise<void>
  reports(): Promise<Record<string, ProgressReport>>
  close(): Promise<void>
}
