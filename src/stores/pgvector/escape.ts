import type { Metadata } from '../../wire/pinecone/types.js'
import { wellFormed } from '../../unicode.js'

// Strings Pinecone accepts that Postgres cannot hold as they are: NUL (refused in text
// columns, and in jsonb as the escape \u0000, error 22P05) and lone surrogates (refused in
// jsonb, 22P02; turned into U+FFFD on their way into a text column as UTF-8). The adapter
// stores such a namespace, metadata key or metadata string reversibly:
//
//   U+FDD0 followed by the string's JSON escape (JSON.stringify without the quotes)
//
// which is well-formed, NUL-free text. U+FDD0 is a Unicode noncharacter, which no text is
// meant to hold; a string that starts with it anyway is escaped too, so decoding is exact for
// every string. Reads decode (namespaces in stats, metadata in fetch, query and list), and
// filters encode their field names and string values the same way, so `$eq: "a\u0000b"`
// matches what was stored. Ids need none of this: Pinecone's are ASCII without NUL.
// docs/copy.md, "pgvector: filters, sparse values, upserts".

const MARK = '\uFDD0'

/** Whether Postgres holds `s` unchanged: no NUL, no lone surrogate, no leading U+FDD0. */
export function storable(s: string): boolean {
  return !s.includes('\u0000') && wellFormed(s) && !s.startsWith(MARK)
}

export function encodeText(s: string): string {
  return storable(s) ? s : MARK + JSON.stringify(s).slice(1, -1)
}

export function decodeText(s: string): string {
  return s.startsWith(MARK) ? (JSON.parse(`"${s.slice(1)}"`) as string) : s
}

/** Metadata with every key and string encoded; the same object when none needs it. */
export function encodeMetadata(md: Metadata): Metadata {
  return mapStrings(md, encodeText)
}

/** Metadata as stored, decoded; the same object when nothing was encoded. */
export function decodeMetadata(md: Metadata): Metadata {
  return mapStrings(md, decodeText)
}

function mapStrings(md: Metadata, f: (s: string) => string): Metadata {
  // Every row read and written passes here: look first, build a new object only when a key
  // or string changes (rare), so ordinary metadata costs no allocation.
  const changes = (v: unknown) =>
    typeof v === 'string' ? f(v) !== v : Array.isArray(v) && v.some((x) => typeof x === 'string' && f(x) !== x)
  if (!Object.entries(md).some(([k, v]) => f(k) !== k || changes(v))) return md
  // A null prototype: a metadata key "__proto__" stays an ordinary key (src/dict.ts).
  const res = Object.create(null) as Metadata
  for (const [k, v] of Object.entries(md)) {
    res[f(k)] =
      typeof v === 'string'
        ? f(v)
        : Array.isArray(v)
          ? (v.map((x) => (typeof x === 'string' ? f(x) : x)) as typeof v)
          : v
  }
  return res
}

/** Any JSON value with every key and string encoded (a namespace's schema). */
export function encodeJson(v: unknown): unknown {
  if (typeof v === 'string') return encodeText(v)
  if (Array.isArray(v)) return v.map(encodeJson)
  if (v !== null && typeof v === 'object') {
    const out = Object.create(null) as Record<string, unknown>
    for (const [k, x] of Object.entries(v)) out[encodeText(k)] = encodeJson(x)
    return out
  }
  return v
}

/** Whether any key or string of `md` is stored escaped (for `vecshift plan`). */
export function metadataEscaped(md: Metadata | undefined): boolean {
  return md !== undefined && encodeMetadata(md) !== md
}
