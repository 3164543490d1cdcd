import type { Config } from '../config/schema.js'
import { CheckpointFile, type CopyCheckpoint } from '../migrate/copy/checkpoint.js'
import type { ReplayStatus } from '../replay/status.js'
import { ReplayStatusFile } from '../replay/status.js'
import type { ControlStore, ProgressReport, ReplicaLease } from '../control/contract.js'
import type { MigrationRecord } from '../control/record.js'
import { type CoordinatorLease, LEASE_REPORT } from '../control/coordinator-lease.js'

// Everything `vecshift status`, the cutover and the gateway's status page show about a
// migration, gathered from where each piece keeps it: the control record, the copy's
// checkpoint, the replayer's status file, the replicas' leases and the workers' reports.
// It lives above control/ (which keeps the record and leases, and knows nothing of the copy
// or the replayer) and reads the copy's checkpoint file only, never the copier.

/** A replayer that has said nothing for this long is reported as not running. */
const REPLAY_STALE_MS = 30_000

export interface MigrationStatus {
  readonly record: MigrationRecord
  readonly copy: {
    readonly state: 'not started' | 'running or interrupted' | 'done'
    readonly strategy?: string
    readonly copied: number
    readonly total?: number
    readonly namespaces: Record<string, number>
    readonly updatedAt?: string
    readonly finishedAt?: string
  }
  readonly replay: (ReplayStatus & { readonly stale: boolean }) | undefined
  readonly replicas: ReadonlyArray<ReplicaLease & { readonly expired: boolean }>
  /** Shadow-read comparisons, as each gateway replica last reported them. */
  readonly shadow: ReadonlyArray<ShadowReport>
  /** The process running a cutover or rollback, as its lease says; `expired` when the lease
   *  ran out (its process died or froze: a pause it left is ended by the gateways). */
  readonly coordinator?: CoordinatorLease & { readonly expired: boolean }
  /** The last `vecshift verify`, if one ran. */
  readonly verify?: { readonly passed: boolean; readonly finishedAt: string; readonly failures?: readonly string[] }
}

export interface ShadowReport {
  readonly replica: string
  readonly compared: number
  readonly dropped: number
  readonly failed: number
  readonly disagreed: number
  readonly meanOverlap?: number
  readonly meanSourceMs?: number
  readonly meanTargetMs?: number
  readonly updatedAt: string
}

/** The newer of what a file on this host says and what the worker reported to the control
 *  store (the copy or the replayer may run on another host). */
export function newer<T extends { updatedAt: string }>(a: T | undefined, b: unknown): T | undefined {
  const r = b as T | undefined
  if (r === undefined || typeof r !== 'object' || r === null || typeof r.updatedAt !== 'string') return a
  if (a === undefined) return r
  return Date.parse(r.updatedAt) > Date.parse(a.updatedAt) ? r : a
}

/** The replayer's status for a consumer ("replay", "rollback"), from wherever it is newest. */
export async function replayStatusOf(
  config: Config,
  control: ControlStore,
  consumer: string,
): Promise<ReplayStatus | undefined> {
  const [file, reports] = await Promise.all([
    new ReplayStatusFile(config.replay.dataDir, config.migration.id, consumer).load().catch(() => undefined),
    control.reports().catch(() => ({}) as Record<string, ProgressReport>),
  ])
  return newer(file, reports[consumer]?.value)
}

/** The copy's checkpoint, from wherever it is newest. */
export async function copyCheckpointOf(config: Config, control: ControlStore): Promise<CopyCheckpoint | undefined> {
  const [file, reports] = await Promise.all([
    new CheckpointFile(config.copy.checkpointDir, config.migration.id).load().catch(() => undefined),
    control.reports().catch(() => ({}) as Record<string, ProgressReport>),
  ])
  return newer(file, reports.copy?.value)
}

export async function gatherStatus(config: Config, control: ControlStore): Promise<MigrationStatus> {
  const [record, copy, replay, leases, reports] = await Promise.all([
    control.read(),
    copyCheckpointOf(config, control),
    replayStatusOf(config, control, 'replay'),
    control.replicas(),
    control.reports().catch(() => ({}) as Record<string, ProgressReport>),
  ])
  const now = Date.now()
  const shadow = Object.entries(reports)
    .filter(([name]) => name.startsWith('shadow:'))
    .map(([, r]) => r.value as ShadowReport)
  const verify = reports.verify?.value as MigrationStatus['verify'] | undefined
  const lease = reports[LEASE_REPORT]?.value as CoordinatorLease | undefined
  return {
    shadow,
    ...(verify ? { verify } : {}),
    ...(lease ? { coordinator: { ...lease, expired: Date.parse(lease.expiresAt) < now } } : {}),
    record,
    copy: copySummary(copy),
    replay: replay ? { ...replay, stale: now - Date.parse(replay.updatedAt) > REPLAY_STALE_MS } : undefined,
    replicas: leases.map((l) => ({ ...l, expired: Date.parse(l.expiresAt) < now })),
  }
}

function copySummary(cp: CopyCheckpoint | undefined): MigrationStatus['copy'] {
  if (!cp) return { state: 'not started', copied: 0, namespaces: {} }
  const namespaces = Object.fromEntries(Object.entries(cp.namespaces).map(([ns, p]) => [ns, p.copied]))
  return {
    state: cp.finishedAt ? 'done' : 'running or interrupted',
    strategy: cp.strategy,
    copied: Object.values(namespaces).reduce((a, b) => a + b, 0),
    ...(cp.total === undefined ? {} : { total: cp.total }),
    namespaces,
    updatedAt: cp.updatedAt,
    ...(cp.finishedAt ? { finishedAt: cp.finishedAt } : {}),
  }
}
