// Objects keyed by strings that come from clients: namespaces, ids, metadata and filter
// keys, index names. A plain object literal inherits from Object.prototype, so the key
// "__proto__" assigns the prototype (the entry vanishes, or `o[k] ??= {}` hands back
// Object.prototype itself to be written on) and "constructor" or "toString" read as present.
// A dict has no prototype: every string is a key like any other. JSON.stringify and
// Object.entries treat it as a plain object. test/lint/client-keys.test.ts keeps src/ from
// building plain objects for such keys.

/** An empty object with no prototype, or one holding `entries`. */
export function dict<V>(entries?: Iterable<readonly [string, V]>): Record<string, V> {
  const out = Object.create(null) as Record<string, V>
  if (entries) for (const [k, v] of entries) out[k] = v
  return out
}

/** The own value of `key`, never an inherited one (`constructor`, `toString`, `__proto__`). */
export function own<V>(o: Readonly<Record<string, V>> | null | undefined, key: string): V | undefined {
  return o != null && Object.hasOwn(o, key) ? o[key] : undefined
}
