import type { Config } from '../config/schema.js'
import { CheckpointFile, type CopyCheckpoint } from '../migrate/copy/checkpoint.js'
import type { ReplayStatus } from '../replay/status.js'
import { ReplayStatusFile } from '../replay/status.js'
import type { ControlStore, ProgressReport, ReplicaLease } from './contract.js'
import type { MigrationRecord } from './record.js'

// Everything `vecshift status` (and later the admin API) shows, gathered from where each
// piece keeps it: the control record, the copy's checkpoint, the replayer's status file and
// the replicas' leases.

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
  return {
    shadow,
    ...(verify ? { verify } : {}),
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

/** For a terminal. */
export function formatStatus(s: MigrationStatus): string {
  const r = s.record
  const routing = r.routing
  const lines = [
    `migration ${r.migration}: phase ${r.phase} (epoch ${r.epoch}, since ${r.updatedAt}${r.changedBy ? ` by ${r.changedBy}` : ''}${r.reason ? `: ${r.reason}` : ''})`,
    `  routing    reads → ${routing.reads}${routing.canaryPercent ? ` (${routing.canaryPercent}% canary to the other side)` : ''}, writes → ${routing.writes}${routing.holdWrites ? ', writes held (cutover barrier)' : ''}`,
  ]
  const c = s.copy
  lines.push(
    c.state === 'not started'
      ? '  copy       not started'
      : `  copy       ${c.state} (${c.strategy}): ${c.copied.toLocaleString('en-US')}${c.total === undefined ? '' : ` of ${c.total.toLocaleString('en-US')}`} records${c.finishedAt ? `, finished ${c.finishedAt}` : `, last progress ${c.updatedAt}`}`,
  )
  const p = s.replay
  if (!p) {
    lines.push('  replay     not started')
  } else {
    lines.push(
      `  replay     ${p.stale ? 'not running' : 'running'}; lag ${p.lagRecords ?? '?'} records, ${p.lagSeconds} s; applied up to ${p.checkpoint ?? '(start)'} of ${p.tail ?? '(empty)'}${p.awaitingOutcome ? `; ${p.awaitingOutcome} awaiting outcome` : ''}${p.retrying ? `; retrying: ${p.retrying}` : ''} (as of ${p.updatedAt})`,
    )
    lines.push(
      `             ${p.counts.applied} writes applied, ${p.counts.skippedFailed} refused by the source skipped, ${p.counts.repaired} repaired from the source; ${p.dirtyIds} ids written since capture began`,
    )
    if (p.failed)
      lines.push(
        `  ✗ STOPPED  the target refused a logged write for good: ${p.failed.what}${p.failed.namespace !== undefined ? `, namespace ${JSON.stringify(p.failed.namespace)}` : ''}${p.failed.id !== undefined ? `, id ${JSON.stringify(p.failed.id)}` : ''} (after ${p.failed.after ?? 'the start'}, at ${p.failed.at}): ${p.failed.error}; the cutover refuses until replay gets past it (docs/replay-and-cutover.md, "A write the target refuses")`,
      )
    if (p.counts.uncertainFilterWrites)
      lines.push(
        `             ${p.counts.uncertainFilterWrites} writes by filter applied without a known outcome: the cutover compares their namespaces in full before its pause`,
      )
  }
  for (const sh of s.shadow) {
    lines.push(
      `  shadow     ${sh.replica}: ${sh.compared} queries compared, mean overlap ${sh.meanOverlap ?? '-'} (${sh.disagreed} differed); source ${sh.meanSourceMs ?? '-'} ms, target ${sh.meanTargetMs ?? '-'} ms; ${sh.dropped} dropped, ${sh.failed} failed (as of ${sh.updatedAt})`,
    )
  }
  if (s.verify)
    lines.push(
      `  verify     ${s.verify.passed ? 'passed' : 'FAILED'} at ${s.verify.finishedAt}${s.verify.passed ? '' : `: ${(s.verify.failures ?? []).join('; ')}`}`,
    )
  lines.push(s.replicas.length === 0 ? '  replicas   none registered' : `  replicas   ${s.replicas.length}`)
  for (const l of s.replicas)
    lines.push(
      `    ${l.replica} pid ${l.pid} on ${l.host}: epoch ${l.epoch}, ${l.inFlightWrites} writes in flight, ${l.heldWrites} held; lease ${l.expired ? 'EXPIRED' : 'valid'} until ${l.expiresAt}`,
    )
  const last = r.cutovers.at(-1)
  if (last) {
    lines.push(
      `  last ${last.kind}  ${last.outcome} (${last.startedAt})${last.reason ? `: ${last.reason}` : ''}${last.pauseMs === undefined ? '' : `; write pause ${last.pauseMs} ms`}`,
    )
    for (const step of last.steps)
      lines.push(
        `    ${step.ok ? '✓' : '✗'} ${step.name.padEnd(14)} ${String(step.ms).padStart(6)} ms${step.detail ? `  ${step.detail}` : ''}`,
      )
  }
  return `${lines.join('\n')}\n`
}
