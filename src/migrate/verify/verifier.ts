import { E, VecshiftError } from '../../errors.js'
import type { NamespaceStats, StoredVector, VectorStore } from '../../stores/contract.js'
import { wellFormed } from '../../unicode.js'
import type { Progress } from '../copy/progress.js'
import { compareInFull, detectableRate, type FullComparison } from './full.js'
import { queriesFromFile } from './query-file.js'
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
import { thresholdFailures, type VerifyThresholds } from './thresholds.js'

// `vecshift verify`: is the target answering like the source? Counts per namespace, a uniform
// sample of records compared field by field (and a sample of the target's ids looked up on
// the source, for records that should not be there), and search agreement on queries built
// from stored vectors, with and without filters. Thresholds decide whether it passed; the
// cutover can require a recent pass (thresholds.ts). Memory is bounded by the sample,
// whatever the index. Each stage keeps its progress in the checkpoint, so an interrupted
// verification goes on (--resume) with the same sample and the same queries.

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
  return new Verification(o, startedAt, await stateToResume(o)).run()
}

/** The saved state of an interrupted verification (--resume), or a fresh one. */
async function stateToResume(o: VerifyOptions): Promise<VerifyState> {
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
      `--resume: the interrupted verification had other settings (${JSON.stringify(saved.settings)}); ` +
        'run it with those, or without --resume to start over',
    ])
  }
  return saved ?? { version: 1, seed: o.seed ?? Date.now() % 2 ** 31, settings }
}

/** Both sides' counts, per namespace. */
interface Counts {
  readonly source: readonly NamespaceStats[]
  readonly target: readonly NamespaceStats[]
  /** Every namespace either side has, sorted. */
  readonly names: readonly string[]
  readonly namespaces: readonly NamespaceCounts[]
}

/** What the two sides can do for the comparison. */
interface Sides {
  readonly sourceCanList: boolean
  readonly targetCanList: boolean
  /** Namespaces neither listed nor fetched (compared by their counts only). */
  readonly unlisted: ReadonlySet<string>
}

type Sample = NonNullable<VerifyState['sample']>
type ExtraFindings = VerifyReport['extra']

class Verification {
  readonly #notes: string[] = []
  readonly #work = { done: 0, total: 0, phase: 'counting' }
  readonly #random: () => number

  constructor(
    private readonly o: VerifyOptions,
    private readonly startedAt: string,
    private readonly state: VerifyState,
  ) {
    this.#random = seededRandom(state.seed)
  }

