// Reading control-plane requests into index configurations, in both request shapes:
// `dimension`/`metric`/`vector_type`/`spec` up to 2026-04, `schema`/`deployment` from 2026-07.
// Errors follow Pinecone's control plane: 422 UNPROCESSABLE_ENTITY when the body does not
// deserialize (missing or unknown field), 400 INVALID_ARGUMENT when a value is wrong.
import type { ApiVersion } from '../wire/pinecone/api-version.js'
import { controlError } from '../wire/pinecone/errors.js'
import type { Deployment, IndexConfig } from './index-store.js'
import { LIMITS } from '../wire/pinecone/limits.js'
import type { Metric, VectorType } from './records.js'

type Body = Record<string, unknown>

/** Everything of a new index but its name-independent timing, which the caller decides. */
export interface IndexRequest {
  readonly name: string
  readonly vectorType: VectorType
  readonly dimension: number | null
  readonly metric: Metric
  readonly deployment: Deployment
  readonly deletionProtection: 'enabled' | 'disabled'
  readonly tags: Record<string, string> | null
  readonly sourceCollection: string | null
}

export function badRequest(message: string): Error {
  return controlError(400, 'INVALID_ARGUMENT', message)
}

function unprocessable(detail: string): Error {
  return controlError(
    422,
    'UNPROCESSABLE_ENTITY',
    `Failed to deserialize the JSON body into the target type: ${detail}`,
  )
}

const isObject = (v: unknown): v is Body => v !== null && typeof v === 'object' && !Array.isArray(v)

function need(body: Body, field: string): unknown {
  const v = body[field]
  if (v === undefined || v === null) throw unprocessable(`missing field \`${field}\``)
  return v
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string') throw unprocessable(`${field}: invalid type: expected a string`)
  return v
}

function obj(v: unknown, field: string): Body {
  if (!isObject(v)) throw unprocessable(`${field}: invalid type: expected an object`)
  return v
}

const NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/

export function checkResourceName(name: unknown, what = 'Index'): string {
  if (typeof name !== 'string') throw unprocessable('name: invalid type: expected a string')
  if (name.length < 1 || name.length > 45) throw badRequest(`${what} name must be 1-45 characters long.`)
  if (!NAME.test(name)) {
    throw badRequest(
      `${what} name must contain only lowercase alphanumeric characters or hyphens, and must not begin or end with a hyphen.`,
    )
  }
  return name
}

function metricOf(v: unknown): Metric {
  if (v === 'cosine' || v === 'dotproduct' || v === 'euclidean') return v
  throw badRequest(`Invalid metric: ${JSON.stringify(v)}. Valid values are cosine, dotproduct and euclidean.`)
}

function dimensionOf(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > LIMITS.maxDimension) {
    throw badRequest(`Dimension must be an integer between 1 and ${LIMITS.maxDimension}, got ${JSON.stringify(v)}.`)
  }
  return v
}

function deletionProtectionOf(v: unknown): 'enabled' | 'disabled' {
  if (v === undefined || v === null) return 'disabled'
  if (v === 'enabled' || v === 'disabled') return v
  throw badRequest(`Invalid deletion_protection: ${JSON.stringify(v)}. Valid values are enabled and disabled.`)
}

function tagsOf(v: unknown): Record<string, string> | null {
  if (v === undefined || v === null) return null
  if (!isObject(v)) throw unprocessable('tags: invalid type: expected a map of strings')
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw unprocessable(`tags.${k}: invalid type: expected a string`)
  }
  const tags = Object.fromEntries(Object.entries(v).filter(([, val]) => val !== '')) as Record<string, string>
  return Object.keys(tags).length === 0 ? null : tags
}

const POD_TYPE = /^(s1|p1|p2)\.(x1|x2|x4|x8)$/

/** spec.pod.metadata_config: {"indexed": ["field", ...]} (selective metadata indexing). */
function metadataConfig(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined
  const indexed = (v as { indexed?: unknown }).indexed
  if (typeof v !== 'object' || !Array.isArray(indexed) || !indexed.every((f) => typeof f === 'string')) {
    throw badRequest('Invalid metadata_config: expected {"indexed": [field names]}')
  }
  return indexed as string[]
}

