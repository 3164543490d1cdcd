// Malformed Pinecone data-plane requests, for the gateway's fuzz test. Case i is built from its
// own PRNG seeded with (seed, i), so any one case can be rebuilt from the seed the test printed
// and its index, whatever order the cases were sent in.
//
// Every case is invalid by construction, not by what the gateway says of it: bodies that are
// not JSON (checked with JSON.parse), fields given a value Pinecone's API reference refuses
// (wrong type, outside a documented limit), paths no route has, and requests HTTP itself
// refuses. Values the API treats as absent (null for an optional field) are never used as the
// "wrong" value, since they make a valid request.
import { prng } from './prng.js'

export const DIM = 8

export interface MalformedRequest {
  /** What is wrong with it, e.g. "upsert.values"; failures are grouped by it. */
  readonly kind: string
  /** True for the routes that write (captured in phase capture): never logged, never forwarded. */
  readonly write: boolean
  readonly method: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body?: string | Buffer
  /** Send the body without Content-Length (chunked). */
  readonly chunked?: boolean
  /** Bytes written as they are on a fresh connection: request lines and headers HTTP refuses. */
  readonly raw?: Buffer
  /** A raw request that half-closes before its declared body is complete: the server may
   *  answer or just close, but not hang and not answer 2xx/5xx. */
  readonly mayClose?: boolean
}

type Rand = () => number

const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1))
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T
const chance = (r: Rand, p: number): boolean => r() < p

// JSON text that JSON.stringify cannot write (1e309, NaN, deep nesting built as text) goes in
// as a marker string and is spliced in after stringifying.
const RAW_OPEN = '\u0001RAW:'
const raw = (text: string): string => `${RAW_OPEN}${Buffer.from(text).toString('base64')}\u0001`
const RAW_MARK = /"\\u0001RAW:([A-Za-z0-9+/=]*)\\u0001"/g
function stringify(body: unknown): string {
  return JSON.stringify(body).replace(RAW_MARK, (_m, b64: string) => Buffer.from(b64, 'base64').toString())
}

// ---- valid pieces, which the cases below break one at a time ----

const ID_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-_'
function goodId(r: Rand): string {
  let s = ''
  for (let i = int(r, 1, 12); i > 0; i--) s += ID_CHARS[int(r, 0, ID_CHARS.length - 1)]
  return s
}
function dense(r: Rand): number[] {
  const v = Array.from({ length: DIM }, () => Math.round((r() * 2 - 1) * 1000) / 1000)
  v[0] = 1 + r()
  return v
}
function goodMetadata(r: Rand): Record<string, unknown> {
  return {
    genre: pick(r, ['drama', 'noir', 'comedy']),
    year: int(r, 1950, 2030),
    ...(chance(r, 0.5) ? { tags: ['a', 'b'] } : {}),
  }
}
function goodSparse(r: Rand): { indices: number[]; values: number[] } {
  const n = int(r, 1, 4)
  return {
    indices: Array.from({ length: n }, (_, i) => i * 7 + int(r, 0, 6)),
    values: Array.from({ length: n }, () => 0.1 + r()),
  }
}
function goodVector(r: Rand): Record<string, unknown> {
  return {
    id: goodId(r),
    values: dense(r),
    ...(chance(r, 0.5) ? { metadata: goodMetadata(r) } : {}),
    ...(chance(r, 0.2) ? { sparseValues: goodSparse(r) } : {}),
  }
}
function goodVectors(r: Rand): Array<Record<string, unknown>> {
  return Array.from({ length: int(r, 1, 4) }, () => goodVector(r))
}
const goodFilter = (r: Rand): Record<string, unknown> =>
  pick(r, [
    { genre: 'drama' },
    { genre: { $eq: 'noir' } },
    { year: { $gte: 2000, $lt: 2020 } },
    { $or: [{ genre: 'drama' }, { year: { $gt: 2010 } }] },
    { tags: { $in: ['a', 'z'] } },
  ])
const withNamespace = (r: Rand): Record<string, unknown> => (chance(r, 0.3) ? { namespace: `ns-${int(r, 0, 3)}` } : {})

// ---- values Pinecone refuses, per field ----

