// Pinecone stores dense and sparse values as float32 and clients compare what they read back
// with what they wrote: `[0.5, 0.4]` must come back as `[0.5, 0.4]`, not `0.4000000059604645`.
// So every float is printed in the shortest decimal that reads back as the same float32.
//
// This is on the hot path (fetch and query with includeValues over 1536-dim vectors, and
// every vector a copy writes), so the search for the shortest form works on integers scaled
// by exact powers of ten instead of calling toPrecision() up to nine times per value, and
// the string is built from that integer.

// 10^0 .. 10^22 are exact doubles, so n / 10^k and n * 10^k are correctly rounded.
const POW10: readonly number[] = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`))

// shortest() answers through these two (it runs synchronously, and an object per value would
// cost more than the search): the value is foundMantissa x 10^-foundScale, and the mantissa
// has no trailing zeros.
let foundMantissa = 0
let foundScale = 0

/**
 * The fewest significant digits (as mantissa and scale, above) of a positive float32 `a`
 * that read back as `a`; false when `a` is outside 1e-14..1e15, where some 10^k used here
 * is not an exact double.
 *
 * Round-tripping is monotonic in the number of significant digits p (more digits are never
 * further away), and 9 always suffices for a float32. Embedding values mostly need 8 or 9,
 * so 8 is tried first, then 7; values people type (0.5, 0.25) go on to a binary search of
 * 1..6.
 */
function shortest(a: number): boolean {
  const e10 = Math.floor(Math.log10(a))
  if (e10 < -14 || e10 > 14) return false
  let mantissa = 0
  let scale = 0
  let lo = 1
  let hi = 9
  let p = 8
  let first = true
  while (lo <= hi) {
    const k = p - 1 - e10
    const m = k >= 0 ? Math.round(a * POW10[k]!) : Math.round(a / POW10[-k]!)
    const ok = Math.fround(k >= 0 ? m / POW10[k]! : m * POW10[-k]!) === a
    if (ok) {
      mantissa = m
      scale = k
      hi = p - 1
    } else {
      lo = p + 1
    }
    if (first && ok && p === 8) {
      p = 7
    } else {
      first = false
      p = (lo + hi) >> 1
    }
  }
  if (mantissa === 0) return false
  while (mantissa % 10 === 0) {
    mantissa /= 10
    scale--
  }
  foundMantissa = mantissa
  foundScale = scale
  return true
}

/** The shortest decimal string that parses (via a double, as JSON.parse does) back to `f`. */
export function formatFloat32(f: number): string {
  // -0 keeps its sign, as Pinecone's own JSON ("-0.0") does: a copy must be bit for bit.
  if (f === 0 || !Number.isFinite(f)) return f === 0 ? (Object.is(f, -0) ? '-0' : '0') : String(f)
  if (!shortest(f < 0 ? -f : f)) return slowFormat(f)
  const text = decimalString(foundMantissa, foundScale)
  return f < 0 ? `-${text}` : text
}

/**
 * mantissa x 10^-scale as Number.prototype.toString prints it (ECMA-262 Number::toString):
 * the digits are the mantissa's, since a decimal of at most 9 significant digits is the
 * shortest form of the double nearest to it.
 */
function decimalString(mantissa: number, scale: number): string {
  const digits = String(mantissa)
  const k = digits.length
  // The value is 0.digits x 10^n.
  const n = k - scale
  if (k <= n && n <= 21) return digits + '0'.repeat(n - k)
  if (n > 0 && n <= 21) return `${digits.slice(0, n)}.${digits.slice(n)}`
  if (n > -6 && n <= 0) return `0.${'0'.repeat(-n)}${digits}`
  const e = n - 1
  const exponent = e < 0 ? `e-${-e}` : `e+${e}`
  return k === 1 ? digits + exponent : `${digits[0]}.${digits.slice(1)}${exponent}`
}

// Magnitudes outside 1e-14..1e15 (rare in embeddings): the obvious search.
function slowFormat(f: number): string {
  for (let p = 1; p < 9; p++) {
    const s = Number(f.toPrecision(p))
    if (Math.fround(s) === f) return String(s)
  }
  return String(Number(f.toPrecision(9)))
}

/** `[v0,v1,...]` with each element in shortest float32 form. The text is written as bytes
 *  into one reused buffer: per-value strings and their concatenation cost more than the
 *  digits themselves. */
export function formatFloat32Array(values: Float32Array): string {
  const n = values.length
  if (n === 0) return '[]'
  // At most 17 bytes per value ("-0.00000123456789"), its comma, and the brackets.
  if (out.length < n * 18 + 2) out = Buffer.allocUnsafe(n * 18 + 2)
  const b = out
  let w = 0
  b[w++] = 0x5b
  for (let i = 0; i < n; i++) {
    if (i > 0) b[w++] = 0x2c
    const f = values[i]!
    if (f < 0) b[w++] = 0x2d
    const a = f < 0 ? -f : f
    if (a === 0) {
      if (Object.is(f, -0)) b[w++] = 0x2d
      b[w++] = 0x30
      continue
    }
    if (!Number.isFinite(a) || !shortest(a)) {
      // Rare magnitudes: the string form, written byte by byte (it is ASCII).
      const text = slowFormat(a)
      for (let c = 0; c < text.length; c++) b[w++] = text.charCodeAt(c)
      continue
    }
    w = writeDecimal(b, w, foundMantissa, foundScale)
  }
  b[w++] = 0x5d
  return b.toString('latin1', 0, w)
}

let out = Buffer.allocUnsafe(16 * 1024)
const digitBytes = new Uint8Array(16)

/** decimalString(), written as bytes at w; answers the new end. */
function writeDecimal(b: Buffer, w: number, mantissa: number, scale: number): number {
  let k = 0
  // The mantissa has at most 10 digits and is below 2^31, so int32 arithmetic is exact.
  for (let m = mantissa | 0; m > 0; ) {
    const q = (m / 10) | 0
    digitBytes[k++] = 0x30 + (m - q * 10)
    m = q
  }
  // digitBytes holds the digits last first.
  const n = k - scale
  if (k <= n && n <= 21) {
    for (let i = k - 1; i >= 0; i--) b[w++] = digitBytes[i]!
    for (let z = 0; z < n - k; z++) b[w++] = 0x30
  } else if (n > 0 && n <= 21) {
    for (let i = k - 1; i >= k - n; i--) b[w++] = digitBytes[i]!
    b[w++] = 0x2e
    for (let i = k - n - 1; i >= 0; i--) b[w++] = digitBytes[i]!
  } else if (n > -6 && n <= 0) {
    b[w++] = 0x30
    b[w++] = 0x2e
    for (let z = 0; z < -n; z++) b[w++] = 0x30
    for (let i = k - 1; i >= 0; i--) b[w++] = digitBytes[i]!
  } else {
    b[w++] = digitBytes[k - 1]!
    if (k > 1) {
      b[w++] = 0x2e
      for (let i = k - 2; i >= 0; i--) b[w++] = digitBytes[i]!
    }
    const e = n - 1
    b[w++] = 0x65
    b[w++] = e < 0 ? 0x2d : 0x2b
    const text = String(e < 0 ? -e : e)
    for (let c = 0; c < text.length; c++) b[w++] = text.charCodeAt(c)
  }
  return w
}

/** A number rounded to float32 and printed in its shortest form (used for scores). */
export function formatAsFloat32(x: number): string {
  return formatFloat32(Math.fround(x))
}
