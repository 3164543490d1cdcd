import { formatDuration } from './progress.js'
import type { CopySummary } from './copier.js'

/** The copy's closing report, for a terminal (--json prints the object itself). */
export function formatSummary(s: CopySummary): string {
  const lines = [
    `copy ${s.interrupted ? 'interrupted' : 'complete'} (${s.strategy}${s.resumed ? ', resumed' : ''})`,
    `  copied     ${s.copied.toLocaleString('en-US')} records ` +
      `in ${formatDuration(Math.round(s.durationMs / 1000))} (${s.perSecond.toLocaleString('en-US')}/s this run)`,
    ...s.namespaces.map(
      (n) => `    ${(n.namespace === '' ? '(default)' : n.namespace).padEnd(24)} ${n.copied.toLocaleString('en-US')}`,
    ),
    `  missing    ${s.missing} (listed or given, gone from the source when fetched)`,
    `  retries    source ${s.retries.source}, target ${s.retries.target}`,
    ...(s.settle === undefined
      ? []
      : [
          `  settle     ${s.settle.extraRounds} batch rounds again for writes made meanwhile; ` +
            `${s.settle.unsettled} ids left to the cutover's reconciliation` +
            (s.settle.unpositionedBatches > 0
              ? `; ${s.settle.unpositionedBatches} batches copied without a replayer following the log ` +
                '(run `vecshift replay --follow` during the copy)'
              : ''),
        ]),
    ...(s.indexBuildMs === undefined
      ? []
      : [`  index      HNSW index built after the load in ${formatDuration(Math.round(s.indexBuildMs / 1000))}`]),
    `  checkpoint ${s.checkpoint}`,
  ]
  return `${lines.join('\n')}\n`
}