const NOT_STRING: readonly unknown[] = [1, 0, -1, 1.5, true, false, [], ['a'], {}, { a: 1 }]
const NOT_ARRAY: readonly unknown[] = ['x', '', 1, true, {}, { 0: 'a' }]
const NOT_OBJECT: readonly unknown[] = ['x', 1, 0, true, [], [1]]
const NOT_BOOL: readonly unknown[] = ['true', 'false', 'yes', 1, 0, [], {}]

function badId(r: Rand): unknown {
  return pick(r, [
    () => '',
    () =>
      pick(r, [
        'é',
        'naïve',
        '日本語',
        '🦄',
        '🦄'.repeat(int(r, 1, 200)),
        'a\u0000b',
        '\u0000',
        '\u0080',
        '\ud800',
        'x\u00a0y',
        'ok\u2028',
      ]),
    () => `${goodId(r)}${pick(r, ['é', '\u0000', '🦄'])}`,
    // Over 512 characters (and so over 512 bytes), ASCII, or over 512 bytes in fewer characters.
    () => 'x'.repeat(int(r, 513, 1500)),
    () => 'é'.repeat(int(r, 257, 600)),
    () => pick(r, NOT_STRING),
  ])()
}

/** Dense values that are wrong for a dimension-DIM index. Never null or absent. */
function badDense(r: Rand): unknown {
  const v: unknown[] = dense(r)
  return pick(r, [
    () => {
      const n = pick(r, [1, DIM - 1, DIM + 1, 2 * DIM, 1000, int(r, 2, 64)])
      return Array.from({ length: n === DIM ? DIM + 1 : n }, () => 0.5)
    },
    () => [],
    () => {
      v[int(r, 0, DIM - 1)] = pick(r, ['x', '1', null, true, {}, [1], []])
      return v
    },
    () => new Array(DIM).fill(0),
    () => new Array(DIM).fill(1e-9),
    // Numbers JSON can write that are not finite float32 numbers.
    () => {
      v[int(r, 0, DIM - 1)] = raw(
        pick(r, [
          '1e39',
          '-1e39',
          '3.5e38',
          '1e308',
          '1.7976931348623157e308',
          '1e309',
          '-1e400',
          '123456789012345678901234567890e20',
        ]),
      )
      return v
    },
    () => pick(r, NOT_ARRAY),
    () => [v],
  ])()
}

/** Sparse values Pinecone refuses. Never null or absent. */
function badSparse(r: Rand): unknown {
  return pick(r, [
    () => pick(r, NOT_OBJECT),
    () => ({ indices: 'x', values: [1] }),
    () => ({ indices: [1, 2], values: [1] }),
    () => ({ indices: [], values: [] }),
    () => ({ indices: [pick(r, [-1, 1.5, 4294967296, 1e20])], values: [1] }),
    () => ({ indices: [raw('1e309')], values: [1] }),
    () => ({ indices: [3, 3], values: [1, 2] }),
    () => ({ indices: [1], values: [pick(r, ['x', null, true, [1]])] }),
    () => ({ indices: [1], values: [raw(pick(r, ['1e39', '1e309']))] }),
    () => ({ indices: ['1'], values: [1] }),
    () => ({ indices: [1] }),
    () => ({ indices: Array.from({ length: 2049 }, (_, i) => i), values: new Array(2049).fill(0.5) }),
  ])()
}

/** Metadata Pinecone refuses. Never null or absent (that is no metadata, which is valid). */
function badMetadata(r: Rand): unknown {
  return pick(r, [
    () => pick(r, NOT_OBJECT),
    () => ({ a: null }),
    () => ({ a: { b: 1 } }),
    () => ({ a: [1, 2] }),
    () => ({ a: ['x', 1] }),
    () => ({ a: [[]] }),
    () => ({ [`$${goodId(r)}`]: 1 }),
    () => ({ a: raw(pick(r, ['1e309', '-1e309'])) }),
    () => ({ blob: 'x'.repeat(int(r, 41_000, 60_000)) }),
    () => {
      const d = int(r, 100, 2000)
      return { deep: raw(`${'['.repeat(d)}"x"${']'.repeat(d)}`) }
    },
  ])()
}

/** Namespaces Pinecone refuses in a body. Never null or absent (that is the default). */
const badNamespace = (r: Rand): unknown => (chance(r, 0.5) ? 'n'.repeat(int(r, 513, 900)) : pick(r, NOT_STRING))

