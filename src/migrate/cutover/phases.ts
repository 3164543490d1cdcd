// The phases a cutover and a rollback move the migration through (control/record.ts has the
// whole transition table): from where it starts, the barrier that holds writes, the flip.

export type Direction = 'cutover' | 'rollback'

/** The phases each direction moves through: from, hold (the barrier) and done (the flip). */
export const PHASE_MOVES = {
  cutover: { from: 'capture', hold: 'cutover', done: 'target-primary' },
  rollback: { from: 'target-primary', hold: 'rollback', done: 'source-primary' },
} as const
