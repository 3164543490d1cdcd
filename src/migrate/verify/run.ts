import { readFile } from 'node:fs/promises'
import { E, VecshiftError } from '../../errors.js'
import type { StoredVector, VectorStore } from '../../stores/contract.js'
import type { Progress } from '../copy/progress.js'
import { compareRecords, type RecordComparison } from './records.js'
import { sampleIds, seededRandom, type SampledId } from './sample.js'
import { compareSearch, queriesFromRecords, type SearchAgreement, type VerifyQuery } from './search.js'

// `vecshift verify`: is the target answering like the source? Counts per namespace, a uniform
// sample of records compared field by field (and a sample of the target's ids looked up on
// the source, for records that should not be there), and search agreement on queries built
// from stored vectors, with and without filters. Thresholds decide whether it passed; the
// cutover can require a recent pass. Memory is bounded by the sample, whatever the index.

export interface VerifyThresholds {
  /** Mean recall@k of the target against the source, over all queries. */
  readonly minRecall: number
  readonly maxMissing: number
  readonly maxMismatched: number
  readonly maxExtra: number
  /** Per namespace, |source count - target count| beyond what the replay lag explains. */
  readonly maxCountDifference: number
}

export interface VerifyOptions {
  readonly source: VectorStore
  readonly target: VectorStore
  readonly sample: number
  readonly queries: number
  readonly topK: number
  readonly tolerance: number
  readonly thresholds: VerifyThresholds
  /** JSON lines of extra queries: {"vector":[...],"filter":{...},"namespace":"...","topK":N}; a
   *  line without a vector gives its filter to a query built from a sampled record. */
  readonly filterFile?: string
  readonly seed?: number
  /** The replayer's lag in records, when it is known: count differences up to it are expected. */
  readonly replayLag?: number
  readonly progress?: Progress
  readonly signal?: AbortSignal
}

export interface NamespaceCounts {
  readonly namespace: string
  readonly source: number
  readonly target: number
  readonly difference: number
}

export interface VerifyReport {
  readonly startedAt: string
  readonly finishedAt: string
  readonly passed: boolean
  /** Why it did not pass, one line per threshold missed. */
  readonly failures: readonly string[]
  readonly notes: readonly string[]
  readonly counts: { readonly namespaces: readonly NamespaceCounts[]; readonly source: number; readonly target: number; readonly replayLag?: number }
  readonly records: RecordComparison & { readonly sampledFrom: 'source' | 'target'; readonly listed: number }
  readonly extra: { readonly checked: number; readonly extra: number; readonly ids: readonly SampledId[] }
  readonly search: SearchAgreement
  readonly settings: { readonly sample: number; readonly queries: number; readonly topK: number; readonly tolerance: number; readonly seed: number; readonly thresholds: VerifyThresholds }
}

