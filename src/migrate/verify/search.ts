import type { QueryMatch, StoredVector, VectorStore } from '../../stores/contract.js'
import type { SparseVector } from '../../wire/pinecone/types.js'

// Search agreement, as the migration article measures it: the same queries on both sides,
// the source's answer taken as the truth. Per query: overlap@k (shared ids / k), recall@k
// (shared ids / the source's answers), whether the answer is the same list in the same
// order, and the drift of the scores of shared ids. Queries are stored vectors (a record
// searched for its neighbours, as an application would), half of them with a filter made
// from the record's own metadata, plus any the operator supplies (a filter file).

export interface VerifyQuery {
  readonly namespace: string
  readonly vector?: Float32Array
  readonly sparseVector?: SparseVector
  readonly filter?: Record<string, unknown>
  readonly topK: number
  /** Where it came from, for the report: "record ns/id", "file line 3". */
  readonly origin: string
}

export interface AgreementFigures {
  readonly queries: number
  readonly meanOverlap: number
  readonly meanRecall: number
  readonly perfect: number
  /** Mean |score difference| over the ids both answers share. */
  readonly meanScoreDrift: number
  readonly maxScoreDrift: number
}

export interface SearchAgreement {
  readonly all: AgreementFigures
  readonly unfiltered: AgreementFigures
  readonly filtered: AgreementFigures
  /** The queries that agreed least (at most 10). */
  readonly worst: ReadonlyArray<{
    readonly origin: string
    readonly recall: number
    readonly filter?: Record<string, unknown>
  }>
  /** A target that can also search exhaustively (pgvector): its served answers against its
   *  own exact ones. */
  readonly index?: IndexFigures
}

/** The target's served (approximate) answers against exact search on the target itself:
 *  the index's own recall@k, apart from any difference in the data. */
export interface IndexFigures {
  readonly queries: number
  readonly meanRecall: number
  /** Answers with fewer results than exact search found (min(topK, rows matching)). */
  readonly short: number
  readonly worst: ReadonlyArray<{
    readonly origin: string
    readonly recall: number
    readonly got: number
    readonly expected: number
    readonly filter?: Record<string, unknown>
  }>
}

/** Queries from sampled records: every other one filtered on one of its scalar metadata fields. */
export function queriesFromRecords(
  records: ReadonlyArray<{ namespace: string; vector: StoredVector }>,
  count: number,
  topK: number,
): VerifyQuery[] {
  const out: VerifyQuery[] = []
  for (const { namespace, vector } of records) {
    if (out.length >= count) break
    if (!vector.values && !vector.sparseValues) continue
    const base = {
      namespace,
      topK,
      origin: `record ${namespace || '(default)'}/${vector.id}`,
      ...(vector.values ? { vector: vector.values } : {}),
      ...(vector.sparseValues ? { sparseVector: vector.sparseValues } : {}),
    }
    const field = out.length % 2 === 1 ? filterField(vector.metadata) : undefined
    out.push(field ? { ...base, filter: { [field[0]]: { $eq: field[1] } } } : base)
  }
  return out
}

