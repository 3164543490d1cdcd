import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { E, vxError } from '../errors.js'
import { countUpstreamError, forwardHandler, type ForwardContext } from './forward.js'
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js'
import { CONTROL_PREFIXES } from './routes.js'
import type { UpstreamResponse } from './upstream.js'
import { canonicalPath } from './fronted-index.js'

// The control-plane shim. An app finds its index's data-plane host by describing the index
// (GET /indexes/{name}); answering that with the gateway's own URL as `host` is what lets
// an app switch to vecshift by changing only its controller host. Other read calls are
// forwarded to the real control plane; calls that would change or delete the index under
// migration are refused, because doing that mid-migration breaks the migration.

export interface ControlShimOptions extends ForwardContext {
  readonly indexName: string
  /** The URL clients use to reach the gateway, for this request. */
  readonly publicUrl: (req: FastifyRequest) => string
  /** Once the target is primary: the fronted index described from it (a Pinecone target's
   *  own IndexModel, or one made from the pgvector table's shape), already renamed to
   *  `indexName`. Undefined while the source is primary: the source is asked. */
  readonly describeFromPrimary?: (req: FastifyRequest) => Promise<Record<string, unknown> | undefined>
}

interface IndexModel {
  name?: unknown
  host?: unknown
  private_host?: unknown
}

export function registerControlShim(app: FastifyInstance, options: ControlShimOptions): void {
  const forward = forwardHandler(options, 'control')

  const rewrite = (model: IndexModel, req: FastifyRequest): void => {
    if (model.name !== options.indexName) return
    model.host = options.publicUrl(req)
    // The SDK prefers private_host when present; the gateway has only one address.
    delete model.private_host
  }

  async function describeAndRewrite(req: FastifyRequest, reply: FastifyReply, many: boolean) {
    if (!options.auth.allows(req.headers)) throw vxError(E.UNAUTHORIZED)
    if (!many && options.describeFromPrimary) {
      const doc = await options.describeFromPrimary(req)
      if (doc !== undefined) {
        rewrite(doc, req)
        return reply.code(200).type('application/json').send(doc)
      }
    }
    const headers = upstreamRequestHeaders(req.headers, options.auth.upstreamKey)
    // The shim reads the body, so ask for it uncompressed.
    delete headers['accept-encoding']
    let res: UpstreamResponse
    try {
      res = await options.upstream.request(
        'GET',
        many ? req.url : `/indexes/${encodeURIComponent(options.indexName)}`,
        headers,
        null,
      )
    } catch (err) {
      countUpstreamError(options, err)
      throw err
    }
    const responseHeaders = clientResponseHeaders(res.headers)
    if (res.statusCode === 401) options.auth.upstreamRefused(req.headers)
    if (res.statusCode !== 200) {
      reply.code(res.statusCode).headers(responseHeaders)
      return reply.send(res.body)
    }
    let doc: unknown
    try {
      doc = await res.body.json()
    } catch (err) {
      throw vxError(
        E.UPSTREAM_PROTOCOL,
        options.upstream.name,
        `describe index answered invalid JSON: ${(err as Error).message}`,
      )
    }
    if (many) {
      const list = (doc as { indexes?: unknown }).indexes
      if (Array.isArray(list)) for (const model of list) rewrite(model as IndexModel, req)
    } else {
      rewrite(doc as IndexModel, req)
    }
    delete responseHeaders['content-length']
    delete responseHeaders['content-encoding']
    reply.code(200).headers(responseHeaders)
    return reply.send(doc)
  }

  const config = { op: 'control' }
  const own = `/indexes/${options.indexName}`
  app.get('/indexes', { config }, (req, reply) => describeAndRewrite(req, reply, true))
  // Every request under /indexes is judged by its canonical path, so that no spelling of
  // the fronted index (a trailing slash, percent-escapes, doubled slashes) reaches the
  // control plane to change or delete it, and each one is described like the plain one.
  app.all('/indexes/*', { config }, (req, reply) => {
    if (canonicalPath(req.url) !== own) return forward.call(app, req, reply)
    if (req.method === 'GET') return describeAndRewrite(req, reply, false)
    if (req.method === 'DELETE' || req.method === 'PATCH') {
      throw vxError(E.CONTROL_PLANE_REFUSED, req.method, own, options.indexName)
    }
    return forward.call(app, req, reply)
  })
  for (const prefix of CONTROL_PREFIXES) {
    if (prefix === '/indexes') continue
    app.all(prefix, { config }, forward)
    app.all(`${prefix}/*`, { config }, forward)
  }
  app.post('/indexes', { config }, forward)
}
