import { readFile } from 'node:fs/promises'
import { E, VecshiftError } from '../../errors.js'
import type { StoredVector, VectorStore } from '../../stores/contract.js'
import type { Progress } from '../copy/progress.js'
import { compareInFull, detectableRate, type FullComparison } from './full.js'
import { compareRecords, type RecordComparison, type RecordDifference } from './records.js'
import { sampleIds, seededRandom, type SampledId } from './sample.js'
import {
  agreementRows,
  queriesFromRecords,
  summarizeAgreement,
  type AgreementRow,
  type SearchAgreement,
  type VerifyQuery,
} from './search.js'
import { wellFormed } from '../../unicode.js'

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
  /** Where the verification keeps its progress, so an interrupted one can go on (--resume). */
  readonly checkpoint?: VerifyCheckpoint
  readonly resume?: boolean
  /** Also compare every id of these namespaces ('all': every namespace) on both sides. */
  readonly full?: readonly string[] | 'all'
}

/** What a verification has done so far: the sample, and each stage's results up to a point. */
export interface VerifyState {
  readonly version: 1
  readonly seed: number
  readonly settings: {
    readonly sample: number
    readonly queries: number
    readonly topK: number
    readonly tolerance: number
    readonly filterFile?: string
  }
  sample?: { from: 'source' | 'target'; ids: SampledId[]; listed: number }
  records?: Tally
  /** null: not looked for (a side cannot list). */
  extraSample?: SampledId[] | null
  extra?: Tally
  rows?: AgreementRow[]
}

interface Tally {
  done: number
  equal: number
  missing: number
  mismatched: number
  differences: RecordDifference[]
}

export interface VerifyCheckpoint {
  load(): Promise<VerifyState | undefined>
  save(state: VerifyState): Promise<void>
  clear(): Promise<void>
}

/** Thrown when the signal stops a verification; its state is saved for --resume. */
export class VerifyInterrupted extends Error {
  override readonly name = 'VerifyInterrupted'
  constructor() {
    super('the verification was interrupted; its progress is saved: run it again with --resume')
  }
}

/** Ids compared, and queries run, between two saves of the checkpoint. */
const CHUNK = 200
const QUERY_CHUNK = 20

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
  readonly counts: {
    readonly namespaces: readonly NamespaceCounts[]
    readonly source: number
    readonly target: number
    readonly replayLag?: number
  }
  readonly records: RecordComparison & { readonly sampledFrom: 'source' | 'target'; readonly listed: number }
  readonly extra: { readonly checked: number; readonly extra: number; readonly ids: readonly SampledId[] }
  readonly search: SearchAgreement
  /** With --full: every id of the chosen namespaces compared. */
  readonly full?: FullComparison
  /** The smallest fraction of differing records the sample finds with 95 % probability. */
  readonly sampleDetects: number
  readonly settings: {
    readonly sample: number
    readonly queries: number
    readonly topK: number
    readonly tolerance: number
    readonly seed: number
    readonly thresholds: VerifyThresholds
  }
}

