import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { spawn } from 'node:child_process'
import type { ReplayStatus } from '../../src/replay/status.js'
import { ReplayStatusFile } from '../../src/replay/status.js'
import { openFileLog } from '../../src/writelog/file/file-log.js'
import type { LogRecord } from '../../src/writelog/record.js'
import { migrationYaml } from '../helpers/config.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { startGatewayProcess } from '../helpers/gateway-process.js'
import { until } from '../helpers/until.js'

// A capturing gateway killed with writes in flight leaves intents whose outcome it can never
// write. The replayer used to wait replay.outcomeWaitMs (60 s) for each of them, and every
// write after them waited too: a cutover could not start for a minute after one crash. The
// restarted gateway finds its dead predecessor (same host, pid gone) and appends an abandon
// record; the replayer settles those intents at once (repairing their ids from the source).
// Every process is real: two `vecshift gateway` processes one after the other, and
// `vecshift replay --follow` beside them, whose status file is what the cutover reads.

const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname
const KEY = 'orphan-key'
const WRITERS = 12
const MAX_LAG_RECORDS = 1_000 // cutover.maxLagRecords' default

/** Bounds a wait, so that a stuck step fails saying which instead of timing the test out. */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

t.test(
  "a gateway restarted after SIGKILL settles the dead one's writes in flight at once; the replayer does not stall",
  async (t) => {
    const emu = await startTestEmulator(t, {
      apiKey: KEY,
      indexes: [
        { name: 'src', dimension: 4, metric: 'cosine' },
        { name: 'dst', dimension: 4, metric: 'cosine' },
      ],
    })
    const dir = mkdtempSync(join(tmpdir(), 'vecshift-orphans-'))
    const logDir = join(dir, 'log')
    mkdirSync(logDir, { recursive: true })
    const configPath = join(dir, 'vecshift.yaml')
    writeFileSync(
      configPath,
      migrationYaml(
        dir,
        { id: 'orphans', phase: 'capture', source: { emu, index: 'src' }, target: { emu, index: 'dst' } },
        {
          // replay.outcomeWaitMs keeps its default (60 s): the test shows the replayer does not need it.
          replay: `{ dataDir: "${join(dir, 'replay')}", lingerMs: 10 }`,
          // The gateway's "listening" line and its log are read at info.
          log: '{ level: info }',
        },
      ),
    )
    const env = { VECSHIFT_SOURCE_API_KEY: KEY, VECSHIFT_TARGET_API_KEY: KEY }

    const first = await startGatewayProcess(t, { configPath, env })
    const replayer = spawn(process.execPath, ['--import', 'tsx', CLI, 'replay', '--config', configPath, '--follow'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env },
    })
    const replayerErr: string[] = []
    replayer.stderr?.on('data', (c: Buffer) => replayerErr.push(c.toString()))
    const replayerExited = new Promise((resolve) => replayer.once('exit', resolve))
    t.teardown(() => {
      if (replayer.exitCode === null && replayer.signalCode === null) replayer.kill('SIGKILL')
    })
    const statusFile = new ReplayStatusFile(join(dir, 'replay'), 'orphans', 'replay')
    const status = async (): Promise<ReplayStatus | undefined> => statusFile.load().catch(() => undefined)

    let acknowledged = 0
    let stop = false
    const write = (url: string) =>
      Array.from({ length: WRITERS }, async (_, w) => {
        const index = new Pinecone({ apiKey: KEY, controllerHostUrl: url }).index({ host: url })
        for (let n = 0; !stop; n++) {
          try {
            await index.upsert({ records: [{ id: `w${w}-${n % 20}`, values: [1, w + 1, n + 1, 2], metadata: { n } }] })
            acknowledged++
          } catch {
            return // cut off by the kill: no promise was made
          }
        }
      })
    let writers = write(first.url)
    await until(() => acknowledged >= 200, { timeoutMs: 30_000, what: '200 acknowledged writes' })
    await until(async () => (await status()) !== undefined, { timeoutMs: 30_000, what: "the replayer's first status" })
    // Every upsert at the source now waits, so writes are surely in flight (their intents
    // logged, no outcome) when the gateway dies.
    emu.faults.add({ op: 'upsert', index: 'src', latencyMs: 2_000 })
    await until(() => (emu.stats().faulted.upsert ?? 0) >= WRITERS / 2, {
      timeoutMs: 10_000,
      what: 'writes held at the slowed source',
    })
    first.child.kill('SIGKILL')
    await within(first.exited, 10_000, 'the killed gateway to exit')
    stop = true
    await within(Promise.all(writers), 30_000, 'the writers cut off by the kill to stop')
    emu.faults.clear()

    const second = await startGatewayProcess(t, { configPath, env })
    stop = false
    writers = write(second.url)
    // Under the new gateway's load some intents always await their outcome; the dead one's
    // must not: they are settled (repaired) and the lag is back under the cutover's bound.
    let latest: ReplayStatus | undefined
    await until(
      async () => {
        latest = await status()
        return (
          latest !== undefined &&
          latest.counts.repaired > 0 &&
          latest.lagRecords !== undefined &&
          latest.lagRecords < MAX_LAG_RECORDS
        )
      },
      {
        timeoutMs: 5_000,
        onTimeout: () => JSON.stringify(latest),
        what: "the dead gateway's writes settled and replay lag under cutover.maxLagRecords, within 5 s of the restart",
      },
    )
    const settledAt = acknowledged
    await until(() => acknowledged >= settledAt + 100, {
      timeoutMs: 30_000,
      what: '100 more writes through the new gateway',
    })
    stop = true
    await within(Promise.all(writers), 30_000, 'the writers to stop')
    second.child.kill('SIGKILL')
    await within(second.exited, 10_000, 'the second gateway to exit')

    const log = await openFileLog({ dir: logDir, readOnly: true })
    t.teardown(() => log.close())
    const records: LogRecord[] = []
    for await (const { record } of log.read()) records.push(record)
    const firstInstance = records.find((r) => r.op === 'upsert')?.instance as string
    const outcomes = new Set(
      records.filter((r) => r.op === 'outcome').map((r) => `${r.instance}:${(r as { intentSeq: number }).intentSeq}`),
    )
    const orphaned = records.filter(
      (r) => r.op === 'upsert' && r.instance === firstInstance && !outcomes.has(`${r.instance}:${r.seq}`),
    )
    t.ok(orphaned.length > 0, `${orphaned.length} intents of the killed gateway have no outcome`)
    const abandon = records.find((r) => r.op === 'abandon')
    t.match(
      abandon,
      { op: 'abandon', abandoned: firstInstance },
      'the restarted gateway logged the dead one as abandoned',
    )
    await until(
      async () => {
        latest = await status()
        return latest !== undefined && latest.counts.repaired >= orphaned.length
      },
      {
        timeoutMs: 10_000,
        onTimeout: () => JSON.stringify(latest),
        what: 'every orphaned intent repaired from the source',
      },
    )
    t.pass(`their ids were repaired from the source (${latest?.counts.repaired} repairs)`)
    replayer.kill('SIGKILL')
    await within(replayerExited, 10_000, 'the replayer to exit')
    t.equal(replayerErr.join('').includes('"level":50'), false, 'the replayer logged no error')
  },
)
