import type { Metadata, Metric, SparseVector, VectorType } from '../wire/pinecone/types.js'

// One contract for every vector store a migration reads from or writes to: Pinecone
// (serverless and pod-based, over REST) and pgvector. The copier, the replayer and the
// verifier speak only this, so a migration between any two stores is the same code.
//
// Conventions, everywhere:
// - Namespaces are canonical: '' is the default namespace (Pinecone's "", missing and
//   "__default__"); adapters translate to what their store wants.
// - Dense and sparse values are float32 (Float32Array), as Pinecone stores them; ids of
//   sparse values are uint32 (Uint32Array).
// - Scores are Pinecone's, whatever the store: cosine similarity and dot product (higher is
//   more similar), squared euclidean distance (lower is more similar), matches most similar
//   first. pgvector's distances are converted to these.
// - Every call retries what is worth retrying (429, 5xx, dropped connections) within a bound
//   and then fails with a catalogue error; nothing is dropped silently.

export interface StoreDescription {
  /** The index (Pinecone) or table (pgvector) name. */
  readonly name: string
  /** null for sparse-only indexes. */
  readonly dimension: number | null
  readonly metric: Metric
  readonly vectorType: VectorType
  /** What kind of store answered; decides which copy strategies are possible. */
  readonly kind: 'pinecone-serverless' | 'pinecone-pod' | 'pgvector'
  /** Whether ids can be listed (Pinecone pod-based indexes cannot). */
  readonly canList: boolean
  /** Whether the store can take sparse values (Pinecone: dotproduct or sparse indexes). */
  readonly supportsSparse: boolean
  /** Pinecone pod-based indexes with selective metadata indexing: the fields indexed. */
  readonly metadataIndexed?: readonly string[]
}

export interface NamespaceStats {
  readonly namespace: string
  readonly vectorCount: number
}

export interface StoredVector {
  readonly id: string
  readonly values?: Float32Array
  readonly sparseValues?: SparseVector
  readonly metadata?: Metadata
}

/** Options every call that reaches a store can take. */
export interface CallOptions {
  /** Once aborted, the store starts no new request and retries nothing: the call rejects with
   *  the signal's reason. A request already sent is not cut off but left to finish, so that a
   *  caller that awaits the call knows no write of it lands later (the cutover relies on it). */
  readonly signal?: AbortSignal
}

export interface ListOptions extends CallOptions {
  readonly prefix?: string
  /** Ids per page; the store may cap it (Pinecone: 100). */
  readonly limit?: number
  /** An opaque token from the previous page's `next`. */
  readonly cursor?: string
}

export interface ListPage {
  /** Ids in bytewise (UTF-8 byte) order. */
  readonly ids: readonly string[]
  /** Absent on the last page. */
  readonly next?: string
}

export interface QueryRequest {
  readonly topK: number
  readonly vector?: Float32Array
  /** Query by the vector stored under this id. */
  readonly id?: string
  readonly sparseVector?: SparseVector
  readonly filter?: Record<string, unknown>
  readonly includeValues?: boolean
  readonly includeMetadata?: boolean
}

export interface QueryMatch {
  readonly id: string
  /** Pinecone's score: cosine similarity, dot product, or squared euclidean distance (for
   *  euclidean, lower is closer and matches come nearest first). */
  readonly score: number
  readonly values?: Float32Array
  readonly sparseValues?: SparseVector
  readonly metadata?: Metadata
}

export type UpdateRequest =
  | {
      readonly id: string
      readonly values?: Float32Array
      readonly sparseValues?: SparseVector
      readonly setMetadata?: Metadata
    }
  | { readonly filter: Record<string, unknown>; readonly setMetadata: Metadata }

export type DeleteRequest =
  | { readonly ids: readonly string[] }
  | { readonly filter: Record<string, unknown> }
  | { readonly deleteAll: true }

/** What a store has done since it was opened: for summaries and metrics. */
export interface StoreCounters {
  /** Requests sent, retries included. */
  requests: number
  /** Attempts that failed and were tried again (429, 5xx, dropped connections). */
  retries: number
}

