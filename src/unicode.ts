// Whether a string has a UTF-8 form: no lone surrogate. JSON and JavaScript strings may hold
// one (a namespace "c370-\ud800" that a source accepted); UTF-8 — the write log's text, a
// URL, a Postgres text column — cannot, and would carry U+FFFD instead.
// (String.prototype.isWellFormed is ES2024; Node 20 has it, the ES2023 lib typings do not.)

export function wellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed()
}
