// The migration record's own rules (src/control/record.ts), apart from any store: the phase
// table, and the shape every change gives the record. The stores' enforcement of the table is
// in the contract suite (test/control/contract.ts).
import t from 'tap'
import {
  PHASES,
  TRANSITIONS,
  checkTransition,
  initialRecord,
  rerouted,
  routingFor,
  transitioned,
  type Phase,
} from '../../src/control/record.js'

t.test('the table names every phase, moves only between phases, and every phase can reach finalized', async (t) => {
  t.same(Object.keys(TRANSITIONS).sort(), [...PHASES].sort())
  for (const [from, tos] of Object.entries(TRANSITIONS) as Array<[Phase, readonly Phase[]]>) {
    for (const to of tos) {
      t.ok(PHASES.includes(to), `${from} -> ${to} is a phase`)
      t.not(to, from, `${from} -> ${to} is a move`)
    }
  }
  const reach = (p: Phase, seen = new Set<Phase>()): boolean =>
    p === 'finalized' || (!seen.has(p) && TRANSITIONS[p].some((q) => reach(q, new Set([...seen, p]))))
  for (const p of PHASES) t.ok(reach(p), `${p} can reach finalized`)
})

t.test('checkTransition refuses a move the table lacks, naming the ones it has', async (t) => {
  t.doesNotThrow(() => checkTransition('capture', 'cutover'))
  t.throws(() => checkTransition('capture', 'target-primary'), {
    code: 'VECSHIFT_ERR_CONTROL_TRANSITION',
    message: /phase capture and cannot move to target-primary; from there it can move to: cutover, passthrough/,
  })
  t.throws(() => checkTransition('finalized', 'capture'), {
    message: /finalized and cannot move to capture; from there it can move to: none \(the migration is finalized\)/,
  })
})

t.test('transitioned: the next epoch, the routing of the new phase, who and why', async (t) => {
  const start = { ...initialRecord('m', 'capture'), reason: 'an older change' }
  const cut = transitioned(start, 'cutover', 'test', 'operator asked', { canaryPercent: 5 })
  t.match(cut, { migration: 'm', phase: 'cutover', epoch: 2, changedBy: 'test', reason: 'operator asked' })
  t.same(cut.routing, { ...routingFor('cutover'), canaryPercent: 5 }, "the phase's routing, then the given parts")
  t.match(cut.updatedAt, /^\d{4}-\d\d-\d\dT/, 'stamped with when')
  t.notOk('reason' in transitioned(cut, 'target-primary', 'test'), 'no reason: the previous one is dropped')
  t.throws(() => transitioned(start, 'finalized', 'test'), { code: 'VECSHIFT_ERR_CONTROL_TRANSITION' })
})

t.test('rerouted: the phase stays, the routing changes only where asked', async (t) => {
  const start = { ...initialRecord('m', 'capture'), reason: 'an older change' }
  const moved = rerouted(start, { reads: 'target' }, 'vecshift cutover', 'reads to the target')
  t.match(moved, { phase: 'capture', epoch: 2, changedBy: 'vecshift cutover', reason: 'reads to the target' })
  t.same(moved.routing, { ...start.routing, reads: 'target' })
  const canary = rerouted(moved, { reads: 'source', canaryPercent: 5 }, 'vecshift cutover')
  t.same(canary.routing, { reads: 'source', canaryPercent: 5, writes: 'source', holdWrites: false })
  t.notOk('reason' in canary, 'no reason: the previous one is dropped')
  t.same(canary.cutovers, start.cutovers, 'the rest of the record is kept')
})
