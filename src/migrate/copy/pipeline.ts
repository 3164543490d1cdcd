// The copy's pipeline: one producer makes batches in order; `concurrency` workers copy them;
// a bounded queue lies between (at most 2 x concurrency batches wait, so memory is bounded
// whatever the index). A batch completes only once it is settled and every batch before it
// has completed, so what completion records (the checkpoint) never passes unfinished work.
// After each run of completions the checkpoint is saved, and a worker that left `maxSettling`
// batches unsettled waits before it copies another: without a write log a batch is settled
// once copied, and with maxSettling 1 a crash re-copies at most `concurrency` batches.

export interface PipelineOptions<B extends { readonly seq: number }, R> {
  readonly concurrency: number
  /** Batches a worker's copies may leave copied but not yet settled before it waits. */
  readonly maxSettling: number
  readonly signal?: AbortSignal
  /** Batches in order, numbered from 0 by `seq`. */
  readonly batches: AsyncIterable<B>
  /** Copies a batch: its result once copied, and when it is settled. */
  readonly copy: (batch: B) => Promise<{ readonly result: R; readonly settled: Promise<unknown> }>
  /** Told each batch, in order, once it and every batch before it are settled. */
  readonly complete: (batch: B, result: R) => void
  /** Makes what `complete` recorded durable; called after each run of completions. */
  readonly save: () => Promise<void>
}

export class Pipeline<B extends { readonly seq: number }, R> {
  readonly #queue: B[] = []
  #producerDone = false
  #failure: unknown
  readonly #waiters: Array<() => void> = []
  readonly #finished = new Map<number, { batch: B; result: R }>()
  #nextToComplete = 0
  readonly #settling = new Set<Promise<void>>()

  constructor(private readonly o: PipelineOptions<B, R>) {}

  /** Runs until every batch is complete, the signal is aborted, or something fails; answers
   *  the first failure (undefined when there was none). */
  async run(): Promise<unknown> {
    const producer = this.#produce()
    const workers = Array.from({ length: this.o.concurrency }, () => this.#work())
    await Promise.all([producer, ...workers])
    await Promise.all([...this.#settling])
    return this.#failure
  }

  async #produce(): Promise<void> {
    try {
      for await (const batch of this.o.batches) {
        while (this.#queue.length >= this.o.concurrency * 2 && !this.#stopping()) await this.#wait()
        if (this.#stopping()) break
        this.#queue.push(batch)
        this.#wake()
      }
    } catch (err) {
      this.#failure ??= err
    } finally {
      this.#producerDone = true
      this.#wake()
    }
  }

  async #work(): Promise<void> {
    for (;;) {
      while (this.#queue.length === 0 && !this.#producerDone && !this.#stopping()) await this.#wait()
      if (this.#stopping() || this.#queue.length === 0) return
      const batch = this.#queue.shift() as B
      this.#wake()
      try {
        const { result, settled } = await this.o.copy(batch)
        this.#completeWhenSettled(batch, result, settled)
        while (this.#settling.size >= this.o.maxSettling && !this.#stopping()) await this.#wait()
      } catch (err) {
        this.#failure ??= err
        this.#wake()
        return
      }
    }
  }

  #completeWhenSettled(batch: B, result: R, settled: Promise<unknown>): void {
    const done: Promise<void> = settled
      .then(async () => {
        this.#finished.set(batch.seq, { batch, result })
        await this.#completeInOrder()
      })
      .catch((err: unknown) => {
        this.#failure ??= err
      })
      .finally(() => {
        this.#settling.delete(done)
        this.#wake()
      })
    this.#settling.add(done)
  }

  async #completeInOrder(): Promise<void> {
    let advanced = false
    for (;;) {
      const next = this.#finished.get(this.#nextToComplete)
      if (!next) break
      this.#finished.delete(this.#nextToComplete)
      this.o.complete(next.batch, next.result)
      this.#nextToComplete++
      advanced = true
    }
    if (advanced) await this.o.save()
  }

  #stopping(): boolean {
    return this.#failure !== undefined || this.o.signal?.aborted === true
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w()
  }

  #wait(): Promise<void> {
    return new Promise<void>((resolve) => this.#waiters.push(resolve))
  }
}
