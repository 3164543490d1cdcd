import type { StoredVector } from './contract.js'

// Dense values a store printed as text, kept as that text until something reads them.
//
// A copy reads a record from one store and writes it to another without looking at its
// numbers, and turning 768 numbers into floats and back into text is most of the copier's
// CPU (about 45 µs to parse and 100 µs to print per 768-d vector). So a record read from
// Pinecone's fetch or from pgvector carries the values' text, and `values` is parsed from it
// only when first read. A writer asks denseText() and sends the text as is; both stores
// print the shortest float32 form, and any decimal text of a float32 reads back as the same
// float32 on the other side.
//
// The text belongs to the record object (a WeakMap keyed by it): a record built from another
// one ({ ...v, values }) is a new object and is printed from its own values. Read values are
// never written to in place, so the text cannot go stale.

const texts = new WeakMap<StoredVector, string>()

/** A record whose dense values are `text` (a JSON / pgvector array of numbers), parsed on
 *  first read of `values`. */
export function withDenseText(record: Omit<StoredVector, 'values'>, text: string): StoredVector {
  const out = record as { values?: Float32Array }
  Object.defineProperty(out, 'values', {
    enumerable: true,
    configurable: true,
    get(): Float32Array {
      const values = Float32Array.from(JSON.parse(text) as number[])
      Object.defineProperty(out, 'values', { value: values, enumerable: true, configurable: true, writable: false })
      return values
    },
  })
  texts.set(out as StoredVector, text)
  return out as StoredVector
}

/** The text a record's dense values were read as, if it was made by withDenseText. */
export function denseText(record: StoredVector): string | undefined {
  return texts.get(record)
}