/** Filters Pinecone refuses, as JSON text. Deep ones (depth 100 and more) put the fault at
 *  the innermost level, so the whole depth must be walked to find it. */
function badFilter(r: Rand): string {
  const leaf = (): string =>
    stringify(
      pick(r, [
        { genre: { $regex: 'dr.*' } },
        { genre: { $EQ: 'drama' } },
        { $not: { genre: 'drama' } },
        { genre: { $in: 'drama' } },
        { year: { $gt: 'abc' } },
        { genre: { $exists: 'yes' } },
        { genre: { $in: [{}] } },
        { genre: { $in: [true] } },
        { genre: {} },
        { genre: null },
        { genre: [1, 2] },
        { genre: { $eq: null } },
        { genre: { $eq: [1] } },
        { year: { $gt: raw('1e309') } },
        { $and: [] },
        { $and: {} },
        { $or: [1] },
        { $or: [{}] },
        { $nor: [{ a: 1 }] },
      ]),
    )
  const depth = (): number =>
    chance(r, 0.9) ? int(r, 100, 400) : chance(r, 0.6) ? int(r, 1000, 3000) : int(r, 5000, 40_000)
  return pick(r, [
    leaf,
    () => pick(r, ['{}', '[]', '"genre"', '1', 'true', '[{"genre":"drama"}]']),
    () => {
      // {"$and":[{"$or":[ ... leaf ... ]}]}
      const d = depth()
      let open = ''
      for (let i = 0; i < d; i++) open += i % 2 === 0 ? '{"$and":[' : '{"$or":['
      return `${open}${leaf()}${']}'.repeat(d)}`
    },
    () => {
      // An operand nested deep in arrays: {"genre":{"$in":[[[...]]]}}
      const d = depth()
      return `{"genre":{"$in":${'['.repeat(d)}"drama"${']'.repeat(d)}}}`
    },
  ])()
}

// ---- bodies that are not JSON ----

const GARBAGE = [
  ',',
  ':',
  '}',
  ']',
  '{',
  '[',
  '"',
  "'",
  'NaN',
  'Infinity',
  '-Infinity',
  'undefined',
  'nul',
  'tru',
  '//c',
  '/*c*/',
  '\u0000',
  '\u0007',
  '0x1F',
  '\\',
  '\\q',
]
const BAD_NUMBERS = ['NaN', 'Infinity', '-Infinity', '+1', '01', '.5', '1.', '1e', '-', '0x10', '1_000', '١']

/** `text` (valid JSON) made invalid; checked with JSON.parse, falling back to a truncation. */
function breakJson(r: Rand, text: string): string {
  const at = int(r, 0, text.length)
  const broken = pick(r, [
    // Truncated: a proper prefix of an object is never JSON.
    () => text.slice(0, int(r, 0, text.length - 1)),
    () => `${text.slice(0, at)}${pick(r, GARBAGE)}${text.slice(at)}`,
    () => `${text.slice(0, at)}${pick(r, GARBAGE)}${text.slice(at + 1)}`,
    () => text.replace(/-?\d+(\.\d+)?/, pick(r, BAD_NUMBERS)),
    () => text.replace(/\](?=[^\]]*$)/, ',]'),
    () => text.replace(/"([a-zA-Z]+)":/, "'$1':"),
    () => text.replace(/"([a-zA-Z]+)":/, '$1:'),
    () => `\ufeff${text}`,
    () => `${text}${text}`,
    () => `${text}${pick(r, ['x', ',', '}', '[]', ' 1'])}`,
    () => text.replace(/"([a-z0-9_-]+)"/, `"$1${pick(r, ['\n', '\t', '\u0001', '\\x41', '\\u12', '\\'])}"`),
  ])()
  try {
    JSON.parse(broken)
  } catch {
    return broken
  }
  return text.slice(0, int(r, 0, text.length - 1))
}

// ---- the cases ----

interface Draft {
  kind: string
  write: boolean
  method: string
  path: string
  body?: string | Buffer
  headers?: Record<string, string>
  raw?: Buffer
  mayClose?: boolean
  /** The Api-Key to send instead of the good one; null sends none. */
  key?: string | null
}

const post = (kind: string, path: string, body: unknown, write = true): Draft => ({
  kind,
  write,
  method: 'POST',
  path,
  body: typeof body === 'string' ? body : stringify(body),
})

