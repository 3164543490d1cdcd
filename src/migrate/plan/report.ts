import { formatDuration } from '../copy/progress.js'
import type { PlanReport } from './planner.js'

// The plan as a person reads it before a migration.

export function formatPlan(p: PlanReport): string {
  const lines: string[] = []
  const shape = (d: { vectorType: string; dimension: number | null; metric: string; kind: string }) =>
    `${d.kind}, ${d.vectorType}${d.dimension === null ? '' : ` ${d.dimension}-d`}, ${d.metric}`
  lines.push(`source  ${p.source.label}: ${shape(p.source)}`)
  lines.push(
    'exists' in p.target
      ? `target  ${p.target.label}: does not exist yet`
      : `target  ${p.target.label}: ${shape(p.target)}`,
  )
  lines.push('')
  lines.push(
    `  ${'namespace'.padEnd(24)} ${'source'.padStart(10)}${'exists' in p.target ? '' : ` ${'target'.padStart(10)}`}`,
  )
  for (const n of p.namespaces)
    lines.push(
      `  ${(n.namespace || '(default)').padEnd(24)} ${String(n.vectorCount).padStart(10)}` +
        (n.target === undefined ? '' : ` ${String(n.target).padStart(10)}`),
    )
  lines.push(`  ${'total'.padEnd(24)} ${String(p.records).padStart(10)}`)
  lines.push('')
  const d = p.decision
  lines.push(
    'decision  ' +
      (d.action === 'copy'
        ? 'COPY the vectors'
        : d.action === 're-embed'
          ? 'RE-EMBED: the vectors cannot be copied'
          : 'REFUSED') +
      ` — ${d.reason}`,
  )
  const s = p.sample
  if (s.records > 0) {
    const m = s.metadataBytes
    lines.push(
      `sample    ${s.records} records: metadata ${m ? `${m.mean} B mean, ${m.p95} B p95, ${m.max} B max` : 'none'} ` +
        `(${s.withMetadata} with metadata), ${s.withSparse} with sparse values`,
    )
  } else if (s.note) lines.push(`sample    ${s.note}`)
  const e = p.estimates
  if (e.copySeconds !== undefined)
    lines.push(
      `copy      about ${formatDuration(e.copySeconds)} at the source's measured ${e.sourceReadPerSec} records/s`,
    )
  lines.push(`write log ${formatBytes(e.logBytes)} for the expected writes over the capture window`)
  if (p.searchLayout) {
    const l = p.searchLayout
    lines.push(
      'search    ' +
        (l.layout === 'single'
          ? 'one HNSW graph over the table'
          : `an HNSW graph per namespace of ${l.minIndexedRows.toLocaleString('en-US')} records or more ` +
            `(${l.indexed} ${l.exists ? 'built' : 'to build'}), smaller ones searched exactly`) +
        ` — ${l.reason}`,
    )
  }
  if (e.reembed)
    lines.push(
      `re-embed  ${e.reembed.tokens.toLocaleString('en-US')} tokens, ` +
        `about $${e.reembed.cost.toLocaleString('en-US')}, about ${formatDuration(e.reembed.seconds)}`,
    )
  if (p.limits.length > 0) {
    lines.push('')
    lines.push('Pinecone limits that apply:')
    for (const l of p.limits) lines.push(`  - ${l}`)
  }
  if (p.notes.length > 0) {
    lines.push('')
    for (const n of p.notes) lines.push(`note: ${n}`)
  }
  return `${lines.join('\n')}\n`
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`
}
