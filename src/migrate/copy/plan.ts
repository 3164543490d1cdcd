import type { Config } from '../../config/schema.js'
import { E, VecshiftError } from '../../errors.js'
import type { NamespaceStats, StoreDescription, VectorStore } from '../../stores/contract.js'
import { wellFormed } from '../../unicode.js'

// Before a byte moves: can the source's vectors be copied into the target at all, and how?
//
// The copy-or-re-embed decision (docs/copy.md, "Re-embedding"): vectors are
// only meaningful next to the model that made them. A different embedding model, or a
// different dimension, means the target needs new embeddings of the source text, and copying
// vectors would fill it with numbers its queries cannot be compared against. So those cases
// are refused here, with the reason, before anything is written.

export type Strategy = 'list-fetch' | 'collection' | 'ids-file'

export interface CopyOptions {
  readonly strategy: 'auto' | Strategy
  readonly idsFile?: string
  /** Copy only this namespace ('' is the default one). */
  readonly namespace?: string
  readonly createTarget: boolean
  readonly sourceEmbeddingModel?: string
  readonly targetEmbeddingModel?: string
  /** Where the collection strategy creates the serverless target (copy.collection). */
  readonly collection?: { readonly cloud?: string; readonly region?: string }
  /** The target's vectors are made anew from each record's text (copy --reembed): the
   *  model and dimension may differ, and that is the point. */
  readonly reembed?: { readonly model: string; readonly textField: string }
  /** The checkpoint of the copy being resumed says it created the target from a collection,
   *  so an existing target is its own work, not someone else's index. */
  readonly targetCreatedByCopy?: boolean
}

/** What the config's copy: section asks of a plan (`vecshift copy` and `vecshift plan`). */
export function copyOptionsFrom(copy: Config['copy']): CopyOptions {
  return {
    strategy: copy.strategy,
    createTarget: copy.createTarget,
    ...(copy.idsFile === undefined ? {} : { idsFile: copy.idsFile }),
    ...(copy.sourceEmbeddingModel === undefined ? {} : { sourceEmbeddingModel: copy.sourceEmbeddingModel }),
    ...(copy.targetEmbeddingModel === undefined ? {} : { targetEmbeddingModel: copy.targetEmbeddingModel }),
    collection: {
      ...(copy.collection.cloud === undefined ? {} : { cloud: copy.collection.cloud }),
      ...(copy.collection.region === undefined ? {} : { region: copy.collection.region }),
    },
  }
}

/** The limits of Pinecone's collection migration path (pinecone-pod-to-serverless.md). */
export const COLLECTION_LIMITS = Object.freeze({ records: 25_000_000, namespaces: 20_000 })

export interface CopyPlan {
  readonly strategy: Strategy
  readonly source: StoreDescription
  /** Undefined when the target does not exist yet and will be created. */
  readonly target: StoreDescription | undefined
  readonly namespaces: readonly NamespaceStats[]
  readonly total: number
  /** Notes for the operator (printed before the copy starts). */
  readonly notes: readonly string[]
}

function refuse(why: string): never {
  throw new VecshiftError(E.COPY_REFUSED, [why])
}

/** The store's description, or undefined when it does not exist yet (any other failure throws). */
export async function describeIfExists(store: VectorStore): Promise<StoreDescription | undefined> {
  try {
    return await store.describe()
  } catch (err) {
    if (err instanceof VecshiftError && err.code === E.STORE_NOT_FOUND.code) return undefined
    throw err
  }
}

