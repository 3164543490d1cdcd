import { E, VecshiftError } from '../../errors.js'
import type { VectorStore } from '../../stores/contract.js'
import { bytewise, idCursor } from '../../stores/ids.js'
import { differenceBeyondTolerance } from './equality.js'
import type { RecordDifference } from './records.js'

// `vecshift verify --full`: every id of the chosen namespaces, on both sides. A sample sees a
// difference that affects a fraction p of the records with probability 1 - (1 - p)^n, so a
// few stale records among millions pass it unseen; this finds each one. Both stores list ids
// in bytewise order, so the two listings are walked side by side a page at a time (a merge):
// memory is one page per side, whatever the namespace's size. Each page of ids is fetched
// from both sides and compared field by field; an id listed on one side only is missing or
// extra.

export interface FullComparison {
  readonly namespaces: readonly string[]
  readonly compared: number
  readonly equal: number
  /** On the source, not on the target. */
  readonly missing: number
  /** On the target, not on the source. */
  readonly extra: number
  readonly mismatched: number
  /** The first differences found (at most `keep`); `extra` ones have what: 'missing' on the source. */
  readonly differences: ReadonlyArray<RecordDifference & { readonly side?: 'target-only' }>
}

const PAGE = 100

export async function compareInFull(
  source: VectorStore,
  target: VectorStore,
  namespaces: readonly string[],
  tolerance: number,
  options: { keep?: number; onProgress?: (compared: number) => void; signal?: AbortSignal } = {},
): Promise<FullComparison> {
  const [sd, td] = await Promise.all([source.describe(), target.describe()])
  for (const [d, store] of [
    [sd, source],
    [td, target],
  ] as const) {
    if (!d.canList)
      throw new VecshiftError(E.CLI_USAGE, [
        `--full: the ${store.label} cannot list its ids (a Pinecone pod-based index), ` +
          'so it cannot be compared in full; compare a sample instead',
      ])
  }
  const keep = options.keep ?? 100
  let compared = 0
  let equal = 0
  let missing = 0
  let extra = 0
  let mismatched = 0
  const differences: Array<RecordDifference & { side?: 'target-only' }> = []
  const note = (d: RecordDifference & { side?: 'target-only' }) => {
    if (differences.length < keep) differences.push(d)
  }
  for (const namespace of namespaces) {
    const a = idCursor(source, namespace, undefined, PAGE)
    const b = idCursor(target, namespace, undefined, PAGE)
    let x = await a.next()
    let y = await b.next()
    // Ids both sides list, compared in pages; ids one side lists alone are counted at once.
    let both: string[] = []
    const flush = async () => {
      if (both.length === 0) return
      const [sa, tb] = await Promise.all([source.fetch(namespace, both), target.fetch(namespace, both)])
      for (const id of both) {
        const s = sa.get(id)
        const t = tb.get(id)
        compared++
        if (s && t) {
          const why = differenceBeyondTolerance(s, t, tolerance)
          if (why) {
            mismatched++
            note({ namespace, id, ...why })
          } else equal++
        } else if (s) {
          missing++
          note({ namespace, id, what: 'missing' })
        } else if (t) {
          extra++
          note({ namespace, id, what: 'missing', side: 'target-only' })
        }
      }
      both = []
      options.onProgress?.(compared)
    }
    while (x !== undefined || y !== undefined) {
      if (options.signal?.aborted) throw new VecshiftError(E.CLI_USAGE, ['--full: interrupted'])
      if (y === undefined || (x !== undefined && bytewise(x, y) < 0)) {
        missing++
        compared++
        note({ namespace, id: x as string, what: 'missing' })
        x = await a.next()
      } else if (x === undefined || bytewise(y, x) < 0) {
        extra++
        compared++
        note({ namespace, id: y, what: 'missing', side: 'target-only' })
        y = await b.next()
      } else {
        both.push(x)
        if (both.length >= PAGE) await flush()
        x = await a.next()
        y = await b.next()
      }
    }
    await flush()
  }
  return { namespaces, compared, equal, missing, extra, mismatched, differences }
}

/** The smallest fraction of differing records that a uniform sample of `n` finds with
 *  probability `confidence` (1 - (1 - p)^n = confidence). */
export function detectableRate(n: number, confidence = 0.95): number {
  if (n <= 0) return 1
  return 1 - (1 - confidence) ** (1 / n)
}
