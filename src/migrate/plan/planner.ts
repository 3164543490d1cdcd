import { VecshiftError, E } from '../../errors.js'
import type { NamespaceStats, StoreDescription, StoredVector, VectorStore } from '../../stores/contract.js'
import { COLLECTION_LIMITS, describeIfExists, planCopy, type CopyOptions, type Strategy } from '../copy/plan.js'
import { chooseLayout, type IndexLayout, type LayoutChoice, type LayoutSettings } from '../../stores/pgvector/layout.js'
import { metadataEscaped, storable } from '../../stores/pgvector/escape.js'
import { sampleIds, seededRandom } from '../verify/sample.js'
import { wellFormed } from '../../unicode.js'

// `vecshift plan`: looks at both sides before anything moves and says what the migration
// will be — what the indexes hold, whether the vectors can be copied or must be re-embedded
// (the migration article's first decision), how long the copy should take (from a short
// measured read of the source), how much log storage capture needs for the expected write
// rate, which copy strategy applies, and which Pinecone limits and features bear on it.
// It reads only: nothing is written to either side.

export interface PlanSettings {
  /** Records read from the source to measure its read rate and record sizes. */
  readonly sampleRecords: number
  /** Writes per second the application makes (for the write log's size). */
  readonly expectedWritesPerSec: number
  /** How long capture will run, copy and replay included. */
  readonly captureHours: number
  readonly reembed: {
    /** Text tokens per record, on average (the field the embeddings are made from). */
    readonly tokensPerRecord: number
    /** Price per million tokens of the embedding model. */
    readonly pricePerMillionTokens: number
    /** Records the embedding endpoint embeds per second, all workers together. */
    readonly recordsPerSec: number
  }
}

export interface PlanReport {
  readonly source: StoreDescription & { readonly label: string }
  readonly target: (StoreDescription & { readonly label: string }) | { readonly label: string; readonly exists: false }
  readonly namespaces: ReadonlyArray<NamespaceStats & { readonly target?: number }>
  readonly records: number
  readonly decision: {
    readonly action: 'copy' | 're-embed' | 'refused'
    readonly reason: string
    readonly strategy?: Strategy
  }
  readonly sample: {
    readonly records: number
    /** Metadata JSON bytes per record. */
    readonly metadataBytes: { readonly mean: number; readonly p95: number; readonly max: number } | undefined
    readonly withSparse: number
    readonly withMetadata: number
    readonly note?: string
  }
  readonly estimates: {
    /** Records per second the source answered fetches at, in the sample (copy.concurrency in parallel). */
    readonly sourceReadPerSec?: number
    readonly copySeconds?: number
    /** Bytes the write log holds for the expected writes over the capture window. */
    readonly logBytes: number
    readonly reembed?: { readonly tokens: number; readonly cost: number; readonly seconds: number }
  }
  /** A pgvector target: how its HNSW indexes are (or will be) laid out, and why. */
  readonly searchLayout?: {
    readonly layout: IndexLayout
    readonly reason: string
    readonly indexed: number
    readonly minIndexedRows: number
    readonly exists: boolean
  }
  /** Strings the sample and the namespace list hold that not every store or URL can carry
   *  as they are: NUL and lone surrogates (docs/copy.md, "pgvector"). */
  readonly unusualStrings?: { readonly namespaces: readonly string[]; readonly sampledRecords: number }
  readonly limits: readonly string[]
  readonly notes: readonly string[]
}

/** The pgvector target's layout settings (target.indexLayout and its thresholds). */
export interface PlanLayoutSettings extends LayoutSettings {
  readonly indexLayout: 'auto' | IndexLayout
}

