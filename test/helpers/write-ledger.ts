// A client-side ledger of the writes the SDK saw succeed, and its check against a write log:
// every acknowledged write must be in the log with outcome ok, each id's in the order they
// were acknowledged. Every write carries a unique tag so that it can be found in the log: an
// upsert in its metadata, a delete as an extra id `tomb-<tag>` deleted with it (deleting an
// id that does not exist is a no-op). capture-crash.test.ts does the same check inline for
// upserts only; this one also covers deletes.
import type { WriteLog } from '../../src/writelog/contract.js'
import type { Expected } from './ledger.js'

export type LedgerWrite =
  | {
      readonly op: 'upsert'
      readonly tag: number
      readonly values: number[]
      readonly metadata: Record<string, unknown>
    }
  | { readonly op: 'delete'; readonly tag: number }

const TOMB = /^tomb-(\d+)$/

export const tombId = (tag: number): string => `tomb-${tag}`

export class WriteLedger {
  /** Per id, the writes acknowledged, in acknowledgement order (one writer per id). */
  readonly acknowledged = new Map<string, LedgerWrite[]>()
  /** Tags of writes that were sent and not acknowledged, with why. */
  readonly unacknowledged = new Map<number, string>()

  ack(id: string, write: LedgerWrite): void {
    this.acknowledged.set(id, [...(this.acknowledged.get(id) ?? []), write])
  }

  get count(): number {
    let n = 0
    for (const ws of this.acknowledged.values()) n += ws.length
    return n
  }

  /** What each id must end as on the source: its last acknowledged write (null: deleted). */
  expected(): Map<string, Expected> {
    const out = new Map<string, Expected>()
    for (const [id, ws] of this.acknowledged) {
      const last = ws.at(-1) as LedgerWrite
      out.set(id, last.op === 'upsert' ? { values: last.values, metadata: last.metadata } : null)
    }
    return out
  }
}

export interface LoggedWrites {
  /** Per id, the tags of its writes whose outcome is ok, in log order. */
  readonly ok: Map<string, number[]>
  /** Every tag the log holds an intent for, with its outcome ('none' when it has none). */
  readonly outcomes: Map<number, string>
  /** Records read end to end. */
  readonly records: number
}

/** Reads the whole log (a corrupt record makes the read throw). */
export async function loggedWrites(log: WriteLog): Promise<LoggedWrites> {
  const intents: Array<{ key: string; ids: string[]; tag: number }> = []
  const outcomeOf = new Map<string, string>()
  let records = 0
  for await (const { record } of log.read()) {
    records++
    if (record.op === 'outcome') {
      outcomeOf.set(`${record.instance}/${record.intentSeq}`, record.outcome)
      continue
    }
    const key = `${record.instance}/${record.seq}`
    if (record.op === 'upsert') {
      for (const v of record.vectors)
        intents.push({ key, ids: [v.id], tag: Number((v.metadata as { tag?: unknown } | undefined)?.tag) })
    } else if (record.op === 'delete' && record.ids) {
      const tomb = record.ids.map((id) => TOMB.exec(id)).find((m) => m !== null)
      if (tomb) intents.push({ key, ids: record.ids.filter((id) => !TOMB.test(id)), tag: Number(tomb[1]) })
    }
  }
  const ok = new Map<string, number[]>()
  const outcomes = new Map<number, string>()
  for (const { key, ids, tag } of intents) {
    const outcome = outcomeOf.get(key) ?? 'none'
    outcomes.set(tag, outcome)
    if (outcome !== 'ok') continue
    for (const id of ids) ok.set(id, [...(ok.get(id) ?? []), tag])
  }
  return { ok, outcomes, records }
}

/** Acknowledged writes missing from the log (or there without outcome ok), and those found
 *  out of their id's acknowledgement order. The log may hold more than the ledger. */
export function compareWithLog(ledger: WriteLedger, logged: LoggedWrites): { missing: string[]; disordered: string[] } {
  const missing: string[] = []
  const disordered: string[] = []
  for (const [id, writes] of ledger.acknowledged) {
    const inLog = logged.ok.get(id) ?? []
    let from = 0
    for (const w of writes) {
      const at = inLog.indexOf(w.tag, from)
      if (at !== -1) from = at + 1
      else if (inLog.includes(w.tag)) disordered.push(`${id}: ${w.op} #${w.tag} before an earlier write`)
      else missing.push(`${id}: ${w.op} #${w.tag} (log outcome: ${logged.outcomes.get(w.tag) ?? 'no intent'})`)
    }
  }
  return { missing, disordered }
}
