import type { IndexShape } from '../wire/pinecone/write-requests.js'

// The target's shape (dimension, metric, vector type), which requests to it are checked
// against as Pinecone would check them. Asked once, by one caller at a time, and again after
// a failure: before the copy the target may not exist yet (a pgvector table, or an index the
// copy creates from a collection), and it is described when routing reaches it.

export class TargetShape {
  readonly #ask: () => Promise<IndexShape>
  #known: IndexShape | undefined
  #asking: Promise<IndexShape> | undefined

  constructor(ask: () => Promise<IndexShape>) {
    this.#ask = ask
  }

  /** The shape once described; the capture path needs it synchronously. */
  get known(): IndexShape | undefined {
    return this.#known
  }

  describe(): Promise<IndexShape> {
    if (this.#known) return Promise.resolve(this.#known)
    this.#asking ??= this.#ask()
      .then((shape) => {
        this.#known = shape
        return shape
      })
      .finally(() => {
        this.#asking = undefined
      })
    return this.#asking
  }
}