export async function runPlan(
  source: VectorStore,
  target: VectorStore,
  copy: CopyOptions & { concurrency: number; batchSize: number },
  settings: PlanSettings,
  layout?: PlanLayoutSettings,
): Promise<PlanReport> {
  const notes: string[] = []
  const limits: string[] = []
  const s = await source.describe()
  const t = await describeIfExists(target)
  const [sStats, tStats] = await Promise.all([
    source.stats(),
    t ? target.stats() : Promise.resolve([] as NamespaceStats[]),
  ])
  const records = sStats.reduce((n, x) => n + x.vectorCount, 0)
  const namespaces = sStats.map((n) => ({
    ...n,
    ...(t ? { target: tStats.find((x) => x.namespace === n.namespace)?.vectorCount ?? 0 } : {}),
  }))

  // The decision, as the copy itself would take it (same code, same words).
  let decision: PlanReport['decision']
  try {
    const plan = await planCopy(source, target, copy)
    decision = {
      action: 'copy',
      strategy: plan.strategy,
      reason: `the vectors can be copied (${s.vectorType}, ${s.dimension ?? 'sparse'}-d, ${s.metric}), strategy ${plan.strategy}`,
    }
    notes.push(...plan.notes)
  } catch (err) {
    if (!(err instanceof VecshiftError && err.code === E.COPY_REFUSED.code)) throw err
    const reembed = /re-embedded/.test(err.message)
    decision = { action: reembed ? 're-embed' : 'refused', reason: err.message }
  }

  // A sample: sizes, sparse use, and the source's read rate.
  let sample: PlanReport['sample'] = { records: 0, metadataBytes: undefined, withSparse: 0, withMetadata: 0 }
  const sampled: StoredVector[] = []
  let sourceReadPerSec: number | undefined
  if (s.canList && records > 0) {
    // A Pinecone namespace with a lone surrogate cannot be listed (no URL carries it): it is
    // reported below instead of failing the plan.
    const listable = (ns: string) => s.kind === 'pgvector' || wellFormed(ns)
    const ids = (
      await sampleIds(
        source,
        sStats.filter((n) => n.vectorCount > 0 && listable(n.namespace)).map((n) => n.namespace),
        settings.sampleRecords,
        seededRandom(1),
      )
    ).ids
    const byNs = new Map<string, string[]>()
    for (const x of ids) byNs.set(x.namespace, [...(byNs.get(x.namespace) ?? []), x.id])
    const batches: Array<[string, string[]]> = []
    for (const [ns, list] of byNs)
      for (let i = 0; i < list.length; i += copy.batchSize) batches.push([ns, list.slice(i, i + copy.batchSize)])
    const got = sampled
    const started = performance.now()
    for (let i = 0; i < batches.length; i += copy.concurrency) {
      const round = await Promise.all(
        batches.slice(i, i + copy.concurrency).map(([ns, list]) => source.fetch(ns, list)),
      )
      for (const m of round) got.push(...m.values())
    }
    const seconds = (performance.now() - started) / 1000
    if (got.length > 0 && seconds > 0) sourceReadPerSec = Math.round(got.length / seconds)
    const sizes = got.map((v) => (v.metadata ? Buffer.byteLength(JSON.stringify(v.metadata)) : 0)).sort((a, b) => a - b)
    sample = {
      records: got.length,
      metadataBytes:
        sizes.length === 0
          ? undefined
          : {
              mean: Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length),
              p95: sizes[Math.min(sizes.length - 1, Math.floor(sizes.length * 0.95))] as number,
              max: sizes[sizes.length - 1] as number,
            },
      withSparse: got.filter((v) => v.sparseValues !== undefined).length,
      withMetadata: got.filter((v) => v.metadata !== undefined && Object.keys(v.metadata).length > 0).length,
    }
  } else if (!s.canList) {
    sample = {
      ...sample,
      note: 'the source is pod-based and cannot list its ids: no records were sampled (sizes and the read rate are not measured)',
    }
  }

  // Strings some stores or URLs cannot carry as they are (issue 17).
  const oddNamespaces = sStats.map((n) => n.namespace).filter((ns) => !storable(ns))
  const oddRecords = sampled.filter((v) => metadataEscaped(v.metadata)).length
  const toPgvector = t?.kind === 'pgvector' || (t === undefined && target.createSchema !== undefined)
  if (oddNamespaces.length > 0 || oddRecords > 0) {
    if (toPgvector) {
      notes.push(
        `${oddRecords} of ${sample.records} sampled records and ${oddNamespaces.length} namespace(s) ` +
          'hold NUL, lone surrogates or a leading U+FDD0 in metadata or names, which Postgres cannot hold as they are: ' +
          'pgvector stores them escaped (U+FDD0 and the JSON escape) and vecshift decodes them when serving; ' +
          'other readers of the table see the escaped form (docs/copy.md)',
      )
    }
    const unaddressable = oddNamespaces.filter((ns) => !wellFormed(ns))
    if (s.kind !== 'pgvector' && unaddressable.length > 0) {
      limits.push(
        `namespace(s) ${unaddressable.map((ns) => JSON.stringify(ns)).join(', ')} hold a lone surrogate, ` +
          "which a URL cannot carry: Pinecone's list and fetch cannot address them, so the copy cannot read them; " +
          'rename them on the source before the copy',
      )
    }
  }

  // Estimates.
  const meanMetadata = sample.metadataBytes?.mean ?? 0
  // A logged upsert of one record: the dense values as float32, metadata, and the record's
  // header and checksum (docs/writelog-format.md), plus its outcome record.
  const recordBytes = (s.dimension ?? 0) * 4 + meanMetadata + 120 + 60
  const logBytes = Math.round(settings.expectedWritesPerSec * settings.captureHours * 3600 * recordBytes)
  const copySeconds = sourceReadPerSec ? Math.round(records / sourceReadPerSec) : undefined
  const reembed =
    decision.action === 're-embed'
      ? {
          tokens: records * settings.reembed.tokensPerRecord,
          cost:
            Math.round(
              ((records * settings.reembed.tokensPerRecord) / 1e6) * settings.reembed.pricePerMillionTokens * 100,
            ) / 100,
          seconds: Math.round(records / Math.max(1e-9, settings.reembed.recordsPerSec)),
        }
      : undefined
  if (copySeconds !== undefined)
    notes.push(
      `the copy estimate is the source's measured read rate ` +
        `(${sourceReadPerSec} records/s at copy.concurrency ${copy.concurrency}); ` +
        "the target's ingest rate or copy.maxVectorsPerSec may make it slower",
    )

  // Pinecone's limits and features that bear on this move.
  if (s.kind === 'pinecone-pod') {
    limits.push(
      'the source is pod-based: pod indexes cannot list their ids, ' +
        'so the copy needs an ids file (copy.idsFile) or the collection path (Pinecone serverless targets only)',
    )
    const inCollection = records < COLLECTION_LIMITS.records && sStats.length < COLLECTION_LIMITS.namespaces
    limits.push(
      "the collection path (Pinecone's pod-to-serverless migration) takes indexes " +
        `below ${COLLECTION_LIMITS.records.toLocaleString('en-US')} records ` +
        `and ${COLLECTION_LIMITS.namespaces.toLocaleString('en-US')} namespaces: ` +
        `this one has ${records.toLocaleString('en-US')} and ${sStats.length.toLocaleString('en-US')} — ` +
        (inCollection ? 'within them' : 'beyond them, so only an ids file can copy it'),
    )
    if (s.metadataIndexed !== undefined) {
      limits.push(
        `selective metadata indexing is in use (indexed: ${s.metadataIndexed.join(', ') || 'none'}): ` +
          'serverless indexes every metadata field, so filters on other fields start to match after the move, ' +
          'and metadata that was not indexed now counts toward the 40 KB limit of indexed metadata',
      )
    }
    limits.push(
      'describe_index_stats with a filter works on pod indexes only: ' +
        'serverless answers it with an error, so applications that call it must change',
    )
  }
  if (t?.kind === 'pgvector' || (t === undefined && target.createSchema)) {
    if (s.supportsSparse && sample.withSparse > 0)
      limits.push(
        'sparse values go to a pgvector sparsevec column: ' +
          'indices must be below 1,000,000,000 (Pinecone allows 2^32-1) and explicit zeros are dropped',
      )
  }
  if (t === undefined)
    notes.push(
      `the target (${target.label}) does not exist yet` +
        (copy.createTarget ? '; the copy will create it' : ': create it, or set copy.createTarget'),
    )

  // pgvector: one HNSW graph, or one per large namespace (layout.ts), chosen as the copy will.
  let searchLayout: PlanReport['searchLayout']
  if (t && target.searchLayout) {
    const l = await target.searchLayout()
    searchLayout = {
      layout: l.layout,
      reason: 'recorded in the existing table',
      indexed: l.indexed.length,
      minIndexedRows: l.minIndexedRows,
      exists: true,
    }
  } else if (t === undefined && target.createSchema && layout) {
    const choice: LayoutChoice =
      layout.indexLayout === 'auto'
        ? chooseLayout(sStats, layout)
        : {
            layout: layout.indexLayout,
            reason: 'as configured (target.indexLayout)',
            indexed:
              layout.indexLayout === 'per-namespace'
                ? sStats.filter((n) => n.vectorCount >= layout.minIndexedRows).map((n) => n.namespace)
                : [],
          }
    searchLayout = {
      layout: choice.layout,
      reason: choice.reason,
      indexed: choice.indexed.length,
      minIndexedRows: layout.minIndexedRows,
      exists: false,
    }
  }

  return {
    source: { ...s, label: source.label },
    target: t ? { ...t, label: target.label } : { label: target.label, exists: false },
    namespaces,
    records,
    decision,
    sample,
    estimates: {
      ...(sourceReadPerSec === undefined ? {} : { sourceReadPerSec }),
      ...(copySeconds === undefined ? {} : { copySeconds }),
      logBytes,
      ...(reembed ? { reembed } : {}),
    },
    ...(searchLayout ? { searchLayout } : {}),
    ...(oddNamespaces.length > 0 || oddRecords > 0
      ? { unusualStrings: { namespaces: oddNamespaces, sampledRecords: oddRecords } }
      : {}),
    limits,
    notes,
  }
}
