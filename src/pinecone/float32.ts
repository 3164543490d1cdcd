// Pinecone stores dense and sparse values as float32 and clients compare what they read back
// with what they wrote: `[0.5, 0.4]` must come back as `[0.5, 0.4]`, not `0.4000000059604645`.
// So every float is printed in the shortest decimal that reads back as the same float32.
//
// This is on the hot path (fetch and query with includeValues over 1536-dim vectors), so the
// search for the shortest form works on integers scaled by exact powers of ten instead of
// calling toPrecision() up to nine times per value.

// 10^0 .. 10^22 are exact doubles, so n / 10^k and n * 10^k are correctly rounded.
const POW10: readonly number[] = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`))

/** The shortest decimal string that parses (via a double, as JSON.parse does) back to `f`. */
export function formatFloat32(f: number): string {
  // -0 keeps its sign, as Pinecone's own JSON ("-0.0") does: a copy must be bit for bit.
  if (f === 0 || !Number.isFinite(f)) return f === 0 ? (Object.is(f, -0) ? '-0' : '0') : String(f)
  const a = f < 0 ? -f : f
  const e10 = Math.floor(Math.log10(a))
  // Outside this range some 10^k used below is not an exact double.
  if (e10 < -14 || e10 > 14) return slowFormat(f)
  // Round-tripping is monotonic in the number of significant digits p (more digits are never
  // further away), so binary-search p in 1..9; 9 always suffices for a float32.
  let lo = 1
  let hi = 9
  let best = a
  while (lo <= hi) {
    const p = (lo + hi) >> 1
    const d = roundToDigits(a, p - 1 - e10)
    if (Math.fround(d) === a) {
      best = d
      hi = p - 1
    } else {
      lo = p + 1
    }
  }
  // best is the double nearest to a decimal with few significant digits; String() prints
  // exactly those digits (any decimal of <= 15 digits round-trips through a double).
  return f < 0 ? `-${String(best)}` : String(best)
}

// a rounded to k decimal places (k < 0: to tens, hundreds...); |k| <= 22 here.
function roundToDigits(a: number, k: number): number {
  if (k >= 0) {
    const s = POW10[k]!
    return Math.round(a * s) / s
  }
  const s = POW10[-k]!
  return Math.round(a / s) * s
}

// Magnitudes outside 1e-14..1e15 (rare in embeddings): the obvious search.
function slowFormat(f: number): string {
  for (let p = 1; p < 9; p++) {
    const s = Number(f.toPrecision(p))
    if (Math.fround(s) === f) return String(s)
  }
  return String(Number(f.toPrecision(9)))
}

/** `[v0,v1,...]` with each element in shortest float32 form. */
export function formatFloat32Array(values: Float32Array): string {
  const n = values.length
  if (n === 0) return '[]'
  let out = '['
  for (let i = 0; i < n; i++) {
    if (i > 0) out += ','
    out += formatFloat32(values[i]!)
  }
  return out + ']'
}

/** A number rounded to float32 and printed in its shortest form (used for scores). */
export function formatAsFloat32(x: number): string {
  return formatFloat32(Math.fround(x))
}
