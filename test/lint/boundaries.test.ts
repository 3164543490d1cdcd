// The module rules of docs/architecture.md, checked on every import of src/: the table's
// last column says what each module may import, every directory of src/ needs a row, and no
// files import each other in a cycle at run time. The table is the rule, so changing a rule
// means changing the doc.
import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { cycles, importsOf, sourceFiles } from './imports.js'

const DOC = new URL('../../docs/architecture.md', import.meta.url)
const SRC = new URL('../../src/', import.meta.url)

interface Rule {
  readonly module: string
  /** Modules (src/x/) and files (src/x/y.ts) it may import; undefined: anything. */
  readonly allowed: readonly string[] | undefined
}

/** The rows of the module table: `src/x/` | job | may import. */
function rules(): Map<string, Rule> {
  const doc = readFileSync(DOC, 'utf8')
  const section = doc.slice(doc.indexOf('## Modules, and what each may import'))
  const out = new Map<string, Rule>()
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim())
    const module = /^`(src\/(?:[a-z-]+\/)?)`$/.exec(cells[1] ?? '')?.[1]
    if (!module || cells.length < 5) continue
    const last = cells[3] as string
    const allowed = last === 'everything' ? undefined : [...last.matchAll(/`(src\/[^`]*)`/g)].map((m) => m[1] as string)
    out.set(module, { module, allowed })
  }
  return out
}

/** The module a file belongs to: src/ for the root files, src/x/ otherwise. */
function moduleOf(file: string): string {
  const parts = file.split('/')
  return parts.length === 2 ? 'src/' : `src/${parts[1]}/`
}

const table = rules()
const edges = sourceFiles().flatMap(importsOf)

t.test('the module table of docs/architecture.md is read', async (t) => {
  t.ok(table.size >= 12, `${table.size} modules in the table`)
  t.same(table.get('src/cli/')?.allowed, undefined, 'the cli may import everything')
  t.same(table.get('src/')?.allowed, [], 'root files import nothing but each other')
  t.ok(edges.length > 500, `${edges.length} imports read from src/`)
})

t.test('every directory of src/ has a row in the table', async (t) => {
  const dirs = readdirSync(SRC, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => `src/${e.name}/`)
  for (const d of dirs) t.ok(table.has(d), `${d} is in docs/architecture.md's module table`)
})

t.test('every import between modules is one the table allows', async (t) => {
  const refused: string[] = []
  for (const e of edges) {
    const from = moduleOf(e.from)
    const to = moduleOf(e.to)
    if (from === to) continue
    const allowed = table.get(from)?.allowed
    if (allowed === undefined && table.has(from)) continue
    if (allowed?.includes(to) || allowed?.includes(e.to)) continue
    refused.push(`${e.from} imports ${e.to} (${from} may import ${(allowed ?? []).join(', ') || 'nothing'})`)
  }
  t.same(refused, [], 'no import breaks the rules (change the code, or the table if the rule should change)')
})

t.test('no cycle of run-time imports between files', async (t) => {
  t.same(
    cycles(edges).map((c) => c.join(' -> ')),
    [],
    'a cycle makes the load order decide what a module sees at import time',
  )
})

t.test('the check finds what it looks for', async (t) => {
  // The reader and the cycle finder on a made-up graph, so a regression in them cannot make
  // the tests above pass vacuously.
  const made = [
    { from: 'src/a/x.ts', to: 'src/b/y.ts', typeOnly: false },
    { from: 'src/b/y.ts', to: 'src/a/x.ts', typeOnly: false },
    { from: 'src/b/y.ts', to: 'src/c/z.ts', typeOnly: true },
    { from: 'src/c/z.ts', to: 'src/b/y.ts', typeOnly: false },
  ]
  t.same(cycles(made), [['src/a/x.ts', 'src/b/y.ts', 'src/a/x.ts']], 'a run-time cycle found, a type-only one not')
  const some = importsOf('src/proxy/server.ts')
  t.ok(
    some.some((e) => e.to === 'src/proxy/router.ts' && !e.typeOnly),
    'a value import is read',
  )
  t.ok(
    some.some((e) => e.to === 'src/control/contract.ts' && e.typeOnly),
    'a type-only import is read as such',
  )
})
