// The capture path's parser must be indistinguishable from JSON.parse + toDense: same values
// bit for bit, same structure, and every body it cannot vouch for handed back to JSON.parse.
import t from 'tap'
import { NOT_HANDLED, NumbersText, parseFetchResponse, parseWriteBody } from '../../../src/wire/pinecone/fast-json.js'
import { parseUpdate, parseUpsert } from '../../../src/wire/pinecone/write-requests.js'
import { prng } from '../../helpers/prng.js'

const parse = (text: string) => parseWriteBody(Buffer.from(text, 'utf8'))

/** What the fast parser should return: JSON.parse's value, with the dense `values` arrays
 *  (root, and each element of the root's `vectors`) as float32 arrays. */
function expected(text: string): unknown {
  const doc = JSON.parse(text) as unknown
  const dense = (o: unknown) => {
    if (o === null || typeof o !== 'object' || Array.isArray(o)) return
    const v = (o as Record<string, unknown>).values
    if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number')) {
      ;(o as Record<string, unknown>).values = Float32Array.from(v)
    }
  }
  dense(doc)
  const vectors = (doc as { vectors?: unknown } | null)?.vectors
  if (Array.isArray(vectors)) vectors.forEach(dense)
  return doc
}

/** Deep equality where numbers compare with Object.is (-0 and 0 differ) and typed arrays
 *  element by element; returns the first difference's path, or undefined. */
function difference(a: unknown, b: unknown, path = '$'): string | undefined {
  if (a instanceof Float32Array || b instanceof Float32Array) {
    if (!(a instanceof Float32Array) || !(b instanceof Float32Array)) return `${path}: typed array on one side only`
    if (a.length !== b.length) return `${path}: lengths ${a.length} / ${b.length}`
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `${path}[${i}]: ${a[i]} / ${b[i]}`
    return undefined
  }
  if (typeof a === 'number' || typeof b === 'number')
    return Object.is(a, b) ? undefined : `${path}: ${String(a)} / ${String(b)}`
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object')
    return a === b ? undefined : `${path}: ${String(a)} / ${String(b)}`
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: array on one side only`
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (JSON.stringify(ka) !== JSON.stringify(kb)) return `${path}: keys ${ka.join(',')} / ${kb.join(',')}`
  for (const k of ka) {
    const d = difference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`)
    if (d) return d
  }
  return undefined
}

t.test('numbers: every spelling gives the float32 of the double JSON.parse gives', async (t) => {
  const next = prng(7)
  const texts = [
    '0',
    '-0',
    '0.0',
    '-0.0',
    '1',
    '-1',
    '0.5',
    '0.1',
    '0.2',
    '0.3',
    '0.123456',
    '-0.999999',
    '3.4028234663852886e38',
    '1e-45',
    '1.4e-45',
    '1e-46',
    '5e-324',
    '2.2250738585072014e-308',
    '9007199254740991',
    '9007199254740993',
    '123456789012345',
    '1234567890123456',
    '0.1000000000000000055511151231257827',
    '1E5',
    '1e+5',
    '1e-5',
    '-1.5E-10',
    '100000000000000000000000',
    '0.0000000000000000000000001',
    '12.5e3',
    '0.00000000000000000000001',
  ]
  for (let i = 0; i < 20_000; i++) {
    const r = next()
    const digits = 1 + Math.floor(next() * 18)
    const mant =
      String(Math.floor(next() * 10 ** Math.min(digits, 15))).padStart(1, '0') +
      (digits > 15 ? '7'.repeat(digits - 15) : '')
    const point = Math.floor(next() * (mant.length + 1))
    let text = point === 0 ? mant : `${mant.slice(0, point)}.${mant.slice(point) || '0'}`
    if (/^0\d/.test(text)) text = text.replace(/^0+(?=\d)/, '')
    if (r < 0.5) text = `-${text}`
    if (next() < 0.2) text += `e${Math.floor(next() * 80) - 40}`
    texts.push(text)
  }
  let wrong = 0
  let declined = 0
  let first = ''
  // Doubles: numbers outside dense values (here metadata) stay doubles, exactly JSON.parse's.
  for (const text of texts) {
    const got = parse(`{"metadata":{"n":${text}}}`)
    const value = got === NOT_HANDLED ? undefined : (got as { metadata: { n: number } }).metadata.n
    if (!Object.is(value, JSON.parse(text))) {
      wrong++
      first ||= `double ${text}: ${value}`
    }
  }
  for (const text of texts) {
    const body = `{"values":[${text}]}`
    const want = Math.fround(JSON.parse(text) as number)
    const got = parse(body)
    if (got === NOT_HANDLED) {
      // Only numbers outside float32 may be declined (their error must quote the client).
      if (Number.isFinite(want)) {
        wrong++
        first ||= `${text} declined`
      } else declined++
      continue
    }
    const value = (got as { values: Float32Array }).values[0]
    if (!Object.is(value, want)) {
      wrong++
      first ||= `${text}: ${value} != ${want}`
    }
  }
  t.equal(wrong, 0, `all ${texts.length} numbers exact${first ? ` (first: ${first})` : ''}`)
  t.ok(declined > 0, `${declined} float32 overflows handed to JSON.parse`)
})