function podTypeOf(v: unknown): string {
  if (typeof v !== 'string' || !POD_TYPE.test(v)) {
    throw badRequest(`Invalid pod_type: ${JSON.stringify(v)}. Use s1, p1 or p2 followed by .x1, .x2, .x4 or .x8.`)
  }
  return v
}

function positiveInt(v: unknown, field: string, dflt: number): number {
  if (v === undefined || v === null) return dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw badRequest(`${field} must be a positive integer.`)
  return v
}

const CLOUDS = new Set(['aws', 'gcp', 'azure'])

function managed(cloud: unknown, region: unknown): Deployment {
  if (!CLOUDS.has(cloud as string))
    throw badRequest(`Invalid cloud: ${JSON.stringify(cloud)}. Valid values are aws, gcp and azure.`)
  return { kind: 'serverless', cloud: cloud as string, region: str(region, 'region') }
}

/** POST /indexes up to 2026-04. */
export function readCreateWithSpec(body: Body): IndexRequest {
  const name = checkResourceName(need(body, 'name'))
  const spec = obj(need(body, 'spec'), 'spec')
  const vectorType = body.vector_type ?? 'dense'
  if (vectorType !== 'dense' && vectorType !== 'sparse') {
    throw badRequest(`Invalid vector_type: ${JSON.stringify(vectorType)}. Valid values are dense and sparse.`)
  }
  const { dimension, metric } = vectorShape(vectorType, body.dimension, body.metric)
  const kinds = Object.keys(spec).filter((k) => spec[k] !== undefined && spec[k] !== null)
  if (kinds.length !== 1) throw badRequest('spec must contain exactly one of serverless or pod.')
  let deployment: Deployment
  let source: unknown
  if (kinds[0] === 'serverless') {
    const s = obj(spec.serverless, 'spec.serverless')
    deployment = managed(need(s, 'cloud'), need(s, 'region'))
    source = s.source_collection
  } else if (kinds[0] === 'pod') {
    const p = obj(spec.pod, 'spec.pod')
    const replicas = positiveInt(p.replicas, 'replicas', 1)
    const shards = positiveInt(p.shards, 'shards', 1)
    const indexed = metadataConfig(p.metadata_config)
    deployment = {
      kind: 'pod',
      environment: str(need(p, 'environment'), 'environment'),
      podType: podTypeOf(need(p, 'pod_type')),
      replicas,
      shards,
      ...(indexed ? { metadataIndexed: indexed } : {}),
    }
    source = p.source_collection
  } else {
    throw badRequest(`The emulator does not support spec.${kinds[0]}; use serverless or pod.`)
  }
  return {
    name,
    vectorType,
    dimension,
    metric,
    deployment,
    deletionProtection: deletionProtectionOf(body.deletion_protection),
    tags: tagsOf(body.tags),
    sourceCollection: source === undefined || source === null ? null : str(source, 'source_collection'),
  }
}

function vectorShape(
  vectorType: VectorType,
  rawDimension: unknown,
  rawMetric: unknown,
): { dimension: number | null; metric: Metric } {
  if (vectorType === 'sparse') {
    if (rawDimension !== undefined && rawDimension !== null)
      throw badRequest('Sparse vector indexes must not have a dimension.')
    const metric = rawMetric === undefined || rawMetric === null ? 'dotproduct' : metricOf(rawMetric)
    if (metric !== 'dotproduct') throw badRequest('Sparse vector indexes must use the metric dotproduct.')
    return { dimension: null, metric }
  }
  if (rawDimension === undefined || rawDimension === null)
    throw badRequest('Dimension must be specified for dense vector indexes.')
  return {
    dimension: dimensionOf(rawDimension),
    metric: rawMetric === undefined || rawMetric === null ? 'cosine' : metricOf(rawMetric),
  }
}

const CREATE_2026_07_FIELDS = new Set([
  'name',
  'deployment',
  'schema',
  'cmek_id',
  'read_capacity',
  'tags',
  'deletion_protection',
])