function filterField(metadata: Record<string, unknown> | undefined): [string, unknown] | undefined {
  for (const [k, v] of Object.entries(metadata ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return [k, v]
  }
  return undefined
}

/** One query's agreement: small, so a verification's checkpoint can keep every one. */
export interface AgreementRow {
  readonly origin: string
  readonly filter?: Record<string, unknown>
  readonly overlap: number
  readonly recall: number
  readonly perfect: boolean
  readonly drifts: number[]
  /** Served against exact on the target: recall, results returned, results exact search found. */
  readonly index?: { readonly recall: number; readonly got: number; readonly expected: number }
}

/** Runs the queries on both sides; a row per query, in order. */
export async function agreementRows(
  source: VectorStore,
  target: VectorStore,
  queries: readonly VerifyQuery[],
  onQuery?: (done: number) => void,
): Promise<AgreementRow[]> {
  const rows: AgreementRow[] = []
  for (const q of queries) {
    const request = {
      topK: q.topK,
      includeValues: false,
      includeMetadata: false,
      ...(q.vector ? { vector: q.vector } : {}),
      ...(q.sparseVector ? { sparseVector: q.sparseVector } : {}),
      ...(q.filter ? { filter: q.filter } : {}),
    }
    let [a, b, exact] = await Promise.all([
      source.query(q.namespace, request),
      target.query(q.namespace, request),
      target.exactQuery?.(q.namespace, request),
    ])
    // A short answer is asked again, served then exact, once: under live replay a record can
    // land between the two queries, which is not the index's doing.
    if (exact !== undefined && b.length < exact.length && target.exactQuery) {
      b = await target.query(q.namespace, request)
      exact = await target.exactQuery(q.namespace, request)
    }
    const index =
      exact === undefined
        ? undefined
        : { recall: agreement(exact, b, q.topK).recall, got: b.length, expected: exact.length }
    rows.push({
      origin: q.origin,
      ...(q.filter ? { filter: q.filter } : {}),
      ...agreement(a, b, q.topK),
      ...(index ? { index } : {}),
    })
    onQuery?.(rows.length)
  }
  return rows
}

export async function compareSearch(
  source: VectorStore,
  target: VectorStore,
  queries: readonly VerifyQuery[],
  onQuery?: (done: number) => void,
): Promise<SearchAgreement> {
  return summarizeAgreement(await agreementRows(source, target, queries, onQuery))
}

export function summarizeAgreement(rows: readonly AgreementRow[]): SearchAgreement {
  const figures = (subset: readonly AgreementRow[]): AgreementFigures => {
    const drifts = subset.flatMap((r) => r.drifts)
    const mean = (xs: number[]) => (xs.length === 0 ? 1 : xs.reduce((s, x) => s + x, 0) / xs.length)
    return {
      queries: subset.length,
      meanOverlap: round(mean(subset.map((r) => r.overlap))),
      meanRecall: round(mean(subset.map((r) => r.recall))),
      perfect: subset.filter((r) => r.perfect).length,
      meanScoreDrift: drifts.length === 0 ? 0 : drifts.reduce((s, x) => s + x, 0) / drifts.length,
      maxScoreDrift: drifts.length === 0 ? 0 : Math.max(...drifts),
    }
  }
  const worst = [...rows]
    .sort((x, y) => x.recall - y.recall)
    .slice(0, 10)
    .filter((r) => r.recall < 1)
    .map((r) => ({ origin: r.origin, recall: round(r.recall), ...(r.filter ? { filter: r.filter } : {}) }))
  const indexed = rows.filter((r) => r.index !== undefined)
  const index: IndexFigures | undefined =
    indexed.length === 0
      ? undefined
      : {
          queries: indexed.length,
          meanRecall: round(indexed.reduce((s, r) => s + (r.index?.recall ?? 0), 0) / indexed.length),
          short: indexed.filter((r) => (r.index?.got ?? 0) < (r.index?.expected ?? 0)).length,
          worst: [...indexed]
            .sort(
              (x, y) =>
                (x.index?.recall ?? 0) - (y.index?.recall ?? 0) ||
                (x.index?.got ?? 0) - (x.index?.expected ?? 0) - ((y.index?.got ?? 0) - (y.index?.expected ?? 0)),
            )
            .filter((r) => (r.index?.recall ?? 1) < 1 || (r.index?.got ?? 0) < (r.index?.expected ?? 0))
            .slice(0, 10)
            .map((r) => ({
              origin: r.origin,
              recall: round(r.index?.recall ?? 0),
              got: r.index?.got ?? 0,
              expected: r.index?.expected ?? 0,
              ...(r.filter ? { filter: r.filter } : {}),
            })),
        }
  return {
    all: figures(rows),
    unfiltered: figures(rows.filter((r) => !r.filter)),
    filtered: figures(rows.filter((r) => r.filter)),
    worst,
    ...(index ? { index } : {}),
  }
}

function agreement(
  a: readonly QueryMatch[],
  b: readonly QueryMatch[],
  k: number,
): { overlap: number; recall: number; perfect: boolean; drifts: number[] } {
  const bScores = new Map(b.map((m) => [m.id, m.score]))
  const drifts: number[] = []
  let shared = 0
  for (const m of a) {
    const s = bScores.get(m.id)
    if (s === undefined) continue
    shared++
    drifts.push(Math.abs(s - m.score))
  }
  // Both empty (a filter nothing matches) is agreement.
  const recall = a.length === 0 ? (b.length === 0 ? 1 : 0) : shared / a.length
  const overlap = a.length === 0 && b.length === 0 ? 1 : shared / Math.min(k, Math.max(a.length, b.length))
  const perfect = a.length === b.length && a.every((m, i) => m.id === b[i]?.id)
  return { overlap, recall, perfect, drifts }
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000
}
