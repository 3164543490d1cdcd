import { createHash, randomBytes } from 'node:crypto'
import { stringify } from 'yaml'

// A small interpreter of the Go text/template + Sprig subset the vecshift chart uses, so
// the chart's tests can render it without helm (none can be installed here). Strict on
// purpose: an unknown function or construct, a field of a missing value, a map printed
// without toYaml, or numbers of two kinds compared is an error, as in helm or worse.
// Values keep helm's types: numbers from YAML are float64 (JS number, printed like Go's
// %v: 1e+06), integers from `int`, arithmetic and template literals are int (bigint).

type Value = unknown
type Operand =
  | { k: 'field'; base: string; path: string[] } // base '.' | '$' | '$name'
  | { k: 'lit'; v: Value }
  | { k: 'fn'; name: string }
  | { k: 'sub'; pipe: Pipe }
interface Pipe {
  decl?: { names: string[]; assign: boolean }
  cmds: Operand[][]
}
type Node =
  | { t: 'text'; s: string }
  | { t: 'out'; pipe: Pipe }
  | { t: 'if'; branches: { cond: Pipe; body: Node[] }[]; else?: Node[] }
  | { t: 'range' | 'with'; pipe: Pipe; body: Node[]; else?: Node[] }

/** A template's own refusal ({{ fail }}, {{ required }}), as helm prints it. */
export class TemplateFail extends Error {
  override name = 'TemplateFail'
}

/** Go's %v for a float64 (strconv 'g', shortest): exponent form from 1e6 up and below 1e-4,
 *  which is how helm prints a large number from values.yaml unless it is piped to `int`. */
export function goFloat(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN'
  if (n === 0) return '0'
  const [mant, e] = n.toExponential().split('e') as [string, string]
  const exp = Number(e)
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`
  return String(n)
}

// ---- lexing and parsing -------------------------------------------------------------

interface Action {
  body: string
  trimLeft: boolean
  trimRight: boolean
}

function lex(src: string): (string | Action)[] {
  const out: (string | Action)[] = []
  let i = 0
  while (i < src.length) {
    const open = src.indexOf('{{', i)
    if (open < 0) {
      out.push(src.slice(i))
      break
    }
    out.push(src.slice(i, open))
    let j = open + 2
    let quote = ''
    for (; j < src.length; j++) {
      const c = src[j]
      if (quote) {
        if (c === '\\' && quote === '"') j++
        else if (c === quote) quote = ''
      } else if (c === '"' || c === '`') quote = c
      else if (c === '}' && src[j + 1] === '}') break
    }
    if (j >= src.length) throw new Error(`unclosed action at ${open}`)
    let body = src.slice(open + 2, j)
    const trimLeft = /^-\s/.test(body)
    const trimRight = /\s-$/.test(body)
    body = body.slice(trimLeft ? 1 : 0, trimRight ? -1 : undefined).trim()
    out.push({ body, trimLeft, trimRight })
    i = j + 2
  }
  // Trim markers eat the whitespace (newlines too) of the neighbouring text.
  for (let k = 0; k < out.length; k++) {
    const a = out[k]
    if (a === undefined || typeof a === 'string') continue
    if (a.trimLeft && typeof out[k - 1] === 'string') out[k - 1] = (out[k - 1] as string).replace(/\s+$/, '')
    if (a.trimRight && typeof out[k + 1] === 'string') out[k + 1] = (out[k + 1] as string).replace(/^\s+/, '')
  }
  return out.filter((p) => typeof p !== 'string' || p.length > 0)
}

