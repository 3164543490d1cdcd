import { E, VecshiftError } from '../../errors.js'
import type { Metric } from '../../wire/pinecone/types.js'
import type { CollectionControl, CollectionState } from '../contract.js'
import type { PineconeResponse } from './http.js'

// The control-plane half of Pinecone's pod-to-serverless path: save a pod-based index as a
// collection, create a serverless index from the collection, and watch both become ready.
// "Already exists" (409) is an answer, not a failure: a resumed copy finds its own work done.

interface ControlCaller {
  controlCall(op: string, method: 'GET' | 'POST', path: string, body?: string): Promise<PineconeResponse>
  forgetDescription(): void
}

interface CollectionModel {
  status?: string
  vector_count?: number
  dimension?: number
  environment?: string
}

export class PineconeCollections implements CollectionControl {
  constructor(
    private readonly store: ControlCaller,
    private readonly index: string,
  ) {}

  async createCollection(name: string): Promise<'created' | 'exists'> {
    return this.#create('create_collection', '/collections', JSON.stringify({ name, source: this.index }))
  }

  async describeCollection(name: string): Promise<CollectionState | undefined> {
    const body = (await this.#getOrUndefined('describe_collection', `/collections/${encodeURIComponent(name)}`)) as
      | CollectionModel
      | undefined
    if (body === undefined) return undefined
    return {
      status: body.status ?? 'Initializing',
      ...(typeof body.vector_count === 'number' ? { vectorCount: body.vector_count } : {}),
      ...(typeof body.dimension === 'number' ? { dimension: body.dimension } : {}),
      ...(typeof body.environment === 'string' ? { environment: body.environment } : {}),
    }
  }

  async createFromCollection(spec: {
    collection: string
    dimension: number | null
    metric: Metric
    cloud: string
    region: string
    deletionProtection: boolean
  }): Promise<'created' | 'exists'> {
    const body = {
      name: this.index,
      ...(spec.dimension === null ? {} : { dimension: spec.dimension }),
      metric: spec.metric,
      spec: { serverless: { cloud: spec.cloud, region: spec.region, source_collection: spec.collection } },
      deletion_protection: spec.deletionProtection ? 'enabled' : 'disabled',
    }
    const result = await this.#create('create_index', '/indexes', JSON.stringify(body))
    this.store.forgetDescription()
    return result
  }

  async readiness(): Promise<{ ready: boolean; state: string } | undefined> {
    const body = (await this.#getOrUndefined('describe', `/indexes/${encodeURIComponent(this.index)}`)) as
      | { status?: { ready?: boolean; state?: string } }
      | undefined
    if (body === undefined) return undefined
    return { ready: body.status?.ready === true, state: body.status?.state ?? 'Unknown' }
  }

  async #create(op: string, path: string, body: string): Promise<'created' | 'exists'> {
    try {
      await this.store.controlCall(op, 'POST', path, body)
      return 'created'
    } catch (err) {
      if (err instanceof VecshiftError && err.code === E.STORE_REFUSED.code && refusalStatus(err) === 409)
        return 'exists'
      throw err
    }
  }

  async #getOrUndefined(op: string, path: string): Promise<unknown> {
    try {
      return (await this.store.controlCall(op, 'GET', path)).body
    } catch (err) {
      if (err instanceof VecshiftError && (err.code === E.STORE_NOT_FOUND.code || refusalStatus(err) === 404))
        return undefined
      throw err
    }
  }
}

function refusalStatus(err: VecshiftError): number | undefined {
  const cause = err.cause as { status?: unknown } | undefined
  return typeof cause?.status === 'number' ? cause.status : undefined
}
