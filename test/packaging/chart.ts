import { readdirSync, readFileSync } from 'node:fs'
import { parse, parseAllDocuments } from 'yaml'
import { Renderer, parseTemplate, struct, type Options, type Parsed } from './gotemplate.js'

// Loads helm/vecshift and renders it the way `helm template` would, with the interpreter in
// gotemplate.ts (no helm binary can be installed here). Shared by the chart and Dockerfile
// tests, which check that image and chart agree.

export const ROOT = new URL('../../', import.meta.url).pathname
export const CHART = `${ROOT}helm/vecshift/`

type Json = Record<string, unknown>
// Rendered manifests are free-form YAML; the tests read them with optional chaining.
// biome-ignore lint/suspicious/noExplicitAny: free-form YAML read with optional chaining; unknown would need a cast per step
export type Manifest = any

export const chartYaml = parse(readFileSync(`${CHART}Chart.yaml`, 'utf8')) as Json
export const valuesText = readFileSync(`${CHART}values.yaml`, 'utf8')
export const values = parse(valuesText) as Json
export const templateFiles = readdirSync(`${CHART}templates`).sort()
export const templateText = new Map(templateFiles.map((f) => [f, readFileSync(`${CHART}templates/${f}`, 'utf8')]))

/** Every template parsed, or the first parse error (the tests report it). */
export function parseAll(): Map<string, Parsed> {
  return new Map(templateFiles.map((f) => [f, parseTemplate(templateText.get(f) as string, f)]))
}

const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Helm's coalescing of a values file over the chart's values: maps merge key by key, a
 *  null deletes the key, anything else replaces. */
export function mergeValues(base: unknown, over: unknown): unknown {
  if (!isMap(base) || !isMap(over)) return over
  const out: Json = { ...base }
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k]
    else out[k] = mergeValues(base[k], v)
  }
  return out
}

export interface Rendered {
  /** Output per template file, NOTES.txt included. */
  files: Map<string, string>
  /** The manifests, every YAML document of every file but NOTES.txt. */
  docs: Manifest[]
  find(kind: string, component?: string): Manifest
  all(kind: string): Manifest[]
}

export function render(
  overrides: Json = {},
  options: Options & { release?: string; namespace?: string } = {},
): Rendered {
  const parsed = parseAll()
  const r = new Renderer(options)
  for (const p of parsed.values()) r.define(p)
  const ctx = {
    Values: mergeValues(values, overrides),
    Chart: struct({ Name: chartYaml.name, Version: chartYaml.version, AppVersion: chartYaml.appVersion }),
    Release: struct({
      Name: options.release ?? 'mig',
      Namespace: options.namespace ?? 'vectors',
      Service: 'Helm',
      IsInstall: true,
      IsUpgrade: false,
      Revision: 1,
    }),
  }
  const files = new Map<string, string>()
  const docs: Manifest[] = []
  for (const [name, p] of parsed) {
    if (name.startsWith('_')) continue
    const out = r.render(p.nodes, ctx)
    files.set(name, out)
    if (name === 'NOTES.txt') continue
    for (const doc of parseAllDocuments(out)) {
      if (doc.errors.length > 0) throw new Error(`${name} renders invalid YAML: ${doc.errors[0]?.message}\n${out}`)
      const v = doc.toJS() as unknown
      if (v !== null && v !== undefined) docs.push(v)
    }
  }
  const all = (kind: string) => docs.filter((d) => d.kind === kind)
  const find = (kind: string, component?: string) =>
    all(kind).find((d) => component === undefined || d.metadata?.labels?.['app.kubernetes.io/component'] === component)
  return { files, docs, find, all }
}