// One token after optional spaces: the alternatives below, tried in this order (sticky).
const TOKEN_KINDS = [
  /("(?:[^"\\]|\\.)*")/, // "string"
  /(`[^`]*`)/, // `raw string`
  /(\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)/, // $variable.field
  /(\.(?:[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)?)/, // .Field.chain, or the dot
  /(-?\d+(?:\.\d+)?)/, // number
  /(:=|=|\||\(|\)|,)/, // punctuation
  /([A-Za-z_][A-Za-z0-9_]*)/, // identifier
]
const TOKEN = new RegExp(`\\s*(?:${TOKEN_KINDS.map((re) => re.source).join('|')})`, 'y')

function tokens(body: string): string[] {
  const out: string[] = []
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < body.length) {
    const at = TOKEN.lastIndex
    const m = TOKEN.exec(body)
    if (!m) {
      if (body.slice(at).trim() === '') break
      throw new Error(`cannot parse "${body.slice(at)}" in {{ ${body} }}`)
    }
    const tok = m[0].trim()
    // Go's (pipeline).Field: not in the subset, and parsing it as two operands would be wrong.
    if (tok.startsWith('.') && out[out.length - 1] === ')' && !/^\s/.test(m[0]))
      throw new Error(`(...).field is outside the supported subset in {{ ${body} }}`)
    out.push(tok)
  }
  return out
}

function parsePipe(toks: string[], body: string): Pipe {
  let pos = 0
  const pipe: Pipe = { cmds: [] }
  const names: string[] = []
  while (toks[pos]?.startsWith('$') && (toks[pos + 1] === ',' || toks[pos + 1] === ':=' || toks[pos + 1] === '=')) {
    names.push(toks[pos] as string)
    pos += toks[pos + 1] === ',' ? 2 : 1
    if (toks[pos] === ':=' || toks[pos] === '=') {
      pipe.decl = { names, assign: toks[pos] === '=' }
      pos++
      break
    }
  }
  const operand = (): Operand => {
    const t = toks[pos++]
    if (t === undefined) throw new Error(`unexpected end of {{ ${body} }}`)
    if (t === '(') {
      const start = pos
      let depth = 1
      while (pos < toks.length && depth > 0) {
        if (toks[pos] === '(') depth++
        if (toks[pos] === ')') depth--
        pos++
      }
      if (depth !== 0) throw new Error(`unbalanced ( in {{ ${body} }}`)
      return { k: 'sub', pipe: parsePipe(toks.slice(start, pos - 1), body) }
    }
    if (t.startsWith('"')) return { k: 'lit', v: JSON.parse(t) as string }
    if (t.startsWith('`')) return { k: 'lit', v: t.slice(1, -1) }
    if (/^-?\d/.test(t)) return { k: 'lit', v: t.includes('.') ? Number(t) : BigInt(t) }
    if (t === 'true' || t === 'false') return { k: 'lit', v: t === 'true' }
    if (t === 'nil') return { k: 'lit', v: undefined }
    if (t.startsWith('.'))
      return {
        k: 'field',
        base: '.',
        path: t
          .split('.')
          .slice(1)
          .filter((s) => s !== ''),
      }
    if (t.startsWith('$')) {
      const [base, ...path] = t.split('.')
      return { k: 'field', base: base as string, path }
    }
    if (/^[A-Za-z_]/.test(t)) return { k: 'fn', name: t }
    throw new Error(`unexpected "${t}" in {{ ${body} }}`)
  }
  let cmd: Operand[] = []
  while (pos < toks.length) {
    if (toks[pos] === '|') {
      pipe.cmds.push(cmd)
      cmd = []
      pos++
      continue
    }
    cmd.push(operand())
  }
  pipe.cmds.push(cmd)
  if (pipe.cmds.some((c) => c.length === 0)) throw new Error(`empty command in {{ ${body} }}`)
  return pipe
}

export interface Parsed {
  nodes: Node[]
  defines: Map<string, Node[]>
  pipes: Pipe[]
}

