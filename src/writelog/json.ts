import { formatFloat32Array } from '../wire/pinecone/float32.js'
import type { LogEntry } from './contract.js'
import type { SparseValues } from './record.js'

// One log entry as a JSON line, for `vecshift log inspect|tail` and other tools. Vector
// values print as the shortest decimals that read back as the same float32, the way
// Pinecone prints them, so a value reads as what the client sent.

function floats(values: Float32Array): string {
  return formatFloat32Array(values)
}

function sparse(s: SparseValues): string {
  return `{"indices":${JSON.stringify(Array.from(s.indices))},"values":${floats(s.values)}}`
}

export function entryToJsonLine(entry: LogEntry): string {
  const { record } = entry
  const parts: string[] = [`"position":${JSON.stringify(entry.position)}`]
  for (const [key, value] of Object.entries(record)) {
    if (value === undefined) continue
    if (key === 'vectors' && record.op === 'upsert') {
      const vectors = record.vectors.map((v) => {
        const fields = [`"id":${JSON.stringify(v.id)}`]
        if (v.values) fields.push(`"values":${floats(v.values)}`)
        if (v.sparseValues) fields.push(`"sparseValues":${sparse(v.sparseValues)}`)
        if (v.metadata) fields.push(`"metadata":${JSON.stringify(v.metadata)}`)
        return `{${fields.join(',')}}`
      })
      parts.push(`"vectors":[${vectors.join(',')}]`)
    } else if (value instanceof Float32Array) {
      parts.push(`${JSON.stringify(key)}:${floats(value)}`)
    } else if (key === 'sparseValues') {
      parts.push(`"sparseValues":${sparse(value as SparseValues)}`)
    } else {
      parts.push(`${JSON.stringify(key)}:${JSON.stringify(value)}`)
    }
  }
  return `{${parts.join(',')}}`
}
