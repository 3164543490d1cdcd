import { readFile } from 'node:fs/promises'
import { E, VecshiftError } from '../../errors.js'
import type { StoredVector } from '../../stores/contract.js'
import type { VerifyQuery } from './search.js'

// `vecshift verify --filter-file`: the operator's own queries, one JSON object a line:
// {"vector":[...],"filter":{...},"namespace":"...","topK":N}. A line without a vector gives
// its filter to a query around a sampled record's vector; blank lines and # comments are
// skipped.

export async function queriesFromFile(
  path: string,
  vectors: ReadonlyArray<{ namespace: string; vector: StoredVector }>,
  topK: number,
): Promise<VerifyQuery[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new VecshiftError(E.CLI_USAGE, [
      `--filter-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    ])
  }
  const out: VerifyQuery[] = []
  let next = 0
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue
    let q: { namespace?: unknown; vector?: unknown; filter?: unknown; topK?: unknown }
    try {
      q = JSON.parse(line) as typeof q
    } catch (err) {
      throw new VecshiftError(E.CLI_USAGE, [
        `--filter-file ${path} line ${i + 1}: not JSON (${(err as Error).message})`,
      ])
    }
    const filter =
      q.filter !== undefined && q.filter !== null && typeof q.filter === 'object'
        ? (q.filter as Record<string, unknown>)
        : undefined
    const k = typeof q.topK === 'number' && Number.isInteger(q.topK) && q.topK > 0 ? q.topK : topK
    if (Array.isArray(q.vector)) {
      if (!q.vector.every((x) => typeof x === 'number'))
        throw new VecshiftError(E.CLI_USAGE, [
          `--filter-file ${path} line ${i + 1}: "vector" must be an array of numbers`,
        ])
      out.push({
        namespace: typeof q.namespace === 'string' && q.namespace !== '__default__' ? q.namespace : '',
        vector: Float32Array.from(q.vector as number[]),
        topK: k,
        origin: `file line ${i + 1}`,
        ...(filter ? { filter } : {}),
      })
      continue
    }
    // A filter alone: searched around a sampled record's vector.
    const r = vectors[next++ % Math.max(1, vectors.length)]
    if (!r?.vector.values || !filter) continue
    out.push({
      namespace: typeof q.namespace === 'string' ? q.namespace : r.namespace,
      vector: r.vector.values,
      filter,
      topK: k,
      origin: `file line ${i + 1} around ${r.vector.id}`,
    })
  }
  return out
}
