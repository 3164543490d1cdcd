// JSON text for data-plane answers that carry vector values. They are written by hand so each
// float goes out in its shortest float32 form (float32.ts); everything else goes through
// JSON.stringify.
import { formatAsFloat32, formatFloat32Array } from '../wire/pinecone/float32.js'
import type { Match } from './search.js'
import type { SparseVector, StoredRecord } from './records.js'

const EMPTY = new Float32Array(0)

function sparseJson(s: SparseVector): string {
  return `{"indices":[${s.indices.join(',')}],"values":${formatFloat32Array(s.values)}}`
}

/** A Vector as fetch returns it: id, values ([] on sparse indexes), sparseValues and metadata when set. */
export function recordJson(r: StoredRecord): string {
  let out = `{"id":${JSON.stringify(r.id)},"values":${formatFloat32Array(r.values ?? EMPTY)}`
  if (r.sparse !== null) out += `,"sparseValues":${sparseJson(r.sparse)}`
  if (r.metadata !== null) out += `,"metadata":${JSON.stringify(r.metadata)}`
  return `${out}}`
}

/** `{"<id>":<Vector>,...}` in the order given. */
export function vectorMapJson(records: readonly StoredRecord[]): string {
  let out = '{'
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    if (i > 0) out += ','
    out += `${JSON.stringify(r.id)}:${recordJson(r)}`
  }
  return `${out}}`
}

/** A ScoredVector; `values` is [] unless asked for, as Pinecone answers. */
export function matchJson(m: Match, includeValues: boolean, includeMetadata: boolean): string {
  const r = m.record
  let out = `{"id":${JSON.stringify(r.id)},"score":${formatAsFloat32(m.score)},"values":`
  out += includeValues && r.values !== null ? formatFloat32Array(r.values) : '[]'
  if (includeValues && r.sparse !== null) out += `,"sparseValues":${sparseJson(r.sparse)}`
  if (includeMetadata && r.metadata !== null) out += `,"metadata":${JSON.stringify(r.metadata)}`
  return `${out}}`
}
