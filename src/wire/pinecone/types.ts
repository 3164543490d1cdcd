// Pinecone's data model as its API defines it, shared by the emulator (which stores it),
// the gateway (which validates and logs it) and the store adapters.

export type Metric = 'cosine' | 'dotproduct' | 'euclidean'
export type VectorType = 'dense' | 'sparse'
export type MetadataValue = string | number | boolean | string[]
export type Metadata = Record<string, MetadataValue>

export interface SparseVector {
  readonly indices: Uint32Array
  readonly values: Float32Array
}