function upsertCase(r: Rand): Draft {
  const vectors = goodVectors(r)
  const target = vectors[int(r, 0, vectors.length - 1)] as Record<string, unknown>
  const ns = withNamespace(r)
  return pick(r, [
    () => post('upsert.json', '/vectors/upsert', breakJson(r, stringify({ vectors, ...ns }))),
    () =>
      post(
        'upsert.vectors',
        '/vectors/upsert',
        pick(r, [{ vectors: pick(r, NOT_ARRAY) }, { vectors: null }, { vectors: [] }, { ...ns }, pick(r, NOT_OBJECT)]),
      ),
    () => {
      vectors[int(r, 0, vectors.length - 1)] = pick(r, [...NOT_OBJECT, null] as unknown[]) as Record<string, unknown>
      return post('upsert.vector', '/vectors/upsert', { vectors, ...ns })
    },
    () => {
      if (chance(r, 0.2)) delete target.id
      else target.id = badId(r)
      return post('upsert.id', '/vectors/upsert', { vectors, ...ns })
    },
    () => {
      if (chance(r, 0.15)) target.values = pick(r, [undefined, null])
      else target.values = badDense(r)
      return post('upsert.values', '/vectors/upsert', { vectors, ...ns })
    },
    () => {
      target.sparseValues = badSparse(r)
      return post('upsert.sparse', '/vectors/upsert', { vectors, ...ns })
    },
    () => {
      target.metadata = badMetadata(r)
      return post('upsert.metadata', '/vectors/upsert', { vectors, ...ns })
    },
    () => post('upsert.namespace', '/vectors/upsert', { vectors, namespace: badNamespace(r) }),
    () =>
      post('upsert.1001-vectors', '/vectors/upsert', {
        vectors: Array.from({ length: int(r, 1001, 1100) }, () => goodVector(r)),
      }),
  ])()
}

function updateCase(r: Rand): Draft {
  const id = goodId(r)
  const ns = withNamespace(r)
  const md = goodMetadata(r)
  return pick(r, [
    () =>
      post('update.json', '/vectors/update', breakJson(r, stringify({ id, values: dense(r), setMetadata: md, ...ns }))),
    () =>
      post(
        'update.target',
        '/vectors/update',
        pick(r, [
          {},
          { setMetadata: md },
          { values: dense(r) },
          { id, filter: goodFilter(r), setMetadata: md },
          pick(r, NOT_OBJECT),
        ]),
      ),
    () => post('update.id', '/vectors/update', { id: badId(r), setMetadata: md, ...ns }),
    () => post('update.values', '/vectors/update', { id, values: badDense(r), ...ns }),
    () => post('update.sparse', '/vectors/update', { id, sparseValues: badSparse(r), ...ns }),
    () => post('update.setMetadata', '/vectors/update', { id, setMetadata: badMetadata(r), ...ns }),
    () => post('update.filter', '/vectors/update', { filter: raw(badFilter(r)), setMetadata: md, ...ns }),
    () =>
      post('update.filter-and-values', '/vectors/update', {
        filter: goodFilter(r),
        setMetadata: md,
        ...(chance(r, 0.5) ? { values: dense(r) } : { sparseValues: goodSparse(r) }),
      }),
    () => post('update.filter-no-metadata', '/vectors/update', { filter: goodFilter(r), ...ns }),
    () =>
      post('update.dryRun', '/vectors/update', { filter: goodFilter(r), setMetadata: md, dryRun: pick(r, NOT_BOOL) }),
    () => post('update.namespace', '/vectors/update', { id, setMetadata: md, namespace: badNamespace(r) }),
  ])()
}