/** A random JSON document of Pinecone write shapes and arbitrary JSON, with random spacing. */
function randomDocument(next: () => number): string {
  const ws = () => [' ', '', '', '\n', '\t', '\r\n  '][Math.floor(next() * 6)] as string
  const str = () => {
    // Issue 17's cases too: lone surrogates (escaped: raw ones cannot be UTF-8), NUL, a BOM,
    // keys Object.prototype also has.
    const pieces = [
      'a',
      'id-1',
      'é',
      '日本',
      '😀',
      '\\n',
      '\\"',
      '\\\\',
      '\\u00e9',
      '\\ud83d\\ude00',
      '\\/',
      ' ',
      '$',
      'values',
      'vectors',
      '\\ud800',
      '\\udfff',
      '\\ude00\\ud83d',
      '\\u0000',
      '\\ufeff',
      '\\ufdd0',
      'constructor',
      'toString',
      'hasOwnProperty',
      'valueOf',
    ]
    let s = ''
    for (let i = Math.floor(next() * 4); i > 0; i--) s += pieces[Math.floor(next() * pieces.length)]
    return `"${s}"`
  }
  const num = () => {
    const options = [
      () => String(Math.round((next() * 2 - 1) * 1e6) / 1e6),
      () => String(next() * 1e-3),
      () => `${Math.floor(next() * 100)}e${Math.floor(next() * 10) - 5}`,
      () => '-0',
      () => String(Math.floor(next() * 1e9)),
    ]
    return (options[Math.floor(next() * options.length)] as () => string)()
  }
  const anyValue = (depth: number): string => {
    const r = next()
    if (depth > 3 || r < 0.3) return [num, str, () => 'true', () => 'false', () => 'null'][Math.floor(next() * 5)]!()
    if (r < 0.6)
      return `[${ws()}${Array.from({ length: Math.floor(next() * 4) }, () => anyValue(depth + 1)).join(`,${ws()}`)}${ws()}]`
    return obj(depth + 1, Math.floor(next() * 4))
  }
  const obj = (depth: number, members: number, forced: Record<string, string> = {}) => {
    const entries = Object.entries(forced).map(([k, v]) => `"${k}"${ws()}:${ws()}${v}`)
    for (let i = 0; i < members; i++)
      entries.push(`${next() < 0.2 ? '"values"' : str()}${ws()}:${ws()}${anyValue(depth)}`)
    for (let i = entries.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1))
      ;[entries[i], entries[j]] = [entries[j] as string, entries[i] as string]
    }
    return `{${ws()}${entries.join(`,${ws()}`)}${ws()}}`
  }
  const dense = () => {
    const r = next()
    if (r < 0.1) return '[]'
    if (r < 0.2) return `[1, "x", 2]`
    if (r < 0.25) return `[${num()}, [1]]`
    return `[${ws()}${Array.from({ length: 1 + Math.floor(next() * 8) }, num).join(`,${ws()}`)}${ws()}]`
  }
  const vector = () =>
    next() < 0.1
      ? anyValue(2)
      : obj(2, Math.floor(next() * 2), {
          id: str(),
          values: dense(),
          ...(next() < 0.5 ? { metadata: obj(3, 2) } : {}),
          ...(next() < 0.3 ? { sparseValues: `{"indices":[1,2],"values":[${num()},${num()}]}` } : {}),
        })
  return next() < 0.7
    ? obj(0, Math.floor(next() * 2), {
        vectors: `[${Array.from({ length: Math.floor(next() * 4) }, vector).join(',')}]`,
        namespace: str(),
      })
    : obj(0, Math.floor(next() * 3), { id: str(), values: dense(), setMetadata: obj(1, 2, { values: dense() }) })
}

