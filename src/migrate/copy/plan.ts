import { E, VecshiftError } from '../../errors.js'
import type { NamespaceStats, StoreDescription, VectorStore } from '../../stores/contract.js'

// Before a byte moves: can the source's vectors be copied into the target at all, and how?
//
// The copy-or-re-embed decision (../reference/migrating-vector-databases.md): vectors are
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
}

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

export async function planCopy(source: VectorStore, target: VectorStore, options: CopyOptions): Promise<CopyPlan> {
  const notes: string[] = []
  const s = await source.describe()
  let t: StoreDescription | undefined
  try {
    t = await target.describe()
  } catch (err) {
    if (!(err instanceof VecshiftError && err.code === E.STORE_NOT_FOUND.code)) throw err
    if (!options.createTarget) {
      refuse(`${err.message}. Create it, or set copy.createTarget: true (or --create-target) to have vecshift create it with the source's shape`)
    }
    if (!target.createSchema && !(s.kind === 'pinecone-pod' && options.strategy !== 'list-fetch' && options.strategy !== 'ids-file')) {
      refuse(`${err.message}. vecshift creates a Pinecone target only from a collection of a pod-based source (strategy collection); create the serverless index first`)
    }
    notes.push(`the target does not exist yet; it will be created as ${s.vectorType} ${s.dimension ?? ''}-d ${s.metric}`)
  }

  if (options.sourceEmbeddingModel !== undefined && options.targetEmbeddingModel !== undefined &&
      options.sourceEmbeddingModel !== options.targetEmbeddingModel) {
    refuse(`the source holds ${options.sourceEmbeddingModel} embeddings and the target expects ${options.targetEmbeddingModel}: vectors of one model mean nothing to another, so they must be re-embedded from the source text, not copied (see docs/copy.md, "Copy or re-embed")`)
  }
  if (t) {
    if (s.vectorType !== t.vectorType) refuse(`the source holds ${s.vectorType} vectors and the target ${t.vectorType} ones`)
    if (s.dimension !== t.dimension) {
      refuse(`the source has dimension ${s.dimension} and the target ${t.dimension}: a different dimension means a different embedding model, so the vectors must be re-embedded, not copied (see docs/copy.md, "Copy or re-embed")`)
    }
    if (s.metric !== t.metric) {
      refuse(`the source uses the ${s.metric} metric and the target ${t.metric}: queries would rank differently after the move; create the target with ${s.metric}`)
    }
    if (s.supportsSparse && !t.supportsSparse) {
      notes.push(`the source can hold sparse values and the target (${t.metric}) cannot: a record with sparse values will stop the copy with the target's refusal`)
    }
  }

  let strategy: Strategy
  if (options.strategy !== 'auto') {
    strategy = options.strategy
  } else if (options.idsFile !== undefined) {
    strategy = 'ids-file'
  } else if (s.canList) {
    strategy = 'list-fetch'
  } else if (s.kind === 'pinecone-pod' && (t === undefined || t.kind === 'pinecone-serverless')) {
    strategy = 'collection'
  } else {
    refuse(`the ${source.label} is pod-based and cannot list its ids; give an ids file (copy.idsFile or --ids-file), or copy it to a Pinecone serverless index with the collection strategy first`)
  }
  if (strategy === 'list-fetch' && !s.canList) refuse(`strategy list-fetch needs a source that can list ids; the ${source.label} cannot (use collection or ids-file)`)
  if (strategy === 'ids-file' && options.idsFile === undefined) refuse('strategy ids-file needs copy.idsFile or --ids-file')
  if (strategy === 'collection' && (s.kind !== 'pinecone-pod' || (t !== undefined && t.kind !== 'pinecone-serverless'))) {
    refuse('strategy collection copies a Pinecone pod-based index into a new Pinecone serverless index')
  }

  let namespaces = await source.stats()
  if (options.namespace !== undefined) {
    namespaces = namespaces.filter((n) => n.namespace === options.namespace)
    if (namespaces.length === 0) notes.push(`namespace "${options.namespace}" holds no records in the source`)
  }
  const total = namespaces.reduce((n, ns) => n + ns.vectorCount, 0)
  return { strategy, source: s, target: t, namespaces, total, notes }
}