/** Parses one template file; `defines` collects its {{ define }}s, `pipes` every pipeline. */
export function parseTemplate(src: string, name: string): Parsed {
  const defines = new Map<string, Node[]>()
  const pipes: Pipe[] = []
  const root: Node[] = []
  // A stack of open blocks: where the next node goes, and how `else`/`end` close it.
  type Frame = { kind: string; into: Node[]; node?: Node; define?: string }
  const stack: Frame[] = [{ kind: 'root', into: root }]
  const top = () => stack[stack.length - 1] as Frame
  const pipe = (toks: string[], body: string) => {
    const p = parsePipe(toks, body)
    pipes.push(p)
    return p
  }
  for (const part of lex(src)) {
    if (typeof part === 'string') {
      top().into.push({ t: 'text', s: part })
      continue
    }
    if (part.body.startsWith('/*')) {
      if (!part.body.endsWith('*/')) throw new Error(`${name}: bad comment`)
      continue
    }
    const toks = tokens(part.body)
    const [head, ...rest] = toks
    const body = part.body
    if (head === 'if' || head === 'range' || head === 'with') {
      const node: Node =
        head === 'if'
          ? { t: 'if', branches: [{ cond: pipe(rest, body), body: [] }] }
          : { t: head, pipe: pipe(rest, body), body: [] }
      top().into.push(node)
      stack.push({
        kind: head,
        into: node.t === 'if' ? (node.branches[0] as { body: Node[] }).body : (node as { body: Node[] }).body,
        node,
      })
    } else if (head === 'else') {
      const f = top()
      if (f.kind === 'root' || f.kind === 'define' || !f.node) throw new Error(`${name}: {{ else }} outside a block`)
      if (rest[0] === 'if' && f.node.t === 'if') {
        const b = { cond: pipe(rest.slice(1), body), body: [] as Node[] }
        f.node.branches.push(b)
        f.into = b.body
      } else if (rest.length === 0) {
        const els: Node[] = []
        ;(f.node as { else?: Node[] }).else = els
        f.into = els
      } else throw new Error(`${name}: unsupported {{ ${body} }}`)
    } else if (head === 'end') {
      const f = stack.pop() as Frame
      if (f.kind === 'root') throw new Error(`${name}: {{ end }} without a block`)
      if (f.define) defines.set(f.define, f.into)
    } else if (head === 'define') {
      if (stack.length !== 1) throw new Error(`${name}: define inside a block`)
      stack.push({ kind: 'define', into: [], define: JSON.parse(rest[0] as string) as string })
    } else if (head === 'template' || head === 'block' || head === 'break' || head === 'continue') {
      throw new Error(`${name}: {{ ${head} }} is outside the supported subset (use include)`)
    } else {
      top().into.push({ t: 'out', pipe: pipe(toks, body) })
    }
  }
  if (stack.length !== 1) throw new Error(`${name}: {{ ${top().kind} }} is never closed with {{ end }}`)
  return { nodes: root, defines, pipes }
}

/** Names of the functions a pipeline calls, its sub-pipelines included. */
export function functionsOf(p: Pipe): string[] {
  return p.cmds.flatMap((cmd) =>
    cmd.flatMap((o) => (o.k === 'fn' ? [o.name] : o.k === 'sub' ? functionsOf(o.pipe) : [])),
  )
}

/** Every field chain a pipeline reads, as ".Values.a.b" or "$.Values.a.b". */
export function fieldsOf(p: Pipe): string[] {
  return p.cmds.flatMap((cmd) =>
    cmd.flatMap((o) =>
      o.k === 'field' ? [`${o.base === '.' ? '' : o.base}.${o.path.join('.')}`] : o.k === 'sub' ? fieldsOf(o.pipe) : [],
    ),
  )
}

// ---- evaluation --------------------------------------------------------------------

const structs = new WeakSet<object>()
/** Marks an object as a Go struct (Chart, Release): a missing field is an error, not nil. */
export function struct<T extends object>(o: T): T {
  structs.add(o)
  return o
}

const isMap = (v: Value): v is Record<string, Value> => typeof v === 'object' && v !== null && !Array.isArray(v)

function truth(v: Value): boolean {
  if (v === undefined || v === null) return false
  if (typeof v === 'boolean') return v
  if (typeof v === 'string') return v.length > 0
  if (typeof v === 'number') return v !== 0
  if (typeof v === 'bigint') return v !== 0n
  if (Array.isArray(v)) return v.length > 0
  if (isMap(v)) return Object.keys(v).length > 0
  return true
}

