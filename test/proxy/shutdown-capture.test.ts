import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { PineconeStore } from '../../src/stores/pinecone/store.js'
import { openFileLog } from '../../src/writelog/file/file-log.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { startGatewayProcess } from '../helpers/gateway-process.js'
import { differences } from '../helpers/ledger.js'
import { until } from '../helpers/until.js'
import { compareWithLog, loggedWrites, tombId, WriteLedger } from '../helpers/write-ledger.js'

// SIGTERM on a real `vecshift gateway` process in phase capture while SDK clients write:
// the writes in flight finish with their real answers and are logged with their outcomes
// before the log is closed; later ones are refused cleanly (503 SHUTTING_DOWN, or the
// connection is refused once the port is closed); the process exits 0 within
// shutdownTimeoutMs. Afterwards the log, opened read-only, reads end to end and holds every
// acknowledged write with outcome ok in each id's order, no refused write is in it, and the
// source holds exactly what the acknowledged writes left.

const KEY = 'drain-key'
const WORKERS = 12
const IDS_PER_WORKER = 3
const SHUTDOWN_TIMEOUT_MS = 8_000
const DIM = 4

/** How a write that was not acknowledged failed; anything else is not a clean refusal. */
function refusal(err: unknown): string {
  const e = err as Error & { cause?: unknown }
  if (e.name === 'PineconeUnavailableError' && /shutting down/.test(e.message)) return 'shutting-down'
  const chain: string[] = []
  for (let c: unknown = err; c !== undefined && c !== null && chain.length < 6; c = (c as { cause?: unknown }).cause) {
    const x = c as { code?: unknown; message?: unknown; name?: unknown }
    chain.push(`${String(x.name ?? '')}:${String(x.code ?? '')}:${String(x.message ?? '')}`)
  }
  const text = chain.join(' <- ')
  if (e.name === 'PineconeConnectionError' && /ECONNREFUSED/.test(text)) return 'refused'
  // The server closed a keep-alive connection that was idle when the drain swept it, as the
  // client sent on it: the request never reached a handler (checked against the log below).
  if (e.name === 'PineconeConnectionError' && /UND_ERR_SOCKET|ECONNRESET|other side closed/.test(text))
    return 'closed-idle'
  return `unexpected ${e.name}: ${text}`
}

