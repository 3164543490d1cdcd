import t from 'tap'
import { IntentTracker } from '../../src/replay/intents.js'
import type { LogRecord } from '../../src/writelog/record.js'

// The tracker releases an intent once its fate is known. An abandon record says a gateway is
// dead: its intents still waiting for an outcome are released as unknown at once, without
// waiting outcomeWaitMs, and without touching another gateway's intents.

const at = (
  instance: string,
  seq: number,
  ts = 1_000,
): Pick<LogRecord, 'instance' | 'seq' | 'ts' | 'apiVersion' | 'requestId' | 'namespace'> => ({
  instance,
  seq,
  ts,
  apiVersion: '',
  requestId: `r${seq}`,
  namespace: 'ns',
})

t.test("an abandon record releases the dead instance's waiting intents as unknown, and only those", async (t) => {
  const tracker = new IntentTracker(60_000, undefined)
  let position = 0
  const offer = (record: LogRecord) => tracker.offer({ position: String(++position).padStart(4, '0'), record })
  offer({ ...at('dead', 1), op: 'upsert', vectors: [{ id: 'a' }] })
  offer({ ...at('dead', 2), op: 'delete', ids: ['b'] })
  offer({ ...at('live', 1), op: 'upsert', vectors: [{ id: 'c' }] })
  offer({ ...at('dead', 3), op: 'upsert', vectors: [{ id: 'd' }] })
  offer({ ...at('dead', 4), op: 'outcome', intentSeq: 3, outcome: 'ok', status: 200 })
  t.same(tracker.release(2_000, true), [], 'nothing is released while outcomes may still come')
  offer({ ...at('restarted', 0), op: 'abandon', abandoned: 'dead' })
  const released = tracker.release(2_000, false)
  t.same(
    released.map((r) =>
      r.kind === 'intent' ? [r.parts[0]?.instance, r.parts[0]?.seq, r.outcome, r.timedOut] : r.kind,
    ),
    [
      ['dead', 1, 'unknown', false],
      ['dead', 2, 'unknown', false],
    ],
    "the dead one's first two, not by a timeout",
  )
  t.equal(tracker.waiting, 2, "the live gateway's intent still waits, and the settled one behind it")
  offer({ ...at('live', 2), op: 'outcome', intentSeq: 1, outcome: 'ok', status: 200 })
  t.same(
    tracker.release(2_000, false).map((r) => (r.kind === 'intent' ? [r.parts[0]?.instance, r.outcome] : r.kind)),
    [
      ['live', 'ok'],
      ['dead', 'ok'],
    ],
  )
})
