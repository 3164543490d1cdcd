import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'

// The import graph of src/, read from the sources themselves: which file imports which, and
// whether only its types (erased at compile time, so they cannot form a cycle at run time).

export interface Import {
  readonly from: string
  readonly to: string
  readonly typeOnly: boolean
}

const ROOT = normalize(join(dirname(new URL(import.meta.url).pathname), '../..'))

const STATEMENT =
  /^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/gm

/** Every .ts file under src/, relative to the repository (src/a/b.ts). */
export function sourceFiles(dir = 'src'): string[] {
  const out: string[] = []
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = `${dir}/${e.name}`
    if (e.isDirectory()) out.push(...sourceFiles(path))
    else if (e.name.endsWith('.ts')) out.push(path)
  }
  return out.sort()
}

/** The relative imports of each file (static, re-exports and dynamic), resolved to files. */
export function importsOf(file: string): Import[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const out: Import[] = []
  for (const m of text.matchAll(STATEMENT)) {
    const spec = (m[2] ?? m[3]) as string
    const target = relative(ROOT, join(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts')
    out.push({ from: file, to: target, typeOnly: m[1] !== undefined })
  }
  return out
}

/** Cycles among run-time imports, each as the files around it. */
export function cycles(edges: readonly Import[]): string[][] {
  const next = new Map<string, string[]>()
  for (const e of edges) if (!e.typeOnly) next.set(e.from, [...(next.get(e.from) ?? []), e.to])
  const found: string[][] = []
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (f: string) => {
    state.set(f, 'open')
    stack.push(f)
    for (const g of next.get(f) ?? []) {
      if (state.get(g) === 'open') found.push([...stack.slice(stack.indexOf(g)), g])
      else if (!state.has(g)) visit(g)
    }
    stack.pop()
    state.set(f, 'done')
  }
  for (const f of next.keys()) if (!state.has(f)) visit(f)
  return found
}
