// A JSON parser for write bodies whose bulk is dense vectors. JSON.parse spends most of its
// time on a 1.5 MB upsert (100 x 1536 floats) building 153,600 boxed numbers in JS arrays,
// which parseUpsert then copies into Float32Arrays. This parser reads the bytes directly and
// returns exactly what JSON.parse would, except that a non-empty array of numbers at a dense
// `values` path ($.values, $.vectors[i].values) comes back as a Float32Array holding those
// numbers as float32, exactly as toDense() would store JSON.parse's doubles. Those are the
// only paths converted: anywhere else (metadata, filters, sparse values) an array stays an
// array, so every check and error message downstream is unchanged. A number that overflows
// float32 is declined (NOT_HANDLED), so its error message quotes it as the client wrote it.
//
// It never reports errors itself: on anything it does not handle (malformed JSON, deep
// nesting, "__proto__" keys) it returns NOT_HANDLED and the caller uses JSON.parse, whose
// message the client gets. Numbers are exact: digits that fit a double exactly, divided by
// an exact power of ten, are correctly rounded (one IEEE division), which is what JSON.parse
// returns; any other number goes through Number() on its text, which is also correctly
// rounded.

export const NOT_HANDLED: unique symbol = Symbol('not handled')

const MAX_DEPTH = 64
/** 10^0 .. 10^22: exact doubles. */
const POW10: readonly number[] = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`))
const MAX_EXACT = 2 ** 53
/** Reused between arrays (parsing is synchronous); each result is a copy of its length. */
let scratch = new Float32Array(4096)

// biome-ignore lint/suspicious/noConstEnum: tsc inlines the byte codes into the hot parse loop; nothing exports it
const enum C {
  Quote = 0x22,
  Comma = 0x2c,
  Minus = 0x2d,
  Dot = 0x2e,
  Zero = 0x30,
  Nine = 0x39,
  Colon = 0x3a,
  Open = 0x5b,
  Backslash = 0x5c,
  Close = 0x5d,
  OpenObj = 0x7b,
  CloseObj = 0x7d,
  LowerE = 0x65,
  UpperE = 0x45,
  Plus = 0x2b,
  Space = 0x20,
  Tab = 0x09,
  Lf = 0x0a,
  Cr = 0x0d,
}

/** mantissa / 10^scale, for mantissa < 2^53 and scale <= 22: both operands are exact
 *  doubles, so the one division is correctly rounded, as JSON.parse's result is. */
function exactDecimal(mantissa: number, scale: number, negative: boolean): number {
  const v = scale === 0 ? mantissa : mantissa / (POW10[scale] as number)
  return negative ? -v : v
}

class Bail extends Error {}

const NUMBER = '-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?'
/** A non-empty JSON array of numbers, without whitespace. */
const NUMBERS_ARRAY = new RegExp(`^\\[${NUMBER}(?:,${NUMBER})*\\]$`)

/** A fetch response's dense values, as the text of their JSON array (parseFetchResponse). */
export class NumbersText {
  constructor(readonly text: string) {}
}
const BAIL = new Bail()

/** The kind of object a value sits in, as far as the `values` rule needs to know: the
 *  document's root object, a vector (an element of the root's `vectors` array in a write
 *  body, a member of the root's `vectors` object in a fetch response), the `vectors` object
 *  of a fetch response, or anything else. */
// biome-ignore lint/suspicious/noConstEnum: tsc inlines the contexts into the hot parse loop; nothing exports it
const enum In {
  Root,
  Vector,
  VectorMap,
  Other,
}

class Parser {
  pos = 0
  /** fetch: the document is a fetch response ({"vectors":{"<id>":{...}}}), whose dense
   *  values come back as NumbersText: a copy forwards the text and parses it only if read. */
  constructor(
    readonly buf: Buffer,
    readonly fetch = false,
  ) {}

  ws(): void {
    const b = this.buf
    let p = this.pos
    for (;;) {
      const c = b[p]
      if (c === C.Space || c === C.Lf || c === C.Cr || c === C.Tab) p++
      else break
    }
    this.pos = p
  }

  /** The value at pos: a member `key` of an object of kind `parent`, or an array element
   *  (key undefined), or the document itself (parent undefined). */
  value(depth: number, parent: In | undefined, key: string | undefined): unknown {
    if (depth > MAX_DEPTH) throw BAIL
    this.ws()
    const c = this.buf[this.pos]
    switch (c) {
      case C.OpenObj: {
        const kind =
          parent === undefined
            ? In.Root
            : parent === In.VectorMap
              ? In.Vector
              : this.fetch && parent === In.Root && key === 'vectors'
                ? In.VectorMap
                : In.Other
        return this.object(depth, kind)
      }
      case C.Open: {
        if (key === 'values' && (parent === In.Root || parent === In.Vector)) {
          if (this.fetch && parent === In.Vector) {
            const text = this.numbersText()
            if (text !== undefined) return text
          }
          const numbers = this.numberArray()
          if (numbers !== undefined) return numbers
        }
        return this.array(depth, parent === In.Root && key === 'vectors')
      }
      case C.Quote:
        return this.string()
      case 0x74:
        return this.literal('true', true)
      case 0x66:
        return this.literal('false', false)
      case 0x6e:
        return this.literal('null', null)
      default:
        if (c === C.Minus || (c !== undefined && c >= C.Zero && c <= C.Nine)) return this.number()
        throw BAIL
    }
  }

  literal<T>(word: string, result: T): T {
    const b = this.buf
    for (let i = 0; i < word.length; i++) if (b[this.pos + i] !== word.charCodeAt(i)) throw BAIL
    this.pos += word.length
    return result
  }

  object(depth: number, kind: In): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    this.pos++
    this.ws()
    if (this.buf[this.pos] === C.CloseObj) {
      this.pos++
      return out
    }
    for (;;) {
      this.ws()
      if (this.buf[this.pos] !== C.Quote) throw BAIL
      const key = this.string()
      // An own "__proto__" property cannot be made by assignment; JSON.parse makes one.
      if (key === '__proto__') throw BAIL
      this.ws()
      if (this.buf[this.pos] !== C.Colon) throw BAIL
      this.pos++
      out[key] = this.value(depth + 1, kind, key)
      this.ws()
      const c = this.buf[this.pos++]
      if (c === C.CloseObj) return out
      if (c !== C.Comma) throw BAIL
    }
  }

  /** `vectors`: this is the root's `vectors` array, whose object elements are vectors. */
  array(depth: number, vectors: boolean): unknown[] {
    const out: unknown[] = []
    this.pos++
    this.ws()
    if (this.buf[this.pos] === C.Close) {
      this.pos++
      return out
    }
    for (;;) {
      this.ws()
      if (vectors && this.buf[this.pos] === C.OpenObj) {
        if (depth + 1 > MAX_DEPTH) throw BAIL
        out.push(this.object(depth + 1, In.Vector))
      } else {
        out.push(this.value(depth + 1, In.Other, undefined))
      }
      this.ws()
      const c = this.buf[this.pos++]
      if (c === C.Close) return out
      if (c !== C.Comma) throw BAIL
    }
  }

  /** A non-empty array holding only numbers, as a Float32Array; undefined (position kept)
   *  when it holds anything else, so the generic array parser takes over. This is the hot
   *  loop of a 1.5 MB upsert, so the common number shape (digits, a fraction, no exponent)
   *  is parsed inline; anything else goes through number(). */
  numberArray(): Float32Array | undefined {
    const b = this.buf
    const start = this.pos
    let p = start + 1
    let out = scratch
    let n = 0
    for (;;) {
      let c = b[p]
      while (c === C.Space || c === C.Lf || c === C.Cr || c === C.Tab) c = b[++p]
      if (n === 0 && c === C.Close) break
      if (n === out.length) {
        const grown = new Float32Array(out.length * 2)
        grown.set(out)
        out = grown
        scratch = grown
      }
      const numberStart = p
      const negative = c === C.Minus
      if (negative) c = b[++p]
      let mantissa = 0
      let digits = 0
      let scale = 0
      if (c !== undefined && c >= 0x31 && c <= C.Nine) {
        do {
          mantissa = mantissa * 10 + (c - C.Zero)
          digits++
          c = b[++p]
        } while (c !== undefined && c >= C.Zero && c <= C.Nine)
      } else if (c === C.Zero) {
        c = b[++p]
      } else {
        break
      }
      if (c === C.Dot) {
        c = b[++p]
        while (c !== undefined && c >= C.Zero && c <= C.Nine) {
          mantissa = mantissa * 10 + (c - C.Zero)
          digits++
          scale++
          c = b[++p]
        }
      }
      if (
        c === C.LowerE ||
        c === C.UpperE ||
        c === C.Dot ||
        (c !== undefined && c >= C.Zero && c <= C.Nine) ||
        b[p - 1] === C.Dot ||
        digits > 15 ||
        scale > 22 ||
        mantissa >= MAX_EXACT
      ) {
        // Exponents, long numbers and the malformed ("01", "1.") are number()'s to judge.
        this.pos = numberStart
        out[n] = this.number()
        p = this.pos
        c = b[p]
        if (!Number.isFinite(out[n++] as number)) throw BAIL
      } else {
        out[n] = exactDecimal(mantissa, scale, negative)
        // Below 2^53, far inside float32's range: nothing here can overflow.
        n++
      }
      while (c === C.Space || c === C.Lf || c === C.Cr || c === C.Tab) c = b[++p]
      p++
      if (c === C.Close) {
        this.pos = p
        return out.slice(0, n)
      }
      if (c !== C.Comma) throw BAIL
    }
    this.pos = start
    return undefined
  }

  /** A non-empty array of JSON numbers without whitespace, as its text (position after it);
   *  undefined (position kept) for anything else. The grammar is checked, the values are
   *  not computed: whoever reads them parses the text (dense-text.ts). */
  numbersText(): NumbersText | undefined {
    const b = this.buf
    const start = this.pos
    // An array of numbers holds no ']' but its own; the grammar check runs as a compiled
    // regular expression, faster than a byte loop in JS over every vector a copy moves.
    const end = b.indexOf(C.Close, start)
    if (end < 0) return undefined
    const text = b.toString('latin1', start, end + 1)
    if (!NUMBERS_ARRAY.test(text)) return undefined
    this.pos = end + 1
    return new NumbersText(text)
  }

  number(): number {
    const b = this.buf
    const start = this.pos
    let p = start
    const negative = b[p] === C.Minus
    if (negative) p++
    let mantissa = 0
    let digits = 0
    let c = b[p]
    if (c === C.Zero) {
      p++
      c = b[p]
      // JSON allows no leading zeros: "01" is an error.
      if (c !== undefined && c >= C.Zero && c <= C.Nine) throw BAIL
    } else if (c !== undefined && c >= 0x31 && c <= C.Nine) {
      while (c !== undefined && c >= C.Zero && c <= C.Nine) {
        mantissa = mantissa * 10 + (c - C.Zero)
        digits++
        c = b[++p]
      }
    } else {
      throw BAIL
    }
    let scale = 0
    if (c === C.Dot) {
      c = b[++p]
      if (!(c !== undefined && c >= C.Zero && c <= C.Nine)) throw BAIL
      while (c !== undefined && c >= C.Zero && c <= C.Nine) {
        mantissa = mantissa * 10 + (c - C.Zero)
        digits++
        scale++
        c = b[++p]
      }
    }
    let exact = mantissa < MAX_EXACT && digits <= 15 && scale <= 22
    if (c === C.LowerE || c === C.UpperE) {
      exact = false
      c = b[++p]
      if (c === C.Plus || c === C.Minus) c = b[++p]
      if (!(c !== undefined && c >= C.Zero && c <= C.Nine)) throw BAIL
      while (c !== undefined && c >= C.Zero && c <= C.Nine) c = b[++p]
    }
    this.pos = p
    if (exact) return exactDecimal(mantissa, scale, negative)
    return Number(b.toString('latin1', start, p))
  }

  string(): string {
    const b = this.buf
    const start = ++this.pos
    let p = start
    let ascii = true
    for (;;) {
      const c = b[p]
      if (c === undefined) throw BAIL
      if (c === C.Quote) break
      // Escapes and raw control characters (an error in JSON) are left to JSON.parse.
      if (c === C.Backslash) return this.escapedString(start)
      if (c < 0x20) throw BAIL
      if (c >= 0x80) ascii = false
      p++
    }
    this.pos = p + 1
    return ascii ? b.toString('latin1', start, p) : b.toString('utf8', start, p)
  }

  escapedString(start: number): string {
    const b = this.buf
    let p = start
    for (;;) {
      const c = b[p]
      if (c === undefined) throw BAIL
      if (c === C.Backslash) {
        p += 2
        continue
      }
      if (c === C.Quote) break
      p++
    }
    if (p > b.length) throw BAIL
    this.pos = p + 1
    try {
      return JSON.parse(b.toString('utf8', start - 1, p + 1)) as string
    } catch {
      throw BAIL
    }
  }
}

/** JSON.parse(buf) with dense `values` as Float32Array, or NOT_HANDLED (use JSON.parse). */
export function parseWriteBody(buf: Buffer): unknown {
  return parseWith(new Parser(buf))
}

/** A fetch response (`{"vectors":{"<id>":{"values":[...]}}}`) as JSON.parse would return it,
 *  but with each vector's dense `values` as NumbersText (or a Float32Array when the array
 *  has whitespace or other content); or NOT_HANDLED (use JSON.parse). */
export function parseFetchResponse(buf: Buffer): unknown {
  return parseWith(new Parser(buf, true))
}

function parseWith(p: Parser): unknown {
  const buf = p.buf
  try {
    const v = p.value(0, undefined, undefined)
    p.ws()
    if (p.pos !== buf.length) return NOT_HANDLED
    return v
  } catch (err) {
    if (err === BAIL) return NOT_HANDLED
    // RangeError (stack) or anything unforeseen: the reference parser decides.
    return NOT_HANDLED
  }
}
