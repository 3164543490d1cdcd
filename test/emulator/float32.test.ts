import t from 'tap'
import { formatAsFloat32, formatFloat32, formatFloat32Array } from '../../src/pinecone/float32.js'

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
    if (Math.fround(JSON.parse(s) as number) !== f || Number(s) !== Number(shortest(f))) {
      wrong++
      if (wrong < 5) t.fail(`${f}: got ${s}, shortest ${shortest(f)}`)
    }
    checked++
  }
  t.equal(wrong, 0, `${checked} values`)
})

t.test('typical embedding values: 100 x 1536 format in well under a second', async (t) => {
  let seed = 7
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1
  const vectors = Array.from({ length: 100 }, () => Float32Array.from({ length: 1536 }, rand))
  const started = performance.now()
  let bytes = 0
  for (const v of vectors) bytes += formatFloat32Array(v).length
  const ms = performance.now() - started
  t.ok(ms < 1000, `${ms.toFixed(0)} ms for ${bytes} bytes`)
  for (const v of vectors.slice(0, 3)) t.same(Float32Array.from(JSON.parse(formatFloat32Array(v)) as number[]), v)
})