export interface VectorStore {
  /** For messages: "pinecone index products at https://...", "pgvector table items". */
  readonly label: string
  readonly counters: StoreCounters
  describe(): Promise<StoreDescription>
  /** Vector counts per namespace (namespaces with records). */
  stats(call?: CallOptions): Promise<NamespaceStats[]>
  /** A page of ids. Refused (UNSUPPORTED) when describe() says canList is false. */
  list(namespace: string, options?: ListOptions): Promise<ListPage>
  /** A page of the ids whose metadata matches `filter` (Pinecone's filter language), in the
   *  store's order (pages follow on with `cursor`). Absent where the store cannot select by metadata without a vector
   *  (Pinecone pod-based indexes): the cutover's reconciliation then lists instead. */
  matching?(
    namespace: string,
    filter: Record<string, unknown>,
    options?: Omit<ListOptions, 'prefix'>,
  ): Promise<ListPage>
  /** The records that exist among `ids` (any number: the adapter batches). */
  fetch(namespace: string, ids: readonly string[], call?: CallOptions): Promise<Map<string, StoredVector>>
  query(namespace: string, request: QueryRequest): Promise<QueryMatch[]>
  /** Present on stores whose query() answers from an approximate index that vecshift can
   *  bypass (pgvector): the same query by exhaustive search, the truth `verify` measures the
   *  served answers against (recall@k, and that none comes back short). */
  exactQuery?(namespace: string, request: QueryRequest): Promise<QueryMatch[]>
  /** Inserts or replaces whole records (any number: the adapter batches within limits). */
  upsert(namespace: string, vectors: readonly StoredVector[], call?: CallOptions): Promise<void>
  /** By id: replaces values and merges setMetadata. By filter: merges setMetadata into every
   *  match. Returns the number of records matched, when the store reports it. */
  update(namespace: string, request: UpdateRequest, call?: CallOptions): Promise<{ matched?: number }>
  delete(namespace: string, request: DeleteRequest, call?: CallOptions): Promise<void>
  /** Creates a namespace (Pinecone API 2025-10+) with an optional metadata schema; one that
   *  exists already is fine (replay applies it again after a crash). */
  createNamespace?(namespace: string, schema?: Record<string, unknown>): Promise<void>
  /** Deletes a namespace: its records and the namespace itself (a created namespace
   *  outlives a deleteAll). One that is not there is fine. */
  deleteNamespace?(namespace: string): Promise<void>
  /** Present on stores that can be asked cheaply whether they are reachable and exist (a
   *  readiness probe): one attempt, no retries. */
  ping?(): Promise<void>
  /** Present on stores that can create themselves with a given shape (pgvector): creates
   *  what is missing, refuses an existing store of another shape. */
  createSchema?(spec: {
    dimension: number | null
    metric: Metric
    vectorType?: VectorType
    deferIndex?: boolean
    namespaces?: readonly NamespaceStats[]
  }): Promise<void>
  /** Present on stores whose search index can be built after a bulk load (pgvector's HNSW):
   *  creates what is missing (calling onStart first), refreshes the planner's statistics, and
   *  answers whether it built anything; idempotent. */
  buildIndexes?(onStart?: () => void): Promise<boolean>
  /** Present on stores whose search indexes have a layout (pgvector, layout.ts): which, and
   *  the namespaces that have a graph of their own. */
  searchLayout?(): Promise<{ layout: 'single' | 'per-namespace'; minIndexedRows: number; indexed: string[] }>
  /** Present on Pinecone indexes: the control-plane steps of the collection copy strategy. */
  readonly collections?: CollectionControl
  close(): Promise<void>
}

/** A collection as the control plane describes it. */
export interface CollectionState {
  readonly status: 'Initializing' | 'Ready' | 'Terminating' | string
  readonly vectorCount?: number
  readonly dimension?: number
  readonly environment?: string
}

/**
 * Pinecone's own pod-to-serverless path (docs/copy.md, "The collection path"): save a
 * pod-based index as a collection, then create a serverless index from it. Each step answers
 * whether it did the work or found it done, so an interrupted copy can be resumed.
 */
export interface CollectionControl {
  /** Saves this (pod-based) index as collection `name`. */
  createCollection(name: string): Promise<'created' | 'exists'>
  /** undefined when there is no such collection. */
  describeCollection(name: string): Promise<CollectionState | undefined>
  /** Creates this store's index, serverless, from a collection. */
  createFromCollection(spec: {
    readonly collection: string
    readonly dimension: number | null
    readonly metric: Metric
    readonly cloud: string
    readonly region: string
    readonly deletionProtection: boolean
  }): Promise<'created' | 'exists'>
  /** This index's readiness; undefined when it does not exist. */
  readiness(): Promise<{ readonly ready: boolean; readonly state: string } | undefined>
}
