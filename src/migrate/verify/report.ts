import type { VerifyReport } from './verifier.js'

// The verification as a person reads it on a terminal: what passed, what did not and why.

export function formatVerifyReport(r: VerifyReport): string {
  const lines: string[] = []
  const mark = (ok: boolean) => (ok ? '✓' : '✗')
  lines.push(
    `verification ${r.passed ? 'PASSED' : 'FAILED'} (${r.startedAt} → ${r.finishedAt}, seed ${r.settings.seed})`,
  )
  lines.push('')
  lines.push('  namespace                source     target   difference')
  for (const n of r.counts.namespaces) {
    lines.push(
      `  ${(n.namespace || '(default)').padEnd(22)} ${String(n.source).padStart(8)} ` +
        `${String(n.target).padStart(10)} ${String(n.difference).padStart(12)}`,
    )
  }
  lines.push(
    `  ${'total'.padEnd(22)} ${String(r.counts.source).padStart(8)} ${String(r.counts.target).padStart(10)} ` +
      `${String(r.counts.target - r.counts.source).padStart(12)}` +
      (r.counts.replayLag ? `   (replay lag ${r.counts.replayLag} records)` : ''),
  )
  lines.push('')
  const rec = r.records
  const t = r.settings.thresholds
  lines.push(
    `  ${mark(rec.missing <= t.maxMissing && rec.mismatched <= t.maxMismatched)} records    ` +
      `${rec.equal} of ${rec.compared} sampled (of ${rec.listed} listed on the ${rec.sampledFrom}) equal; ` +
      `${rec.missing} missing, ${rec.mismatched} different`,
  )
  for (const d of rec.differences.slice(0, 10))
    lines.push(`      ${d.what.padEnd(8)} ${d.namespace || '(default)'}/${d.id}${d.detail ? `: ${d.detail}` : ''}`)
  if (rec.differences.length > 10) lines.push(`      ... ${rec.differences.length - 10} more in --json`)
  if (r.full) {
    const f = r.full
    lines.push(
      `  ${mark(f.missing <= t.maxMissing && f.mismatched <= t.maxMismatched && f.extra <= t.maxExtra)} full       ` +
        `${f.equal} of ${f.compared} records equal in ${f.namespaces.map((n) => n || '(default)').join(', ')}; ` +
        `${f.missing} missing on the target, ${f.extra} on the target only, ${f.mismatched} different`,
    )
    for (const d of f.differences.slice(0, 10))
      lines.push(
        `      ${(d.side ?? d.what).padEnd(8)} ${d.namespace || '(default)'}/${d.id}${d.detail ? `: ${d.detail}` : ''}`,
      )
    if (f.differences.length > 10) lines.push(`      ... ${f.differences.length - 10} more in --json`)
  }
  lines.push(
    `  ${mark(r.extra.extra <= t.maxExtra)} extra      ${r.extra.extra} of ${r.extra.checked} sampled target records not on the source${
      r.extra.ids.length
        ? ` (${r.extra.ids
            .slice(0, 5)
            .map((s) => `${s.namespace || '(default)'}/${s.id}`)
            .join(', ')})`
        : ''
    }`,
  )
  const s = r.search
  lines.push(
    `  ${mark(s.all.queries === 0 || s.all.meanRecall >= t.minRecall)} search     ` +
      `${s.all.queries} queries, top ${r.settings.topK}: recall ${s.all.meanRecall}, ` +
      `overlap ${s.all.meanOverlap}, ${s.all.perfect} identical, ` +
      `score drift mean ${s.all.meanScoreDrift.toExponential(1)} max ${s.all.maxScoreDrift.toExponential(1)}`,
  )
  lines.push(
    `      without filters: ${s.unfiltered.queries} queries, recall ${s.unfiltered.meanRecall}; ` +
      `with filters: ${s.filtered.queries} queries, recall ${s.filtered.meanRecall}`,
  )
  for (const w of s.worst.slice(0, 5))
    lines.push(`      recall ${w.recall} for ${w.origin}${w.filter ? ` filter ${JSON.stringify(w.filter)}` : ''}`)
  if (s.index) {
    const x = s.index
    lines.push(
      `  ${mark(x.short === 0 && x.meanRecall >= t.minRecall)} index      ` +
        `the target's served answers against its own exact search: ` +
        `recall ${x.meanRecall} over ${x.queries} queries, ${x.short} short`,
    )
    for (const w of x.worst.slice(0, 5))
      lines.push(
        `      recall ${w.recall}, ${w.got} of ${w.expected} results for ${w.origin}` +
          (w.filter ? ` filter ${JSON.stringify(w.filter)}` : ''),
      )
  }
  if (r.failures.length > 0) {
    lines.push('')
    lines.push('  Failed:')
    for (const f of r.failures) lines.push(`    - ${f}`)
  }
  for (const n of r.notes) lines.push(`  note: ${n}`)
  return `${lines.join('\n')}\n`
}
