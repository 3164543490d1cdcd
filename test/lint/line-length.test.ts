// No line of code over 140 characters (CONTRIBUTING.md): the formatter wraps code at 120,
// but not strings or comments, which are where long lines hide.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

const ROOT = new URL('../..', import.meta.url).pathname
const MAX = 140

function files(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = `${dir}/${e.name}`
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'results') out.push(...files(path))
    } else if (/\.(ts|mjs)$/.test(e.name)) out.push(path)
  }
  return out
}

t.test(`no line over ${MAX} characters in src, test, bench and scripts`, async (t) => {
  const checked = ['src', 'test', 'bench', 'scripts'].flatMap(files)
  t.ok(checked.length > 200, `${checked.length} files checked`)
  const long: string[] = []
  for (const f of checked) {
    readFileSync(join(ROOT, f), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (line.length > MAX) long.push(`${f}:${i + 1} (${line.length})`)
      })
  }
  t.same(long, [], 'split long strings with +, and rewrap comments')
})
