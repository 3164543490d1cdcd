// Remembers the identities of recently read records so a reader can drop the copies a
// producer retry leaves behind (a retried Kafka produce or S3 put after a lost answer writes
// the same records again). A retry's copy lands close to the original, so a bounded window
// of recent identities catches them without remembering the whole log.

export const DEFAULT_DEDUPE_WINDOW = 200_000

export class DedupeWindow {
  readonly #seen = new Set<string>()
  constructor(readonly capacity = DEFAULT_DEDUPE_WINDOW) {}

  /** True the first time an identity is offered, false for a repeat still in the window. */
  first(identity: string): boolean {
    if (this.#seen.has(identity)) return false
    this.#seen.add(identity)
    if (this.#seen.size > this.capacity) {
      // Sets iterate in insertion order: the first entry is the oldest.
      const oldest = this.#seen.values().next().value as string
      this.#seen.delete(oldest)
    }
    return true
  }
}
