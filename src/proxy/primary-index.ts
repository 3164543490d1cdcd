import type { FastifyRequest } from 'fastify'
import type { Config } from '../config/schema.js'
import { parseApiVersion } from '../wire/pinecone/api-version.js'
import { frontedIndexModel } from './fronted-index.js'
import { upstreamRequestHeaders } from './headers.js'
import type { Router } from './router.js'
import type { Sides } from './sides.js'

// Describing the fronted index once the target is primary (the old index may be gone by
// then): a Pinecone target's IndexModel renamed to the fronted index, or one made from the
// target's shape (a pgvector table). Undefined while the source is primary: the control-plane
// shim asks the source.

export function primaryIndexModel(
  config: Config,
  sides: Sides,
  router: Router,
  publicUrl: (req: FastifyRequest) => string,
): (req: FastifyRequest) => Promise<Record<string, unknown> | undefined> {
  const fronted = sides.sourceConfig.index
  return async (req) => {
    if (router.record.routing.writes !== 'target') return undefined
    const version = parseApiVersion(req.headers['x-pinecone-api-version'])
    const { targetControl } = sides
    if (targetControl && config.target?.type === 'pinecone') {
      const headers = upstreamRequestHeaders(req.headers, config.secrets.targetApiKey)
      delete headers['accept-encoding']
      const path = `/indexes/${encodeURIComponent(config.target.index)}`
      const res = await targetControl.request('GET', path, headers, null)
      if (res.statusCode === 200) {
        const doc = (await res.body.json()) as Record<string, unknown>
        doc.name = fronted
        return doc
      }
      await res.body.dump()
    }
    const shape = await (sides.targetShape as NonNullable<Sides['targetShape']>).describe()
    return frontedIndexModel(fronted, shape, version, publicUrl(req))
  }
}
