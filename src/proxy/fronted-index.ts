import type { ApiVersion } from '../wire/pinecone/api-version.js'
import type { IndexShape } from '../wire/pinecone/write-requests.js'

// What the control-plane shim answers for the index the gateway fronts when no Pinecone
// index of that name can describe it any more: after a cutover to pgvector, or once the old
// index is deleted after a finished migration. SDK apps open an index by name (describe it,
// then use its `host`), so the name must keep answering, in the shape of the client's API
// version, with the gateway as its host. Only what the gateway knows is said: the shape of
// the primary; the deployment is reported as managed (SDK v9 refuses any other kind).

export function frontedIndexModel(
  name: string,
  shape: IndexShape,
  version: ApiVersion,
  host: string,
): Record<string, unknown> {
  const ready = { ready: true, state: 'Ready' }
  if (version === '2026-07') {
    const fields: Record<string, unknown> = {}
    if (shape.vectorType === 'dense')
      fields._values = { type: 'dense_vector', dimension: shape.dimension, metric: shape.metric }
    fields._sparse_values = { type: 'sparse_vector' }
    return {
      name,
      host,
      status: ready,
      deployment: { deployment_type: 'managed', cloud: 'aws', region: 'vecshift' },
      schema: { fields },
      tags: null,
      deletion_protection: 'disabled',
    }
  }
  return {
    name,
    ...(shape.dimension !== null ? { dimension: shape.dimension } : {}),
    metric: shape.metric,
    host,
    deletion_protection: 'disabled',
    spec: { serverless: { cloud: 'aws', region: 'vecshift' } },
    status: ready,
    vector_type: shape.vectorType,
  }
}

/** The path of a control-plane request with its encodings undone (percent-escapes, repeated
 *  and trailing slashes), so that every spelling of one resource compares equal. */
export function canonicalPath(url: string): string {
  const path = url.split('?')[0] as string
  let decoded: string
  try {
    decoded = decodeURIComponent(path)
  } catch {
    decoded = path
  }
  return `/${decoded
    .split('/')
    .filter((s) => s.length > 0)
    .join('/')}`
}
