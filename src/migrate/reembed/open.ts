import type { Config } from '../../config/schema.js'
import { E, VecshiftError } from '../../errors.js'
import type { VectorStore } from '../../stores/contract.js'
import { EmbeddingsClient } from './client.js'
import { ReembeddingStore } from './store.js'

/** The target wrapped to re-embed what is written to it, from the config's reembed section
 *  (refused, naming the key, when there is none). */
export function reembeddingTarget(config: Config, target: VectorStore): ReembeddingStore {
  const r = config.reembed
  if (!r)
    throw new VecshiftError(E.CONFIG_INVALID, [
      'reembed: --reembed needs a reembed: section (url, model, textField); the key comes from VECSHIFT_EMBEDDINGS_API_KEY',
    ])
  const client = new EmbeddingsClient({
    url: r.url,
    model: r.model,
    batchSize: r.batchSize,
    concurrency: r.concurrency,
    maxRequestsPerSec: r.maxRequestsPerSec,
    ...(r.dimensions === undefined ? {} : { dimensions: r.dimensions }),
    ...(config.secrets.embeddingsApiKey === undefined ? {} : { apiKey: config.secrets.embeddingsApiKey }),
  })
  return new ReembeddingStore(target, client, r.textField)
}
