import { E, VecshiftError } from '../../errors.js'
import type { Metadata } from '../../wire/pinecone/types.js'
import type { CallOptions, StoredVector, UpdateRequest, VectorStore } from '../../stores/contract.js'
import type { EmbeddingsClient } from './client.js'
import { own } from '../../dict.js'

// Re-embedding (the migration article's other path): when the target holds another model's
// embeddings, the source's vectors mean nothing there, so every record written to the target
// gets a new vector, embedded from the text its metadata holds (reembed.textField). Wrapping
// the target store is what lets the copy, the replayer (logged writes and repairs from the
// source) and the cutover's reconciliation all do it with the code they already have:
// - upsert: each record's values are replaced by the embedding of its text;
// - update by id: a setMetadata that changes the text re-embeds it; values sent with an
//   update (the source model's) are dropped, the target keeps its own;
// - everything else passes through.
// A record with no text cannot be re-embedded: the write fails, naming the id and the field,
// rather than landing without a vector or with one from the wrong model.

export class ReembeddingStore implements VectorStore {
  readonly label: string
  readonly counters
  readonly collections

  constructor(
    readonly inner: VectorStore,
    private readonly client: EmbeddingsClient,
    private readonly textField: string,
  ) {
    this.label = `${inner.label} (re-embedded from metadata.${textField})`
    this.counters = inner.counters
    this.collections = inner.collections
  }

  describe() {
    return this.inner.describe()
  }
  stats(...args: Parameters<VectorStore['stats']>) {
    return this.inner.stats(...args)
  }
  list(...args: Parameters<VectorStore['list']>) {
    return this.inner.list(...args)
  }
  fetch(...args: Parameters<VectorStore['fetch']>) {
    return this.inner.fetch(...args)
  }
  query(...args: Parameters<VectorStore['query']>) {
    return this.inner.query(...args)
  }
  delete(...args: Parameters<VectorStore['delete']>) {
    return this.inner.delete(...args)
  }
  close() {
    return this.inner.close()
  }
  get createSchema() {
    return this.inner.createSchema?.bind(this.inner)
  }
  get buildIndexes() {
    return this.inner.buildIndexes?.bind(this.inner)
  }
  get exactQuery() {
    return this.inner.exactQuery?.bind(this.inner)
  }
  get searchLayout() {
    return this.inner.searchLayout?.bind(this.inner)
  }

  async upsert(namespace: string, vectors: readonly StoredVector[], call: CallOptions = {}): Promise<void> {
    if (vectors.length === 0) return
    call.signal?.throwIfAborted()
    const texts = vectors.map((v) => this.#text(v.metadata, v.id))
    const embeddings = await this.client.embed(texts)
    await this.#checkDimension(embeddings[0] as Float32Array)
    await this.inner.upsert(
      namespace,
      vectors.map((v, i) => {
        const { sparseValues: _sparse, ...rest } = v
        return { ...rest, values: embeddings[i] as Float32Array }
      }),
      call,
    )
  }

  async update(namespace: string, request: UpdateRequest, call: CallOptions = {}): Promise<{ matched?: number }> {
    if (!('id' in request)) return this.inner.update(namespace, request, call)
    const text = own(request.setMetadata, this.textField)
    if (text === undefined) {
      if (request.setMetadata === undefined) return {}
      return this.inner.update(namespace, { id: request.id, setMetadata: request.setMetadata }, call)
    }
    const [values] = await this.client.embed([this.#text(request.setMetadata, request.id)])
    await this.#checkDimension(values as Float32Array)
    return this.inner.update(
      namespace,
      {
        id: request.id,
        values: values as Float32Array,
        setMetadata: request.setMetadata as Metadata,
      },
      call,
    )
  }

  #text(metadata: Metadata | undefined, id: string): string {
    const t = own(metadata, this.textField)
    if (typeof t === 'string' && t.length > 0) return t
    throw new VecshiftError(E.COPY_REFUSED, [
      `record ${id} has no text in metadata.${this.textField} ` +
        `(${t === undefined ? 'missing' : `a ${Array.isArray(t) ? 'list' : typeof t}`}), so it cannot be re-embedded; ` +
        'set reembed.textField to the field the embeddings are made from',
    ])
  }

  #dimension: number | null | undefined
  async #checkDimension(v: Float32Array): Promise<void> {
    this.#dimension ??= (await this.inner.describe()).dimension
    if (this.#dimension !== null && v.length !== this.#dimension) {
      throw new VecshiftError(E.COPY_REFUSED, [
        `the embeddings model answers ${v.length}-d vectors and the target ${this.inner.label} is ${this.#dimension}-d; ` +
          "set reembed.model (or reembed.dimensions) to the target's model",
      ])
    }
  }
}
