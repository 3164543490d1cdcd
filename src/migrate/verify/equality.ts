import type { StoredVector } from '../../stores/contract.js'

// When two stored records are "the same" depends on who asks, and the two answers differ on
// purpose:
//
// - identicalRecords: bit for bit (dense and sparse values compared with Object.is, so -0 is
//   not 0), metadata as a map. The cutover's reconciliation asks this before it leaves a
//   target record alone: whatever differs at all is repaired from the source, as the source
//   holds it (invariant 10: every value survives the trip exactly).
// - differenceBeyondTolerance: what a client would see differ, with float values compared
//   within a relative tolerance (a store may round through another representation), and the
//   first field that differs, for a report. `vecshift verify` asks this: it measures whether
//   the target answers like the source, not whether its bits match.
//
// Sparse indices and metadata are exact in both.

/** The first field in which two records differ beyond `tolerance`, and how. */
export interface Difference {
  readonly what: 'values' | 'sparse' | 'metadata'
  readonly detail: string
}

/** Equal bit for bit: dense and sparse values, sparse indices, metadata as a map. */
export function identicalRecords(a: StoredVector, b: StoredVector): boolean {
  return (
    identicalFloats(a.values, b.values) &&
    identicalFloats(a.sparseValues?.values, b.sparseValues?.values) &&
    identicalInts(a.sparseValues?.indices, b.sparseValues?.indices) &&
    canonicalMetadata(a.metadata) === canonicalMetadata(b.metadata)
  )
}

/** How `y` differs from `x` as a client would see it: float values within `tolerance`
 *  (relative, at least absolute), the rest exactly; undefined when it does not. */
export function differenceBeyondTolerance(x: StoredVector, y: StoredVector, tolerance: number): Difference | undefined {
  const dense = floatsDiffer(x.values, y.values, tolerance)
  if (dense) return { what: 'values', detail: dense }
  const sx = x.sparseValues
  const sy = y.sparseValues
  if ((sx === undefined) !== (sy === undefined))
    return { what: 'sparse', detail: sx ? 'missing on one side' : 'present on one side only' }
  if (sx && sy) {
    if (sx.indices.length !== sy.indices.length || sx.indices.some((v, i) => v !== sy.indices[i]))
      return { what: 'sparse', detail: 'indices differ' }
    const d = floatsDiffer(sx.values, sy.values, tolerance)
    if (d) return { what: 'sparse', detail: d }
  }
  const mx = canonicalMetadata(x.metadata)
  const my = canonicalMetadata(y.metadata)
  if (mx !== my) return { what: 'metadata', detail: `${mx} != ${my}` }
  return undefined
}

function identicalFloats(x: Float32Array | undefined, y: Float32Array | undefined): boolean {
  const n = x?.length ?? 0
  if (n !== (y?.length ?? 0)) return false
  for (let i = 0; i < n; i++) if (!Object.is((x as Float32Array)[i], (y as Float32Array)[i])) return false
  return true
}

function identicalInts(x: Uint32Array | undefined, y: Uint32Array | undefined): boolean {
  const n = x?.length ?? 0
  if (n !== (y?.length ?? 0)) return false
  for (let i = 0; i < n; i++) if ((x as Uint32Array)[i] !== (y as Uint32Array)[i]) return false
  return true
}

function floatsDiffer(a: Float32Array | undefined, b: Float32Array | undefined, tolerance: number): string | undefined {
  const n = a?.length ?? 0
  if (n !== (b?.length ?? 0)) return `dimension ${n} != ${b?.length ?? 0}`
  for (let i = 0; i < n; i++) {
    const p = (a as Float32Array)[i] as number
    const q = (b as Float32Array)[i] as number
    if (Math.abs(p - q) > tolerance * Math.max(1, Math.abs(p))) return `component ${i}: ${p} != ${q}`
  }
  return undefined
}

/** Metadata as a map: keys sorted at every level, none the same as empty. */
function canonicalMetadata(m: unknown): string {
  if (m === undefined || m === null) return '{}'
  if (Array.isArray(m)) return `[${m.map(canonicalMetadata).join(',')}]`
  if (typeof m !== 'object') return JSON.stringify(m)
  const entries = Object.entries(m as Record<string, unknown>).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalMetadata(v)}`).join(',')}}`
}
