// Fault injection: rules that make matching requests slow, fail with a status (429, 5xx...), or
// lose their connection, so tests can prove how clients and the gateway behave when Pinecone
// misbehaves. A rule matches by operation and optionally by index, and fires `times` times
// (default: until cleared). The first matching rule, in the order added, applies.
import { randomUUID } from 'node:crypto'
import { z } from 'zod'

export const FAULT_OPS = [
  'upsert',
  'query',
  'fetch',
  'update',
  'delete',
  'list',
  'describe_index_stats',
  'fetch_by_metadata',
  'namespaces',
  'control',
  '*',
] as const
export type FaultOp = (typeof FAULT_OPS)[number]

/** The operation a route serves (as counted in stats and matched by fault rules). */
export type Op = Exclude<FaultOp, '*'>

export interface FaultRule {
  op: FaultOp
  /** Only requests for this index (data plane, or control calls naming it). */
  index?: string
  /** Answer with this status instead of serving the request. */
  status?: number
  /** Delay before answering (or before serving, when no status is given). */
  latencyMs?: number
  /** How many requests the rule applies to; default Infinity. */
  times?: number
  /** Body for the fault answer: a string is sent as text/plain, anything else as JSON. */
  body?: unknown
  /** Seconds, sent as Retry-After. */
  retryAfter?: number
  /** Destroy the connection instead of answering. */
  reset?: boolean
}

export const faultRuleSchema = z
  .object({
    op: z.enum(FAULT_OPS),
    index: z.string().min(1).optional(),
    status: z.number().int().min(100).max(599).optional(),
    latencyMs: z.number().min(0).max(600_000).optional(),
    times: z.union([z.number().int().min(1), z.literal(Infinity)]).optional(),
    body: z.unknown().optional(),
    retryAfter: z.number().min(0).optional(),
    reset: z.boolean().optional(),
  })
  .strict()

interface ActiveRule {
  readonly id: string
  readonly rule: FaultRule
  remaining: number
}

export class FaultInjector {
  private rules: ActiveRule[] = []

  /** Add a rule; returns its id. Throws on a malformed rule. */
  add(rule: FaultRule): string {
    const parsed = faultRuleSchema.parse(rule) as FaultRule
    const id = randomUUID()
    this.rules.push({ id, rule: parsed, remaining: parsed.times ?? Infinity })
    return id
  }

  remove(id: string): boolean {
    const before = this.rules.length
    this.rules = this.rules.filter((r) => r.id !== id)
    return this.rules.length !== before
  }

  clear(): void {
    this.rules = []
  }

  list(): Array<{ id: string; remaining: number } & FaultRule> {
    return this.rules.map((r) => ({ id: r.id, remaining: r.remaining, ...r.rule }))
  }

  /** The rule that applies to this request, counting it as used; undefined when none does. */
  take(op: Op, index: string | undefined): FaultRule | undefined {
    if (this.rules.length === 0) return undefined
    for (const active of this.rules) {
      const { rule } = active
      if (rule.op !== '*' && rule.op !== op) continue
      if (rule.index !== undefined && rule.index !== index) continue
      active.remaining--
      if (active.remaining <= 0) this.rules = this.rules.filter((r) => r !== active)
      return rule
    }
    return undefined
  }
}