export async function runVerify(o: VerifyOptions): Promise<VerifyReport> {
  const startedAt = new Date().toISOString()
  const settings = {
    sample: o.sample,
    queries: o.queries,
    topK: o.topK,
    tolerance: o.tolerance,
    ...(o.filterFile ? { filterFile: o.filterFile } : {}),
  }
  const saved = o.resume ? await o.checkpoint?.load() : undefined
  if (o.resume && !saved)
    throw new VecshiftError(E.CLI_USAGE, [
      '--resume: there is no interrupted verification to continue; run without --resume',
    ])
  if (saved && JSON.stringify(saved.settings) !== JSON.stringify(settings)) {
    throw new VecshiftError(E.CLI_USAGE, [
      `--resume: the interrupted verification had other settings (${JSON.stringify(saved.settings)}); run it with those, or without --resume to start over`,
    ])
  }
  const state: VerifyState = saved ?? { version: 1, seed: o.seed ?? Date.now() % 2 ** 31, settings }
  const seed = state.seed
  const random = seededRandom(seed)
  const save = async () => {
    await o.checkpoint?.save(state)
  }
  const stopIfAsked = async () => {
    if (!o.signal?.aborted) return
    await save()
    throw new VerifyInterrupted()
  }
  const notes: string[] = []
  const work = { done: 0, total: 0, phase: 'counting' }
  o.progress?.start(() => ({
    done: work.done,
    total: work.total,
    retries: o.source.counters.retries + o.target.counters.retries,
    phase: work.phase,
  }))
  try {
    // 1. Counts (always fresh: they are cheap and the point is how things are now).
    const [sStats, tStats] = await Promise.all([o.source.stats(), o.target.stats()])
    const names = [...new Set([...sStats.map((x) => x.namespace), ...tStats.map((x) => x.namespace)])].sort()
    const count = (stats: typeof sStats, ns: string) => stats.find((x) => x.namespace === ns)?.vectorCount ?? 0
    const namespaces = names.map((ns) => ({
      namespace: ns,
      source: count(sStats, ns),
      target: count(tStats, ns),
      difference: count(tStats, ns) - count(sStats, ns),
    }))
    const total = (xs: typeof sStats) => xs.reduce((n, x) => n + x.vectorCount, 0)
    work.total = Math.min(o.sample, total(sStats)) * 2 + o.queries

    // Pinecone takes the namespace of list and fetch in the URL, which cannot carry a lone
    // surrogate: unless both sides are pgvector, such namespaces are compared by their
    // counts only, and the report says so.
    const [sd, td] = await Promise.all([o.source.describe(), o.target.describe()])
    const bothPgvector = sd.kind === 'pgvector' && td.kind === 'pgvector'
    const unlisted = new Set(bothPgvector ? [] : names.filter((n) => !wellFormed(n)))
    if (unlisted.size > 0) {
      notes.push(
        `namespace(s) ${[...unlisted].map((n) => JSON.stringify(n)).join(', ')} hold a lone surrogate, which a URL cannot carry: Pinecone cannot list or fetch them, so their records were not sampled${o.full === 'all' ? ' nor compared in full' : ''}; their counts were compared`,
      )
    }
    const listable = (stats: typeof sStats) =>
      stats.filter((x) => x.vectorCount > 0 && !unlisted.has(x.namespace)).map((x) => x.namespace)

    // 2. A uniform sample of the source's ids (the target's when the source cannot list).
    if (!sd.canList)
      notes.push(
        `the source (${o.source.label}) cannot list its ids: records were sampled from the target, so ids missing on the target are not found; compare the counts`,
      )
    if (!state.sample) {
      work.phase = 'sampling ids'
      const from: 'source' | 'target' = sd.canList ? 'source' : 'target'
      const store = from === 'source' ? o.source : o.target
      const sampled = await sampleIds(
        store,
        listable(from === 'source' ? sStats : tStats),
        o.sample,
        random,
        undefined,
        o.signal,
      )
      shuffle(sampled.ids, random)
      state.sample = { from, ids: sampled.ids, listed: sampled.listed }
      await save()
    }
    const sample = state.sample

    // 3. Those records on both sides, a chunk at a time.
    work.phase = 'comparing records'
    const [a, b] = sample.from === 'source' ? [o.source, o.target] : [o.target, o.source]
    // Attached to the state before the first chunk, so each save carries the tally so far.
    const records = (state.records ??= emptyTally())
    await tally(records, sample.ids, a, b, o.tolerance, 50, save, stopIfAsked, (n) => {
      work.done = n
    })

    // 4. Records on the target the source does not have (when both can list).
    if (state.extraSample === undefined) {
      state.extraSample =
        sd.canList && td.canList
          ? (await sampleIds(o.target, listable(tStats), o.sample, random, undefined, o.signal)).ids
          : null
      await save()
    }
    let extra = { checked: 0, extra: 0, ids: [] as SampledId[] }
    if (state.extraSample === null) {
      notes.push('extra records on the target were not looked for (a side cannot list its ids)')
    } else {
      work.phase = 'looking for extra records'
      const back = (state.extra ??= emptyTally())
      await tally(back, state.extraSample, o.target, o.source, o.tolerance, 20, save, stopIfAsked, (n) => {
        work.done = sample.ids.length + n
      })
      extra = {
        checked: back.equal + back.missing + back.mismatched,
        extra: back.missing,
        ids: back.differences.filter((d) => d.what === 'missing').map((d) => ({ namespace: d.namespace, id: d.id })),
      }
    }

    // 5. Search agreement: the queries are rebuilt from the sample, so a resumed run asks
    // the same ones and goes on after those already answered.
    work.phase = 'comparing search'
    const base = work.total - o.queries
    const vectors = await fetchVectors(o.source, sample.ids.slice(0, Math.max(o.queries, 1) * 2))
    let queries: VerifyQuery[] = queriesFromRecords(vectors, o.queries, o.topK)
    if (o.filterFile) queries = [...queries, ...(await queriesFromFile(o.filterFile, vectors, o.topK))]
    if (queries.length === 0) notes.push('no queries were run (no sampled record has values)')
    const rows = state.rows ?? []
    state.rows = rows
    while (rows.length < queries.length) {
      await stopIfAsked()
      rows.push(...(await agreementRows(o.source, o.target, queries.slice(rows.length, rows.length + QUERY_CHUNK))))
      work.done = base + rows.length
      await save()
    }
    const search = summarizeAgreement(rows)

    // 5b. Every id of the chosen namespaces (--full): not checkpointed, a resumed run does it again.
    let full: FullComparison | undefined
    if (o.full !== undefined) {
      work.phase = 'comparing in full'
      const chosen =
        o.full === 'all' ? names.filter((n) => !unlisted.has(n)) : o.full.map((n) => (n === '__default__' ? '' : n))
      full = await compareInFull(o.source, o.target, chosen, o.tolerance, { ...(o.signal ? { signal: o.signal } : {}) })
    }

    // 6. Thresholds.
    const t = o.thresholds
    const failures: string[] = []
    const lag = o.replayLag ?? 0
    for (const n of namespaces) {
      if (Math.abs(n.difference) > t.maxCountDifference + lag) {
        failures.push(
          `namespace ${n.namespace || '(default)'}: ${n.source} records on the source, ${n.target} on the target (difference ${n.difference}${lag ? `, replay lag ${lag}` : ''}; at most ${t.maxCountDifference} allowed)`,
        )
      }
    }
    const compared = records.equal + records.missing + records.mismatched
    if (records.missing > t.maxMissing)
      failures.push(
        `${records.missing} of ${compared} sampled records are missing on the ${sample.from === 'source' ? 'target' : 'source'} (at most ${t.maxMissing})`,
      )
    if (records.mismatched > t.maxMismatched)
      failures.push(`${records.mismatched} of ${compared} sampled records differ (at most ${t.maxMismatched})`)
    if (extra.extra > t.maxExtra)
      failures.push(
        `${extra.extra} of ${extra.checked} records sampled on the target are not on the source (at most ${t.maxExtra})`,
      )
    if (full) {
      if (full.missing > t.maxMissing)
        failures.push(
          `full comparison: ${full.missing} of ${full.compared} records are missing on the target (at most ${t.maxMissing})`,
        )
      if (full.mismatched > t.maxMismatched)
        failures.push(
          `full comparison: ${full.mismatched} of ${full.compared} records differ (at most ${t.maxMismatched})`,
        )
      if (full.extra > t.maxExtra)
        failures.push(`full comparison: ${full.extra} records are on the target only (at most ${t.maxExtra})`)
    }
    const sampleDetects = detectableRate(compared)
    if (!full)
      notes.push(
        `the sample of ${compared} records finds a difference that affects ${(sampleDetects * 100).toPrecision(2)} % of the records or more with 95 % probability; fewer can pass unseen (vecshift verify --full compares every id)`,
      )
    if (search.index && search.index.short > 0) {
      const w = search.index.worst.find((x) => x.got < x.expected)
      failures.push(
        `${search.index.short} of ${search.index.queries} queries came back short from the target's index (fewer results than exact search finds${w ? `; e.g. ${w.origin}: ${w.got} of ${w.expected}` : ''}): rebuild its indexes (vecshift index) and see docs/copy.md, "pgvector"`,
      )
    }
    if (search.index && search.index.meanRecall < t.minRecall)
      failures.push(
        `the target's index answers with mean recall@${o.topK} ${search.index.meanRecall} against its own exact search (at least ${t.minRecall})`,
      )
    if (search.all.queries > 0 && search.all.meanRecall < t.minRecall)
      failures.push(
        `mean recall@${o.topK} is ${search.all.meanRecall} (at least ${t.minRecall}): unfiltered ${search.unfiltered.meanRecall}, filtered ${search.filtered.meanRecall}`,
      )
    work.done = work.total
    await o.checkpoint?.clear()
    return {
      startedAt,
      finishedAt: new Date().toISOString(),
      passed: failures.length === 0,
      failures,
      notes,
      counts: {
        namespaces,
        source: total(sStats),
        target: total(tStats),
        ...(o.replayLag === undefined ? {} : { replayLag: o.replayLag }),
      },
      records: {
        compared,
        equal: records.equal,
        missing: records.missing,
        mismatched: records.mismatched,
        differences: records.differences,
        sampledFrom: sample.from,
        listed: sample.listed,
      },
      extra,
      search,
      sampleDetects,
      ...(full ? { full } : {}),
      settings: { sample: o.sample, queries: o.queries, topK: o.topK, tolerance: o.tolerance, seed, thresholds: t },
    }
  } finally {
    o.progress?.stop({
      done: work.done,
      total: work.total,
      retries: o.source.counters.retries + o.target.counters.retries,
    })
  }
}