export async function runVerify(o: VerifyOptions): Promise<VerifyReport> {
  const startedAt = new Date().toISOString()
  const seed = o.seed ?? Date.now() % 2 ** 31
  const random = seededRandom(seed)
  const notes: string[] = []
  const work = { done: 0, total: 0, phase: 'counting' }
  o.progress?.start(() => ({ done: work.done, total: work.total, retries: o.source.counters.retries + o.target.counters.retries, phase: work.phase }))
  try {
    // 1. Counts.
    const [sStats, tStats] = await Promise.all([o.source.stats(), o.target.stats()])
    const names = [...new Set([...sStats.map((s) => s.namespace), ...tStats.map((s) => s.namespace)])].sort()
    const count = (stats: typeof sStats, ns: string) => stats.find((s) => s.namespace === ns)?.vectorCount ?? 0
    const namespaces = names.map((ns) => ({ namespace: ns, source: count(sStats, ns), target: count(tStats, ns), difference: count(tStats, ns) - count(sStats, ns) }))
    const total = (xs: typeof sStats) => xs.reduce((n, s) => n + s.vectorCount, 0)
    work.total = Math.min(o.sample, total(sStats)) * 2 + o.queries

    // 2. A uniform sample of the source's ids (the target's when the source cannot list).
    const [sd, td] = await Promise.all([o.source.describe(), o.target.describe()])
    const sampleFrom: 'source' | 'target' = sd.canList ? 'source' : 'target'
    if (!sd.canList) notes.push(`the source (${o.source.label}) cannot list its ids: records were sampled from the target, so ids missing on the target are not found; compare the counts`)
    const from = sampleFrom === 'source' ? o.source : o.target
    const fromNamespaces = (sampleFrom === 'source' ? sStats : tStats).filter((s) => s.vectorCount > 0).map((s) => s.namespace)
    work.phase = 'sampling ids'
    const sample = await sampleIds(from, fromNamespaces, o.sample, random, undefined, o.signal)
    shuffle(sample.ids, random)

    // 3. Those records on both sides.
    work.phase = 'comparing records'
    const records = sampleFrom === 'source'
      ? await compareRecords(o.source, o.target, sample.ids, o.tolerance, 50, (n) => { work.done = n })
      : await compareRecords(o.target, o.source, sample.ids, o.tolerance, 50, (n) => { work.done = n })

    // 4. Records on the target the source does not have (when both can list).
    let extra = { checked: 0, extra: 0, ids: [] as SampledId[] }
    if (sd.canList && td.canList) {
      work.phase = 'looking for extra records'
      const tSample = await sampleIds(o.target, tStats.filter((s) => s.vectorCount > 0).map((s) => s.namespace), o.sample, random, undefined, o.signal)
      const back = await compareRecords(o.target, o.source, tSample.ids, o.tolerance, 20, (n) => { work.done = sample.ids.length + n })
      extra = { checked: back.compared, extra: back.missing, ids: back.differences.filter((d) => d.what === 'missing').map((d) => ({ namespace: d.namespace, id: d.id })) }
    } else {
      notes.push('extra records on the target were not looked for (a side cannot list its ids)')
    }

    // 5. Search agreement.
    work.phase = 'comparing search'
    const base = work.total - o.queries
    const vectors = await fetchVectors(o.source, sample.ids.slice(0, Math.max(o.queries, 1) * 2))
    let queries: VerifyQuery[] = queriesFromRecords(vectors, o.queries, o.topK)
    if (o.filterFile) queries = [...queries, ...(await queriesFromFile(o.filterFile, vectors, o.topK))]
    if (queries.length === 0) notes.push('no queries were run (no sampled record has values)')
    const search = await compareSearch(o.source, o.target, queries, (n) => { work.done = base + n })

    // 6. Thresholds.
    const t = o.thresholds
    const failures: string[] = []
    const lag = o.replayLag ?? 0
    for (const n of namespaces) {
      if (Math.abs(n.difference) > t.maxCountDifference + lag) {
        failures.push(`namespace ${n.namespace || '(default)'}: ${n.source} records on the source, ${n.target} on the target (difference ${n.difference}${lag ? `, replay lag ${lag}` : ''}; at most ${t.maxCountDifference} allowed)`)
      }
    }
    if (records.missing > t.maxMissing) failures.push(`${records.missing} of ${records.compared} sampled records are missing on the ${sampleFrom === 'source' ? 'target' : 'source'} (at most ${t.maxMissing})`)
    if (records.mismatched > t.maxMismatched) failures.push(`${records.mismatched} of ${records.compared} sampled records differ (at most ${t.maxMismatched})`)
    if (extra.extra > t.maxExtra) failures.push(`${extra.extra} of ${extra.checked} records sampled on the target are not on the source (at most ${t.maxExtra})`)
    if (search.all.queries > 0 && search.all.meanRecall < t.minRecall) failures.push(`mean recall@${o.topK} is ${search.all.meanRecall} (at least ${t.minRecall}): unfiltered ${search.unfiltered.meanRecall}, filtered ${search.filtered.meanRecall}`)
    work.done = work.total
    return {
      startedAt, finishedAt: new Date().toISOString(), passed: failures.length === 0, failures, notes,
      counts: { namespaces, source: total(sStats), target: total(tStats), ...(o.replayLag === undefined ? {} : { replayLag: o.replayLag }) },
      records: { ...records, sampledFrom: sampleFrom, listed: sample.listed },
      extra, search,
      settings: { sample: o.sample, queries: o.queries, topK: o.topK, tolerance: o.tolerance, seed, thresholds: t },
    }
  } finally {
    o.progress?.stop({ done: work.done, total: work.total, retries: o.source.counters.retries + o.target.counters.retries })
  }
}

async function fetchVectors(store: VectorStore, ids: readonly SampledId[]): Promise<Array<{ namespace: string; vector: StoredVector }>> {
  const out: Array<{ namespace: string; vector: StoredVector }> = []
  const byNs = new Map<string, string[]>()
  for (const s of ids) byNs.set(s.namespace, [...(byNs.get(s.namespace) ?? []), s.id])
  for (const [namespace, list] of byNs) {
    const got = await store.fetch(namespace, list)
    for (const id of list) {
      const v = got.get(id)
      if (v) out.push({ namespace, vector: v })
    }
  }
  return out
}

async function queriesFromFile(path: string, vectors: ReadonlyArray<{ namespace: string; vector: StoredVector }>, topK: number): Promise<VerifyQuery[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new VecshiftError(E.CLI_USAGE, [`--filter-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`])
  }
  const out: VerifyQuery[] = []
  let next = 0
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue
    let q: { namespace?: unknown; vector?: unknown; filter?: unknown; topK?: unknown }
    try {
      q = JSON.parse(line) as typeof q
    } catch (err) {
      throw new VecshiftError(E.CLI_USAGE, [`--filter-file ${path} line ${i + 1}: not JSON (${(err as Error).message})`])
    }
    const filter = q.filter !== undefined && q.filter !== null && typeof q.filter === 'object' ? q.filter as Record<string, unknown> : undefined
    const k = typeof q.topK === 'number' && Number.isInteger(q.topK) && q.topK > 0 ? q.topK : topK
    if (Array.isArray(q.vector)) {
      if (!q.vector.every((x) => typeof x === 'number')) throw new VecshiftError(E.CLI_USAGE, [`--filter-file ${path} line ${i + 1}: "vector" must be an array of numbers`])
      out.push({ namespace: typeof q.namespace === 'string' && q.namespace !== '__default__' ? q.namespace : '', vector: Float32Array.from(q.vector as number[]), topK: k, origin: `file line ${i + 1}`, ...(filter ? { filter } : {}) })
      continue
    }
    // A filter alone: searched around a sampled record's vector.
    const r = vectors[next++ % Math.max(1, vectors.length)]
    if (!r?.vector.values || !filter) continue
    out.push({ namespace: typeof q.namespace === 'string' ? q.namespace : r.namespace, vector: r.vector.values, filter, topK: k, origin: `file line ${i + 1} around ${r.vector.id}` })
  }
  return out
}

function shuffle<T>(xs: T[], random: () => number): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[xs[i], xs[j]] = [xs[j] as T, xs[i] as T]
  }
}