t.test('documents: random bodies parse to exactly what JSON.parse (+ float32 dense values) gives', async (t) => {
  const next = prng(11)
  let checked = 0
  let first: string | undefined
  for (let i = 0; i < 3000; i++) {
    const text = randomDocument(next)
    const got = parse(text)
    if (got === NOT_HANDLED) {
      first ??= `declined a valid document: ${text}`
      continue
    }
    const d = difference(got, expected(text))
    if (d) first ??= `${d} in ${text}`
    checked++
  }
  t.equal(first, undefined, 'no document differs')
  t.equal(checked, 3000)
})

t.test('malformed or unusual bodies are handed to JSON.parse, never guessed', async (t) => {
  const bad = [
    '',
    ' ',
    '{',
    '}',
    '{"a":1,}',
    '[1,]',
    '{"a" 1}',
    '{"a":01}',
    '{"values":[01]}',
    '{"values":[1.]}',
    '{"values":[-]}',
    '{"values":[1e]}',
    '{"values":[.5]}',
    '{"values":[1,2',
    '{"a":"x',
    '{"a":"\u0001"}',
    '{"a":tru}',
    '{"a":nul}',
    '{"a":1} x',
    '{"values":[1 2]}',
    '{"values":[+1]}',
    '{"values":[NaN]}',
    '{"values":[Infinity]}',
    "{'a':1}",
  ]
  for (const text of bad) {
    t.throws(() => JSON.parse(text), `JSON.parse refuses ${JSON.stringify(text)}`)
    t.equal(parse(text), NOT_HANDLED, `declined: ${JSON.stringify(text)}`)
  }
  // Duplicate keys: the last wins, as in JSON.parse.
  for (const text of [
    '{"a":1,"a":2}',
    '{"metadata":{"k":"x","k":"y"},"id":"v","id":"w"}',
    '{"vectors":[{"id":"a","values":[1],"values":[2]}]}',
  ]) {
    const got = parse(text)
    t.ok(got === NOT_HANDLED || difference(got, expected(text)) === undefined, `duplicate keys as JSON.parse: ${text}`)
  }
  // __proto__ however spelled, at any depth: declined, so JSON.parse makes it an own key.
  for (const text of [
    '{"metadata":{"__proto__":1}}',
    '{"metadata":{"\\u005f_proto__":{"x":1}}}',
    '{"vectors":[{"id":"a","values":[1],"metadata":{"__\\u0070roto__":"p"}}]}',
  ]) {
    t.equal(parse(text), NOT_HANDLED, `declined: ${text}`)
    t.ok(
      Object.hasOwn(JSON.parse(text) as object, Object.keys(JSON.parse(text) as object)[0] as string),
      'JSON.parse keeps it as an own key',
    )
  }
  t.same(
    Object.keys(parse('{"constructor":1,"toString":"x"}') as object),
    ['constructor', 'toString'],
    'keys Object.prototype has are ordinary keys',
  )
  // Valid, but for JSON.parse to build: an own __proto__ key, and nesting past 64 levels.
  t.equal(parse('{"__proto__":{"x":1}}'), NOT_HANDLED)
  t.equal(parse(`${'['.repeat(100)}${']'.repeat(100)}`), NOT_HANDLED)
  t.same(parse(`${'['.repeat(10)}${']'.repeat(10)}`), JSON.parse(`${'['.repeat(10)}${']'.repeat(10)}`))
  t.equal(parse('{"values":[1e39]}'), NOT_HANDLED, "a float32 overflow keeps JSON.parse's message, which quotes it")
})