function emptyTally(): Tally {
  return { done: 0, equal: 0, missing: 0, mismatched: 0, differences: [] }
}

/** Compares `ids` from `t.done` on, a chunk at a time, adding to the tally (in place) and
 *  saving after each chunk. */
async function tally(
  t: Tally,
  ids: readonly SampledId[],
  from: VectorStore,
  to: VectorStore,
  tolerance: number,
  keep: number,
  save: () => Promise<void>,
  stopIfAsked: () => Promise<void>,
  onDone: (n: number) => void,
): Promise<void> {
  while (t.done < ids.length) {
    await stopIfAsked()
    const chunk = ids.slice(t.done, t.done + CHUNK)
    const r: RecordComparison = await compareRecords(from, to, chunk, tolerance, keep)
    t.equal += r.equal
    t.missing += r.missing
    t.mismatched += r.mismatched
    t.differences.push(...r.differences.slice(0, Math.max(0, keep - t.differences.length)))
    t.done += chunk.length
    onDone(t.done)
    await save()
  }
}

async function fetchVectors(
  store: VectorStore,
  ids: readonly SampledId[],
): Promise<Array<{ namespace: string; vector: StoredVector }>> {
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

async function queriesFromFile(
  path: string,
  vectors: ReadonlyArray<{ namespace: string; vector: StoredVector }>,
  topK: number,
): Promise<VerifyQuery[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new VecshiftError(E.CLI_USAGE, [
      `--filter-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    ])
  }
  const out: VerifyQuery[] = []
  let next = 0
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue
    let q: { namespace?: unknown; vector?: unknown; filter?: unknown; topK?: unknown }
    try {
      q = JSON.parse(line) as typeof q
    } catch (err) {
      throw new VecshiftError(E.CLI_USAGE, [
        `--filter-file ${path} line ${i + 1}: not JSON (${(err as Error).message})`,
      ])
    }
    const filter =
      q.filter !== undefined && q.filter !== null && typeof q.filter === 'object'
        ? (q.filter as Record<string, unknown>)
        : undefined
    const k = typeof q.topK === 'number' && Number.isInteger(q.topK) && q.topK > 0 ? q.topK : topK
    if (Array.isArray(q.vector)) {
      if (!q.vector.every((x) => typeof x === 'number'))
        throw new VecshiftError(E.CLI_USAGE, [
          `--filter-file ${path} line ${i + 1}: "vector" must be an array of numbers`,
        ])
      out.push({
        namespace: typeof q.namespace === 'string' && q.namespace !== '__default__' ? q.namespace : '',
        vector: Float32Array.from(q.vector as number[]),
        topK: k,
        origin: `file line ${i + 1}`,
        ...(filter ? { filter } : {}),
      })
      continue
    }
    // A filter alone: searched around a sampled record's vector.
    const r = vectors[next++ % Math.max(1, vectors.length)]
    if (!r?.vector.values || !filter) continue
    out.push({
      namespace: typeof q.namespace === 'string' ? q.namespace : r.namespace,
      vector: r.vector.values,
      filter,
      topK: k,
      origin: `file line ${i + 1} around ${r.vector.id}`,
    })
  }
  return out
}

function shuffle<T>(xs: T[], random: () => number): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[xs[i], xs[j]] = [xs[j] as T, xs[i] as T]
  }
}
