import type { MigrationStatus } from './gather.js'

// `vecshift status` for a terminal: one section a piece (phase and routing, copy, replay,
// shadow reads, verify, replicas, the last cutover), aligned in a column. --json prints the
// MigrationStatus itself.

export function formatStatus(s: MigrationStatus): string {
  const lines = [
    ...recordLines(s.record),
    copyLine(s.copy),
    ...replayLines(s.replay),
    ...s.shadow.map(shadowLine),
    ...(s.verify ? [verifyLine(s.verify)] : []),
    ...replicaLines(s.replicas),
    ...cutoverLines(s.record, s.coordinator),
  ]
  return `${lines.join('\n')}\n`
}

function recordLines(r: MigrationStatus['record']): string[] {
  const routing = r.routing
  const since = `since ${r.updatedAt}${r.changedBy ? ` by ${r.changedBy}` : ''}${r.reason ? `: ${r.reason}` : ''}`
  const canary = routing.canaryPercent ? ` (${routing.canaryPercent}% canary to the other side)` : ''
  const held = routing.holdWrites ? ', writes held (cutover barrier)' : ''
  return [
    `migration ${r.migration}: phase ${r.phase} (epoch ${r.epoch}, ${since})`,
    `  routing    reads → ${routing.reads}${canary}, writes → ${routing.writes}${held}`,
  ]
}

function copyLine(c: MigrationStatus['copy']): string {
  if (c.state === 'not started') return '  copy       not started'
  const of = c.total === undefined ? '' : ` of ${c.total.toLocaleString('en-US')}`
  const when = c.finishedAt ? `, finished ${c.finishedAt}` : `, last progress ${c.updatedAt}`
  return `  copy       ${c.state} (${c.strategy}): ${c.copied.toLocaleString('en-US')}${of} records${when}`
}

function replayLines(p: MigrationStatus['replay']): string[] {
  if (!p) return ['  replay     not started']
  const where = `applied up to ${p.checkpoint ?? '(start)'} of ${p.tail ?? '(empty)'}`
  const waiting = p.awaitingOutcome ? `; ${p.awaitingOutcome} awaiting outcome` : ''
  const retrying = p.retrying ? `; retrying: ${p.retrying}` : ''
  const c = p.counts
  const lines = [
    `  replay     ${p.stale ? 'not running' : 'running'}; lag ${p.lagRecords ?? '?'} records, ${p.lagSeconds} s; ` +
      `${where}${waiting}${retrying} (as of ${p.updatedAt})`,
    `             ${c.applied} writes applied, ${c.skippedFailed} refused by the source skipped, ` +
      `${c.repaired} repaired from the source; ${p.dirtyIds} ids written since capture began`,
  ]
  if (p.failed) lines.push(stoppedLine(p.failed))
  if (c.uncertainFilterWrites)
    lines.push(
      `             ${c.uncertainFilterWrites} writes by filter applied without a known outcome: ` +
        'the cutover compares their namespaces in full before its pause',
    )
  return lines
}

function stoppedLine(f: NonNullable<NonNullable<MigrationStatus['replay']>['failed']>): string {
  const namespace = f.namespace !== undefined ? `, namespace ${JSON.stringify(f.namespace)}` : ''
  const id = f.id !== undefined ? `, id ${JSON.stringify(f.id)}` : ''
  return (
    `  ✗ STOPPED  the target refused a logged write for good: ${f.what}${namespace}${id} ` +
    `(after ${f.after ?? 'the start'}, at ${f.at}): ${f.error}; the cutover refuses until replay gets past it ` +
    '(docs/replay-and-cutover.md, "A write the target refuses")'
  )
}

function shadowLine(sh: MigrationStatus['shadow'][number]): string {
  return (
    `  shadow     ${sh.replica}: ${sh.compared} queries compared, mean overlap ${sh.meanOverlap ?? '-'} ` +
    `(${sh.disagreed} differed); source ${sh.meanSourceMs ?? '-'} ms, target ${sh.meanTargetMs ?? '-'} ms; ` +
    `${sh.dropped} dropped, ${sh.failed} failed (as of ${sh.updatedAt})`
  )
}

function verifyLine(v: NonNullable<MigrationStatus['verify']>): string {
  const why = v.passed ? '' : `: ${(v.failures ?? []).join('; ')}`
  return `  verify     ${v.passed ? 'passed' : 'FAILED'} at ${v.finishedAt}${why}`
}

function replicaLines(replicas: MigrationStatus['replicas']): string[] {
  return [
    replicas.length === 0 ? '  replicas   none registered' : `  replicas   ${replicas.length}`,
    ...replicas.map(
      (l) =>
        `    ${l.replica} pid ${l.pid} on ${l.host}: epoch ${l.epoch}, ${l.inFlightWrites} writes in flight, ` +
        `${l.heldWrites} held; lease ${l.expired ? 'EXPIRED' : 'valid'} until ${l.expiresAt}`,
    ),
  ]
}

function cutoverLines(r: MigrationStatus['record'], coordinator: MigrationStatus['coordinator']): string[] {
  const last = r.cutovers.at(-1)
  if (!last) return []
  const reason = last.reason ? `: ${last.reason}` : ''
  const pause = last.pauseMs === undefined ? '' : `; write pause ${last.pauseMs} ms`
  return [
    `  last ${last.kind}  ${last.outcome} (${last.startedAt})${reason}${pause}`,
    ...ownerLine(last, coordinator),
    ...last.steps.map(
      (step) =>
        `    ${step.ok ? '✓' : '✗'} ${step.name.padEnd(14)} ${String(step.ms).padStart(6)} ms` +
        `${step.detail ? `  ${step.detail}` : ''}`,
    ),
  ]
}

/** A running attempt whose coordinator is gone: the gateways end its pause (by its deadline
 *  at the latest); `vecshift cutover --abort` ends it at once. */
function ownerLine(
  last: MigrationStatus['record']['cutovers'][number],
  coordinator: MigrationStatus['coordinator'],
): string[] {
  if (last.outcome !== 'running') return []
  const deadline = last.deadline !== undefined && Date.parse(last.deadline) < Date.now()
  const mine = coordinator?.pid === last.owner?.pid && coordinator?.host === last.owner?.host
  if (!deadline && !(mine && coordinator?.expired)) return []
  const why = deadline
    ? `its deadline ${last.deadline} has passed`
    : `its coordinator's lease ran out at ${coordinator?.expiresAt}`
  return [`  ✗ OWNER GONE  ${why}: the gateways end its pause; \`vecshift ${last.kind} --abort\` ends it now`]
}
