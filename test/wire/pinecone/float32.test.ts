import t from 'tap'
import { formatAsFloat32, formatFloat32, formatFloat32Array } from '../../../src/wire/pinecone/float32.js'

// Values are stored as float32 and must read back as what the client wrote: each float goes
// out as the shortest decimal that parses back to the same float32.

/** The obvious (slow) definition: fewest significant digits that round-trip. */
function shortest(f: number): string {
  if (f === 0) return '0'
  for (let p = 1; p <= 9; p++) {
    const s = Number(f.toPrecision(p))
    if (Math.fround(s) === f) return String(s)
  }
  throw new Error(`no round trip for ${f}`)
}

t.test('what a client wrote comes back as written', async (t) => {
  // biome-ignore lint/suspicious/noApproximativeNumericConstant: 3.14159 is a value a client wrote, not an attempt at π
  const written = [0.5, 0.4, 0.1, -0.3, 1, 1.5, 100, 0.123, 3.14159, 1e-7, -2.5e-5, 123456.7, 0.007, 65504]
  t.same(JSON.parse(formatFloat32Array(Float32Array.from(written))), written)
  t.equal(formatFloat32(Math.fround(0.123456789)), '0.12345679', 'the float32 nearest 0.123456789')
  t.equal(formatFloat32(Math.fround(16777217)), '16777216', 'integers beyond 2^24 snap to float32')
  t.equal(formatFloat32Array(new Float32Array(0)), '[]')
  t.equal(formatAsFloat32(0.1 + 0.2), '0.3', 'scores are sent as float32')
})

t.test('random float32 bit patterns: round-trip and shortest', async (t) => {
  const buf = new Float32Array(1)
  const bits = new Uint32Array(buf.buffer)
  let seed = 12345
  let checked = 0
  let wrong = 0
  for (let i = 0; i < 200_000; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
    bits[0] = seed
    const f = buf[0]!
    if (!Number.isFinite(f)) continue
    const s = formatFloat32(f)
    // Exactly the reference's string: same digits, same notation (1e-7, 1.5e+21, 0.001).
    if (Math.fround(JSON.parse(s) as number) !== f || s !== shortest(f)) {
      wrong++
      if (wrong < 5) t.fail(`${f}: got ${s}, shortest ${shortest(f)}`)
    }
    checked++
  }
  t.equal(wrong, 0, `${checked} values`)
})

t.test('typical embedding values round-trip through formatFloat32Array', async (t) => {
  let seed = 7
  const rand = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
    return (seed / 2 ** 32) * 2 - 1
  }
  const vectors = Array.from({ length: 20 }, () => Float32Array.from({ length: 1536 }, rand))
  for (const v of vectors) t.same(Float32Array.from(JSON.parse(formatFloat32Array(v)) as number[]), v)
})

t.test('every notation Number#toString uses, at each power of ten float32 spans', async (t) => {
  const wrong: string[] = []
  for (let e = -45; e <= 38; e++) {
    for (const m of [1, 1.5, 2.25, 9.999999, 3.4028234]) {
      for (const sign of [1, -1]) {
        const f = Math.fround(sign * m * 10 ** e)
        if (f === 0 || !Number.isFinite(f)) continue
        if (formatFloat32(f) !== shortest(f)) wrong.push(`${f}: ${formatFloat32(f)} != ${shortest(f)}`)
      }
    }
  }
  t.same(wrong, [])
})

t.test('formatFloat32Array writes exactly the values formatFloat32 prints, specials included', async (t) => {
  const buf = new Float32Array(4096)
  const bits = new Uint32Array(buf.buffer)
  let seed = 99
  for (let i = 0; i < bits.length; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
    bits[i] = seed
  }
  // Zeros of both signs, infinities, NaN, subnormals, integers, typed-in values, and
  // embedding-like values, next to each other so a byte written at the wrong place shows.
  const specials = [
    0,
    -0,
    Infinity,
    -Infinity,
    NaN,
    1e-45,
    -1e-40,
    16777216,
    3.4028234663852886e38,
    0.5,
    -0.25,
    1e-7,
    1.5e-7,
    123456.7,
    -1e21,
    1e15,
    1e14,
  ]
  buf.set(specials.map(Math.fround), 0)
  for (let i = 100; i < 1100; i++) buf[i] = Math.sin(i) / 3
  const want = `[${Array.from(buf, (f) => formatFloat32(f)).join(',')}]`
  t.equal(formatFloat32Array(buf), want)
  t.equal(formatFloat32Array(Float32Array.of(-0, 0, -0)), '[-0,0,-0]')
})
