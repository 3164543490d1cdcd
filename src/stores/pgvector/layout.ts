import type { NamespaceStats } from '../contract.js'

// How a pgvector table's search indexes are laid out (docs/copy.md, "pgvector").
//
// single:         one HNSW graph over the whole table. A query in one namespace walks the
//                 graph of every namespace and drops the others' rows: with iterative scans
//                 it still returns the full topK, but the work grows with 1 / (the
//                 namespace's share of the table).
// per-namespace:  one partial HNSW index per namespace of at least minIndexedRows rows
//                 (CREATE INDEX ... WHERE namespace = '...'): a query walks only its own
//                 namespace's graph. Smaller namespaces have no graph of their own and are
//                 searched exactly through the primary key (namespace, id), which at that
//                 size is as fast as a graph and always exact.
//
// Partial indexes, not partitions: they need no table rewrite, a namespace created by a
// write after the cutover needs no DDL in the write path (it is searched exactly until
// `vecshift index` gives it a graph), and the planner picks the index from the query's own
// namespace condition. Their cost is planning: the planner weighs every index of the table
// on every query, so past maxPartialIndexes namespaces the single graph is chosen instead.

export type IndexLayout = 'single' | 'per-namespace'

export interface LayoutSettings {
  /** A namespace gets its own graph from this many rows; below, exact search is as fast. */
  readonly minIndexedRows: number
  /** More namespaces to index than this: one graph (planning cost grows with the indexes). */
  readonly maxPartialIndexes: number
}

export const LAYOUT_DEFAULTS: LayoutSettings = Object.freeze({ minIndexedRows: 10_000, maxPartialIndexes: 200 })

export interface LayoutChoice {
  readonly layout: IndexLayout
  readonly reason: string
  /** per-namespace: the namespaces that get a graph of their own now. */
  readonly indexed: readonly string[]
}

/** The layout for a table that will hold these namespaces (the source's, before the copy). */
export function chooseLayout(
  stats: readonly NamespaceStats[],
  settings: LayoutSettings = LAYOUT_DEFAULTS,
): LayoutChoice {
  const withData = stats.filter((n) => n.vectorCount > 0)
  const total = withData.reduce((s, n) => s + n.vectorCount, 0)
  const big = withData.filter((n) => n.vectorCount >= settings.minIndexedRows).map((n) => n.namespace)
  if (withData.length <= 1) {
    return { layout: 'single', reason: 'one namespace holds every record: one graph serves it', indexed: [] }
  }
  if (big.length > settings.maxPartialIndexes) {
    return {
      layout: 'single',
      reason:
        `${big.length} namespaces hold ${settings.minIndexedRows.toLocaleString('en-US')} records or more, ` +
        `more than ${settings.maxPartialIndexes} partial indexes the planner would weigh on every query: ` +
        'one graph, searched iteratively per namespace',
      indexed: [],
    }
  }
  const largest = Math.max(...withData.map((n) => n.vectorCount))
  return {
    layout: 'per-namespace',
    reason:
      `${withData.length} namespaces ` +
      `(the largest holds ${Math.round((largest / Math.max(1, total)) * 100)} % of ${total.toLocaleString('en-US')} records): ` +
      (big.length === 0
        ? `none reaches ${settings.minIndexedRows.toLocaleString('en-US')} records, so each is searched exactly`
        : `${big.length} get a graph of their own, the ${withData.length - big.length} ` +
          `below ${settings.minIndexedRows.toLocaleString('en-US')} records are searched exactly`),
    indexed: big,
  }
}
