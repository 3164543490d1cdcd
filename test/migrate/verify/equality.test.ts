import t from 'tap'
import { differenceBeyondTolerance, identicalRecords } from '../../../src/migrate/verify/equality.js'
import type { StoredVector } from '../../../src/stores/contract.js'

// The two record comparers answer different questions: the cutover's reconciliation repairs
// anything that is not bit for bit the source's, while verify reports what a client would see
// differ, floats within a tolerance. Where they disagree is the point of having two.

const record = (values: number[], metadata?: Record<string, unknown>): StoredVector =>
  ({ id: 'a', values: Float32Array.from(values), ...(metadata ? { metadata } : {}) }) as StoredVector

t.test('a value rounded within the tolerance: verify passes it, reconciliation repairs it', async (t) => {
  const source = record([0.5, 0.25])
  const rounded = record([0.5, 0.25 + 1e-6])
  t.equal(differenceBeyondTolerance(source, rounded, 1e-4), undefined)
  t.equal(identicalRecords(source, rounded), false)
  t.match(differenceBeyondTolerance(source, rounded, 0), { what: 'values', detail: /^component 1: / })
})

t.test('-0 and 0: the same to a client, not the same bits', async (t) => {
  t.equal(differenceBeyondTolerance(record([-0]), record([0]), 0), undefined)
  t.equal(identicalRecords(record([-0]), record([0])), false)
  t.equal(identicalRecords(record([-0]), record([-0])), true)
})

t.test('both: metadata as a map (key order, none = empty), sparse indices exact', async (t) => {
  const a = record([1], { b: 1, a: ['x', 'y'] })
  const b = record([1], { a: ['x', 'y'], b: 1 })
  t.equal(identicalRecords(a, b), true)
  t.equal(differenceBeyondTolerance(a, b, 0), undefined)
  t.equal(identicalRecords(record([1]), record([1], {})), true, 'no metadata is empty metadata')
  t.match(differenceBeyondTolerance(a, record([1], { a: ['y', 'x'], b: 1 }), 1), { what: 'metadata' })
  t.equal(identicalRecords(a, record([1], { a: ['y', 'x'], b: 1 })), false, 'list order counts')
  const sparse = (indices: number[]): StoredVector => ({
    id: 's',
    sparseValues: { indices: Uint32Array.from(indices), values: Float32Array.from([1, 2]) },
  })
  t.equal(identicalRecords(sparse([1, 2]), sparse([1, 3])), false)
  t.match(differenceBeyondTolerance(sparse([1, 2]), sparse([1, 3]), 1), { what: 'sparse', detail: 'indices differ' })
})
