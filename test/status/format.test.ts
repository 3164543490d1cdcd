// `vecshift status` marks a running cutover whose coordinator is gone: its deadline passed,
// or its lease ran out. (The gateways end such a pause by themselves; the line says so and
// names the command that ends it at once.)
import t from 'tap'
import { initialRecord, type MigrationRecord } from '../../src/control/record.js'
import { formatStatus } from '../../src/status/format.js'
import type { MigrationStatus } from '../../src/status/gather.js'

const past = new Date(Date.now() - 60_000).toISOString()
const future = new Date(Date.now() + 60_000).toISOString()

function status(attempt: Partial<MigrationRecord['cutovers'][number]>, coordinator?: MigrationStatus['coordinator']) {
  const record: MigrationRecord = {
    ...initialRecord('m', 'cutover'),
    cutovers: [
      {
        id: 'a1',
        kind: 'cutover',
        startedAt: past,
        outcome: 'running',
        steps: [],
        owner: { host: 'h', pid: 42 },
        deadline: future,
        ...attempt,
      },
    ],
  }
  const s: MigrationStatus = {
    record,
    copy: { state: 'done', copied: 0, namespaces: {} },
    replay: undefined,
    replicas: [],
    shadow: [],
    ...(coordinator ? { coordinator } : {}),
  }
  return formatStatus(s)
}

const lease = (expiresAt: string, expired: boolean) => ({
  kind: 'cutover' as const,
  attempt: 'a1',
  host: 'h',
  pid: 42,
  startedAt: past,
  expiresAt,
  expired,
})

t.test('a running attempt with a live coordinator is not marked', async (t) => {
  t.notMatch(status({}, lease(future, false)), /OWNER GONE/)
})

t.test('a running attempt past its deadline is marked, with the command that ends it', async (t) => {
  const out = status({ deadline: past })
  t.match(out, /✗ OWNER GONE {2}its deadline .* has passed/)
  t.match(out, /`vecshift cutover --abort` ends it now/)
})

t.test("a running attempt whose coordinator's lease ran out is marked", async (t) => {
  t.match(status({}, lease(past, true)), /OWNER GONE {2}its coordinator's lease ran out at /)
  // Another process's lease says nothing of this attempt's owner.
  t.notMatch(status({}, { ...lease(past, true), pid: 7 }), /OWNER GONE/)
})

t.test('an ended attempt is never marked', async (t) => {
  t.notMatch(status({ outcome: 'aborted', deadline: past }, lease(past, true)), /OWNER GONE/)
})
