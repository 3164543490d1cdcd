// Issue 17: no map keyed by client-controlled strings is a plain object. A namespace, id,
// metadata or filter key named "__proto__" assigned into `{}` changes the object's
// prototype (or, through `o[k] ??= {}`, writes onto Object.prototype itself), and
// "constructor" reads as present. Such maps are Maps or dict()s (src/dict.ts). This test
// reads src/ and fails on the patterns that build a string-keyed plain object, except at
// the sites listed here, each with why its keys are not a client's.
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import t from 'tap'

const SRC = new URL('../../src/', import.meta.url).pathname

/** file -> why the plain objects built there never take a client's key. */
const ALLOWED: Record<string, string> = {
  'src/wire/pinecone/fast-json.ts':
    'the parser refuses the key "__proto__" (it bails to JSON.parse, which makes an own property); ' +
    'other keys are own properties by assignment',
  'src/control/file-store.ts': "report names are vecshift's own (copy, replay, verify)",
  'src/proxy/fronted-index.ts': 'fixed field names of the index model',
  'src/cli/copy.ts': 'config overrides keyed by config paths vecshift names',
  'src/cli/cutover.ts': 'config overrides keyed by config paths vecshift names',
  'src/cli/verify.ts': 'config overrides keyed by config paths vecshift names',
  'src/cli/common.ts': 'config overrides keyed by config paths vecshift names',
  'src/dict.ts': 'the comment that explains the rule',
  'src/proxy/metrics.ts': "metric label names are vecshift's own",
}

const PATTERNS: Array<[RegExp, string]> = [
  [/Record<string,[^<>=;]*(?:<[^<>]*>[^<>=;]*)*>\s*=\s*\{\}/, 'a Record<string, …> made from {}'],
  [/\?\?=\s*\{\}/, '`??= {}` (hands back Object.prototype for "__proto__")'],
  [/:\s*\{\s*\[\w+:\s*string\]:[^}]*\}\s*=\s*\{\}/, 'an index-signature object made from {}'],
]

function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) yield* files(p)
    else if (e.name.endsWith('.ts')) yield p
  }
}

t.test('src/ builds no plain object for client-controlled keys', async (t) => {
  const found: string[] = []
  let scanned = 0
  for (const file of files(SRC)) {
    scanned++
    const rel = relative(join(SRC, '..'), file)
    if (ALLOWED[rel] !== undefined) continue
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const [re, what] of PATTERNS) if (re.test(line)) found.push(`${rel}:${i + 1}: ${what}: ${line.trim()}`)
      })
  }
  t.ok(scanned > 100, `${scanned} files read`)
  t.same(
    found,
    [],
    "use dict() or a Map (src/dict.ts), or list the file in ALLOWED with why its keys are not a client's",
  )
})

t.test('the patterns catch what they are meant to', async (t) => {
  const hit = (line: string) => PATTERNS.some(([re]) => re.test(line))
  t.ok(hit('  const namespaces: Record<string, { vectorCount: number }> = {}'))
  t.ok(hit('checkpoint.namespaces[ns] ??= {}'))
  t.ok(hit('const m: { [k: string]: number } = {}'))
  t.ok(hit('const byIndex: Record<string, Record<string, number>> = {}'))
  t.notOk(hit('const namespaces = dict<{ vectorCount: number }>()'))
  t.notOk(
    hit(
      "async matching(namespace: string, filter: Record<string, unknown>, options: Omit<ListOptions, 'prefix'> = {})",
    ),
  )
})

t.test('a dict takes "__proto__" and "constructor" as ordinary keys; plain objects do not', async (t) => {
  const { dict, own } = await import('../../src/dict.js')
  const d = dict<number>()
  // biome-ignore lint/suspicious/noProto: the key under test is the string a client could send
  // biome-ignore lint/complexity/useLiteralKeys: written as the string key a client body carries
  d['__proto__'] = 1
  // biome-ignore lint/complexity/useLiteralKeys: TypeScript types d.constructor as Object's Function, not as a key of the dict
  d['constructor'] = 2
  t.same(Object.keys(d), ['__proto__', 'constructor'])
  t.equal(JSON.stringify(d), '{"__proto__":1,"constructor":2}')
  t.equal(({} as Record<string, unknown>).done, undefined, 'Object.prototype untouched')
  t.equal(own({ a: 1 } as Record<string, number>, 'constructor'), undefined, 'own() never reads an inherited value')
  const plain: Record<string, number> = {}
  // biome-ignore lint/suspicious/noProto: shows what the key does to a plain object
  // biome-ignore lint/complexity/useLiteralKeys: written as the string key a client body carries
  plain['__proto__'] = 1
  t.same(Object.keys(plain), [], 'the plain object loses the key: why the rule exists')
})