t.test(
  'SIGTERM under SDK write load in phase capture: acknowledged writes are logged and applied, the rest refused cleanly, exit 0',
  async (t) => {
    const emu = await startTestEmulator(t, {
      apiKey: KEY,
      indexes: [{ name: 'drain', dimension: DIM, metric: 'dotproduct' }],
    })
    const dir = mkdtempSync(join(tmpdir(), 'vecshift-shutdown-capture-'))
    const logDir = join(dir, 'log')
    const configPath = join(dir, 'vecshift.yaml')
    writeFileSync(
      configPath,
      [
        'migration: { id: shutdown-capture-test, phase: capture }',
        `source: { type: pinecone, index: drain, host: "${emu.indexHost('drain')}", controllerHost: "${emu.url}" }`,
        `gateway: { listen: { port: 0 }, shutdownTimeoutMs: ${SHUTDOWN_TIMEOUT_MS} }`,
        'admin: { enabled: false }',
        `writelog: { backend: file, file: { dir: "${logDir}" } }`,
        `control: { dir: "${join(dir, 'control')}" }`,
        `replay: { dataDir: "${join(dir, 'replay')}" }`,
      ].join('\n'),
    )
    const gw = await startGatewayProcess(t, { configPath, env: { VECSHIFT_SOURCE_API_KEY: KEY } })
    const index = new Pinecone({ apiKey: KEY, controllerHostUrl: gw.url }).index({ host: gw.url })

    const ledger = new WriteLedger()
    const refusals = new Map<string, number>()
    let tag = 0
    let signalled = false
    /** Writes sent before SIGTERM and acknowledged after it: the drain let them finish. */
    let finishedDuringDrain = 0
    // One writer per id, each waiting for its answer before its next write, so that each id's
    // acknowledged writes have an order. A writer stops at its first refusal: after that, its
    // ids' state on the source is its last acknowledged write.
    const writers = Array.from({ length: WORKERS }, async (_, w) => {
      for (let n = 0; ; n++) {
        const id = `w${w}-id${n % IDS_PER_WORKER}`
        const v = ++tag
        const sentBeforeSignal = !signalled
        const write =
          n % 4 === 3
            ? { op: 'delete' as const, tag: v }
            : {
                op: 'upsert' as const,
                tag: v,
                values: [(v % 1000) + 1, w + 1, (n % 7) + 1, 0.5],
                metadata: { tag: v, worker: w },
              }
        try {
          if (write.op === 'upsert')
            await index.upsert({ records: [{ id, values: write.values, metadata: write.metadata }] })
          else await index.deleteMany({ ids: [id, tombId(v)] })
        } catch (err) {
          const why = refusal(err)
          ledger.unacknowledged.set(v, why)
          refusals.set(why, (refusals.get(why) ?? 0) + 1)
          return
        }
        ledger.ack(id, write)
        if (sentBeforeSignal && signalled) finishedDuringDrain++
      }
    })

    await until(() => ledger.count > WORKERS * 5, { timeoutMs: 30_000, what: 'writes acknowledged under load' })
    // Slow answers from the source, so that captured writes are in flight (intent logged,
    // source not yet answered) when the signal comes.
    emu.faults.add({ op: 'upsert', latencyMs: 800, times: 6 })
    emu.faults.add({ op: 'delete', latencyMs: 800, times: 2 })
    await until(() => emu.faults.list().length === 0, {
      timeoutMs: 10_000,
      what: 'the slowed writes to reach the source',
    })
    signalled = true
    gw.child.kill('SIGTERM')
    const exit = await gw.exited
    await Promise.all(writers)

    t.same(
      { code: exit.code, signal: exit.signal },
      { code: 0, signal: null },
      `exit code 0 (stderr: ${gw.stderrTail() || 'empty'})`,
    )
    // Within shutdownTimeoutMs: the drain's deadline, had it passed, would have said so.
    t.notOk(
      gw.logs.some((l) => l.msg === 'drain deadline passed; closing remaining connections'),
      `the drain finished before its deadline (shutdownTimeoutMs ${SHUTDOWN_TIMEOUT_MS} ms)`,
    )
    t.ok(
      gw.logs.some((l) => l.msg === 'gateway closed'),
      'the gateway logged its close',
    )
    t.ok(ledger.count > WORKERS * 5, `${ledger.count} writes acknowledged by the SDK`)
    t.ok(finishedDuringDrain > 0, `${finishedDuringDrain} writes in flight at SIGTERM completed with success`)
    t.comment(`refusals: ${[...refusals].map(([k, n]) => `${k} x${n}`).join(', ')}`)
    t.same(
      [...refusals.keys()].filter((k) => k.startsWith('unexpected')),
      [],
      'every write not acknowledged was refused cleanly',
    )

    // The log as a reader beside the (now stopped) gateway sees it.
    const log = await openFileLog({ dir: logDir, readOnly: true })
    t.teardown(() => log.close())
    const logged = await loggedWrites(log)
    const stats = await log.stats()
    t.equal(logged.records, stats.records, `${logged.records} records read end to end, none corrupt`)
    const { missing, disordered } = compareWithLog(ledger, logged)
    t.same(missing, [], 'every acknowledged write is in the log with outcome ok')
    t.same(disordered, [], "each id's acknowledged writes are in acknowledgement order")
    t.same(
      [...logged.outcomes].filter(([, o]) => o === 'none').map(([v]) => v),
      [],
      'every logged intent has its outcome: the log was closed after the drain',
    )
    // A refused write never reached a handler: had it, it would be logged, and had its outcome
    // been ok, the drain would have cut off the answer to a write that happened.
    t.same(
      [...ledger.unacknowledged]
        .filter(([v]) => logged.outcomes.has(v))
        .map(([v, why]) => `#${v} (${why}): ${logged.outcomes.get(v)}`),
      [],
      'no refused write is in the log',
    )

    const source = new PineconeStore({
      role: 'source',
      index: 'drain',
      host: emu.indexHost('drain'),
      controllerHost: emu.url,
      apiKey: KEY,
    })
    t.teardown(() => source.close())
    t.same(
      await differences(source, ledger.expected()),
      [],
      `the source holds each of the ${ledger.acknowledged.size} ids as its last acknowledged write left it`,
    )
  },
)