function kind(v: Value): string {
  if (typeof v === 'bigint') return 'int'
  if (typeof v === 'number') return 'float'
  if (typeof v === 'string' || typeof v === 'boolean') return typeof v
  if (v === undefined || v === null) return 'nil'
  return 'other'
}

function compare(a: Value, b: Value, op: string): boolean {
  // Go's lt/gt: both operands of one basic kind; an int against a float64 is an error.
  const ka = kind(a),
    kb = kind(b)
  if (ka !== kb || !['int', 'float', 'string'].includes(ka))
    throw new Error(`${op}: incompatible types for comparison (${ka}, ${kb})`)
  const x = a as number,
    y = b as number
  return op === 'lt' ? x < y : op === 'le' ? x <= y : op === 'gt' ? x > y : x >= y
}

function eq(a: Value, b: Value): boolean {
  const ka = kind(a),
    kb = kind(b)
  if (ka === 'nil' || kb === 'nil') return ka === kb
  if (ka !== kb) throw new Error(`eq: incompatible types for comparison (${ka}, ${kb})`)
  if (ka === 'other') throw new Error('eq: non-comparable values')
  return a === b
}

function toInt(v: Value): bigint {
  if (typeof v === 'bigint') return v
  if (typeof v === 'number') return BigInt(Math.trunc(v))
  if (typeof v === 'string') {
    const n = Number(v)
    return Number.isFinite(n) ? BigInt(Math.trunc(n)) : 0n
  }
  if (typeof v === 'boolean') return v ? 1n : 0n
  return 0n
}

function str(v: Value): string {
  if (v === undefined || v === null) return ''
  if (typeof v === 'string') return v
  if (typeof v === 'number') return goFloat(v)
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v)
  throw new Error(`cannot print a ${Array.isArray(v) ? 'list' : 'map'} here (toYaml?)`)
}

