// Per-operation request counts, so a test can assert that a request did (or did not) reach the
// emulator: e.g. that the gateway refused a bad write without forwarding it.
import type { Op } from './faults.js'
import { dict } from '../dict.js'

export interface StatsSnapshot {
  /** Requests per operation that passed authentication (including those a fault answered). */
  readonly ops: Record<string, number>
  /** The same, per index (control calls count under the index they name, if any). */
  readonly byIndex: Record<string, Record<string, number>>
  /** Requests answered by an injected fault, per operation. */
  readonly faulted: Record<string, number>
}

export class RequestStats {
  // Index names come from request paths (dict.ts).
  private ops = dict<number>()
  private byIndex = dict<Record<string, number>>()
  private faulted = dict<number>()

  count(op: Op, index: string | undefined): void {
    this.ops[op] = (this.ops[op] ?? 0) + 1
    if (index !== undefined) {
      let per = this.byIndex[index]
      if (per === undefined) {
        per = dict()
        this.byIndex[index] = per
      }
      per[op] = (per[op] ?? 0) + 1
    }
  }

  countFault(op: Op): void {
    this.faulted[op] = (this.faulted[op] ?? 0) + 1
  }

  snapshot(): StatsSnapshot {
    return structuredClone({ ops: this.ops, byIndex: this.byIndex, faulted: this.faulted })
  }

  reset(): void {
    this.ops = dict()
    this.byIndex = dict()
    this.faulted = dict()
  }
}