function deleteCase(r: Rand): Draft {
  const ids = Array.from({ length: int(r, 1, 5) }, () => goodId(r))
  const ns = withNamespace(r)
  return pick(r, [
    () => post('delete.json', '/vectors/delete', breakJson(r, stringify({ ids, ...ns }))),
    () =>
      post(
        'delete.nothing',
        '/vectors/delete',
        pick(r, [
          {},
          { deleteAll: false },
          { ...ns },
          { ids: null, filter: null, deleteAll: null },
          pick(r, NOT_OBJECT),
        ]),
      ),
    () => {
      const bad = pick(r, [
        () => pick(r, NOT_ARRAY),
        () => [],
        () => [badId(r)],
        () => [...ids, badId(r)],
        () => Array.from({ length: int(r, 1001, 1200) }, (_, i) => `d${i}`),
      ])()
      return post('delete.ids', '/vectors/delete', { ids: bad, ...ns })
    },
    () => post('delete.filter', '/vectors/delete', { filter: raw(badFilter(r)), ...ns }),
    () =>
      post(
        'delete.deleteAll',
        '/vectors/delete',
        pick(r, [
          { deleteAll: pick(r, NOT_BOOL) },
          { deleteAll: true, ids },
          { deleteAll: true, filter: goodFilter(r) },
        ]),
      ),
    () => post('delete.ids-and-filter', '/vectors/delete', { ids, filter: goodFilter(r), ...ns }),
    () => post('delete.namespace', '/vectors/delete', { ids, namespace: badNamespace(r) }),
  ])()
}

/** DELETE /namespaces/{namespace} with a name Pinecone refuses (1-512 ASCII characters, no
 *  NUL) or a path segment that is not valid percent-encoding. */
function deleteNamespaceCase(r: Rand): Draft {
  // Names a write cannot have: empty, NUL, over 512 characters, broken escapes. (Names that
  // are not ASCII are valid: a write can create them, so they can be deleted.)
  const name = pick(r, [
    '',
    '%00',
    `a%00${goodId(r)}`,
    'n'.repeat(int(r, 513, 700)),
    '%E0%A4%A',
    '%',
    '%zz',
    `${goodId(r)}%`,
  ])
  return { kind: 'delete_namespace.name', write: true, method: 'DELETE', path: `/namespaces/${name}` }
}

function queryCase(r: Rand): Draft {
  const base = { topK: int(r, 1, 20), vector: dense(r), ...withNamespace(r) }
  return pick(r, [
    () => post('query.json', '/query', breakJson(r, stringify(base)), false),
    () =>
      post(
        'query.topK',
        '/query',
        chance(r, 0.1)
          ? { vector: base.vector }
          : { ...base, topK: pick(r, [null, 0, -1, 1.5, '10', 10_001, 1e20, 2 ** 53 + 2, true, [], {}, raw('1e309')]) },
        false,
      ),
    () => post('query.vector', '/query', { ...base, vector: badDense(r) }, false),
    () => post('query.id', '/query', { topK: base.topK, id: badId(r) }, false),
    () => post('query.id-and-vector', '/query', { ...base, id: goodId(r) }, false),
    () => post('query.no-query', '/query', { topK: base.topK, ...(chance(r, 0.5) ? { vector: null } : {}) }, false),
    () => post('query.filter', '/query', { ...base, filter: raw(badFilter(r)) }, false),
    () =>
      post(
        'query.include',
        '/query',
        { ...base, [pick(r, ['includeValues', 'includeMetadata'])]: pick(r, NOT_BOOL) },
        false,
      ),
    () => post('query.namespace', '/query', { ...base, namespace: badNamespace(r) }, false),
    () => post('query.sparse', '/query', { ...base, sparseVector: badSparse(r) }, false),
    () => post('query.topK-with-data', '/query', { ...base, topK: int(r, 1001, 10_000), includeMetadata: true }, false),
  ])()
}

const enc = (s: unknown): string => encodeURIComponent(String(s))

function fetchCase(r: Rand): Draft {
  const ns = chance(r, 0.3) ? `&namespace=ns-${int(r, 0, 3)}` : ''
  const query = pick(r, [
    () => '',
    () => `?namespace=ns-1`,
    () => `?ids=${ns}`,
    () => `?ids=${goodId(r)}&ids=${ns}`,
    () => `?ids=${enc(pick(r, ['é', '日本語', '🦄', '\u0000', 'x'.repeat(int(r, 513, 1200))]))}${ns}`,
    () => `?ids=${Array.from({ length: int(r, 1001, 1100) }, (_, i) => `i${i}`).join('&ids=')}`,
    () => `?ids=${goodId(r)}&namespace=${'n'.repeat(int(r, 513, 700))}`,
    () => `?ids=${goodId(r)}&namespace=a&namespace=b`,
  ])()
  return { kind: 'fetch.query', write: false, method: 'GET', path: `/vectors/fetch${query}` }
}

