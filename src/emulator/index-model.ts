// IndexModel and CollectionModel in the shape of the request's API version.
//
// 2026-07 describes an index by `deployment` (managed | pod) and `schema` (typed fields); an
// index served by the vectors API reports its vectors under the reserved fields `_values` and
// `_sparse_values` (dense indexes always report both). Up to 2026-04 an index is described by
// `dimension`, `metric`, `vector_type` and a `spec` with `serverless` or `pod`.
//
// `host` is this emulator's URL for the index (http://127.0.0.1:PORT/data/NAME). There is no
// `private_host`: the SDK prefers it over `host` and would go elsewhere.
import { atLeast, type ApiVersion } from '../wire/pinecone/api-version.js'
import { collectionVectorCount, type Collection } from './catalog.js'
import type { VectorIndex } from './index-store.js'

type Json = Record<string, unknown>

function status(index: VectorIndex, now: number): Json {
  return now < index.config.readyAt ? { ready: false, state: 'Initializing' } : { ready: true, state: 'Ready' }
}

export function indexModel(index: VectorIndex, version: ApiVersion, host: string, now = Date.now()): Json {
  return version === '2026-07' ? model2026_07(index, host, now) : modelWithSpec(index, version, host, now)
}

function model2026_07(index: VectorIndex, host: string, now: number): Json {
  const c = index.config
  const d = c.deployment
  const fields: Json = {}
  if (c.vectorType === 'dense') fields._values = { type: 'dense_vector', dimension: c.dimension, metric: c.metric }
  fields._sparse_values = { type: 'sparse_vector' }
  const out: Json = {
    name: c.name,
    host,
    status: status(index, now),
    deployment:
      d.kind === 'pod'
        ? {
            deployment_type: 'pod',
            environment: d.environment,
            replicas: d.replicas,
            shards: d.shards,
            pod_type: d.podType,
          }
        : { deployment_type: 'managed', cloud: d.cloud, region: d.region },
  }
  if (d.kind === 'serverless') out.read_capacity = { mode: 'OnDemand', status: { state: 'Ready' } }
  if (c.sourceCollection !== null) out.source_collection = c.sourceCollection
  out.schema = { fields }
  out.tags = c.tags
  out.deletion_protection = c.deletionProtection
  return out
}

function modelWithSpec(index: VectorIndex, version: ApiVersion, host: string, now: number): Json {
  const c = index.config
  const d = c.deployment
  const out: Json = { name: c.name }
  if (c.dimension !== null) out.dimension = c.dimension
  out.metric = c.metric
  out.host = host
  out.deletion_protection = c.deletionProtection
  if (c.tags !== null) out.tags = c.tags
  if (d.kind === 'pod') {
    const pod: Json = {
      environment: d.environment,
      replicas: d.replicas,
      shards: d.shards,
      pod_type: d.podType,
      pods: d.replicas * d.shards,
    }
    if (d.metadataIndexed !== undefined) pod.metadata_config = { indexed: [...d.metadataIndexed] }
    if (c.sourceCollection !== null) pod.source_collection = c.sourceCollection
    out.spec = { pod }
  } else {
    const serverless: Json = { cloud: d.cloud, region: d.region }
    if (atLeast(version, '2025-10')) serverless.read_capacity = { mode: 'OnDemand', status: { state: 'Ready' } }
    if (c.sourceCollection !== null) serverless.source_collection = c.sourceCollection
    out.spec = { serverless }
  }
  out.status = status(index, now)
  out.vector_type = c.vectorType
  return out
}

/** `readyAt`: until then the collection reports Initializing, as Pinecone's do while saving. */
export function collectionModel(c: Collection, readyAt: number): Json {
  const count = collectionVectorCount(c)
  const out: Json = {
    name: c.name,
    // Roughly what Pinecone reports: the float32 values plus per-record overhead.
    size: count * ((c.dimension ?? 0) * 4 + 64),
    status: Date.now() < readyAt ? 'Initializing' : 'Ready',
    environment: c.environment,
  }
  if (c.dimension !== null) out.dimension = c.dimension
  out.vector_count = count
  return out
}