export async function planCopy(source: VectorStore, target: VectorStore, options: CopyOptions): Promise<CopyPlan> {
  const notes: string[] = []
  const s = await source.describe()
  let t: StoreDescription | undefined
  try {
    t = await target.describe()
  } catch (err) {
    if (!(err instanceof VecshiftError && err.code === E.STORE_NOT_FOUND.code)) throw err
    if (!options.createTarget && options.strategy !== 'collection') {
      refuse(
        `${err.message}. Create it, or set copy.createTarget: true (or --create-target) to have vecshift create it with the source's shape`,
      )
    }
    if (
      !target.createSchema &&
      !(s.kind === 'pinecone-pod' && options.strategy !== 'list-fetch' && options.strategy !== 'ids-file')
    ) {
      refuse(
        `${err.message}. vecshift creates a Pinecone target only from a collection of a pod-based source ` +
          '(strategy collection); create the serverless index first',
      )
    }
    notes.push(
      `the target does not exist yet; it will be created as ${s.vectorType} ${s.dimension ?? ''}-d ${s.metric}`,
    )
  }

  const reembed = options.reembed
  if (reembed)
    notes.push(`vectors are not copied: they are re-embedded with ${reembed.model} from metadata.${reembed.textField}`)
  if (
    !reembed &&
    options.sourceEmbeddingModel !== undefined &&
    options.targetEmbeddingModel !== undefined &&
    options.sourceEmbeddingModel !== options.targetEmbeddingModel
  ) {
    refuse(
      `the source holds ${options.sourceEmbeddingModel} embeddings and the target expects ${options.targetEmbeddingModel}: ` +
        'vectors of one model mean nothing to another, so they must be re-embedded from the source text, not copied ' +
        '(vecshift copy --reembed, with a reembed: section; see docs/copy.md, "Copy or re-embed")',
    )
  }
  if (t) {
    if (s.vectorType !== t.vectorType)
      refuse(`the source holds ${s.vectorType} vectors and the target ${t.vectorType} ones`)
    if (s.dimension !== t.dimension && !reembed) {
      refuse(
        `the source has dimension ${s.dimension} and the target ${t.dimension}: ` +
          'a different dimension means a different embedding model, so the vectors must be re-embedded, not copied ' +
          '(vecshift copy --reembed, with a reembed: section; see docs/copy.md, "Copy or re-embed")',
      )
    }
    if (s.metric !== t.metric && !reembed) {
      refuse(
        `the source uses the ${s.metric} metric and the target ${t.metric}: ` +
          `queries would rank differently after the move; create the target with ${s.metric}`,
      )
    }
    if (s.supportsSparse && !t.supportsSparse) {
      notes.push(
        `the source can hold sparse values and the target (${t.metric}) cannot: ` +
          "a record with sparse values will stop the copy with the target's refusal",
      )
    }
  }

  let strategy: Strategy
  if (options.strategy !== 'auto') {
    strategy = options.strategy
  } else if (options.idsFile !== undefined) {
    strategy = 'ids-file'
  } else if (s.canList) {
    strategy = 'list-fetch'
  } else if (
    s.kind === 'pinecone-pod' &&
    target.collections !== undefined &&
    (t === undefined || options.targetCreatedByCopy === true)
  ) {
    strategy = 'collection'
  } else {
    refuse(
      `the ${source.label} is pod-based and cannot list its ids; give an ids file (copy.idsFile or --ids-file)` +
        (target.collections
          ? ', or let vecshift create the serverless target from a collection (the target must not exist yet)'
          : ''),
    )
  }
  if (strategy === 'list-fetch' && !s.canList)
    refuse(
      `strategy list-fetch needs a source that can list ids; the ${source.label} cannot (use collection or ids-file)`,
    )
  if (strategy === 'ids-file' && options.idsFile === undefined)
    refuse('strategy ids-file needs copy.idsFile or --ids-file')
  let namespaces = await source.stats()
  if (strategy === 'collection') checkCollectionPath(source, target, s, t, namespaces, options, notes)
  if (options.namespace !== undefined) {
    namespaces = namespaces.filter((n) => n.namespace === options.namespace)
    if (namespaces.length === 0) notes.push(`namespace "${options.namespace}" holds no records in the source`)
  }
  // Pinecone takes the namespace of list and fetch in the URL, which cannot carry a lone
  // surrogate (JSON bodies can, so such a namespace can exist): refused before anything is
  // copied, naming them, rather than half way through.
  const unaddressable =
    strategy === 'list-fetch' && s.kind !== 'pgvector'
      ? namespaces.filter((n) => n.vectorCount > 0 && !wellFormed(n.namespace)).map((n) => n.namespace)
      : []
  if (unaddressable.length > 0) {
    refuse(
      `namespace(s) ${unaddressable.map((n) => JSON.stringify(n)).join(', ')} of the ${source.label} ` +
        'hold a lone surrogate, which a URL cannot carry, and Pinecone lists and fetches a namespace by URL: ' +
        'they cannot be read. Rename them on the source (the writes the gateway captures carry them to the target ' +
        'as they are), or copy the other namespaces one by one with --namespace',
    )
  }
  const total = namespaces.reduce((n, ns) => n + ns.vectorCount, 0)
  return { strategy, source: s, target: t, namespaces, total, notes }
}

/** Pinecone's pod-to-serverless path: what it needs and the limits of its migration tool. */
function checkCollectionPath(
  source: VectorStore,
  target: VectorStore,
  s: StoreDescription,
  t: StoreDescription | undefined,
  namespaces: readonly NamespaceStats[],
  options: CopyOptions,
  notes: string[],
): void {
  if (s.kind !== 'pinecone-pod' || source.collections === undefined) {
    refuse(`strategy collection saves a Pinecone pod-based index as a collection; the ${source.label} is ${s.kind}`)
  }
  if (target.collections === undefined)
    refuse(`strategy collection creates a Pinecone serverless index; the ${target.label} is not a Pinecone index`)
  if (t !== undefined && options.targetCreatedByCopy !== true) {
    refuse(
      `strategy collection creates the target index from the collection, and the ${target.label} exists already; ` +
        'delete it (or name another target index), or copy into it with an ids file (strategy ids-file)',
    )
  }
  if (t !== undefined && t.kind !== 'pinecone-serverless')
    refuse(`the ${target.label} is ${t.kind}; the collection strategy makes a serverless index`)
  if (options.namespace !== undefined)
    refuse(
      'a collection holds the whole index: --namespace cannot be used with strategy collection (use an ids file to copy one namespace)',
    )
  if (options.collection?.cloud === undefined || options.collection.region === undefined) {
    refuse(
      'strategy collection creates the serverless target; set copy.collection.cloud and copy.collection.region ' +
        'to where it should live (e.g. aws / us-east-1)',
    )
  }
  const records = namespaces.reduce((n, ns) => n + ns.vectorCount, 0)
  if (records >= COLLECTION_LIMITS.records || namespaces.length >= COLLECTION_LIMITS.namespaces) {
    refuse(
      'Pinecone migrates pod-based indexes through a collection only below ' +
        `${COLLECTION_LIMITS.records.toLocaleString('en-US')} records and ` +
        `${COLLECTION_LIMITS.namespaces.toLocaleString('en-US')} namespaces; the source has ` +
        `${records.toLocaleString('en-US')} records in ${namespaces.length.toLocaleString('en-US')} namespaces. ` +
        'Copy it with an ids file (strategy ids-file) into a serverless index you create',
    )
  }
  notes.push(
    'the collection is a snapshot: writes made after it is saved are not in it; ' +
      'the gateway must be capturing writes before the copy starts, so the replayer can apply them',
  )
}
