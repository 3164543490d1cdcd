// Control-plane routes: indexes (create, list, describe, configure, delete) and collections.
// Answers take the shape of the request's X-Pinecone-Api-Version (index-model.ts).
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Catalog, Collection } from './catalog.js'
import {
  applyConfigure,
  badRequest,
  checkResourceName,
  readCreateWithSchema,
  readCreateWithSpec,
  type IndexRequest,
} from './control-requests.js'
import { controlError } from '../wire/pinecone/errors.js'
import { bodyOf, sendJsonText, versionOf } from './http.js'
import type { IndexConfig } from './index-store.js'
import { collectionModel, indexModel } from './index-model.js'

export interface ControlDeps {
  readonly catalog: Catalog
  /** The data-plane URL of an index. */
  readonly hostFor: (name: string) => string
  /** How long an index restored from a collection reports Initializing. */
  readonly restoreDelayMs: number
  /** How long a new collection reports Initializing (and cannot be restored from). */
  readonly collectionDelayMs: number
}

type NameParams = { name: string }

export function registerControlRoutes(app: FastifyInstance, deps: ControlDeps): void {
  const { catalog, hostFor } = deps
  const control = { config: { op: 'control' } }

  app.get('/indexes', control, async (req, reply) => {
    const v = versionOf(req)
    const indexes = [...catalog.indexes.values()].map((i) => indexModel(i, v, hostFor(i.config.name)))
    return sendJsonText(reply, 200, JSON.stringify({ indexes }))
  })

  app.post('/indexes', control, async (req, reply) => {
    const v = versionOf(req)
    const body = bodyOf(req)
    const request =
      v === '2026-07'
        ? readCreateWithSchema(body, () => `index-${randomBytes(4).toString('hex')}`)
        : readCreateWithSpec(body)
    const index = createIndex(catalog, request, deps)
    return sendJsonText(reply, 201, JSON.stringify(indexModel(index, v, hostFor(index.config.name))))
  })

  app.get('/indexes/:name', control, async (req, reply) => {
    const { name } = req.params as NameParams
    return sendJsonText(reply, 200, JSON.stringify(indexModel(catalog.index(name), versionOf(req), hostFor(name))))
  })

  app.patch('/indexes/:name', control, async (req, reply) => {
    const { name } = req.params as NameParams
    const index = catalog.index(name)
    const v = versionOf(req)
    applyConfigure(index.config, bodyOf(req), v)
    catalog.changed()
    return sendJsonText(reply, 200, JSON.stringify(indexModel(index, v, hostFor(name))))
  })

  app.delete('/indexes/:name', control, async (req, reply) => {
    catalog.deleteIndex((req.params as NameParams).name)
    return reply.code(202).send()
  })

  app.get('/collections', control, async (_req, reply) => {
    const collections = [...catalog.collections.values()].map((c) =>
      collectionModel(c, c.createdAt + deps.collectionDelayMs),
    )
    return sendJsonText(reply, 200, JSON.stringify({ collections }))
  })

  app.post('/collections', control, async (req, reply) => {
    const body = bodyOf(req)
    if (body.name === undefined || body.name === null) throw unprocessable('name')
    if (body.source === undefined || body.source === null) throw unprocessable('source')
    const name = checkResourceName(body.name, 'Collection')
    if (typeof body.source !== 'string') throw badRequest('source must be the name of an index.')
    const source = catalog.index(body.source)
    const d = source.config.deployment
    if (d.kind !== 'pod') {
      throw badRequest(`Collections can be created only from pod-based indexes; index ${body.source} is serverless.`)
    }
    const collection: Collection = {
      name,
      source: body.source,
      environment: d.environment,
      dimension: source.config.dimension,
      metric: source.config.metric,
      vectorType: source.config.vectorType,
      createdAt: Date.now(),
      data: source.snapshot(),
    }
    catalog.addCollection(collection)
    return sendJsonText(
      reply,
      201,
      JSON.stringify(collectionModel(collection, collection.createdAt + deps.collectionDelayMs)),
    )
  })

  app.get('/collections/:name', control, async (req, reply) => {
    const c = catalog.collection((req.params as NameParams).name)
    return sendJsonText(reply, 200, JSON.stringify(collectionModel(c, c.createdAt + deps.collectionDelayMs)))
  })

  app.delete('/collections/:name', control, async (req, reply) => {
    catalog.deleteCollection((req.params as NameParams).name)
    return reply.code(202).send()
  })
}

function unprocessable(field: string): Error {
  return controlError(
    422,
    'UNPROCESSABLE_ENTITY',
    `Failed to deserialize the JSON body into the target type: missing field \`${field}\``,
  )
}

/** Create an index, restoring a collection's records when the request names one. */
export function createIndex(
  catalog: Catalog,
  request: IndexRequest,
  delays: { restoreDelayMs: number; collectionDelayMs: number },
) {
  const now = Date.now()
  let collection: Collection | undefined
  if (request.sourceCollection !== null) {
    if (catalog.findIndex(request.name) !== undefined)
      throw controlError(409, 'ALREADY_EXISTS', 'Resource already exists.')
    collection = catalog.collection(request.sourceCollection)
    if (now < collection.createdAt + delays.collectionDelayMs) {
      throw badRequest(`Collection ${collection.name} is not ready yet; wait until its status is Ready.`)
    }
    if (collection.vectorType !== request.vectorType) {
      throw badRequest(
        `Collection ${collection.name} holds ${collection.vectorType} vectors; the index must have vector_type ${collection.vectorType}.`,
      )
    }
    if (collection.dimension !== request.dimension) {
      throw badRequest(
        `Index dimension ${request.dimension} does not match the dimension of collection ${collection.name} (${collection.dimension}).`,
      )
    }
  }
  const config: IndexConfig = {
    ...request,
    tags: request.tags === null ? null : { ...request.tags },
    createdAt: now,
    readyAt: collection === undefined ? now : now + delays.restoreDelayMs,
  }
  return catalog.addIndex(config, collection?.data)
}