t.test('parseUpsert and parseUpdate give the same result and the same errors on either parser', async (t) => {
  const shape = { name: 'idx', dimension: 4, vectorType: 'dense' as const, metric: 'dotproduct' as const }
  const bodies = [
    '{"vectors":[{"id":"a","values":[0.1,0.2,0.3,0.4],"metadata":{"genre":"drama","values":["x"]}}],"namespace":"n"}',
    '{"vectors":[{"id":"a","values":[0,0,0,0]}]}',
    '{"vectors":[{"id":"a","values":[1,2,3]}]}',
    '{"vectors":[{"id":"a","values":[1,2,3,"4"]}]}',
    '{"vectors":[{"id":"a","values":[1,2,3,1e39]}]}',
    '{"vectors":[{"id":"a","values":[1,2,3,4],"sparseValues":{"indices":[1],"values":[0.5]}}]}',
    '{"vectors":[{"id":"","values":[1,2,3,4]}]}',
    '{"vectors":[]}',
  ]
  for (const text of bodies) {
    const outcome = (body: unknown) => {
      try {
        return { ok: parseUpsert(body, shape) }
      } catch (err) {
        return { error: (err as Error).message }
      }
    }
    const fast = parse(text)
    const a = outcome(fast === NOT_HANDLED ? JSON.parse(text) : fast)
    const b = outcome(JSON.parse(text))
    t.equal(difference(a, b), undefined, `upsert ${text}`)
  }
  const update = '{"id":"a","values":[0.5,0.25,-0.125,1e-7],"setMetadata":{"values":["x"]}}'
  const viaFast = parseUpdate(parse(update), shape)
  t.equal(difference(viaFast, parseUpdate(JSON.parse(update), shape)), undefined, 'update')
  t.ok(viaFast.values instanceof Float32Array && viaFast.values.length === 4)
})

t.test('fetch responses: dense values come back as their text, checked for number characters only', async (t) => {
  const text =
    '{"vectors":{"a":{"id":"a","values":[0.5,-0.25,1e-7,0.10000000149011612],"metadata":{"values":[1,2],"x":"y"}},' +
    '"b":{"id":"b","values":[ 1, 2 ],"sparseValues":{"indices":[3],"values":[0.5]}},"c":{"id":"c","values":[1,"x"]}},' +
    '"namespace":"ns","usage":{"readUnits":1}}'
  const parsed = parseFetchResponse(Buffer.from(text)) as {
    vectors: Record<string, { values: unknown; metadata?: { values: unknown }; sparseValues?: { values: unknown } }>
  }
  const { a, b, c } = parsed.vectors
  t.ok(a?.values instanceof NumbersText, 'dense values are kept as text')
  t.equal((a!.values as NumbersText).text, '[0.5,-0.25,1e-7,0.10000000149011612]', 'exactly as the source wrote them')
  t.same(a?.metadata?.values, [1, 2], 'a metadata key named "values" stays an array')
  t.same(b?.sparseValues?.values, [0.5], 'sparse values stay an array')
  t.ok(b?.values instanceof Float32Array, "an array with whitespace is parsed as a write body's would be")
  t.same(Array.from(b?.values as Float32Array), [1, 2])
  t.same(c?.values, [1, 'x'], 'anything but numbers is an ordinary array')
  const { vectors: _v, ...rest } = parsed as unknown as Record<string, unknown>
  const reference = JSON.parse(text) as Record<string, unknown>
  delete reference.vectors
  t.same(rest, reference, 'everything else is what JSON.parse gives')
  for (const bad of ['[1,]', '[01]', '[1.]', '[1e]', '[-]', '[1,,2]', '[.5]']) {
    t.equal(
      parseFetchResponse(Buffer.from(`{"vectors":{"a":{"values":${bad}}}}`)),
      NOT_HANDLED,
      `${bad}: malformed, JSON.parse decides`,
    )
  }
  t.same(
    (
      parseFetchResponse(Buffer.from('{"vectors":{"a":{"values":[0,-0,1E+2,-1.5e-3]}}}')) as {
        vectors: { a: { values: NumbersText } }
      }
    ).vectors.a.values.text,
    '[0,-0,1E+2,-1.5e-3]',
  )
})
