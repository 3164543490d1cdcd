import { setTimeout as sleep } from 'node:timers/promises'
import { E, VecshiftError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { IndexShape } from '../wire/pinecone/write-requests.js'
import type { Metric, VectorType } from '../wire/pinecone/types.js'
import type { Upstream } from './upstream.js'

// What the gateway must know about the source index to validate writes as Pinecone would
// (dimension, metric, dense or sparse), read once from the control plane at start-up. The
// 2025-04 IndexModel is asked for because it states these fields directly.

export async function describeSourceIndex(
  control: Upstream,
  name: string,
  apiKey: string,
  logger: Logger,
  attempts = 5,
): Promise<IndexShape> {
  let lastError: unknown
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await control.request(
        'GET',
        `/indexes/${encodeURIComponent(name)}`,
        {
          'api-key': apiKey,
          'x-pinecone-api-version': '2025-04',
          accept: 'application/json',
        },
        null,
      )
      const text = await res.body.text()
      if (res.statusCode === 200) return shapeOf(name, JSON.parse(text) as Record<string, unknown>)
      if (res.statusCode === 404) throw new VecshiftError(E.STORE_NOT_FOUND, [`Pinecone index ${name}`, control.name])
      // 4xx will not get better by retrying: a wrong key or a wrong index name.
      if (res.statusCode < 500 && res.statusCode !== 429) {
        throw new VecshiftError(E.CONFIG_INVALID, [
          `source.index: describing index "${name}" answered ${res.statusCode} ${text.slice(0, 200)}`,
        ])
      }
      lastError = new Error(`HTTP ${res.statusCode}`)
    } catch (err) {
      if (err instanceof VecshiftError && !err.retriable) throw err
      lastError = err
    }
    logger.warn({ attempt, attempts, err: lastError }, 'describing the source index failed; retrying')
    await sleep(Math.min(4000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2))
  }
  throw new VecshiftError(
    E.UPSTREAM_UNAVAILABLE,
    [control.name, `describe index ${name}: ${(lastError as Error)?.message ?? lastError}`],
    { cause: lastError },
  )
}

function shapeOf(name: string, model: Record<string, unknown>): IndexShape {
  const vectorType = (model.vector_type === 'sparse' ? 'sparse' : 'dense') as VectorType
  const metric = model.metric as Metric
  const dimension = typeof model.dimension === 'number' ? model.dimension : null
  if (vectorType === 'dense' && dimension === null) {
    throw new VecshiftError(E.UPSTREAM_PROTOCOL, ['source-control', `index ${name} has no dimension`])
  }
  return { name, dimension, metric, vectorType }
}
