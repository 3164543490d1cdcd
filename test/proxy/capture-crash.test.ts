import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { replay } from '../../src/replay/replayer.js'
import { PineconeStore } from '../../src/stores/pinecone/store.js'
import { openFileLog } from '../../src/writelog/file/file-log.js'
import type { LogRecord } from '../../src/writelog/record.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { until } from '../helpers/until.js'

// Invariant 1: no acknowledged write is lost. A real `vecshift gateway` process in phase
// capture takes concurrent upserts from the official SDK and is killed with SIGKILL at a
// random moment, then restarted on the same log directory, ten times. A client-side ledger
// keeps every write the SDK saw succeed. Afterwards every acknowledged write is in the log
// with outcome ok, each id's writes are in the order they were acknowledged, and the log
// reads end to end without a corrupt record. A replayer follows the log through all of it, and
// the target ends holding exactly what the source holds.

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname
const KEY = 'crash-key'
const ROUNDS = 10
const WRITERS = 16

async function startGateway(
  configPath: string,
): Promise<{ child: ChildProcess; url: string; exited: Promise<unknown> }> {
  const child = spawn(process.execPath, [CLI, 'gateway', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, VECSHIFT_SOURCE_API_KEY: KEY },
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string }
      if (entry.msg === 'gateway listening') resolve(entry.url as string)
    })
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code} before listening`)))
  })
  return { child, url, exited }
}

t.test('SIGKILL at random moments under load loses no acknowledged write', async (t) => {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [
      { name: 'crash', dimension: 8, metric: 'cosine' },
      { name: 'crash-target', dimension: 8, metric: 'cosine' },
    ],
  })

  const dir = mkdtempSync(join(tmpdir(), 'vecshift-crash-'))
  const logDir = join(dir, 'log')
  const configPath = join(dir, 'vecshift.yaml')
  writeFileSync(
    configPath,
    [
      'migration: { id: crash-test, phase: capture }',
      `source: { type: pinecone, index: crash, host: "${emu.indexHost('crash')}", controllerHost: "${emu.url}" }`,
      'gateway: { listen: { port: 0 } }',
      'admin: { enabled: false }',
      `writelog: { backend: file, file: { dir: "${logDir}", segmentBytes: 262144 } }`,
      `control: { dir: "${join(dir, 'control')}" }`,
    ].join('\n'),
  )

  // ledger.get(id) = values acknowledged for that id, in acknowledgement order. Each id has
  // one writer, which waits for each answer before its next write, so that order is defined.
  const ledger = new Map<string, number[]>()
  let acknowledged = 0
  let value = 0
  let live: ChildProcess | undefined
  t.teardown(() => {
    live?.kill('SIGKILL')
  })

  // A replayer follows the log the whole time, catching up while gateways die and restart.
  const { mkdirSync } = await import('node:fs')
  mkdirSync(logDir, { recursive: true })
  const store = (name: string) =>
    new PineconeStore({ role: name, index: name, host: emu.indexHost(name), controllerHost: emu.url, apiKey: KEY })
  const source = store('crash')
  const target = store('crash-target')
  t.teardown(() => Promise.all([source.close(), target.close()]))
  const stopReplay = new AbortController()
  let replayLog: Awaited<ReturnType<typeof openFileLog>> | undefined
  let replaying: Promise<unknown> | undefined

  for (let round = 0; round < ROUNDS; round++) {
    const { child, url, exited } = await startGateway(configPath)
    if (!replaying) {
      // The first gateway has created the log; follow it from here on.
      replayLog = await openFileLog({ dir: logDir, readOnly: true, followPollMs: 10 })
      replaying = replay({
        log: replayLog,
        source,
        target,
        consumer: 'replay',
        follow: true,
        dryRun: false,
        batchSize: 50,
        lingerMs: 5,
        // Intents whose outcome a kill cut off are repaired from the source after this long.
        outcomeWaitMs: 1_000,
        concurrency: 4,
        signal: stopReplay.signal,
      })
    }
    live = child
    const index = new Pinecone({ apiKey: KEY, controllerHostUrl: url }).index({ host: url })
    let stop = false
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      while (!stop) {
        const id = `w${w}-id${value % 3}`
        const v = ++value
        const values = Array.from({ length: 8 }, (_, i) => (v % 97) / 97 + i + 1)
        try {
          await index.upsert({ records: [{ id, values, metadata: { v, round } }] })
        } catch {
          // Refused or cut off by the kill: not acknowledged, so no promise was made.
          return
        }
        ledger.set(id, [...(ledger.get(id) ?? []), v])
        acknowledged++
      }
    })
    // Killed at a random moment under load: after a random number of acknowledged writes
    // (at least one per writer, so a slow start still counts as under load).
    const before = acknowledged
    const kill = WRITERS + Math.floor(Math.random() * 40)
    await until(() => acknowledged - before >= kill, {
      timeoutMs: 30_000,
      what: `${kill} acknowledged writes in round ${round}`,
    })
    child.kill('SIGKILL')
    await exited
    stop = true
    await Promise.all(writers)
  }
  t.ok(acknowledged >= ROUNDS * WRITERS, `${acknowledged} writes were acknowledged across ${ROUNDS} kills`)

  // Opening the log as a writer would: a torn tail from the last kill is cut here.
  const log = await openFileLog({ dir: logDir })
  t.teardown(() => log.close())
  const intents = new Map<string, LogRecord>()
  const outcomes = new Map<string, string>()
  const logged = new Map<string, number[]>()
  let total = 0
  for await (const { record } of log.read()) {
    total++
    const key = `${record.instance}/${record.seq}`
    if (record.op === 'outcome') {
      outcomes.set(`${record.instance}/${record.intentSeq}`, record.outcome)
      continue
    }
    intents.set(key, record)
  }
  for (const [key, record] of intents) {
    if (record.op !== 'upsert' || outcomes.get(key) !== 'ok') continue
    for (const v of record.vectors) logged.set(v.id, [...(logged.get(v.id) ?? []), (v.metadata as { v: number }).v])
  }
  t.ok(total > acknowledged, `${total} records read end to end, none corrupt`)

  let missing = 0
  let disordered = 0
  for (const [id, values] of ledger) {
    const inLog = logged.get(id) ?? []
    // Acknowledged values must appear in the log with outcome ok, in the same order. The log
    // may hold more (written, then the kill cut the answer off): those are not promises.
    let i = 0
    for (const v of values) {
      const at = inLog.indexOf(v, i)
      if (at === -1) {
        if (inLog.includes(v)) disordered++
        else missing++
      } else {
        i = at + 1
      }
    }
  }
  t.equal(missing, 0, 'every acknowledged write is in the log with outcome ok')
  t.equal(disordered, 0, "each id's acknowledged writes are in acknowledgement order")

  // The replayer that followed through the kills catches up; the target then holds exactly
  // what the source holds: nothing lost, nothing doubled, no write cut off left behind.
  const tail = await log.tail()
  await until(
    async () => {
      const cp = await replayLog?.checkpoint('replay')
      return cp !== undefined && tail !== undefined && log.compare(cp, tail) >= 0
    },
    { timeoutMs: 20_000, intervalMs: 50, what: 'the replayer to catch up to the end of the log' },
  )
  stopReplay.abort()
  await replaying
  await replayLog?.close()
  const ids = [...ledger.keys()]
  const [a, b] = [await source.fetch('', ids), await target.fetch('', ids)]
  const differ = ids.filter(
    (id) =>
      JSON.stringify(a.get(id)?.metadata) !== JSON.stringify(b.get(id)?.metadata) ||
      JSON.stringify(Array.from(a.get(id)?.values ?? [])) !== JSON.stringify(Array.from(b.get(id)?.values ?? [])),
  )
  t.same(differ, [], `the target equals the source for all ${ids.length} ids after catching up through ${ROUNDS} kills`)
  for (const [id, values] of ledger) {
    const v = (b.get(id)?.metadata as { v?: number } | undefined)?.v ?? -1
    if (v < (values.at(-1) as number))
      t.fail(`${id}: the target holds ${v}, older than the acknowledged ${values.at(-1)}`)
  }
})
