import type { FullComparison } from './full.js'
import type { SearchAgreement } from './search.js'

// Whether a verification passed: what it found against the thresholds (verify.thresholds),
// one line per threshold missed, saying what was found and what is allowed.

export interface VerifyThresholds {
  /** Mean recall@k of the target against the source, over all queries. */
  readonly minRecall: number
  readonly maxMissing: number
  readonly maxMismatched: number
  readonly maxExtra: number
  /** Per namespace, |source count - target count| beyond what the replay lag explains. */
  readonly maxCountDifference: number
}

/** What the verification found, stage by stage. */
export interface Findings {
  readonly namespaces: ReadonlyArray<{ namespace: string; source: number; target: number; difference: number }>
  /** The replayer's lag in records: count differences up to it are expected. */
  readonly replayLag?: number
  readonly records: { readonly equal: number; readonly missing: number; readonly mismatched: number }
  readonly sampledFrom: 'source' | 'target'
  readonly extra: { readonly checked: number; readonly extra: number }
  readonly full?: FullComparison
  readonly search: SearchAgreement
  readonly topK: number
}

export function thresholdFailures(f: Findings, t: VerifyThresholds): string[] {
  return [...countFailures(f, t), ...sampleFailures(f, t), ...fullFailures(f, t), ...searchFailures(f, t)]
}

function countFailures(f: Findings, t: VerifyThresholds): string[] {
  const lag = f.replayLag ?? 0
  return f.namespaces
    .filter((n) => Math.abs(n.difference) > t.maxCountDifference + lag)
    .map(
      (n) =>
        `namespace ${n.namespace || '(default)'}: ${n.source} records on the source, ${n.target} on the target ` +
        `(difference ${n.difference}${lag ? `, replay lag ${lag}` : ''}; at most ${t.maxCountDifference} allowed)`,
    )
}

function sampleFailures(f: Findings, t: VerifyThresholds): string[] {
  const { records, extra } = f
  const compared = records.equal + records.missing + records.mismatched
  const failures: string[] = []
  if (records.missing > t.maxMissing)
    failures.push(
      `${records.missing} of ${compared} sampled records are missing on the ` +
        `${f.sampledFrom === 'source' ? 'target' : 'source'} (at most ${t.maxMissing})`,
    )
  if (records.mismatched > t.maxMismatched)
    failures.push(`${records.mismatched} of ${compared} sampled records differ (at most ${t.maxMismatched})`)
  if (extra.extra > t.maxExtra)
    failures.push(
      `${extra.extra} of ${extra.checked} records sampled on the target are not on the source (at most ${t.maxExtra})`,
    )
  return failures
}

function fullFailures(f: Findings, t: VerifyThresholds): string[] {
  const { full } = f
  if (!full) return []
  const failures: string[] = []
  if (full.missing > t.maxMissing)
    failures.push(
      `full comparison: ${full.missing} of ${full.compared} records are missing on the target (at most ${t.maxMissing})`,
    )
  if (full.mismatched > t.maxMismatched)
    failures.push(`full comparison: ${full.mismatched} of ${full.compared} records differ (at most ${t.maxMismatched})`)
  if (full.extra > t.maxExtra)
    failures.push(`full comparison: ${full.extra} records are on the target only (at most ${t.maxExtra})`)
  return failures
}

function searchFailures(f: Findings, t: VerifyThresholds): string[] {
  const { search, topK } = f
  const failures: string[] = []
  if (search.index && search.index.short > 0) {
    const w = search.index.worst.find((x) => x.got < x.expected)
    failures.push(
      `${search.index.short} of ${search.index.queries} queries came back short from the target's index ` +
        `(fewer results than exact search finds${w ? `; e.g. ${w.origin}: ${w.got} of ${w.expected}` : ''}): ` +
        `rebuild its indexes (vecshift index) and see docs/copy.md, "pgvector"`,
    )
  }
  if (search.index && search.index.meanRecall < t.minRecall)
    failures.push(
      `the target's index answers with mean recall@${topK} ${search.index.meanRecall} against its own exact search ` +
        `(at least ${t.minRecall})`,
    )
  if (search.all.queries > 0 && search.all.meanRecall < t.minRecall)
    failures.push(
      `mean recall@${topK} is ${search.all.meanRecall} (at least ${t.minRecall}): ` +
        `unfiltered ${search.unfiltered.meanRecall}, filtered ${search.filtered.meanRecall}`,
    )
  return failures
}
