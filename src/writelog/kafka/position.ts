import { E, VecshiftError } from '../../errors.js'
import type { Position } from '../contract.js'

// A Kafka log position is a *cut*: for every partition, how many of its offsets lie before
// the position (the next offset to read). "12.0.7.3" reads: partition 0 up to offset 11,
// partition 1 nothing, partition 2 up to 6, partition 3 up to 2. Reading `after` a cut
// starts each partition at its component, so a cut names exactly what precedes it, for any
// mix of writers.
//
// Order: cuts are compared by their sum (records consumed), then lexicographically. That is
// a total order, and it extends the natural partial order: when every component of a is <=
// the one of b, a sorts first, and a reader after a sees everything a reader after b sees.
// Every reader and every writer produces cuts that only grow component-wise, so the
// positions one of them hands out are always in that partial order too.

const CUT = /^\d{1,15}(\.\d{1,15})*$/

export function encodeCut(cut: readonly number[]): Position {
  return cut.join('.')
}

export function decodeCut(position: Position, partitions?: number): number[] {
  if (!CUT.test(position))
    throw new VecshiftError(E.LOG_CORRUPT, [position, 'not a kafka log position (offsets joined by ".")'])
  const cut = position.split('.').map(Number)
  if (partitions !== undefined && cut.length !== partitions) {
    throw new VecshiftError(E.LOG_CORRUPT, [
      position,
      `the position has ${cut.length} partitions but the topic has ${partitions}; ` +
        'partitions must not be added to a write-log topic during a migration',
    ])
  }
  return cut
}

export function compareCuts(a: Position, b: Position): number {
  const x = decodeCut(a)
  const y = decodeCut(b)
  const sum = (c: number[]) => c.reduce((n, v) => n + v, 0)
  const bySum = sum(x) - sum(y)
  if (bySum !== 0) return bySum
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}