/** POST /indexes in 2026-07: a vectors-API schema (`_values` and/or `_sparse_values`). */
export function readCreateWithSchema(body: Body, generateName: () => string): IndexRequest {
  for (const key of Object.keys(body)) {
    if (!CREATE_2026_07_FIELDS.has(key))
      throw unprocessable(
        `unknown field \`${key}\`, expected one of ${[...CREATE_2026_07_FIELDS].map((f) => `\`${f}\``).join(', ')}`,
      )
  }
  const name = body.name === undefined || body.name === null ? generateName() : checkResourceName(body.name)
  const schema = obj(need(body, 'schema'), 'schema')
  const fields = obj(need(schema, 'fields'), 'schema.fields')
  const names = Object.keys(fields)
  if (names.length === 0) throw badRequest('schema.fields must declare at least one field.')
  for (const f of names) {
    if (f !== '_values' && f !== '_sparse_values') {
      throw badRequest(
        'The emulator serves only vectors-API indexes: ' +
          `schema.fields may hold _values (dense_vector) and/or _sparse_values (sparse_vector), not ${JSON.stringify(f)}.`,
      )
    }
  }
  let dimension: number | null = null
  let metric: Metric = 'dotproduct'
  let vectorType: VectorType = 'sparse'
  if (fields._values !== undefined) {
    const dense = obj(fields._values, 'schema.fields._values')
    if (dense.type !== 'dense_vector') throw badRequest('schema.fields._values must have type dense_vector.')
    dimension = dimensionOf(need(dense, 'dimension'))
    metric = metricOf(need(dense, 'metric'))
    vectorType = 'dense'
  }
  if (fields._sparse_values !== undefined) {
    const sparse = obj(fields._sparse_values, 'schema.fields._sparse_values')
    if (sparse.type !== 'sparse_vector') throw badRequest('schema.fields._sparse_values must have type sparse_vector.')
  }
  let deployment: Deployment = { kind: 'serverless', cloud: 'aws', region: 'us-east-1' }
  if (body.deployment !== undefined && body.deployment !== null) {
    const d = obj(body.deployment, 'deployment')
    const type = need(d, 'deployment_type')
    if (type === 'pod') throw badRequest('Pod-based indexes cannot be created with API version 2026-07.')
    if (type !== 'managed')
      throw badRequest(`The emulator does not support deployment_type ${JSON.stringify(type)}; use managed.`)
    deployment = managed(need(d, 'cloud'), need(d, 'region'))
  }
  return {
    name,
    vectorType,
    dimension,
    metric,
    deployment,
    deletionProtection: deletionProtectionOf(body.deletion_protection),
    tags: tagsOf(body.tags),
    sourceCollection: null,
  }
}

/** PATCH /indexes/{name}: applies deletion protection, tags and pod scaling to `config`. */
export function applyConfigure(config: IndexConfig, body: Body, version: ApiVersion): void {
  let scaling: Body | null = null
  if (version === '2026-07') {
    if (body.schema !== undefined) throw badRequest('The emulator has no semantic_text fields to configure.')
    if (isObject(body.deployment)) scaling = body.deployment
  } else {
    if (body.embed !== undefined) throw badRequest('The emulator does not support integrated embedding.')
    if (isObject(body.spec)) {
      if (isObject(body.spec.pod)) scaling = body.spec.pod
      else if (!isObject(body.spec.serverless)) throw badRequest('spec must contain exactly one of serverless or pod.')
    }
  }
  // Validate everything before changing anything.
  const protection = body.deletion_protection === undefined ? undefined : deletionProtectionOf(body.deletion_protection)
  if (body.tags !== undefined && body.tags !== null && !isObject(body.tags))
    throw unprocessable('tags: invalid type: expected a map of strings')
  let replicas: number | undefined
  let podType: string | undefined
  if (scaling !== null) {
    if (config.deployment.kind !== 'pod')
      throw badRequest(`Index ${config.name} is serverless; only pod-based indexes have replicas and pod_type.`)
    if (scaling.replicas !== undefined) replicas = positiveInt(scaling.replicas, 'replicas', 1)
    if (scaling.pod_type !== undefined) podType = podTypeOf(scaling.pod_type)
  }
  if (protection !== undefined) config.deletionProtection = protection
  if (isObject(body.tags)) {
    const merged: Record<string, unknown> = { ...(config.tags ?? {}), ...body.tags }
    config.tags = tagsOf(merged)
  }
  if (config.deployment.kind === 'pod') {
    if (replicas !== undefined) config.deployment.replicas = replicas
    if (podType !== undefined) config.deployment.podType = podType
  }
}