function listCase(r: Rand): Draft {
  const query = pick(r, [
    () => `?limit=${pick(r, ['0', '101', '-1', '1.5', 'abc', '1e3', '1e309', '99999999999999999999', 'NaN', 'true'])}`,
    () => `?prefix=a&prefix=b`,
    () => {
      const base64 = (s: string) => Buffer.from(s).toString('base64')
      return `?paginationToken=${enc(pick(r, ['!!!', 'x', 'not-base64', base64('{"after":1}'), base64('null'), base64('[]')]))}`
    },
    () => `?namespace=${'n'.repeat(int(r, 513, 700))}`,
    () => `?namespace=a&namespace=b`,
    () => `?paginationToken=a&paginationToken=b`,
  ])()
  return { kind: 'list.query', write: false, method: 'GET', path: `/vectors/list${query}` }
}

/** Paths that are not routes (or decode to one): dot segments, encoded dots and slashes, NULs,
 *  doubled slashes, other methods, a very long query string. The body is a broken write, in
 *  case a path does reach a write route. */
function pathCase(r: Rand): Draft {
  const body = breakJson(r, stringify({ vectors: goodVectors(r) }))
  const path = pick(r, [
    '/vectors/../upsert',
    '/vectors/./upsert',
    '/vectors/%2e%2e/upsert',
    '/vectors/%2E%2E/vectors/upsert',
    '/vectors/..%2fupsert',
    '//vectors/upsert',
    '/vectors//upsert',
    '/vectors/upsert/',
    '/vectors/upsert//',
    '/vectors/upsert%00',
    '/vectors/upsert%2500',
    '/vectors%2Fupsert',
    '/%76ectors/upsert',
    '/VECTORS/UPSERT',
    '/vectors/upsert;x=1',
    '/vectors/upsert%',
    '/vectors/%zz',
    '/vectors/upsert/..%2f..%2f_emulator/stats',
    '/../_emulator/stats',
    '/data/fuzz/vectors/upsert',
    '/vectors',
    '/',
    `/vectors/upsert?${'q'.repeat(int(r, 2000, 12_000))}=1`,
    `/vectors/delete?namespace=%00&x=${'%41'.repeat(int(r, 100, 2000))}`,
    '/query/..',
    '/query%3F',
    '/query#frag',
    '/vectors/update%20',
    `/${'a/'.repeat(int(r, 100, 2000))}`,
  ])
  const method = pick(r, ['POST', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE', 'GET'])
  return { kind: 'path', write: true, method, path, ...(method === 'GET' ? {} : { body }) }
}

/** Requests HTTP refuses before any route sees them, sent as raw bytes. */
function rawCase(r: Rand, id: string): Draft {
  const body = breakJson(r, stringify({ vectors: goodVectors(r) }))
  const head = (line: string, headers: string[], b = body) =>
    Buffer.from(
      `${line}\r\nHost: gw\r\nConnection: close\r\nx-request-id: ${id}\r\n` +
        `${headers.map((h) => `${h}\r\n`).join('')}Content-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`,
    )
  const [kind, bytes, mayClose] = pick(r, [
    () => ['raw.nul-in-path', head('POST /vectors/upsert\u0000 HTTP/1.1', [])],
    () => ['raw.space-in-path', head('POST /vectors/ upsert HTTP/1.1', [])],
    () => [
      'raw.non-ascii-path',
      Buffer.concat([Buffer.from('POST /vectors/'), Buffer.from([0xc3, 0xa9, 0xff]), head(' HTTP/1.1', [])]),
    ],
    () => ['raw.bad-version', head('POST /vectors/upsert HTTP/9.9', [])],
    () => ['raw.garbage-line', head(`${'\u00ff\u0001'.repeat(int(r, 1, 20))} / HTTP/1.1`, [])],
    () => [
      'raw.no-host',
      Buffer.from(
        `POST /vectors/upsert HTTP/1.1\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      ),
    ],
    () => ['raw.header-no-colon', head('POST /vectors/upsert HTTP/1.1', ['this is not a header'])],
    () => ['raw.cr-in-header', head('POST /vectors/upsert HTTP/1.1', ['x-a: a\rb'])],
    () => ['raw.obs-fold', head('POST /vectors/upsert HTTP/1.1', ['x-a: a', ' folded'])],
    () => [
      'raw.content-length-twice',
      head('POST /vectors/upsert HTTP/1.1', [`Content-Length: ${Buffer.byteLength(body) + 5}`]),
    ],
    () => ['raw.content-length-and-chunked', head('POST /vectors/upsert HTTP/1.1', ['Transfer-Encoding: chunked'])],
    () => [
      'raw.content-length-text',
      Buffer.from(
        'POST /vectors/upsert HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n' +
          `Content-Length: ${pick(r, ['abc', '-1', '1e3', '0x10', '99999999999999999999999'])}\r\n\r\n${body}`,
      ),
    ],
    () => [
      'raw.header-too-large',
      head('POST /vectors/upsert HTTP/1.1', [`x-big: ${'h'.repeat(int(r, 17_000, 48_000))}`]),
    ],
    // curl sends this for bodies over 1 MiB; the gateway answers 100 Continue itself.
    () => [
      'raw.expect-continue',
      head('POST /vectors/upsert HTTP/1.1', [
        'Expect: 100-continue',
        'Content-Type: application/json',
        'Api-Key: KEY_PLACEHOLDER',
      ]),
    ],
    () => [
      'raw.too-many-headers',
      head(
        'POST /vectors/upsert HTTP/1.1',
        Array.from({ length: int(r, 2100, 3000) }, (_, i) => `x-h${i}: ${'v'.repeat(8)}`),
      ),
    ],
    () => [
      'raw.api-version-too-large',
      head('POST /vectors/upsert HTTP/1.1', [`x-pinecone-api-version: ${'9'.repeat(int(r, 17_000, 30_000))}`]),
    ],
    // Declares more than gateway.limits.maxBodyBytes and sends a little of it.
    () => [
      'raw.body-over-limit',
      Buffer.from(
        `POST /vectors/upsert HTTP/1.1\r\nHost: gw\r\nx-request-id: ${id}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${int(r, 4 * 1024 * 1024 + 1, 64 * 1024 * 1024)}\r\n\r\n{"vectors":[`,
      ),
    ],
    // Declares a body and half-closes before it is all there.
    () => {
      const b = stringify({ vectors: goodVectors(r) })
      return [
        'raw.truncated-body',
        Buffer.from(
          `POST /vectors/upsert HTTP/1.1\r\nHost: gw\r\nx-request-id: ${id}\r\n` +
            `Content-Length: ${Buffer.byteLength(b) + int(r, 1, 100)}\r\n\r\n${b}`,
        ),
        true,
      ]
    },
  ])() as [string, Buffer, boolean?]
  return { kind, write: true, method: 'RAW', path: '', raw: bytes, ...(mayClose ? { mayClose } : {}) }
}

/** What a new user sends by accident (issue 14): no key or a wrong one (with a valid write,
 *  or one whose shape would tell the index's dimension), routes the gateway does not model,
 *  other spellings of the fronted index's control path, fetches of more than 1,000 UUIDs. */
function edgeCase(r: Rand): Draft {
  const vectors = goodVectors(r)
  const wrongShape = { vectors: [{ id: goodId(r), values: Array.from({ length: DIM + int(r, 1, 5) }, () => r()) }] }
  const uuids = (n: number) =>
    Array.from(
      { length: n },
      (_, i) => `${int(r, 0x10000000, 0xffffffff).toString(16)}-5b7d-4c9e-a0f1-${String(i).padStart(12, '0')}`,
    )
  return pick(r, [
    () => ({ ...post('auth.missing-key', '/vectors/upsert', { vectors }), key: null }),
    () => ({ ...post('auth.missing-key', '/query', { topK: 1, vector: dense(r) }, false), key: null }),
    () => ({ ...post('auth.wrong-key', '/vectors/upsert', { vectors }), key: `wrong-${int(r, 0, 1_000_000)}` }),
    () => ({ ...post('auth.wrong-key', '/vectors/upsert', wrongShape), key: `wrong-${int(r, 0, 1_000_000)}` }),
    () => ({ ...post('auth.empty-key', '/vectors/delete', { deleteAll: true }), key: '' }),
    () =>
      post(
        'route.unmodelled-write',
        pick(r, [
          '/namespaces/docs/documents/upsert',
          '/namespaces/docs/documents/delete',
          '/namespaces/docs/documents/update',
          '/namespace-aliases',
        ]),
        { documents: [{ _id: goodId(r) }] },
      ),
    () => ({
      kind: 'route.unmodelled-write',
      write: true,
      method: pick(r, ['PATCH', 'DELETE', 'PUT']),
      path: `/namespace-aliases/${goodId(r)}`,
      body: '{}',
    }),
    () => ({
      kind: 'control.other-spelling',
      write: true,
      method: pick(r, ['DELETE', 'PATCH']),
      path: pick(r, [
        '/indexes/fuzz/',
        '/indexes/fuzz//',
        '/indexes/%66uzz',
        '/indexes/fu%7Az/',
        '//indexes/fuzz',
        '/indexes//fuzz',
      ]),
      body: '{"deletion_protection":"disabled"}',
    }),
    () => ({
      kind: 'fetch.over-1000-uuids',
      write: false,
      method: 'GET',
      path: `/vectors/fetch?${uuids(int(r, 1001, 1500))
        .map((id) => `ids=${id}`)
        .join('&')}`,
    }),
  ])()
}

/** Valid vectors, but over Pinecone's 2 MB request limit (and under the gateway's 4 MB). */
function tooLargeCase(r: Rand): Draft {
  const pad = 'p'.repeat(int(r, 2300, 2700))
  return post('upsert.over-2MB', '/vectors/upsert', {
    vectors: Array.from({ length: 1000 }, (_, i) => ({ id: `big-${i}`, values: dense(r), metadata: { pad } })),
  })
}

const CASES: ReadonlyArray<[number, (r: Rand, id: string) => Draft]> = [
  [20, upsertCase],
  [13, updateCase],
  [12, deleteCase],
  [3, deleteNamespaceCase],
  [14, queryCase],
  [6, fetchCase],
  [5, listCase],
  [10, pathCase],
  [8, rawCase],
  [0.3, tooLargeCase],
  [8, edgeCase],
]
const TOTAL = CASES.reduce((s, [w]) => s + w, 0)

const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16le',
  'application/xml',
  ';;;',
  'application/json, text/html',
  `application/${'x'.repeat(2000)}`,
  'application/grpc',
  '',
]
const API_VERSIONS = [
  '9999-99',
  'garbage',
  '',
  '2025-04-01',
  '2025-13',
  ' ',
  '-1',
  'x'.repeat(4000),
  '2025-04, 2025-10',
  '1970-01',
]

/** Case `index` of the run seeded `seed`: always the same request for the same pair. */
export function malformedRequest(seed: number, index: number, apiKey: string): MalformedRequest {
  const r = prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0)
  const id = `fuzz-${seed}-${index}`
  let x = r() * TOTAL
  let make = CASES[0]?.[1] as (r: Rand, id: string) => Draft
  for (const [w, f] of CASES) {
    x -= w
    if (x < 0) {
      make = f
      break
    }
  }
  const d = make(r, id)
  if (d.raw) {
    const raw = Buffer.from(d.raw.toString('latin1').replace('KEY_PLACEHOLDER', apiKey), 'latin1')
    return {
      kind: d.kind,
      write: d.write,
      method: d.method,
      path: d.path,
      headers: {},
      raw,
      ...(d.mayClose ? { mayClose: true } : {}),
    }
  }
  // The header layer: content types and API versions Pinecone does not speak, junk headers,
  // and chunked bodies, over requests that are already malformed.
  const headers: Record<string, string> = { 'x-request-id': id }
  const key = d.key === undefined ? apiKey : d.key
  if (key !== null) headers['api-key'] = key
  if (chance(r, 0.7)) headers['content-type'] = 'application/json'
  else if (chance(r, 0.8)) headers['content-type'] = pick(r, CONTENT_TYPES)
  headers['x-pinecone-api-version'] = chance(r, 0.7) ? '2025-04' : pick(r, API_VERSIONS)
  if (chance(r, 0.1)) headers[`x-fuzz-${goodId(r)}`] = 'j'.repeat(int(r, 1, 4000))
  if (chance(r, 0.05)) headers['content-encoding'] = pick(r, ['gzip', 'br', 'identity, gzip'])
  const chunked = d.body !== undefined && chance(r, 0.08)
  return {
    kind: d.kind,
    write: d.write,
    method: d.method,
    path: d.path,
    headers,
    ...(d.body !== undefined ? { body: d.body } : {}),
    ...(chunked ? { chunked } : {}),
  }
}