function plain(v: Value): Value {
  if (typeof v === 'bigint') return Number(v)
  if (Array.isArray(v)) return v.map(plain)
  if (isMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
  return v
}

function goPrintf(format: string, args: Value[]): string {
  let i = 0
  return format.replace(/%([svdq%])/g, (_, verb: string) => {
    if (verb === '%') return '%'
    const a = args[i++]
    if (verb === 'q') return JSON.stringify(str(a))
    if (verb === 'd') return String(toInt(a))
    return str(a)
  })
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

export interface Options {
  /** What `lookup` answers; helm template answers an empty map. */
  lookup?: (apiVersion: string, kind: string, namespace: string, name: string) => Record<string, Value>
}

export class Renderer {
  readonly defines = new Map<string, Node[]>()
  readonly #options: Options
  constructor(options: Options = {}) {
    this.#options = options
  }

  /** The functions templates may call: the chart's whitelist. */
  static readonly FUNCTIONS = [
    'include',
    'toYaml',
    'nindent',
    'indent',
    'quote',
    'default',
    'required',
    'fail',
    'printf',
    'print',
    'trunc',
    'trim',
    'trimSuffix',
    'replace',
    'contains',
    'int',
    'toString',
    'add',
    'div',
    'sha256sum',
    'b64enc',
    'b64dec',
    'lookup',
    'dig',
    'randAlphaNum',
    'ternary',
    'hasKey',
    'list',
    'dict',
    'concat',
    'empty',
    'and',
    'or',
    'not',
    'eq',
    'ne',
    'lt',
    'le',
    'gt',
    'ge',
  ] as const

  define(parsed: Parsed): void {
    for (const [name, body] of parsed.defines) {
      if (this.defines.has(name)) throw new Error(`template "${name}" is defined twice`)
      this.defines.set(name, body)
    }
  }

  render(nodes: Node[], dot: Value): string {
    return this.#exec(nodes, dot, [new Map([['$', dot]])])
  }

  #exec(nodes: Node[], dot: Value, scopes: Map<string, Value>[]): string {
    let out = ''
    for (const n of nodes) {
      if (n.t === 'text') out += n.s
      else if (n.t === 'out') {
        const v = this.#pipe(n.pipe, dot, scopes)
        if (!n.pipe.decl) out += str(v)
      } else if (n.t === 'if') {
        const branch = n.branches.find((b) => truth(this.#pipe(b.cond, dot, [...scopes, new Map()])))
        const body = branch ? branch.body : n.else
        if (body) out += this.#exec(body, dot, [...scopes, new Map()])
      } else if (n.t === 'with') {
        const scope = [...scopes, new Map<string, Value>()]
        const v = this.#pipe(n.pipe, dot, scope)
        if (truth(v)) out += this.#exec(n.body, v, scope)
        else if (n.else) out += this.#exec(n.else, dot, scope)
      } else {
        const scope = new Map<string, Value>()
        const names = n.pipe.decl?.names ?? []
        const v = this.#pipe({ cmds: n.pipe.cmds }, dot, scopes)
        const items: [Value, Value][] = Array.isArray(v)
          ? v.map((x, i) => [BigInt(i), x])
          : isMap(v)
            ? Object.keys(v)
                .sort()
                .map((k) => [k, v[k]])
            : v === undefined || v === null
              ? []
              : (() => {
                  throw new Error(`range over ${kind(v)}`)
                })()
        for (const [key, item] of items) {
          if (names.length === 1) scope.set(names[0] as string, item)
          if (names.length === 2) {
            scope.set(names[0] as string, key)
            scope.set(names[1] as string, item)
          }
          out += this.#exec(n.body, item, [...scopes, scope])
        }
        if (items.length === 0 && n.else) out += this.#exec(n.else, dot, [...scopes, scope])
      }
    }
    return out
  }

  #pipe(p: Pipe, dot: Value, scopes: Map<string, Value>[]): Value {
    let v: Value
    let first = true
    for (const cmd of p.cmds) {
      v = this.#cmd(cmd, dot, scopes, first ? [] : [v])
      first = false
    }
    if (p.decl) {
      const name = p.decl.names[0] as string
      if (p.decl.assign) {
        const s = [...scopes].reverse().find((m) => m.has(name))
        if (!s) throw new Error(`undefined variable ${name}`)
        s.set(name, v)
      } else (scopes[scopes.length - 1] as Map<string, Value>).set(name, v)
    }
    return v
  }

  #cmd(cmd: Operand[], dot: Value, scopes: Map<string, Value>[], piped: Value[]): Value {
    const [head, ...rest] = cmd as [Operand, ...Operand[]]
    if (head.k !== 'fn') {
      if (rest.length > 0 || piped.length > 0) throw new Error('cannot give arguments to a non-function')
      return this.#operand(head, dot, scopes)
    }
    const arg = (o: Operand) => this.#operand(o, dot, scopes)
    // and / or stop at the first operand that decides (Go 1.18 and later).
    if (head.name === 'and' || head.name === 'or') {
      const ops = [...rest.map((o) => () => arg(o)), ...piped.map((x) => () => x)]
      let last: Value
      for (const op of ops) {
        last = op()
        if (truth(last) === (head.name === 'or')) return last
      }
      return last
    }
    return this.#call(head.name, [...rest.map(arg), ...piped])
  }

  #operand(o: Operand, dot: Value, scopes: Map<string, Value>[]): Value {
    if (o.k === 'lit') return o.v
    if (o.k === 'sub') return this.#pipe(o.pipe, dot, scopes)
    if (o.k === 'fn') return this.#call(o.name, [])
    let v: Value
    if (o.base === '.') v = dot
    else {
      const s = [...scopes].reverse().find((m) => m.has(o.base))
      if (!s) throw new Error(`undefined variable ${o.base}`)
      v = s.get(o.base)
    }
    for (const key of o.path) {
      if (v === undefined || v === null) throw new Error(`nil pointer evaluating interface {}.${key}`)
      if (!isMap(v)) throw new Error(`can't evaluate field ${key} in ${kind(v)}`)
      if (structs.has(v) && !(key in v)) throw new Error(`can't evaluate field ${key}`)
      v = v[key]
    }
    return v
  }

  #call(name: string, a: Value[]): Value {
    const s = (i: number) => str(a[i])
    switch (name) {
      case 'include': {
        const body = this.defines.get(s(0))
        if (!body) throw new Error(`no template "${s(0)}"`)
        return this.render(body, a[1])
      }
      case 'toYaml':
        return stringify(plain(a[0]) ?? null, { sortMapEntries: true, lineWidth: 0 }).replace(/\n$/, '')
      case 'indent':
      case 'nindent': {
        const pad = ' '.repeat(Number(toInt(a[0])))
        const body = pad + s(1).replaceAll('\n', `\n${pad}`)
        return name === 'nindent' ? `\n${body}` : body
      }
      case 'quote':
        return a
          .filter((x) => x !== undefined && x !== null)
          .map((x) => JSON.stringify(str(x)))
          .join(' ')
      case 'default':
        return a.length < 2 || !truth(a[1]) ? a[0] : a[1]
      case 'empty':
        return !truth(a[0])
      case 'required':
        if (a[1] === undefined || a[1] === null || a[1] === '') throw new TemplateFail(s(0))
        return a[1]
      case 'fail':
        throw new TemplateFail(s(0))
      case 'printf':
        return goPrintf(s(0), a.slice(1))
      case 'print':
        return a
          .map((x, i) => (i > 0 && typeof x !== 'string' && typeof a[i - 1] !== 'string' ? ' ' : '') + str(x))
          .join('')
      case 'trunc':
        return s(1).slice(0, Number(toInt(a[0])))
      case 'trim':
        return s(0).trim()
      case 'trimSuffix':
        return s(1).endsWith(s(0)) && s(0) !== '' ? s(1).slice(0, -s(0).length) : s(1)
      case 'replace':
        return s(2).replaceAll(s(0), s(1))
      case 'contains':
        return s(1).includes(s(0))
      case 'int':
        return toInt(a[0])
      case 'toString':
        return str(a[0])
      case 'add':
        return a.reduce<bigint>((sum, x) => sum + toInt(x), 0n)
      case 'div':
        return toInt(a[0]) / toInt(a[1])
      case 'sha256sum':
        return createHash('sha256').update(s(0)).digest('hex')
      case 'b64enc':
        return Buffer.from(s(0)).toString('base64')
      case 'b64dec':
        return Buffer.from(s(0), 'base64').toString('utf8')
      case 'lookup':
        return this.#options.lookup?.(s(0), s(1), s(2), s(3)) ?? {}
      case 'dig': {
        let v: Value = a[a.length - 1]
        for (const k of a.slice(0, -2)) {
          if (!isMap(v) || !(str(k) in v)) return a[a.length - 2]
          v = v[str(k)]
        }
        return v
      }
      case 'randAlphaNum':
        return [...randomBytes(Number(toInt(a[0])))].map((b) => ALNUM[b % ALNUM.length]).join('')
      case 'ternary':
        if (typeof a[2] !== 'boolean') throw new Error('ternary: the test must be a bool')
        return a[2] ? a[0] : a[1]
      case 'hasKey':
        if (!isMap(a[0])) throw new Error('hasKey: not a map')
        return s(1) in a[0]
      case 'list':
        return [...a]
      case 'dict': {
        const d: Record<string, Value> = {}
        for (let i = 0; i < a.length; i += 2) d[s(i)] = a[i + 1]
        return d
      }
      case 'concat':
        return a.flatMap((x) => {
          if (x === undefined || x === null) return []
          if (!Array.isArray(x)) throw new Error('concat: not a list')
          return x
        })
      case 'not':
        return !truth(a[0])
      case 'eq':
        return a.slice(1).some((b) => eq(a[0], b))
      case 'ne':
        return !eq(a[0], a[1])
      case 'lt':
      case 'le':
      case 'gt':
      case 'ge':
        return compare(a[0], a[1], name)
      default:
        throw new Error(`function "${name}" is not in the chart's whitelist`)
    }
  }
}
