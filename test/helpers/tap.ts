import type t from 'tap'

/** The type of the `t` a subtest callback receives (tap exports it only through overloads). */
export type TestContext = Parameters<Parameters<typeof t.test>[0]>[0]
