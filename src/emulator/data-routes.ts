// Data-plane routes. Each index is served under /data/{index}, so its IndexModel `host` is
// http://127.0.0.1:PORT/data/{index} and the SDK's paths (/vectors/upsert, /query, ...) follow.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Catalog } from './catalog.js'
import * as ops from './data-ops.js'
import { atLeast } from '../wire/pinecone/api-version.js'
import { dataError, GrpcCode, invalidArgument } from '../wire/pinecone/errors.js'
import { bodyOf, errorFor, sendJsonText, versionOf } from './http.js'
import * as nsOps from './namespace-ops.js'

type Params = { index: string }
type NsParams = Params & { namespace: string }

export function registerDataRoutes(app: FastifyInstance, catalog: Catalog): void {
  const ctxOf = (req: FastifyRequest): ops.DataContext => {
    const name = (req.params as Params).index
    const index = catalog.findIndex(name)
    if (index === undefined) throw dataError(404, GrpcCode.NOT_FOUND, `Index ${name} not found.`)
    return { index, version: versionOf(req) }
  }
  const query = (req: FastifyRequest) => req.query as Record<string, unknown>
  // Calls that API 2025-10 introduced do not exist for an older version's requests: Pinecone
  // routes by the version header, and an older one finds no such route.
  const since2025_10 = (req: FastifyRequest): void => {
    if (!atLeast(versionOf(req), '2025-10'))
      throw errorFor(req.url, 404, `Not Found: ${req.method} ${req.url.split('?')[0]} (API ${versionOf(req)})`)
  }
  const p = '/data/:index'

  app.post(`${p}/vectors/upsert`, { config: { op: 'upsert' } }, async (req, reply) =>
    sendJsonText(reply, 200, ops.upsert(ctxOf(req), bodyOf(req))),
  )

  app.post(`${p}/query`, { config: { op: 'query' } }, async (req, reply) =>
    sendJsonText(reply, 200, ops.query(ctxOf(req), bodyOf(req))),
  )

  app.get(`${p}/vectors/fetch`, { config: { op: 'fetch' } }, async (req, reply) =>
    sendJsonText(reply, 200, ops.fetch(ctxOf(req), query(req))),
  )

  app.post(`${p}/vectors/fetch_by_metadata`, { config: { op: 'fetch_by_metadata' } }, async (req, reply) => {
    since2025_10(req)
    return sendJsonText(reply, 200, ops.fetchByMetadata(ctxOf(req), bodyOf(req)))
  })

  app.post(`${p}/vectors/update`, { config: { op: 'update' } }, async (req, reply) => {
    const body = bodyOf(req)
    // Updating by filter (and dry runs) came with 2025-10: an older request has no such field.
    if (!atLeast(versionOf(req), '2025-10')) {
      for (const field of ['filter', 'dryRun']) {
        if (body[field] !== undefined)
          throw invalidArgument(
            `Invalid request: unknown field "${field}" (update by metadata filter needs X-Pinecone-Api-Version 2025-10 or later)`,
          )
      }
    }
    return sendJsonText(reply, 200, ops.update(ctxOf(req), body))
  })

  app.post(`${p}/vectors/delete`, { config: { op: 'delete' } }, async (req, reply) =>
    sendJsonText(reply, 200, ops.deleteVectors(ctxOf(req), bodyOf(req))),
  )

  app.get(`${p}/vectors/list`, { config: { op: 'list' } }, async (req, reply) =>
    sendJsonText(reply, 200, ops.list(ctxOf(req), query(req))),
  )

  // Older clients call stats with GET and no body.
  for (const method of ['GET', 'POST'] as const) {
    app.route({
      method,
      url: `${p}/describe_index_stats`,
      config: { op: 'describe_index_stats' },
      handler: async (req, reply) => sendJsonText(reply, 200, ops.describeIndexStats(ctxOf(req), bodyOf(req))),
    })
  }

  app.get(`${p}/namespaces`, { config: { op: 'namespaces' } }, async (req, reply) =>
    sendJsonText(reply, 200, nsOps.listNamespaces(ctxOf(req), query(req))),
  )

  app.post(`${p}/namespaces`, { config: { op: 'namespaces' } }, async (req, reply) => {
    since2025_10(req)
    return sendJsonText(reply, 200, nsOps.createNamespace(ctxOf(req), bodyOf(req)))
  })

  app.get(`${p}/namespaces/:namespace`, { config: { op: 'namespaces' } }, async (req, reply) =>
    sendJsonText(reply, 200, nsOps.describeNamespace(ctxOf(req), (req.params as NsParams).namespace)),
  )

  app.delete(`${p}/namespaces/:namespace`, { config: { op: 'namespaces' } }, async (req, reply) =>
    sendJsonText(reply, 200, nsOps.deleteNamespace(ctxOf(req), (req.params as NsParams).namespace)),
  )
}