  async run(): Promise<VerifyReport> {
    const o = this.o
    const work = this.#work
    o.progress?.start(() => ({ done: work.done, total: work.total, retries: this.#retries(), phase: work.phase }))
    try {
      const counts = await this.#count()
      const sides = await this.#sides(counts.names)
      const sample = await this.#sample(counts, sides)
      const records = await this.#compareSample(sample)
      const extra = await this.#lookForExtra(counts, sides, sample)
      const search = await this.#compareSearch(sample)
      const full = await this.#compareInFull(counts.names, sides.unlisted)
      return await this.#report(counts, sample, records, extra, search, full)
    } finally {
      o.progress?.stop({ done: work.done, total: work.total, retries: this.#retries() })
    }
  }

  /** 1. Counts (always fresh: they are cheap and the point is how things are now). */
  async #count(): Promise<Counts> {
    const [source, target] = await Promise.all([this.o.source.stats(), this.o.target.stats()])
    const names = [...new Set([...source.map((x) => x.namespace), ...target.map((x) => x.namespace)])].sort()
    const namespaces = names.map((ns) => ({
      namespace: ns,
      source: countIn(source, ns),
      target: countIn(target, ns),
      difference: countIn(target, ns) - countIn(source, ns),
    }))
    this.#work.total = Math.min(this.o.sample, total(source)) * 2 + this.o.queries
    return { source, target, names, namespaces }
  }

  /** Pinecone takes the namespace of list and fetch in the URL, which cannot carry a lone
   *  surrogate: unless both sides are pgvector, such namespaces are compared by their
   *  counts only, and the report says so. */
  async #sides(names: readonly string[]): Promise<Sides> {
    const [sd, td] = await Promise.all([this.o.source.describe(), this.o.target.describe()])
    const bothPgvector = sd.kind === 'pgvector' && td.kind === 'pgvector'
    const unlisted = new Set(bothPgvector ? [] : names.filter((n) => !wellFormed(n)))
    if (unlisted.size > 0) {
      this.#notes.push(
        `namespace(s) ${[...unlisted].map((n) => JSON.stringify(n)).join(', ')} hold a lone surrogate, ` +
          'which a URL cannot carry: Pinecone cannot list or fetch them, so their records were not sampled' +
          `${this.o.full === 'all' ? ' nor compared in full' : ''}; their counts were compared`,
      )
    }
    return { sourceCanList: sd.canList, targetCanList: td.canList, unlisted }
  }

  /** 2. A uniform sample of the source's ids (the target's when the source cannot list). */
  async #sample(counts: Counts, sides: Sides): Promise<Sample> {
    const o = this.o
    if (!sides.sourceCanList)
      this.#notes.push(
        `the source (${o.source.label}) cannot list its ids: records were sampled from the target, ` +
          'so ids missing on the target are not found; compare the counts',
      )
    if (!this.state.sample) {
      this.#work.phase = 'sampling ids'
      const from: 'source' | 'target' = sides.sourceCanList ? 'source' : 'target'
      const store = from === 'source' ? o.source : o.target
      const listable = listableIn(from === 'source' ? counts.source : counts.target, sides.unlisted)
      const sampled = await sampleIds(store, listable, o.sample, this.#random, undefined, o.signal)
      shuffle(sampled.ids, this.#random)
      this.state.sample = { from, ids: sampled.ids, listed: sampled.listed }
      await this.#save()
    }
    return this.state.sample
  }

  /** 3. Those records on both sides, a chunk at a time. */
  async #compareSample(sample: Sample): Promise<Tally> {
    this.#work.phase = 'comparing records'
    const o = this.o
    const [a, b] = sample.from === 'source' ? [o.source, o.target] : [o.target, o.source]
    // Attached to the state before the first chunk, so each save carries the tally so far.
    this.state.records ??= emptyTally()
    const records = this.state.records
    await this.#tally(records, sample.ids, a, b, 50, (n) => {
      this.#work.done = n
    })
    return records
  }

  /** 4. Records on the target the source does not have (when both can list). */
  async #lookForExtra(counts: Counts, sides: Sides, sample: Sample): Promise<ExtraFindings> {
    const o = this.o
    if (this.state.extraSample === undefined) {
      const listable = listableIn(counts.target, sides.unlisted)
      this.state.extraSample =
        sides.sourceCanList && sides.targetCanList
          ? (await sampleIds(o.target, listable, o.sample, this.#random, undefined, o.signal)).ids
          : null
      await this.#save()
    }
    const extraSample = this.state.extraSample
    if (extraSample === null) {
      this.#notes.push('extra records on the target were not looked for (a side cannot list its ids)')
      return { checked: 0, extra: 0, ids: [] }
    }
    this.#work.phase = 'looking for extra records'
    this.state.extra ??= emptyTally()
    const back = this.state.extra
    await this.#tally(back, extraSample, o.target, o.source, 20, (n) => {
      this.#work.done = sample.ids.length + n
    })
    return {
      checked: back.equal + back.missing + back.mismatched,
      extra: back.missing,
      ids: back.differences.filter((d) => d.what === 'missing').map((d) => ({ namespace: d.namespace, id: d.id })),
    }
  }

  /** 5. Search agreement: the queries are rebuilt from the sample, so a resumed run asks
   *  the same ones and goes on after those already answered. */
  async #compareSearch(sample: Sample): Promise<SearchAgreement> {
    const o = this.o
    this.#work.phase = 'comparing search'
    const base = this.#work.total - o.queries
    const vectors = await fetchVectors(o.source, sample.ids.slice(0, Math.max(o.queries, 1) * 2))
    let queries: VerifyQuery[] = queriesFromRecords(vectors, o.queries, o.topK)
    if (o.filterFile) queries = [...queries, ...(await queriesFromFile(o.filterFile, vectors, o.topK))]
    if (queries.length === 0) this.#notes.push('no queries were run (no sampled record has values)')
    const rows = this.state.rows ?? []
    this.state.rows = rows
    while (rows.length < queries.length) {
      await this.#stopIfAsked()
      rows.push(...(await agreementRows(o.source, o.target, queries.slice(rows.length, rows.length + QUERY_CHUNK))))
      this.#work.done = base + rows.length
      await this.#save()
    }
    return summarizeAgreement(rows)
  }

  /** 5b. Every id of the chosen namespaces (--full): not checkpointed, a resumed run does it again. */
  async #compareInFull(names: readonly string[], unlisted: ReadonlySet<string>): Promise<FullComparison | undefined> {
    const o = this.o
    if (o.full === undefined) return undefined
    this.#work.phase = 'comparing in full'
    const chosen =
      o.full === 'all' ? names.filter((n) => !unlisted.has(n)) : o.full.map((n) => (n === '__default__' ? '' : n))
    return compareInFull(o.source, o.target, chosen, o.tolerance, { ...(o.signal ? { signal: o.signal } : {}) })
  }

  /** 6. Thresholds, and the report. */
  async #report(
    counts: Counts,
    sample: Sample,
    records: Tally,
    extra: ExtraFindings,
    search: SearchAgreement,
    full: FullComparison | undefined,
  ): Promise<VerifyReport> {
    const o = this.o
    const failures = thresholdFailures(
      {
        namespaces: counts.namespaces,
        ...(o.replayLag === undefined ? {} : { replayLag: o.replayLag }),
        records,
        sampledFrom: sample.from,
        extra,
        ...(full ? { full } : {}),
        search,
        topK: o.topK,
      },
      o.thresholds,
    )
    const compared = records.equal + records.missing + records.mismatched
    const sampleDetects = detectableRate(compared)
    if (!full)
      this.#notes.push(
        `the sample of ${compared} records finds a difference that affects ${(sampleDetects * 100).toPrecision(2)} % ` +
          'of the records or more with 95 % probability; fewer can pass unseen (vecshift verify --full compares every id)',
      )
    this.#work.done = this.#work.total
    await o.checkpoint?.clear()
    return {
      startedAt: this.startedAt,
      finishedAt: new Date().toISOString(),
      passed: failures.length === 0,
      failures,
      notes: this.#notes,
      counts: {
        namespaces: counts.namespaces,
        source: total(counts.source),
        target: total(counts.target),
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
      settings: this.#settings(),
    }
  }

  #settings(): VerifyReport['settings'] {
    const o = this.o
    const { sample, queries, topK, tolerance, thresholds } = o
    return { sample, queries, topK, tolerance, seed: this.state.seed, thresholds }
  }

  /** Compares `ids` from `t.done` on, a chunk at a time, adding to the tally (in place) and
   *  saving after each chunk. */
  async #tally(
    t: Tally,
    ids: readonly SampledId[],
    from: VectorStore,
    to: VectorStore,
    keep: number,
    onDone: (n: number) => void,
  ): Promise<void> {
    while (t.done < ids.length) {
      await this.#stopIfAsked()
      const chunk = ids.slice(t.done, t.done + CHUNK)
      const r: RecordComparison = await compareRecords(from, to, chunk, this.o.tolerance, keep)
      t.equal += r.equal
      t.missing += r.missing
      t.mismatched += r.mismatched
      t.differences.push(...r.differences.slice(0, Math.max(0, keep - t.differences.length)))
      t.done += chunk.length
      onDone(t.done)
      await this.#save()
    }
  }

  async #save(): Promise<void> {
    await this.o.checkpoint?.save(this.state)
  }

  async #stopIfAsked(): Promise<void> {
    if (!this.o.signal?.aborted) return
    await this.#save()
    throw new VerifyInterrupted()
  }

  #retries(): number {
    return this.o.source.counters.retries + this.o.target.counters.retries
  }
}

function countIn(stats: readonly NamespaceStats[], ns: string): number {
  return stats.find((x) => x.namespace === ns)?.vectorCount ?? 0
}

function total(stats: readonly NamespaceStats[]): number {
  return stats.reduce((n, x) => n + x.vectorCount, 0)
}

/** The namespaces worth sampling: not empty, and listable. */
function listableIn(stats: readonly NamespaceStats[], unlisted: ReadonlySet<string>): string[] {
  return stats.filter((x) => x.vectorCount > 0 && !unlisted.has(x.namespace)).map((x) => x.namespace)
}

function emptyTally(): Tally {
  return { done: 0, equal: 0, missing: 0, mismatched: 0, differences: [] }
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

function shuffle<T>(xs: T[], random: () => number): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[xs[i], xs[j]] = [xs[j] as T, xs[i] as T]
  }
}
